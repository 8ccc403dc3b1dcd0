using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using System.Text.Unicode;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Server;

// The request records are the single description of the request shape: JsonShape checks a body against their
// metadata (names, required, types, [AllowedValues], [Range]) and the OpenAPI document is generated from them.

/// <summary>The body of <c>POST /v1/executions</c>.</summary>
public sealed record ExecutionRequestBody
{
    /// <summary>Language name or alias (see <c>GET /v1/runtimes</c>).</summary>
    [Description("Language name or alias (see GET /v1/runtimes).")]
    public required string Language { get; init; }

    /// <summary>A version or range ("3.11.2", "3.x", "*"); omitted for the installed one.</summary>
    [Description("A version or range (\"3.11.2\", \"3.x\", \"*\"); omitted for the installed one.")]
    public string? Version { get; init; }

    /// <summary>The program's files; the first is the main file.</summary>
    [Description("The program's files; the first is the main file.")]
    public required IReadOnlyList<FileBody> Files { get; init; }

    /// <summary>The program's stdin.</summary>
    [Description("The program's stdin (default: empty).")]
    public string? Stdin { get; init; }

    /// <summary>How <see cref="Stdin"/> is encoded: utf8 (default) or base64.</summary>
    [Description("How stdin is encoded: utf8 (default) or base64.")]
    [AllowedValues("utf8", "base64")]
    public string? StdinEncoding { get; init; }

    /// <summary>Arguments after the program.</summary>
    [Description("Arguments after the program.")]
    public IReadOnlyList<string>? Args { get; init; }

    /// <summary>Limits of the run stage; each may only lower the server's maximum.</summary>
    [Description("Limits of the run stage; each may be at most the server's maximum (RunLimits, or the runtime's own default where that is higher).")]
    public LimitsBody? RunLimits { get; init; }

    /// <summary>Limits of the compile stage; each may only lower the server's maximum.</summary>
    [Description("Limits of the compile stage; each may be at most the server's maximum (CompileLimits, or the runtime's own default where that is higher).")]
    public LimitsBody? CompileLimits { get; init; }

    /// <summary>Allow network access (only where the server's AllowNetwork setting permits).</summary>
    [Description("Allow network access; refused unless the server's AllowNetwork setting is on.")]
    public bool? Network { get; init; }
}

/// <summary>A file of a request.</summary>
public sealed record FileBody
{
    /// <summary>A relative name; sub-folders allowed (<c>lib/util.py</c>).</summary>
    [Description("A relative name; sub-folders allowed (lib/util.py).")]
    public required string Name { get; init; }

    /// <summary>The content, as <see cref="Encoding"/> says.</summary>
    [Description("The content, encoded as 'encoding' says.")]
    public required string Content { get; init; }

    /// <summary>utf8 (default) or base64.</summary>
    [Description("utf8 (default) or base64.")]
    [AllowedValues("utf8", "base64")]
    public string? Encoding { get; init; }
}

/// <summary>Limits a request asks for; omitted fields keep the server's defaults.</summary>
public sealed record LimitsBody
{
    /// <summary>Wall time, ms.</summary>
    [Description("Wall time, ms.")]
    [Range(1, long.MaxValue)]
    public long? WallTimeMs { get; init; }

    /// <summary>CPU time of the whole process tree, ms.</summary>
    [Description("CPU time of the whole process tree, ms.")]
    [Range(1, long.MaxValue)]
    public long? CpuTimeMs { get; init; }

    /// <summary>Memory of the whole process tree, bytes (at least 4 MiB).</summary>
    [Description("Memory of the whole process tree, bytes (at least 4 MiB).")]
    [Range(4L * 1024 * 1024, long.MaxValue)]
    public long? MemoryBytes { get; init; }

    /// <summary>Processes and threads.</summary>
    [Description("Processes and threads.")]
    [Range(1, int.MaxValue)]
    public int? Processes { get; init; }

    /// <summary>Bytes kept of each of stdout and stderr; more stops the program with output_limit.</summary>
    [Description("Bytes kept of each of stdout and stderr; more stops the program with output_limit.")]
    [Range(0, long.MaxValue)]
    public long? OutputBytes { get; init; }
}

/// <summary>A runtime of <c>GET /v1/runtimes</c>.</summary>
/// <param name="Name">The language's name.</param>
/// <param name="Version">The installed version; null when unavailable.</param>
/// <param name="Aliases">Other names it answers to.</param>
/// <param name="Extensions">File extensions it claims.</param>
/// <param name="Compiled">Whether it has a compile stage.</param>
/// <param name="Available">Whether its toolchain is installed and answered.</param>
/// <param name="Problem">Why it is unavailable; null when available.</param>
public sealed record RuntimeResponse(string Name, string? Version, IReadOnlyList<string> Aliases, IReadOnlyList<string> Extensions, bool Compiled, bool Available, string? Problem)
{
    internal static RuntimeResponse From(RuntimeInfo info) => new(
        info.Name, info.Version, info.Manifest.Aliases, info.Manifest.Extensions, info.Manifest.Compile is not null, info.Available, info.Problem);
}

/// <summary>The result of <c>POST /v1/executions</c>.</summary>
/// <param name="Id">The execution's id (in every server log event about it).</param>
/// <param name="Language">The runtime that ran it.</param>
/// <param name="Version">The runtime's version.</param>
/// <param name="Verdict">The compile stage's verdict when it failed, else the run stage's.</param>
/// <param name="Compile">The compile stage, for compiled languages.</param>
/// <param name="Run">The run stage; absent when compilation failed.</param>
public sealed record ExecutionResponse(
    string Id,
    string Language,
    string Version,
    Verdict Verdict,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] StageResponse? Compile,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] StageResponse? Run)
{
    internal static ExecutionResponse From(ExecutionResult result) =>
        new(result.Id, result.Language, result.Version, result.Verdict, StageResponse.From(result.Compile), StageResponse.From(result.Run));
}

/// <summary>One stage's result. Output is UTF-8 text when it is valid UTF-8, else base64 (see the encodings).</summary>
/// <param name="Verdict">How the stage ended.</param>
/// <param name="ExitCode">The exit code; null when killed by a signal or never started.</param>
/// <param name="Signal">The signal number that ended it, if any.</param>
/// <param name="SignalName">The signal's name (SIGKILL), if any.</param>
/// <param name="Stdout">stdout, at most the output limit.</param>
/// <param name="StdoutEncoding">utf8, or base64 when stdout is not valid UTF-8.</param>
/// <param name="Stderr">stderr, at most the output limit.</param>
/// <param name="StderrEncoding">utf8, or base64 when stderr is not valid UTF-8.</param>
/// <param name="StdoutTruncated">Whether stdout went past the limit and was cut.</param>
/// <param name="StderrTruncated">Whether stderr went past the limit and was cut.</param>
/// <param name="KillReason">When Cordon stopped the program at a limit: which one, in words.</param>
/// <param name="InternalMessage">For internal_error: what failed in the jail itself.</param>
/// <param name="Usage">Resources used, measured from the moment user code started.</param>
public sealed record StageResponse(
    Verdict Verdict,
    int? ExitCode,
    int? Signal,
    string? SignalName,
    string Stdout,
    string StdoutEncoding,
    string Stderr,
    string StderrEncoding,
    bool StdoutTruncated,
    bool StderrTruncated,
    string? KillReason,
    string? InternalMessage,
    UsageResponse Usage)
{
    /// <summary>Maps a stage's result; null stays null. The CLI's <c>--json</c> prints the same shape.</summary>
    public static StageResponse? From(JailRunResult? stage)
    {
        if (stage is null) return null;
        var (stdout, stdoutEncoding) = Text(stage.Stdout.Span);
        var (stderr, stderrEncoding) = Text(stage.Stderr.Span);
        return new StageResponse(stage.Verdict, stage.ExitCode, stage.Signal, Signals.Name(stage.Signal),
            stdout, stdoutEncoding, stderr, stderrEncoding, stage.StdoutTruncated, stage.StderrTruncated,
            stage.KillReason, stage.InternalMessage,
            new UsageResponse(
                (long)Math.Round(stage.Usage.WallTime.TotalMilliseconds),
                (long)Math.Round(stage.Usage.CpuTime.TotalMilliseconds),
                stage.Usage.PeakMemoryBytes));
    }

    /// <summary>Bytes as text when they are valid UTF-8, else as base64, which keeps every byte exact.</summary>
    internal static (string Text, string Encoding) Text(ReadOnlySpan<byte> bytes) =>
        Utf8.IsValid(bytes)
            ? (System.Text.Encoding.UTF8.GetString(bytes), "utf8")
            : (Convert.ToBase64String(bytes), "base64");
}

/// <summary>Resources a stage used.</summary>
/// <param name="WallTimeMs">Wall time, ms.</param>
/// <param name="CpuTimeMs">CPU time of the whole tree, ms.</param>
/// <param name="PeakMemoryBytes">Peak memory of the tree, bytes.</param>
public sealed record UsageResponse(long WallTimeMs, long CpuTimeMs, long PeakMemoryBytes);

/// <summary>The data of an SSE <c>stdout</c> or <c>stderr</c> event: a piece of output as it arrived.</summary>
/// <param name="Stage">compile or run.</param>
/// <param name="Data">The bytes, as <paramref name="Encoding"/> says.</param>
/// <param name="Encoding">utf8, or base64 when the piece is not valid UTF-8.</param>
public sealed record OutputEvent(string Stage, string Data, string Encoding);
