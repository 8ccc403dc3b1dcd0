using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Cordon.Jail.Interop;
using Microsoft.Win32.SafeHandles;

namespace Cordon.Jail;

/// <summary>
/// A started jail. Its program waits at the gate until <see cref="Release"/>; then it runs with its limits measured
/// from that moment. <see cref="RunAsync(CancellationToken)"/> runs it to the end and collects the result; long-lived users (sessions,
/// pools) talk to it through <see cref="Stdin"/>, <see cref="Stdout"/>, <see cref="Stderr"/> and
/// <see cref="ExtraPipes"/>. Disposing kills the whole tree and removes the cgroup, mount and directories; it
/// returns only when nothing of the jail is left.
/// </summary>
public sealed class Jail : IAsyncDisposable
{
    private readonly JailHost _host;
    private readonly TaskCompletionSource<int?> _childPid = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<JailExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private SafeFileHandle? _statusRead;
    private SafeFileHandle? _blockWrite;
    private long _clockStart;
    private TimeSpan _cpuBaseline;
    private int _released;
    private int _ran;
    private volatile bool _reaped;
    private string? _killReason;
    private Verdict? _killVerdict;
    // One cleanup however many callers (the engine, the cleanup threads, the host's shutdown) ask at once.
    private readonly Lazy<Task> _cleanup;
    private (OutputCapture Stdout, OutputCapture Stderr, CombinedOutput Combined, Task[] Readers)? _capture;
    private volatile Action<OutputStreamKind, ReadOnlyMemory<byte>>? _onOutput;

    internal Jail(JailHost host, string id, JailSpec spec)
    {
        _host = host;
        Id = id;
        Spec = spec;
        _cleanup = new Lazy<Task>(CleanupAsync, LazyThreadSafetyMode.ExecutionAndPublication);
        Directory = Path.Combine(host.InstanceDirectory, "jails", id);
        WorkDirectory = Path.Combine(Directory, "work");
    }

    /// <summary>The jail's id, unique on this host.</summary>
    public string Id { get; }

    /// <summary>The spec it was started from.</summary>
    public JailSpec Spec { get; }

    /// <summary>The host path of the work directory (a tmpfs), for moving files in and out.</summary>
    public string WorkDirectory { get; }

    /// <summary>The unprivileged host uid the jail runs as.</summary>
    public uint HostUid => UidLease?.Uid ?? 0;

    /// <summary>The program's stdin (the host writes).</summary>
    public Stream Stdin { get; private set; } = Stream.Null;

    /// <summary>The program's stdout (the host reads).</summary>
    public Stream Stdout { get; private set; } = Stream.Null;

    /// <summary>The program's stderr (the host reads).</summary>
    public Stream Stderr { get; private set; } = Stream.Null;

    /// <summary>The host ends of <see cref="JailSpec.ExtraPipes"/>, in order (descriptor 3 first).</summary>
    public IReadOnlyList<Stream> ExtraPipes { get; private set; } = [];

    /// <summary>Completes when the jail's process tree has ended.</summary>
    public Task<JailExit> Exited => _exited.Task;

    /// <summary>True once user code was allowed to start.</summary>
    public bool IsReleased => Volatile.Read(ref _released) != 0;

    internal string Directory { get; }

    internal UidPool.UidLease? UidLease { get; set; }

    internal JailCgroup? Cgroup { get; set; }

    /// <summary>How many times the kernel's OOM killer killed a process of this jail so far (0 without a memory cgroup).</summary>
    public long OomKills => Cgroup?.OomKills() ?? 0;

    /// <summary>CPU time every process of this jail used so far, from its cgroup (zero without one).</summary>
    public TimeSpan CpuTimeSoFar => Cgroup?.CpuTime() ?? TimeSpan.Zero;

    /// <summary>Memory this jail's processes use now, in bytes, from its cgroup (0 without one).</summary>
    public long MemoryInUse => Cgroup?.CurrentMemory() ?? 0;

    internal bool WorkMounted { get; set; }

    internal int Pid { get; set; }

    /// <summary>True once bwrap's processes are in the jail's cgroup (so a cgroup kill reaches everything).</summary>
    internal bool Attached { get; set; }

    internal Task<int?> ChildPid => _childPid.Task;

    internal void AttachPipes(SafeFileHandle stdin, SafeFileHandle stdout, SafeFileHandle stderr, SafeFileHandle status,
        SafeFileHandle block, IReadOnlyList<SafeFileHandle> extras)
    {
        Stdin = new FileStream(stdin, FileAccess.Write, bufferSize: 0);
        Stdout = new FileStream(stdout, FileAccess.Read, bufferSize: 0);
        Stderr = new FileStream(stderr, FileAccess.Read, bufferSize: 0);
        _statusRead = status;
        _blockWrite = block;
        ExtraPipes = extras.Select((h, i) => (Stream)new FileStream(h,
            Spec.ExtraPipes[i] == JailPipeDirection.IntoJail ? FileAccess.Write : FileAccess.Read, bufferSize: 0)).ToList();
    }

    /// <summary>Starts the thread that reads bwrap's status and reaps it; one per jail, blocking by design.</summary>
    internal void StartSupervisor()
    {
        var thread = new Thread(Supervise) { IsBackground = true, Name = "cordon-jail-" + Id };
        thread.Start();
    }

    private void Supervise()
    {
        var status = new BwrapStatusReader(_statusRead!);
        try
        {
            _childPid.TrySetResult(status.ReadChildPid());
        }
        catch (Exception e) when (e is CordonException or JsonException)
        {
            _childPid.TrySetResult(null);
        }

        int? raw = null;
        try
        {
            raw = Libc.WaitPid(Pid, noHang: false);
        }
        catch (CordonException)
        {
            // ECHILD: nothing to reap; treat as a setup failure below.
        }
        _reaped = true;
        int? exitCode = null;
        try
        {
            exitCode = status.ReadExitCode();
        }
        catch (Exception e) when (e is CordonException or JsonException)
        {
            // A killed bwrap leaves no exit-code; handled below.
        }

        var monitorSignaled = raw is { } s && (s & 0x7f) != 0;
        if (_childPid.Task.Result is { } orphan && IsOurOrphan(orphan))
        {
            // bwrap's monitor returns without reaping the sandbox init, and a killed monitor cannot; as child
            // subreaper Cordon inherited it and reaps it here, so no zombie outlives the jail. With the monitor gone
            // the jail is over: an init still alive (killed at the gate, before --die-with-parent was armed) dies now.
            try
            {
                Libc.Kill(orphan, Libc.SIGKILL);
                Libc.WaitPid(orphan, noHang: false);
            }
            catch (CordonException)
            {
                // ECHILD: reaped already.
            }
        }
        JailExit exit;
        if (exitCode is { } code)
        {
            // bwrap reports death by signal N as 128+N, like a shell.
            exit = code is > 128 and < 128 + 65 ? new JailExit(null, code - 128, false) : new JailExit(code, null, false);
        }
        else if (monitorSignaled)
        {
            exit = new JailExit(null, raw!.Value & 0x7f, false);
        }
        else
        {
            exit = new JailExit(raw is { } r ? (r >> 8) & 0xff : null, null, SetupFailed: true);
        }
        _exited.TrySetResult(exit);
    }

    /// <summary>
    /// True when <paramref name="pid"/> is this jail's sandbox init and now Cordon's child. The jail's uid is leased
    /// to this jail alone, so a process of that uid whose parent is this process cannot be anything else, even if
    /// the pid was reused.
    /// </summary>
    private bool IsOurOrphan(int pid) => ReadOwner(pid) is { } owner && owner.Uid == HostUid && owner.Parent == System.Environment.ProcessId;

    /// <summary>
    /// Kills every process that runs as this jail's uid and reaps those that became Cordon's children, until none is
    /// left. Only for jails whose processes never joined their cgroup.
    /// </summary>
    private async Task KillByUidAsync()
    {
        var self = System.Environment.ProcessId;
        for (var round = 0; round < 500; round++)
        {
            var found = false;
            foreach (var dir in System.IO.Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid)) continue;
                if (pid == Pid || ReadOwner(pid) is not { } owner || owner.Uid != HostUid) continue;
                found = true;
                Libc.Kill(pid, Libc.SIGKILL);
                if (owner.Parent == self)
                {
                    try
                    {
                        Libc.WaitPid(pid, noHang: true);
                    }
                    catch (CordonException)
                    {
                        // Reaped by the supervisor meanwhile.
                    }
                }
            }
            if (!found) return;
            await Task.Delay(2).ConfigureAwait(false);
        }
        throw new CordonException(CordonErrorCode.CgroupFailed, $"Processes of jail uid {HostUid} survived SIGKILL for 1 s.");
    }

    /// <summary>The real uid and parent pid of a process, or null when it is gone.</summary>
    private static (uint Uid, int Parent)? ReadOwner(int pid)
    {
        try
        {
            uint? uid = null;
            int? parent = null;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("PPid:", StringComparison.Ordinal))
                    parent = int.Parse(line.AsSpan(5).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                else if (line.StartsWith("Uid:", StringComparison.Ordinal))
                    uid = uint.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
            }
            return uid is { } u && parent is { } p ? (u, p) : null;
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Restarts the clocks: wall time, CPU time and peak memory count from now on.</summary>
    private void StartClocks()
    {
        _clockStart = _host.Time.GetTimestamp();
        _cpuBaseline = Cgroup?.CpuTime() ?? TimeSpan.Zero;
        Cgroup?.ResetPeakMemory();
    }

    private TimeSpan CpuUsed()
    {
        var used = (Cgroup?.CpuTime() ?? TimeSpan.Zero) - _cpuBaseline;
        return used < TimeSpan.Zero ? TimeSpan.Zero : used;
    }

    /// <summary>Writes the program to the launcher waiting on descriptor 3 and closes it, so the launcher sees EOF.</summary>
    private void HandOver(ReadOnlyMemory<byte> program)
    {
        if (ExtraPipes.Count == 0 || Spec.ExtraPipes[0] != JailPipeDirection.IntoJail)
            throw new InvalidOperationException("A program can only be handed over on an extra pipe into the jail (descriptor 3).");
        try
        {
            ExtraPipes[0].Write(program.Span);
        }
        catch (IOException)
        {
            // The launcher died (it would be a setup or memory failure); the run's result says what happened.
        }
        finally
        {
            try
            {
                ExtraPipes[0].Dispose();
            }
            catch (IOException)
            {
                // Already broken.
            }
        }
    }

    /// <summary>
    /// Applies new memory, process and CPU limits to the running jail's cgroup (a warm jail made before its request
    /// was known). False when the kernel refuses, e.g. memory below what the jail already uses: use another jail.
    /// </summary>
    public bool TryApplyLimits(JailLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        return Cgroup is not null && Cgroup.TryUpdate(limits);
    }

    /// <summary>Opens the gate: the program starts now, and so do its clocks. Idempotent.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0) return;
        _clockStart = _host.Time.GetTimestamp();
        try
        {
            Libc.WriteAll(_blockWrite!, "g"u8);
        }
        catch (CordonException e) when (e.Errno == Errno.EPIPE)
        {
            // bwrap already died during setup; Exited reports it.
        }
        _blockWrite!.Dispose();
    }

    /// <summary>Resources used since <see cref="Release"/>.</summary>
    public ResourceUsage GetUsage()
    {
        var wall = IsReleased ? _host.Time.GetElapsedTime(_clockStart) : TimeSpan.Zero;
        return new ResourceUsage(wall, CpuUsed(), Cgroup?.PeakMemory() ?? 0);
    }

    /// <summary>Writes a file into the work directory, owned by the jail's uid (links are never followed).</summary>
    public void WriteFile(string path, ReadOnlySpan<byte> content, bool executable = false) =>
        JailFiles.Write(WorkDirectory, path, content, HostUid, executable);

    /// <summary>Reads a regular file from the work directory (links, FIFOs and devices are refused).</summary>
    public byte[] ReadFile(string path, long maxBytes) => JailFiles.Read(WorkDirectory, path, maxBytes);

    /// <summary>Kills every process in the jail and waits until they are all gone.</summary>
    public Task KillAsync() => KillAsync(null, null);

    private async Task KillAsync(string? reason, Verdict? verdict)
    {
        lock (_gate)
        {
            if (reason is not null && _killReason is null)
            {
                _killReason = reason;
                _killVerdict = verdict;
                Log.JailKilled(_host.Logger, Id, reason);
            }
        }
        // The monitor is killed directly too: before its cgroup attach it is outside the cgroup, and bwrap's
        // --die-with-parent takes the sandbox down with it.
        if (!_reaped && Pid > 0) Libc.Kill(Pid, Libc.SIGKILL);
        // A jail stopped before its processes joined the cgroup (a launch cancelled at the gate) has a sandbox init
        // the cgroup cannot reach, one bwrap may not have reported yet nor armed --die-with-parent for. Every process
        // of the jail runs as its uid, leased to this jail alone: kill by uid.
        if (!Attached && Pid > 0) await KillByUidAsync().ConfigureAwait(false);
        if (Cgroup is not null) await Cgroup.KillAllAsync().ConfigureAwait(false);
        if (Pid > 0) await _exited.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Releases the program (if not yet), feeds <see cref="JailSpec.Stdin"/>, captures stdout and stderr up to the
    /// output limit, enforces wall and CPU time, waits for the tree to end and returns the result. Once per jail.
    /// On cancellation the jail is killed before the exception propagates.
    /// </summary>
    public Task<JailRunResult> RunAsync(CancellationToken cancellationToken = default) => RunAsync(new JailRunOptions(), cancellationToken);

    /// <summary>
    /// As <see cref="RunAsync(CancellationToken)"/>, also handing every chunk of output that is kept to
    /// <paramref name="onOutput"/> as it arrives (from the reader threads; stdout and stderr may call concurrently).
    /// </summary>
    public Task<JailRunResult> RunAsync(Action<OutputStreamKind, ReadOnlyMemory<byte>>? onOutput, CancellationToken cancellationToken = default) =>
        RunAsync(new JailRunOptions { OnOutput = onOutput }, cancellationToken);

    /// <summary>
    /// Runs the program to the end with <paramref name="options"/>: the clocks (wall, CPU, peak memory) start when
    /// this is called, not when the jail was started, so a jail pre-started long ago (a warm pool's) is measured
    /// exactly like a fresh one; a <see cref="JailRunOptions.Program"/> is handed to the waiting launcher then.
    /// </summary>
    [SuppressMessage("Reliability", "CA2016", Justification = "Cleanup after cancellation must not itself be cancelled.")]
    public async Task<JailRunResult> RunAsync(JailRunOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Interlocked.Exchange(ref _ran, 1) != 0) throw new InvalidOperationException("A jail runs once.");
        var onOutput = options.OnOutput;
        var limits = options.Limits ?? Spec.Limits;
        StartCapture();
        var (stdout, stderr, combined, readers) = _capture!.Value;
        stdout.Limit = limits.OutputBytes;
        stderr.Limit = limits.OutputBytes;
        _onOutput = onOutput;
        StartStdinWriter(options.Stdin ?? Spec.Stdin ?? ReadOnlyMemory<byte>.Empty);
        Release();
        StartClocks();
        if (options.Program is { } program) HandOver(program);

        using var watch = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watchdog = WatchLimitsAsync(limits, watch.Token);
        try
        {
            await _exited.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await KillAsync("cancelled", null).ConfigureAwait(false);
            await watch.CancelAsync().ConfigureAwait(false);
            throw;
        }
        var wall = _host.Time.GetElapsedTime(_clockStart);
        await watch.CancelAsync().ConfigureAwait(false);
        await watchdog.ConfigureAwait(false);

        // The program is done; anything it left (daemons holding stdout) dies now so the readers see EOF.
        if (Cgroup is not null) await Cgroup.KillAllAsync().ConfigureAwait(false);
        await Task.WhenAll(readers).ConfigureAwait(false);

        var exit = _exited.Task.Result;
        var usage = new ResourceUsage(wall, CpuUsed(), Cgroup?.PeakMemory() ?? 0);
        var oomKills = Cgroup?.OomKills() ?? 0;
        Verdict verdict;
        string? internalMessage = null;
        lock (_gate)
        {
            if (_killVerdict is { } killed) verdict = killed;
            else if (exit.SetupFailed)
            {
                verdict = Verdict.InternalError;
                internalMessage = "the jail could not be set up: " + stderr.Text().Trim();
                Log.JailSetupFailed(_host.Logger, Id, Spec.Label, internalMessage);
            }
            else if (oomKills > 0) verdict = Verdict.MemoryLimit;
            else if (exit.Signal is not null) verdict = Verdict.Signaled;
            else if (exit.ExitCode is not 0) verdict = Verdict.RuntimeError;
            else verdict = Verdict.Ok;
        }
        Log.JailEnded(_host.Logger, Id, Spec.Label, verdict, exit.ExitCode, exit.Signal, (long)wall.TotalMilliseconds);
        return new JailRunResult
        {
            Verdict = verdict,
            ExitCode = exit.ExitCode,
            Signal = exit.Signal ?? (_killVerdict is not null ? Libc.SIGKILL : null),
            Stdout = stdout.ToArray(),
            Stderr = exit.SetupFailed ? ReadOnlyMemory<byte>.Empty : stderr.ToArray(),
            Output = combined.ToArray(),
            StdoutTruncated = stdout.Truncated,
            StderrTruncated = stderr.Truncated,
            Usage = usage,
            KillReason = _killVerdict is null ? null : _killReason,
            InternalMessage = internalMessage,
        };
    }

    private async Task WatchLimitsAsync(JailLimits limits, CancellationToken cancellationToken)
    {
        var time = _host.Time;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var elapsed = time.GetElapsedTime(_clockStart);
                if (limits.WallTime is { } wall && elapsed >= wall)
                {
                    await KillAsync($"wall time {wall.TotalSeconds:0.###} s reached", Verdict.Timeout).ConfigureAwait(false);
                    return;
                }
                if (limits.CpuTime is { } cpu && Cgroup is not null && CpuUsed() >= cpu)
                {
                    await KillAsync($"CPU time {cpu.TotalSeconds:0.###} s reached", Verdict.CpuLimit).ConfigureAwait(false);
                    return;
                }
                var next = _host.Options.CpuPollInterval;
                if (limits.WallTime is { } w && w - elapsed < next) next = w - elapsed;
                if (next < TimeSpan.FromMilliseconds(1)) next = TimeSpan.FromMilliseconds(1);
                await Task.Delay(next, time, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The run ended first.
        }
    }

    /// <summary>
    /// Starts the threads that drain stdout and stderr into captures (idempotent). The host starts them while bwrap
    /// sets the jail up, so thread creation is never on a run's path; a run sets the captures' limits when it starts.
    /// </summary>
    internal void StartCapture()
    {
        lock (_gate)
        {
            if (_capture is not null) return;
            var stdout = new OutputCapture(long.MaxValue);
            var stderr = new OutputCapture(long.MaxValue);
            var combined = new CombinedOutput();
            Task[] readers =
            [
                StartReader(Stdout, stdout, combined, OutputStreamKind.Stdout),
                StartReader(Stderr, stderr, combined, OutputStreamKind.Stderr),
            ];
            _capture = (stdout, stderr, combined, readers);
        }
    }

    private Task StartReader(Stream stream, OutputCapture capture, CombinedOutput combined, OutputStreamKind kind)
    {
        var name = kind == OutputStreamKind.Stdout ? "stdout" : "stderr";
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            var buffer = new byte[16 * 1024];
            try
            {
                while (true)
                {
                    var n = stream.Read(buffer, 0, buffer.Length);
                    if (n == 0) break;
                    var kept = capture.Append(buffer.AsSpan(0, n));
                    combined.Append(buffer.AsSpan(0, kept));
                    if (kept > 0) _onOutput?.Invoke(kind, buffer.AsSpan(0, kept).ToArray());
                    if (capture.Truncated && _killVerdict is null)
                        _ = KillAsync($"{name} went past {capture.Limit} bytes", Verdict.OutputLimit);
                }
            }
            catch (IOException)
            {
                // The pipe broke because the jail was torn down.
            }
            finally
            {
                done.TrySetResult();
            }
        })
        { IsBackground = true, Name = $"cordon-{name}-{Id}" };
        thread.Start();
        return done.Task;
    }

    private void StartStdinWriter(ReadOnlyMemory<byte> input)
    {
        if (input.IsEmpty)
        {
            Stdin.Dispose();
            return;
        }
        var thread = new Thread(() =>
        {
            try
            {
                // A program that never reads its stdin only blocks this thread; it ends with the jail (EPIPE).
                Stdin.Write(input.Span);
            }
            catch (IOException)
            {
                // The program closed stdin or ended; the rest of the input is not wanted.
            }
            finally
            {
                try
                {
                    Stdin.Dispose();
                }
                catch (IOException)
                {
                    // Already broken.
                }
            }
        })
        { IsBackground = true, Name = "cordon-stdin-" + Id };
        thread.Start();
    }

    /// <summary>
    /// Kills the tree now and leaves the rest of the cleanup (cgroup, mount, directories, uid) to the host's cleanup
    /// threads: when this returns no process of the jail is alive, and the request need not wait for the kernel to
    /// tear the rest down. The host's disposal waits for every queued cleanup.
    /// </summary>
    public async Task KillAndCleanUpLaterAsync()
    {
        await KillAsync().ConfigureAwait(false);
        _host.CleanUpLater(this);
    }

    /// <summary>Kills the tree, removes the cgroup, unmounts and deletes the work directory, frees the uid.</summary>
    public ValueTask DisposeAsync() => new(_cleanup.Value);

    private async Task CleanupAsync()
    {
        var problems = new List<string>();
        try
        {
            await KillAsync().ConfigureAwait(false);
        }
        catch (CordonException e)
        {
            problems.Add(e.Message);
        }
        foreach (var stream in new[] { Stdin, Stdout, Stderr }.Concat(ExtraPipes))
        {
            try
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // A broken pipe on close changes nothing.
            }
        }
        _statusRead?.Dispose();
        _blockWrite?.Dispose();
        try
        {
            if (WorkMounted) Libc.Unmount(WorkDirectory);
            if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CordonException)
        {
            problems.Add(e.Message);
        }
        // After the unmount: the work tmpfs's pages are charged to the jail's memory cgroup, and removing a cgroup
        // that still holds charges makes the kernel move them, which took several ms per jail.
        if (Cgroup is not null && !Cgroup.TryRemove()) problems.Add($"cgroup {Cgroup.RelativePath} could not be removed");
        // The uid goes back only when no process of it can be alive (the cgroup was empty).
        if (problems.Count == 0) UidLease?.Dispose();
        else Log.CleanupIncomplete(_host.Logger, Id, string.Join("; ", problems));
        _host.Forget(this);
    }

    /// <summary>Reads bwrap's --json-status-fd stream: one JSON object per line.</summary>
    private sealed class BwrapStatusReader(SafeFileHandle handle)
    {
        private readonly List<byte> _pending = [];
        private bool _eof;

        public int? ReadChildPid()
        {
            while (NextObject() is { } obj)
            {
                if (obj.RootElement.TryGetProperty("child-pid", out var pid)) return pid.GetInt32();
            }
            return null;
        }

        public int? ReadExitCode()
        {
            while (NextObject() is { } obj)
            {
                if (obj.RootElement.TryGetProperty("exit-code", out var code)) return code.GetInt32();
            }
            return null;
        }

        private JsonDocument? NextObject()
        {
            var buffer = new byte[4096];
            while (true)
            {
                var newline = _pending.IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    var line = _pending.GetRange(0, newline).ToArray();
                    _pending.RemoveRange(0, newline + 1);
                    if (line.Length > 0) return JsonDocument.Parse(line);
                    continue;
                }
                if (_eof)
                {
                    if (_pending.Count == 0) return null;
                    var rest = _pending.ToArray();
                    _pending.Clear();
                    return JsonDocument.Parse(rest);
                }
                var n = Libc.Read(handle, buffer);
                if (n == 0) _eof = true;
                else _pending.AddRange(buffer.AsSpan(0, n));
            }
        }
    }
}
