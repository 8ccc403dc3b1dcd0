using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Cli;

/// <summary>An execution as <c>cordon run --json</c> prints it.</summary>
internal sealed record ExecutionJson(string Id, string Language, string Version, Verdict Verdict, int ExitCode, StageJson? Compile, StageJson? Run)
{
    /// <summary>Maps a result; <paramref name="exitCode"/> is what <c>cordon</c> exits with.</summary>
    public static ExecutionJson From(ExecutionResult result, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new(result.Id, result.Language, result.Version, result.Verdict, exitCode, StageJson.From(result.Compile), StageJson.From(result.Run));
    }
}

/// <summary>One stage's result. Output is UTF-8 text when it is valid UTF-8, else base64 (see the <c>*_encoding</c> fields).</summary>
internal sealed record StageJson(
    Verdict Verdict,
    int? ExitCode,
    int? Signal,
    string? SignalName,
    string Stdout,
    string StdoutEncoding,
    bool StdoutTruncated,
    string Stderr,
    string StderrEncoding,
    bool StderrTruncated,
    UsageJson Usage,
    string? InternalMessage)
{
    /// <summary>Maps a stage; null stays null.</summary>
    public static StageJson? From(JailRunResult? stage)
    {
        if (stage is null) return null;
        var (stdout, stdoutEncoding) = Text(stage.Stdout);
        var (stderr, stderrEncoding) = Text(stage.Stderr);
        return new StageJson(stage.Verdict, stage.ExitCode, stage.Signal, Signals.Name(stage.Signal),
            stdout, stdoutEncoding, stage.StdoutTruncated, stderr, stderrEncoding, stage.StderrTruncated,
            new UsageJson(
                (long)Math.Round(stage.Usage.WallTime.TotalMilliseconds),
                (long)Math.Round(stage.Usage.CpuTime.TotalMilliseconds),
                stage.Usage.PeakMemoryBytes),
            stage.InternalMessage);
    }

    // Decoding invalid UTF-8 would replace bytes with U+FFFD and lose them for good; base64 keeps them exact.
    private static (string Text, string Encoding) Text(ReadOnlyMemory<byte> bytes) =>
        Utf8.IsValid(bytes.Span)
            ? (System.Text.Encoding.UTF8.GetString(bytes.Span), "utf8")
            : (Convert.ToBase64String(bytes.Span), "base64");
}

/// <summary>Resources a stage used.</summary>
internal sealed record UsageJson(long WallTimeMs, long CpuTimeMs, long PeakMemoryBytes);

/// <summary>A runtime as <c>cordon runtimes --json</c> prints it.</summary>
internal sealed record RuntimeJson(string Name, string? Version, IReadOnlyList<string> Aliases, IReadOnlyList<string> Extensions, bool Available, string? Problem, string? Install);

/// <summary>Source-generated serialization for the CLI's JSON output: snake_case names, verdicts as strings.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(ExecutionJson))]
[JsonSerializable(typeof(List<RuntimeJson>))]
internal sealed partial class CliJsonContext : JsonSerializerContext
{
    /// <summary>
    /// Options for terminal and pipe output: non-ASCII and characters like &lt; are written as themselves, not
    /// as \u escapes (this JSON is never embedded in HTML).
    /// </summary>
    public static CliJsonContext Output { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    });
}
