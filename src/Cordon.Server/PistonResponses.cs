using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Server;

/// <summary>One entry of <c>GET /api/v2/runtimes</c>, as Piston lists it.</summary>
/// <param name="Language">The runtime's name.</param>
/// <param name="Version">The installed version.</param>
/// <param name="Aliases">Other names it answers to.</param>
/// <param name="Runtime">The toolchain, only where one toolchain provides several languages (gcc: c, cpp, fortran).</param>
public sealed record PistonRuntime(
    string Language,
    string Version,
    IReadOnlyList<string> Aliases,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Runtime);

/// <summary>One stage of a Piston execute response. Every field is always present, null when it does not apply.</summary>
/// <param name="Stdout">The program's stdout, decoded as UTF-8 (invalid bytes become U+FFFD, as in Piston).</param>
/// <param name="Stderr">The program's stderr.</param>
/// <param name="Output">stdout and stderr interleaved in arrival order.</param>
/// <param name="Code">The exit code; null when the program was killed or never ran.</param>
/// <param name="Signal">The signal's name ("SIGKILL"), or null.</param>
/// <param name="Message">Why the stage did not end fine, in words; null when it did.</param>
/// <param name="Status">null (fine), RE, SG, TO, OL, EL or XX.</param>
/// <param name="Memory">Peak memory of the tree, bytes.</param>
/// <param name="CpuTime">CPU time of the tree, ms.</param>
/// <param name="WallTime">Wall time, ms.</param>
public sealed record PistonStage(
    string Stdout,
    string Stderr,
    string Output,
    int? Code,
    string? Signal,
    string? Message,
    string? Status,
    long? Memory,
    long? CpuTime,
    long? WallTime);

/// <summary>The 200 answer of <c>POST /api/v2/execute</c>.</summary>
/// <param name="Language">The runtime that ran it.</param>
/// <param name="Version">Its version.</param>
/// <param name="Run">The run stage; a copy of <paramref name="Compile"/> when compilation failed, as Piston does.</param>
/// <param name="Compile">The compile stage, for compiled languages only.</param>
public sealed record PistonExecuteResponse(
    string Language,
    string Version,
    PistonStage Run,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PistonStage? Compile);

/// <summary>Every error answer of the Piston API: <c>{"message": "..."}</c>.</summary>
/// <param name="Message">What is wrong, in words.</param>
public sealed record PistonMessage(string Message);

/// <summary>Source-generated JSON for the Piston API: snake_case, nulls written (Piston's clients expect every field).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(PistonExecuteResponse))]
[JsonSerializable(typeof(IReadOnlyList<PistonRuntime>))]
[JsonSerializable(typeof(PistonMessage))]
internal sealed partial class PistonJsonContext : JsonSerializerContext
{
    /// <summary>
    /// As <see cref="JsonSerializerContext"/>'s default, but writing '+', '&lt;' and non-ASCII text as is: the
    /// answers are application/json, never embedded in HTML, and program output should read as it was printed.
    /// </summary>
    public static PistonJsonContext Relaxed { get; } = new(new System.Text.Json.JsonSerializerOptions
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}

/// <summary>Maps Cordon's results onto Piston's stage shape and status letters.</summary>
internal static class PistonResults
{
    private const string SigKill = "SIGKILL";

    /// <summary>The whole response: <c>run</c> is the compile stage when the run stage was skipped, as in Piston.</summary>
    public static PistonExecuteResponse Map(ExecutionResult result, long runMemoryLimit, long compileMemoryLimit)
    {
        var compile = result.Compile is null ? null : MapStage(result.Compile, compileMemoryLimit);
        var run = result.Run is null ? compile! : MapStage(result.Run, runMemoryLimit);
        return new PistonExecuteResponse(result.Language, result.Version, run, compile);
    }

    /// <summary>
    /// One stage. The status letters and messages follow Piston (isolate's wording for RE, SG and TO, Piston's own for
    /// OL and EL); a memory kill, which Piston reports as a plain RE 137, is SG/SIGKILL with a message saying so.
    /// </summary>
    public static PistonStage MapStage(JailRunResult stage, long memoryLimit)
    {
        var (status, signal, message) = stage.Verdict switch
        {
            Verdict.Ok => ((string?)null, Signals.Name(stage.Signal), (string?)null),
            Verdict.RuntimeError or Verdict.CompileError => ("RE", Signals.Name(stage.Signal), $"Exited with error status {stage.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "?"}"),
            Verdict.Signaled => ("SG", Signals.Name(stage.Signal), $"Caught fatal signal {stage.Signal?.ToString(CultureInfo.InvariantCulture) ?? "?"}"),
            Verdict.Timeout => ("TO", SigKill, "Time limit exceeded (wall clock)"),
            Verdict.CpuLimit => ("TO", SigKill, "Time limit exceeded"),
            Verdict.MemoryLimit => ("SG", SigKill,
                $"Memory limit exceeded: the program needed more than its limit of {memoryLimit.ToString(CultureInfo.InvariantCulture)} bytes ({Mebibytes(memoryLimit)}) and was killed"),
            // Both streams can overflow together; stdout is named first, as Piston checks it first per chunk.
            Verdict.OutputLimit when stage.StdoutTruncated || !stage.StderrTruncated => ("OL", SigKill, "stdout length exceeded"),
            Verdict.OutputLimit => ("EL", SigKill, "stderr length exceeded"),
            _ => ("XX", Signals.Name(stage.Signal), stage.InternalMessage ?? "Cordon could not run the program; the program is not to blame"),
        };
        return new PistonStage(
            Stdout: Text(stage.Stdout),
            Stderr: Text(stage.Stderr),
            Output: Text(stage.Output),
            Code: stage.ExitCode,
            Signal: signal,
            Message: message,
            Status: status,
            Memory: stage.Usage.PeakMemoryBytes,
            CpuTime: (long)Math.Round(stage.Usage.CpuTime.TotalMilliseconds),
            WallTime: (long)Math.Round(stage.Usage.WallTime.TotalMilliseconds));
    }

    private static string Mebibytes(long bytes) =>
        (bytes / (1024.0 * 1024)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB";

    // Piston decodes output as UTF-8 with replacement characters; a JSON string cannot carry raw bytes anyway.
    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}
