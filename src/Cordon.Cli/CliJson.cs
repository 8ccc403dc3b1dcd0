using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Unicode;
using Cordon.Engine;
using Cordon.Jail;
using Cordon.Server;

namespace Cordon.Cli;

/// <summary>
/// An execution as <c>cordon run --json</c> prints it: the HTTP API's result shape (<see cref="StageResponse"/> for
/// each stage), plus the code <c>cordon</c> exits with.
/// </summary>
internal sealed record ExecutionJson(string Id, string Language, string Version, Verdict Verdict, int ExitCode, StageResponse? Compile, StageResponse? Run)
{
    /// <summary>Maps a result; <paramref name="exitCode"/> is what <c>cordon</c> exits with.</summary>
    public static ExecutionJson From(ExecutionResult result, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new(result.Id, result.Language, result.Version, result.Verdict, exitCode, StageResponse.From(result.Compile), StageResponse.From(result.Run));
    }
}

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
