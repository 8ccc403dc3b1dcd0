using System.Collections.Immutable;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Cordon.Jail;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cordon.Engine;

/// <summary>Settings of an engine.</summary>
public sealed record CordonEngineOptions
{
    /// <summary>The jail host's settings.</summary>
    public JailHostOptions Jail { get; init; } = new();

    /// <summary>The runtimes folder; null to locate it (see <see cref="RuntimeCatalog.LocateDirectory"/>).</summary>
    public string? RuntimesDirectory { get; init; }

    /// <summary>Defaults of every run stage before the runtime's and the request's overrides.</summary>
    public JailLimits RunLimits { get; init; } = JailLimits.Default;

    /// <summary>Defaults of every compile stage before the runtime's and the request's overrides.</summary>
    public JailLimits CompileLimits { get; init; } = JailLimits.Default with
    {
        WallTime = TimeSpan.FromSeconds(30),
        CpuTime = TimeSpan.FromSeconds(30),
        MemoryBytes = 1024L * 1024 * 1024,
        Processes = 128,
        WorkDirBytes = 256L * 1024 * 1024,
        FileSizeBytes = 256L * 1024 * 1024,
    };

    /// <summary>
    /// Whether a request may turn the network on. A jail with network shares the host's network namespace (its
    /// loopback services and abstract unix sockets included), so only an operator should allow it; off by default.
    /// </summary>
    public bool AllowNetwork { get; init; }

    /// <summary>Cordon's kernels folder (launchers); null to locate it like the runtimes folder.</summary>
    public string? KernelsDirectory { get; init; }

    /// <summary>Warm pools; none by default (a one-shot command has no use for them).</summary>
    public WarmPoolOptions WarmPool { get; init; } = new();

    /// <summary>Concurrency and queue limits of executions.</summary>
    public AdmissionOptions Admission { get; init; } = new();

    /// <summary>Most bytes of build artifacts handed from the compile stage to the run stage.</summary>
    public long MaxArtifactBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Sessions (stateful sandboxes).</summary>
    public Sessions.SessionOptions Sessions { get; init; } = new();

    /// <summary>
    /// Creates the engine's meter (<see cref="CordonMetrics.MeterName"/>), so a listener can tell this engine's
    /// instruments from another's in the same process by <see cref="System.Diagnostics.Metrics.Meter.Scope"/>; null
    /// for a meter of its own.
    /// </summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }
}

/// <summary>
/// Cordon's engine: the runtime catalog and the one-shot execution pipeline over a jail host. Thread-safe; one per
/// process. A user program's failure is a result; only Cordon's own faults throw <see cref="CordonException"/>.
/// </summary>
public sealed class CordonEngine : IAsyncDisposable
{
    private static readonly ImmutableDictionary<string, string> BaseEnvironment = ImmutableDictionary.CreateRange(StringComparer.Ordinal,
    [
        new KeyValuePair<string, string>("PATH", RuntimeCatalog.JailPath),
        new KeyValuePair<string, string>("HOME", "/tmp"),
        new KeyValuePair<string, string>("TMPDIR", "/tmp"),
        new KeyValuePair<string, string>("LANG", "C.UTF-8"),
        new KeyValuePair<string, string>("LC_ALL", "C.UTF-8"),
    ]);

    /// <summary>Where the kernels folder appears inside every jail.</summary>
    public const string KernelsMountPoint = "/opt/cordon/kernels";

    private readonly ILogger _logger;

    private CordonEngine(CordonEngineOptions options, JailHost host, RuntimeCatalog catalog, string kernels, ILoggerFactory loggerFactory)
    {
        Options = options;
        Host = host;
        Catalog = catalog;
        KernelsDirectory = kernels;
        Pool = new WarmPool(options.WarmPool, host, loggerFactory.CreateLogger("Cordon.WarmPool"));
        Admission = new AdmissionController(options.Admission);
        Metrics = new CordonMetrics(options.MeterFactory, () => Admission.Queued, () => Admission.Running, () => Host.LiveJails, () => Sessions?.Count ?? 0);
        _logger = loggerFactory.CreateLogger("Cordon.Engine");
        Sessions = new Sessions.SessionManager(this, options.Sessions, loggerFactory.CreateLogger("Cordon.Sessions"));
    }

    /// <summary>Stateful sessions.</summary>
    public Sessions.SessionManager Sessions { get; }

    /// <summary>The kernels folder on the host.</summary>
    public string KernelsDirectory { get; }

    /// <summary>The warm pools.</summary>
    public WarmPool Pool { get; }

    /// <summary>Admission control in front of executions.</summary>
    public AdmissionController Admission { get; }

    /// <summary>The engine's metrics instruments.</summary>
    public CordonMetrics Metrics { get; }

    /// <summary>The engine's settings.</summary>
    public CordonEngineOptions Options { get; }

    /// <summary>The jail host.</summary>
    public JailHost Host { get; }

    /// <summary>The runtimes.</summary>
    public RuntimeCatalog Catalog { get; }

    /// <summary>Loads the runtimes and starts the jail host (which reaps what a killed server left).</summary>
    public static CordonEngine Create(CordonEngineOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        options ??= new CordonEngineOptions();
        loggerFactory ??= NullLoggerFactory.Instance;
        var problems = options.Admission.Validate().Concat(options.WarmPool.Validate()).Concat(options.Sessions.Validate()).ToList();
        if (problems.Count > 0) throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid engine options", problems);
        var catalog = RuntimeCatalog.Load(RuntimeCatalog.LocateDirectory(options.RuntimesDirectory));
        var kernels = StageKernels(LocateKernels(options.KernelsDirectory, catalog.Directory), options.Jail.StateDirectory);
        var host = JailHost.Create(options.Jail, loggerFactory);
        var engine = new CordonEngine(options, host, catalog, kernels, loggerFactory);
        foreach (var name in options.WarmPool.Runtimes)
        {
            var manifest = catalog.Find(name)
                ?? throw new CordonException(CordonErrorCode.InvalidRequest, $"Warm pool runtime '{name}' is not a known runtime.");
            if (manifest.Run.Launcher is null)
                throw new CordonException(CordonErrorCode.InvalidRequest, $"Runtime '{manifest.Name}' has no launcher, so it cannot have a warm pool.");
            engine.Pool.Track(engine.StartPoolAsync(manifest));
        }
        return engine;
    }

    /// <summary>Starts filling a runtime's pool once its toolchain answered its probe (a missing one gets no pool).</summary>
    private async Task StartPoolAsync(RuntimeManifest manifest)
    {
        var info = await Catalog.ProbeAsync(manifest).ConfigureAwait(false);
        if (!info.Available) return;
        var limits = RunLimitsFor(manifest, null) with { WallTime = null, CpuTime = null };
        Pool.Register(manifest.Name, LauncherSpec(manifest, limits, network: false, "pool/" + manifest.Name));
    }

    /// <summary>
    /// Copies the kernels folder into the state directory under a name made from its content, readable by every
    /// jail uid. bwrap runs as the jail's uid and must reach the folder it binds; a checkout under a private
    /// directory (a 0700 temp folder, /root) would not be.
    /// </summary>
    private static string StageKernels(string source, string stateDirectory)
    {
        var files = Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => (Relative: Path.GetRelativePath(source, f), Bytes: File.ReadAllBytes(f))).ToList();
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var (relative, bytes) in files)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(relative + "\0"));
            hash.AppendData(bytes);
        }
        var target = Path.Combine(stateDirectory, "kernels-" + Convert.ToHexStringLower(hash.GetHashAndReset())[..16]);
        if (Directory.Exists(target)) return target;
        const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        const UnixFileMode Traversable = Readable | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        Directory.CreateDirectory(stateDirectory);
        var staging = Path.Combine(stateDirectory, ".kernels-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        Directory.CreateDirectory(staging, Traversable);
        foreach (var (relative, bytes) in files)
        {
            var path = Path.Combine(staging, relative);
            var dir = Path.GetDirectoryName(path)!;
            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(dir);
                File.SetUnixFileMode(dir, Traversable);
            }
            File.WriteAllBytes(path, bytes);
            File.SetUnixFileMode(path, Readable);
        }
        try
        {
            Directory.Move(staging, target);
        }
        catch (IOException) when (Directory.Exists(target))
        {
            // Another Cordon process staged the same content first.
            Directory.Delete(staging, recursive: true);
        }
        return target;
    }

    private static string LocateKernels(string? configured, string runtimesDirectory)
    {
        if (!string.IsNullOrEmpty(configured)) return Path.GetFullPath(configured);
        if (System.Environment.GetEnvironmentVariable("CORDON_KERNELS") is { Length: > 0 } env) return Path.GetFullPath(env);
        // The kernels folder ships beside the runtimes folder (both are copied next to the program).
        var beside = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(runtimesDirectory).TrimEnd('/'))!, "kernels");
        if (Directory.Exists(beside)) return beside;
        throw new CordonException(CordonErrorCode.HostUnsupported,
            $"No kernels folder found beside {runtimesDirectory}: set CORDON_KERNELS or keep the kernels folder beside the runtimes folder.");
    }

    /// <summary>Resolves a language and version to an installed runtime, or throws naming what is installed.</summary>
    public async Task<RuntimeInfo> ResolveAsync(string language, string? version, CancellationToken cancellationToken = default)
    {
        var manifest = Catalog.Find(language)
            ?? throw new CordonException(CordonErrorCode.UnknownRuntime,
                $"Unknown language '{JailFiles.Printable(language)}'. Known languages: {string.Join(", ", Catalog.Manifests.Select(m => m.Name))}.");
        var info = await Catalog.ProbeAsync(manifest, cancellationToken).ConfigureAwait(false);
        if (!info.Available)
            throw new CordonException(CordonErrorCode.UnknownRuntime, $"Runtime '{manifest.Name}' is not available: {info.Problem}.");
        if (!RuntimeCatalog.VersionMatches(info.Version!, version))
            throw new CordonException(CordonErrorCode.UnknownRuntime,
                $"{manifest.Name}-{JailFiles.Printable(version)} runtime is unknown; the installed version is {info.Version}.");
        return info;
    }

    /// <summary>The run-stage limits a request would get for a runtime (defaults, then manifest, then request).</summary>
    public JailLimits RunLimitsFor(RuntimeManifest manifest, LimitOverrides? request)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var limits = manifest.Limits?.ApplyTo(Options.RunLimits) ?? Options.RunLimits;
        return request?.ApplyTo(limits) ?? limits;
    }

    /// <summary>The compile-stage limits a request would get for a runtime.</summary>
    public JailLimits CompileLimitsFor(RuntimeManifest manifest, LimitOverrides? request)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var limits = manifest.Compile?.Limits?.ApplyTo(Options.CompileLimits) ?? Options.CompileLimits;
        return request?.ApplyTo(limits) ?? limits;
    }

    /// <summary>
    /// Runs a one-shot execution: an optional compile stage in its own jail, then the run stage in a fresh jail
    /// that receives only the build's artifacts (or, for interpreted languages, the files).
    /// </summary>
    public Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, CancellationToken cancellationToken = default) =>
        ExecuteAsync(request, null, cancellationToken);

    /// <summary>
    /// As <see cref="ExecuteAsync(ExecutionRequest, CancellationToken)"/>, also handing every chunk of output to
    /// <paramref name="onOutput"/> as it arrives (from reader threads; calls may be concurrent).
    /// </summary>
    public async Task<ExecutionResult> ExecuteAsync(ExecutionRequest request, Action<OutputChunk>? onOutput, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = request.Validate().ToList();
        if (request.Network && !Options.AllowNetwork)
            errors.Add("network access is turned off by this Cordon's policy (CordonEngineOptions.AllowNetwork)");
        if (errors.Count > 0) throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid execution request", errors);
        var runtime = await ResolveAsync(request.Language, request.Version, cancellationToken).ConfigureAwait(false);
        var manifest = runtime.Manifest;
        var runLimits = RunLimitsFor(manifest, request.RunLimits);
        var compileLimits = CompileLimitsFor(manifest, request.CompileLimits);
        var limitErrors = runLimits.Validate().Select(e => "run: " + e).Concat(
            manifest.Compile is null ? [] : compileLimits.Validate().Select(e => "compile: " + e)).ToList();
        if (request.Stdin.Length > runLimits.StdinBytes) limitErrors.Add($"stdin is {request.Stdin.Length} bytes; at most {runLimits.StdinBytes} are allowed");
        if (limitErrors.Count > 0) throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid execution request", limitErrors);

        IDisposable slot;
        try
        {
            slot = await Admission.EnterAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (CordonException e) when (e.Code == CordonErrorCode.Overloaded)
        {
            Metrics.Rejected("overloaded");
            throw;
        }
        using var _ = slot;
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var started = Stopwatch.GetTimestamp();
        Log.ExecutionStarted(_logger, id, manifest.Name, runtime.Version!);
        var main = request.Files[0].Name;
        var files = request.Files.Select(f => new StagedFile(f.Name, f.Content, Executable: false)).ToImmutableArray();

        JailRunResult? compile = null;
        if (manifest.Compile is { } stage)
        {
            var spec = StageSpec(manifest, Expand(stage.Command, main, files, []), compileLimits, request.Network, ReadOnlyMemory<byte>.Empty, id + "/compile");
            var jail = await Host.StartAsync(spec, cancellationToken).ConfigureAwait(false);
            try
            {
                WriteFiles(jail, files);
                compile = await jail.RunAsync(Forward(onOutput, ExecutionStage.Compile), cancellationToken).ConfigureAwait(false);
                Metrics.StageFinished(manifest.Name, "compile", compile.Usage.WallTime);
                if (compile.Verdict == Verdict.RuntimeError) compile = compile with { Verdict = Verdict.CompileError };
                if (compile.Verdict != Verdict.Ok)
                {
                    Log.CompileFailed(_logger, id, compile.Verdict);
                    return Finish(new ExecutionResult { Id = id, Language = manifest.Name, Version = runtime.Version!, Verdict = compile.Verdict, Compile = compile }, started);
                }
                files = CollectArtifacts(jail, stage.Artifacts);
            }
            finally
            {
                await ReleaseJailAsync(jail).ConfigureAwait(false);
            }
        }

        var launcher = manifest.Run.Launcher;
        var program = launcher is null ? (ReadOnlyMemory<byte>?)null : NulJoined(Expand(launcher.Program, main, files, request.Args));
        var throughLauncher = launcher is { Transparent: false };
        Jail.Jail? runJail = null;
        var pooled = false;
        if (launcher is not null && Pool.Serves(manifest.Name))
        {
            runJail = Pool.TryTake(manifest.Name, LauncherSpec(manifest, runLimits, request.Network, "pool/" + manifest.Name));
            // The pooled jail was made with default cgroup limits: it takes the request's now, or is not used.
            if (runJail is not null && !runJail.TryApplyLimits(runLimits))
            {
                await runJail.DisposeAsync().ConfigureAwait(false);
                runJail = null;
            }
            pooled = runJail is not null;
            if (pooled) Log.PooledRun(_logger, id, manifest.Name);
        }
        runJail ??= await Host.StartAsync(
            throughLauncher
                ? LauncherSpec(manifest, runLimits, request.Network, id + "/run")
                : StageSpec(manifest, Expand(manifest.Run.Command, main, files, request.Args), runLimits, request.Network, ReadOnlyMemory<byte>.Empty, id + "/run"),
            cancellationToken).ConfigureAwait(false);
        try
        {
            WriteFiles(runJail, files);
            var options = new JailRunOptions
            {
                OnOutput = Forward(onOutput, ExecutionStage.Run),
                Limits = runLimits,
                Stdin = request.Stdin,
                Program = pooled || throughLauncher ? program : null,
            };
            var run = await runJail.RunAsync(options, cancellationToken).ConfigureAwait(false);
            Metrics.StageFinished(manifest.Name, "run", run.Usage.WallTime);
            return Finish(new ExecutionResult { Id = id, Language = manifest.Name, Version = runtime.Version!, Verdict = run.Verdict, Compile = compile, Run = run }, started);
        }
        finally
        {
            await ReleaseJailAsync(runJail).ConfigureAwait(false);
            // Refill after the run, not when the jail was taken: a refill (bwrap, an interpreter starting) competing
            // for the cores would slow the very run it replaces.
            if (pooled) Pool.Replenish(manifest.Name);
        }
    }

    /// <summary>
    /// Ends a stage's jail: every process is dead before this returns, but removing its cgroups (several ms each on
    /// cgroup v1, waiting for RCU), unmounting and deleting happen in the background, off the request's path. The
    /// host waits for them when it is disposed.
    /// </summary>
    private static Task ReleaseJailAsync(Jail.Jail jail) => jail.KillAndCleanUpLaterAsync();

    /// <summary>The spec of a run jail that starts the runtime's launcher and waits for the program on descriptor 3.</summary>
    private JailSpec LauncherSpec(RuntimeManifest manifest, JailLimits limits, bool network, string label) =>
        StageSpec(manifest, manifest.Run.Launcher!.Command, limits, network, ReadOnlyMemory<byte>.Empty, label) with
        {
            ExtraPipes = [JailPipeDirection.IntoJail],
        };

    private static byte[] NulJoined(ImmutableArray<string> argv)
    {
        var bytes = new List<byte>(256);
        foreach (var arg in argv)
        {
            bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(arg));
            bytes.Add(0);
        }
        return [.. bytes];
    }

    private static Action<OutputStreamKind, ReadOnlyMemory<byte>>? Forward(Action<OutputChunk>? onOutput, ExecutionStage stage) =>
        onOutput is null ? null : (stream, data) => onOutput(new OutputChunk(stage, stream, data));

    private ExecutionResult Finish(ExecutionResult result, long started)
    {
        Metrics.ExecutionFinished(result.Language, result.Verdict);
        Log.ExecutionEnded(_logger, result.Id, result.Verdict, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    internal JailSpec StageSpec(RuntimeManifest manifest, ImmutableArray<string> argv, JailLimits limits, bool network, ReadOnlyMemory<byte> stdin, string label) => new()
    {
        // Every jail, cold or warm, compile or run, sees Cordon's launchers at the same place: no run can tell
        // from its mounts how it was started.
        ReadOnlyBinds = [new JailBind(KernelsDirectory, KernelsMountPoint)],
        Argv = argv,
        Environment = BaseEnvironment.SetItems(manifest.Environment),
        ReadOnlyPaths = ExpandPathGlobs(manifest.ReadOnlyPaths),
        Limits = limits,
        Network = network,
        Stdin = stdin,
        Label = label,
    };

    /// <summary>
    /// Expands a <c>*</c> or <c>?</c> in the last segment of a read-only path against the host, so a manifest can
    /// name the installed version's folder (<c>/etc/java-*-openjdk</c>) without writing the version down.
    /// </summary>
    internal static ImmutableArray<string> ExpandPathGlobs(ImmutableArray<string> paths)
    {
        if (paths.IsDefaultOrEmpty) return paths;
        var result = ImmutableArray.CreateBuilder<string>();
        foreach (var path in paths)
        {
            var name = Path.GetFileName(path);
            if (name.IndexOfAny(['*', '?']) < 0)
            {
                result.Add(path);
                continue;
            }
            var parent = Path.GetDirectoryName(path);
            if (parent is null || !Directory.Exists(parent)) continue;
            result.AddRange(Directory.EnumerateFileSystemEntries(parent, name).Order(StringComparer.Ordinal));
        }
        return result.ToImmutable();
    }

    private static void WriteFiles(Jail.Jail jail, ImmutableArray<StagedFile> files)
    {
        foreach (var file in files) jail.WriteFile(file.Name, file.Content.Span, file.Executable);
    }

    // Only regular files matching the manifest's patterns cross from the compile jail; links and FIFOs it made
    // are never followed (JailFiles reads with O_NOFOLLOW).
    private ImmutableArray<StagedFile> CollectArtifacts(Jail.Jail jail, ImmutableArray<string> patterns)
    {
        var matchers = patterns.Select(GlobToRegex).ToList();
        var builder = ImmutableArray.CreateBuilder<StagedFile>();
        long total = 0;
        foreach (var path in JailFiles.ListRegularFiles(jail.WorkDirectory))
        {
            if (!matchers.Any(m => m.IsMatch(path))) continue;
            var bytes = JailFiles.Read(jail.WorkDirectory, path, Options.MaxArtifactBytes - total, out var executable);
            total += bytes.Length;
            builder.Add(new StagedFile(path, bytes, executable));
        }
        return builder.ToImmutable();
    }

    /// <summary>Turns a glob (<c>*</c> within a segment, <c>**/</c> any folders, <c>?</c>) into an anchored regex.</summary>
    internal static Regex GlobToRegex(string glob)
    {
        var pattern = Regex.Escape(glob)
            .Replace(@"\*\*/", "(?:.*/)?", StringComparison.Ordinal)
            .Replace(@"\*", "[^/]*", StringComparison.Ordinal)
            .Replace(@"\?", "[^/]", StringComparison.Ordinal);
        return new Regex("^" + pattern + "$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }

    /// <summary>Expands <c>{main}</c>, <c>{files}</c>, <c>{files:.ext}</c> and <c>{args}</c> in a command.</summary>
    internal static ImmutableArray<string> Expand(ImmutableArray<string> command, string main, ImmutableArray<StagedFile> files, ImmutableArray<string> args)
    {
        var result = ImmutableArray.CreateBuilder<string>();
        foreach (var part in command)
        {
            if (part == "{args}") result.AddRange(args.IsDefault ? [] : args);
            else if (part == "{files}") result.AddRange(files.Select(f => AsOperand(f.Name)));
            else if (part.StartsWith("{files:", StringComparison.Ordinal) && part.EndsWith('}'))
            {
                var extensions = part[7..^1].Split(',');
                result.AddRange(files.Select(f => f.Name).Where(n => extensions.Any(e => n.EndsWith(e, StringComparison.OrdinalIgnoreCase))).Select(AsOperand));
            }
            else result.Add(part.Replace("{main}", AsOperand(main), StringComparison.Ordinal));
        }
        return result.ToImmutable();
    }

    /// <summary>
    /// A user's file name as a command operand. Names are chosen by the user, and a tool reads one that starts with
    /// '-' as an option or with '@' as a file of options (gcc's <c>@opts.c</c> with <c>-wrapper</c> in it runs any
    /// program, with the compile stage's larger limits): such a name gets "./" in front, which is the same file.
    /// </summary>
    internal static string AsOperand(string name) =>
        name.StartsWith('-') || name.StartsWith('@') ? "./" + name : name;

    /// <summary>Stops the jail host, killing every live jail.</summary>
    public async ValueTask DisposeAsync()
    {
        await Sessions.DisposeAsync().ConfigureAwait(false);
        await Pool.DisposeAsync().ConfigureAwait(false);
        await Host.DisposeAsync().ConfigureAwait(false);
        Metrics.Dispose();
        Admission.Dispose();
    }

    /// <summary>A file on its way into a jail.</summary>
    internal sealed record StagedFile(string Name, ReadOnlyMemory<byte> Content, bool Executable);
}
