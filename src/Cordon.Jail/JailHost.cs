using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Cordon.Jail.Interop;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace Cordon.Jail;

/// <summary>
/// Starts jails on this host. One per process is normal; it owns an instance directory and cgroup (reaped by the
/// next start's janitor if this process is killed), the uid pool and the list of live jails. Disposing it kills
/// every jail it started.
/// </summary>
public sealed class JailHost : IAsyncDisposable
{
    // bwrap's own descriptors sit above the program's (0-2 and extra pipes from 3) and are closed before exec.
    private const int ArgsFd = 100;
    private const int StatusFd = 101;
    private const int BlockFd = 102;
    private const int SeccompFd = 103;
    private const int FirstExtraFd = 3;
    private const int SpawnSourceFloor = 200;

    private readonly ConcurrentDictionary<string, Jail> _live = new(StringComparer.Ordinal);
    private readonly BlockingCollection<Jail> _cleanups = new();
    private readonly Thread[] _cleaners;
    private readonly SafeFileHandle _instanceLock;
    private readonly ILogger _logger;
    private int _disposed;

    private JailHost(JailHostOptions options, CgroupLayout layout, ILoggerFactory loggerFactory)
    {
        Options = options;
        Cgroups = layout;
        _logger = loggerFactory.CreateLogger("Cordon.Jail");
        InstanceId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        InstanceDirectory = Path.Combine(options.StateDirectory, "instances", InstanceId);
        _instanceLock = CreateLockedInstanceDirectory(options.StateDirectory, InstanceId);
        Uids = new UidPool(Path.Combine(options.StateDirectory, "uids"), options.FirstUid, options.UidCount);
        // Unmounting, deleting and removing cgroups block for a few ms each; dedicated threads do it so the thread
        // pool, which runs every request's continuations, never waits behind them.
        _cleaners = Enumerable.Range(0, 2).Select(i => new Thread(Clean) { IsBackground = true, Name = $"cordon-cleanup-{i}" }).ToArray();
        foreach (var cleaner in _cleaners) cleaner.Start();
        EtcDirectory = WriteEtc(options);
    }

    /// <summary>
    /// Creates the instance directory with its lock already held: it is built under a dot-name the janitor ignores,
    /// locked, then renamed into place, so no other process's janitor can ever see it unlocked.
    /// </summary>
    private static SafeFileHandle CreateLockedInstanceDirectory(string stateDirectory, string instanceId)
    {
        var instances = Path.Combine(stateDirectory, "instances");
        var staging = Path.Combine(instances, "." + instanceId);
        Directory.CreateDirectory(Path.Combine(staging, "jails"));
        var handle = Libc.OpenAt(null, Path.Combine(staging, "lock"), Libc.O_RDWR | Libc.O_CREAT | Libc.O_NOFOLLOW, 0x180, out var errno)
            ?? throw new CordonException(CordonErrorCode.SystemCallFailed, $"Cannot create the instance lock in {staging}: {errno}.", errno);
        if (!Libc.TryLockExclusive(handle))
            throw new CordonException(CordonErrorCode.SystemCallFailed, $"Instance lock {staging}/lock is held by another process.");
        Directory.Move(staging, Path.Combine(instances, instanceId));
        return handle;
    }

    /// <summary>The options this host runs with.</summary>
    public JailHostOptions Options { get; }

    /// <summary>The cgroup layout detected at start.</summary>
    public CgroupLayout Cgroups { get; }

    /// <summary>This process's instance id (names its state directory and cgroup).</summary>
    public string InstanceId { get; }

    /// <summary>Where this instance keeps its jails' directories.</summary>
    public string InstanceDirectory { get; }

    internal UidPool Uids { get; }

    internal string EtcDirectory { get; }

    internal TimeProvider Time => Options.TimeProvider;

    internal ILogger Logger => _logger;

    /// <summary>How many jails of this host are alive now.</summary>
    public int LiveJails => _live.Count;

    /// <summary>
    /// Every reason this host cannot run jails with these options, each saying how to fix it; empty when it can.
    /// Builds both seccomp filters, so a broken libseccomp is found here, before any jail (fail closed).
    /// </summary>
    public static IReadOnlyList<string> Check(JailHostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate().ToList();
        if (Libc.GetUid() != 0) problems.Add("Cordon must run as root (it drops every jail to its own unprivileged uid)");
        if (!File.Exists(options.BwrapPath)) problems.Add($"bubblewrap not found at {options.BwrapPath}: apt-get install bubblewrap");
        if (!File.Exists(options.SetprivPath)) problems.Add($"setpriv not found at {options.SetprivPath}: apt-get install util-linux");
        if (!File.Exists(options.PrlimitPath)) problems.Add($"prlimit not found at {options.PrlimitPath}: apt-get install util-linux");
        var missing = CgroupLayout.Detect(options.CgroupMountRoot).Missing();
        if (missing.Count > 0) problems.Add($"cgroup controllers missing: {string.Join(", ", missing)}; mount them (cgroup v2: enable them in the root's cgroup.subtree_control)");
        try
        {
            _ = SeccompFilter.Build(allowNetwork: false);
            _ = SeccompFilter.Build(allowNetwork: true);
        }
        catch (CordonException e)
        {
            problems.Add($"the seccomp filter cannot be built ({e.Message}): apt-get install libseccomp2");
        }
        return problems;
    }

    /// <summary>
    /// Checks the host, reaps what killed Cordon processes left behind, and returns a host ready to start jails.
    /// Throws <see cref="CordonException"/> with <see cref="CordonErrorCode.HostUnsupported"/> naming what to fix.
    /// </summary>
    public static JailHost Create(JailHostOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        options ??= new JailHostOptions();
        loggerFactory ??= NullLoggerFactory.Instance;
        var problems = Check(options);
        if (problems.Count > 0)
            throw new CordonException(CordonErrorCode.HostUnsupported, "This host cannot run jails: " + string.Join("; ", problems) + ".");
        var layout = CgroupLayout.Detect(options.CgroupMountRoot);
        Libc.BecomeChildSubreaper();
        Janitor.Sweep(options, layout, loggerFactory.CreateLogger("Cordon.Janitor"), exceptInstance: null);
        return new JailHost(options, layout, loggerFactory);
    }

    /// <summary>
    /// Starts a jail: namespaces, mounts, cgroup and limits are in place and the program is ready to exec, but no
    /// user code runs until <see cref="Jail.Release"/> (or <see cref="Jail.RunAsync(CancellationToken)"/>). This lets a pool pre-start
    /// jails and lets a caller write files into the work directory first.
    /// </summary>
    public async Task<Jail> StartAsync(JailSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var errors = spec.Validate();
        if (errors.Count > 0)
            throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid jail spec", errors);

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var jail = new Jail(this, id, spec);
        _live[id] = jail;
        try
        {
            await LaunchAsync(jail, cancellationToken).ConfigureAwait(false);
            return jail;
        }
        catch
        {
            await jail.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Starts a jail, runs its program to the end under its limits, and removes the jail.</summary>
    public async Task<JailRunResult> RunAsync(JailSpec spec, CancellationToken cancellationToken = default)
    {
        var jail = await StartAsync(spec, cancellationToken).ConfigureAwait(false);
        await using (jail.ConfigureAwait(false))
        {
            return await jail.RunAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Builds the seccomp program bwrap loads for a jail (argument: network allowed). A test seam: the security tests
    /// swap in corrupt programs to prove that a broken filter means no run. Nothing else replaces it.
    /// </summary>
    internal Func<bool, byte[]> SeccompProgram { get; set; } = SeccompFilter.Build;

    internal void Forget(Jail jail) => _live.TryRemove(jail.Id, out _);

    /// <summary>Queues a dead jail's cleanup (cgroups, mount, directories, uid) for the cleanup threads.</summary>
    internal void CleanUpLater(Jail jail)
    {
        if (!_cleanups.IsAddingCompleted)
        {
            try
            {
                _cleanups.Add(jail);
                return;
            }
            catch (InvalidOperationException)
            {
                // Shutting down: DisposeAsync cleans every live jail itself.
            }
        }
    }

    private void Clean()
    {
        foreach (var jail in _cleanups.GetConsumingEnumerable())
        {
            try
            {
                jail.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is CordonException or IOException)
            {
                Log.CleanupIncomplete(_logger, jail.Id, e.Message);
            }
        }
    }

    private async Task LaunchAsync(Jail jail, CancellationToken cancellationToken)
    {
        var spec = jail.Spec;
        // First, before any uid, mount or descriptor exists: a filter that cannot be built stops this jail cleanly.
        var seccompProgram = SeccompProgram(spec.Network);
        jail.UidLease = Uids.Rent();
        var uid = jail.UidLease.Uid;

        // The work directory is a tmpfs of its own mounted on the host side, so its size is a hard limit, the host
        // can put files in before the program starts, and collect them after, without entering the jail.
        Directory.CreateDirectory(jail.Directory);
        Directory.CreateDirectory(jail.WorkDirectory);
        Libc.Mount("tmpfs", jail.WorkDirectory, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV,
            string.Create(CultureInfo.InvariantCulture, $"size={spec.Limits.WorkDirBytes},mode=0755,uid={uid},gid={uid}"));
        jail.WorkMounted = true;

        jail.Cgroup = JailCgroup.Create(Cgroups, $"{Options.CgroupName}/{InstanceId}/{jail.Id}", spec.Limits);

        var pipes = new List<(SafeFileHandle Read, SafeFileHandle Write)>();
        var lifted = new List<(SafeFileHandle Source, int Target)>();
        try
        {
            (SafeFileHandle Read, SafeFileHandle Write) NewPipe()
            {
                var pipe = Libc.Pipe();
                pipes.Add(pipe);
                return pipe;
            }
            var stdin = NewPipe();
            var stdout = NewPipe();
            var stderr = NewPipe();
            var status = NewPipe();
            var block = NewPipe();
            var extras = spec.ExtraPipes.IsDefault ? [] : spec.ExtraPipes.Select(_ => NewPipe()).ToList();
            // The program's pipes belong to its uid: opening /dev/stdin (or /dev/stdout, /proc/self/fd/N) by name
            // reopens the pipe, which checks the pipe's owner, and pipes are made 0600 by root. Programs do read
            // "/dev/stdin" by name (Node's readFileSync, sqlite's .import). Both ends share one inode.
            foreach (var pipe in new[] { stdin, stdout, stderr }.Concat(extras)) Libc.ChangeOwner(pipe.Read, uid, uid);
            using var args = Libc.MemoryFile("cordon-args", BuildArguments(jail));
            using var seccomp = Libc.MemoryFile("cordon-seccomp", seccompProgram);

            var intoJail = spec.ExtraPipes.IsDefault ? [] : spec.ExtraPipes.Select(d => d == JailPipeDirection.IntoJail).ToList();
            var childEnds = new List<(SafeFileHandle Source, int Target)>
            {
                (stdin.Read, 0), (stdout.Write, 1), (stderr.Write, 2),
                (args, ArgsFd), (status.Write, StatusFd), (block.Read, BlockFd), (seccomp, SeccompFd),
            };
            for (var i = 0; i < extras.Count; i++) childEnds.Add((intoJail[i] ? extras[i].Read : extras[i].Write, FirstExtraFd + i));
            foreach (var (source, target) in childEnds) lifted.Add((Libc.DuplicateAbove(source, SpawnSourceFloor), target));

            var argv = LauncherArguments(spec, uid);
            jail.Pid = await SpawnThread.Run(() => Libc.Spawn(Options.PrlimitPath, argv, [], lifted)).ConfigureAwait(false);

            // The host keeps only its own ends; the child's copies live in the child.
            foreach (var (source, _) in childEnds) source.Dispose();
            jail.AttachPipes(stdin.Write, stdout.Read, stderr.Read, status.Read, block.Write,
                extras.Select((p, i) => intoJail[i] ? p.Write : p.Read).ToList());
        }
        catch
        {
            // Nothing was handed to the jail: close every end now rather than whenever the finalizer runs.
            foreach (var (read, write) in pipes)
            {
                read.Dispose();
                write.Dispose();
            }
            throw;
        }
        finally
        {
            foreach (var (source, _) in lifted) source.Dispose();
        }
        jail.StartSupervisor();
        if (spec.CaptureOutput) jail.StartCapture();

        cancellationToken.ThrowIfCancellationRequested();
        var childPid = await jail.ChildPid.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (childPid is { } sandboxPid)
        {
            // Both bwrap processes go in before the gate opens; everything user code forks inherits the cgroup.
            jail.Cgroup.Attach(jail.Pid);
            jail.Cgroup.Attach(sandboxPid);
            jail.Attached = true;
        }
        Log.JailStarted(_logger, jail.Id, spec.Label, uid, jail.Pid);
    }

    /// <summary>
    /// prlimit sets the rlimits (lowering is all it needs, so no CAP_SYS_RESOURCE), setpriv drops to the jail's
    /// uid, then bwrap starts with an empty environment and its options hidden behind --args. Each execs the next,
    /// so the sandbox only ever sees bwrap.
    /// </summary>
    private string[] LauncherArguments(JailSpec spec, uint uid)
    {
        static string Limit(string name, long value) =>
            string.Create(CultureInfo.InvariantCulture, $"--{name}={value}:{value}");
        var limits = spec.Limits;
        return
        [
            Options.PrlimitPath,
            Limit("nofile", limits.OpenFiles), Limit("fsize", limits.FileSizeBytes), Limit("core", 0), Limit("stack", limits.StackBytes),
            "--",
            Options.SetprivPath,
            $"--reuid={uid}", $"--regid={uid}", "--clear-groups", "--no-new-privs", "--",
            // bwrap takes only options from --args; the command itself must follow on the command line. It is
            // the user's own program, so /proc/1/cmdline shows nothing of the host.
            Options.BwrapPath, "--args", ArgsFd.ToString(CultureInfo.InvariantCulture), "--",
            .. spec.Argv,
        ];
    }

    private byte[] BuildArguments(Jail jail)
    {
        var spec = jail.Spec;
        var a = new List<string>(96)
        {
            "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", Options.InsideUid.ToString(CultureInfo.InvariantCulture),
            "--gid", Options.InsideUid.ToString(CultureInfo.InvariantCulture),
            "--hostname", "cordon",
            "--clearenv",
        };
        if (spec.Network) a.Add("--share-net");
        foreach (var (key, value) in spec.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            a.AddRange(["--setenv", key, value]);

        a.AddRange(["--ro-bind", "/usr", "/usr"]);
        foreach (var top in new[] { "bin", "lib", "lib64", "sbin", "lib32", "libx32" })
        {
            var hostPath = "/" + top;
            var info = new FileInfo(hostPath);
            if (info.LinkTarget is { } target) a.AddRange(["--symlink", target, hostPath]);
            else if (Directory.Exists(hostPath)) a.AddRange(["--ro-bind", hostPath, hostPath]);
        }

        a.AddRange(["--dir", "/etc"]);
        foreach (var name in new[] { "passwd", "group", "hosts", "nsswitch.conf" })
            a.AddRange(["--ro-bind", Path.Combine(EtcDirectory, name), "/etc/" + name]);
        var hostEtc = new List<string> { "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "mime.types" };
        if (spec.Network) hostEtc.AddRange(["resolv.conf", "ssl", "ca-certificates", "gai.conf"]);
        foreach (var name in hostEtc) a.AddRange(["--ro-bind-try", "/etc/" + name, "/etc/" + name]);
        foreach (var path in spec.ReadOnlyPaths.IsDefault ? [] : spec.ReadOnlyPaths)
        {
            if (path == "/usr" || path.StartsWith("/usr/", StringComparison.Ordinal)) continue;
            a.AddRange(["--ro-bind-try", path, path]);
        }

        foreach (var bind in spec.ReadOnlyBinds.IsDefault ? [] : spec.ReadOnlyBinds)
            a.AddRange(["--ro-bind", bind.Source, bind.Target]);

        var tmpSize = spec.Limits.TmpBytes.ToString(CultureInfo.InvariantCulture);
        a.AddRange(["--proc", "/proc", "--dev", "/dev"]);
        a.AddRange(["--size", tmpSize, "--tmpfs", "/tmp", "--size", tmpSize, "--tmpfs", "/dev/shm"]);
        a.AddRange(["--bind", jail.WorkDirectory, spec.WorkDir]);
        // bwrap's /dev is a writable tmpfs with no size limit of its own: without this a program could store files
        // there past every disk limit. Not recursive, so /dev/shm, /dev/pts and the device binds keep their modes.
        a.AddRange(["--remount-ro", "/dev"]);
        a.AddRange(["--remount-ro", "/", "--chdir", spec.WorkDir]);
        a.AddRange([
            "--json-status-fd", StatusFd.ToString(CultureInfo.InvariantCulture),
            "--block-fd", BlockFd.ToString(CultureInfo.InvariantCulture),
            "--seccomp", SeccompFd.ToString(CultureInfo.InvariantCulture),
        ]);

        var bytes = new List<byte>(4096);
        foreach (var arg in a)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(arg));
            bytes.Add(0);
        }
        return [.. bytes];
    }

    private static string WriteEtc(JailHostOptions options)
    {
        var dir = Path.Combine(options.StateDirectory, "etc");
        Directory.CreateDirectory(dir);
        var inside = options.InsideUid.ToString(CultureInfo.InvariantCulture);
        var files = new Dictionary<string, string>
        {
            ["passwd"] = $"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{inside}:{inside}:sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            ["group"] = $"root:x:0:\nsandbox:x:{inside}:\nnogroup:x:65534:\n",
            ["hosts"] = "127.0.0.1\tlocalhost cordon\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            ["nsswitch.conf"] = "passwd: files\ngroup: files\nhosts: files dns\n",
        };
        foreach (var (name, content) in files)
        {
            var path = Path.Combine(dir, name);
            if (!File.Exists(path) || File.ReadAllText(path) != content)
            {
                var temp = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
                File.WriteAllText(temp, content);
                File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                File.Move(temp, path, overwrite: true);
            }
        }
        return dir;
    }

    /// <summary>
    /// Test seam: drops the instance lock and forgets every jail without cleaning anything, as a SIGKILL of the
    /// process would (the jails keep running until the janitor of another instance reaps them).
    /// </summary>
    internal void AbandonForTest()
    {
        Interlocked.Exchange(ref _disposed, 1);
        _live.Clear();
        _instanceLock.Dispose();
    }

    /// <summary>Kills every live jail, removes this instance's directory and cgroup.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _cleanups.CompleteAdding();
        await Task.WhenAll(_live.Values.Select(j => j.DisposeAsync().AsTask())).ConfigureAwait(false);
        foreach (var cleaner in _cleaners) cleaner.Join();
        _cleanups.Dispose();
        Janitor.RemoveInstance(Options, Cgroups, InstanceId, _logger);
        _instanceLock.Dispose();
    }
}
