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

    /// <summary>Concurrency and queue limits of executions.</summary>
    public AdmissionOptions Admission { get; init; } = new();

    /// <summary>Most bytes of build artifacts handed from the compile stage to the run stage.</summary>
    public long MaxArtifactBytes { get; init; } = 256L * 1024 * 1024;
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

    private readonly ILogger _logger;

    private CordonEngine(CordonEngineOptions options, JailHost host, RuntimeCatalog catalog, ILoggerFactory loggerFactory)
    {
        Options = options;
        Host = host;
        Catalog = catalog;
        Admission = new AdmissionController(options.Admission);
        Metrics = new CordonMetrics(() => Admission.Queued, () => Admission.Running, () => Host.LiveJails);
        _logger = loggerFactory.CreateLogger("Cordon.Engine");
    }

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
        var problems = options.Admission.Validate();
        if (problems.Count > 0) throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid engine options", problems);
        var catalog = RuntimeCatalog.Load(RuntimeCatalog.LocateDirectory(options.RuntimesDirectory));
        var host = JailHost.Create(options.Jail, loggerFactory);
        return new CordonEngine(options, host, catalog, loggerFactory);
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
            await using (jail.ConfigureAwait(false))
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
        }

        var runSpec = StageSpec(manifest, Expand(manifest.Run.Command, main, files, request.Args), runLimits, request.Network, request.Stdin, id + "/run");
        var runJail = await Host.StartAsync(runSpec, cancellationToken).ConfigureAwait(false);
        await using (runJail.ConfigureAwait(false))
        {
            WriteFiles(runJail, files);
            var run = await runJail.RunAsync(Forward(onOutput, ExecutionStage.Run), cancellationToken).ConfigureAwait(false);
            Metrics.StageFinished(manifest.Name, "run", run.Usage.WallTime);
            return Finish(new ExecutionResult { Id = id, Language = manifest.Name, Version = runtime.Version!, Verdict = run.Verdict, Compile = compile, Run = run }, started);
        }
    }

    private static Action<OutputStreamKind, ReadOnlyMemory<byte>>? Forward(Action<OutputChunk>? onOutput, ExecutionStage stage) =>
        onOutput is null ? null : (stream, data) => onOutput(new OutputChunk(stage, stream, data));

    private ExecutionResult Finish(ExecutionResult result, long started)
    {
        Metrics.ExecutionFinished(result.Language, result.Verdict);
        Log.ExecutionEnded(_logger, result.Id, result.Verdict, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    private static JailSpec StageSpec(RuntimeManifest manifest, ImmutableArray<string> argv, JailLimits limits, bool network, ReadOnlyMemory<byte> stdin, string label) => new()
    {
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
        await Host.DisposeAsync().ConfigureAwait(false);
        Metrics.Dispose();
        Admission.Dispose();
    }

    /// <summary>A file on its way into a jail.</summary>
    internal sealed record StagedFile(string Name, ReadOnlyMemory<byte> Content, bool Executable);
}
