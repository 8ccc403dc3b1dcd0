using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Cli;

/// <summary>Exit codes of the <c>cordon</c> command, chosen to read like a shell's and <c>docker run</c>'s.</summary>
internal static class ExitCodes
{
    /// <summary>Everything worked (or the program exited 0).</summary>
    public const int Ok = 0;

    /// <summary><c>cordon doctor</c> found a problem.</summary>
    public const int CheckFailed = 1;

    /// <summary>The command line or the request was wrong: the user can fix it.</summary>
    public const int Usage = 2;

    /// <summary>Cordon itself or the host failed (like <c>docker run</c>'s 125).</summary>
    public const int CordonFailed = 125;

    /// <summary>Interrupted by Ctrl-C (128 + SIGINT).</summary>
    public const int Interrupted = 130;

    /// <summary>128 + the signal, as a shell reports a killed program.</summary>
    public static int ForSignal(int signal) => 128 + signal;
}

/// <summary>Maps an execution's result to the command's exit code and its one-line note on stderr.</summary>
internal static class Outcome
{
    private const int SigKill = 9;

    /// <summary>
    /// The program's exit code; 128 + signal when it was killed (by itself, or by Cordon at a limit, which uses
    /// SIGKILL); the compiler's exit code when compilation failed; 125 when the jail itself failed.
    /// </summary>
    public static int ExitCode(ExecutionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var stage = result.FinalStage;
        return result.Verdict switch
        {
            Verdict.Ok => ExitCodes.Ok,
            Verdict.InternalError => ExitCodes.CordonFailed,
            Verdict.RuntimeError or Verdict.CompileError => stage.ExitCode is { } code and not 0 ? code : 1,
            _ => ExitCodes.ForSignal(stage.Signal ?? SigKill),
        };
    }

    /// <summary>
    /// A one-line note for stderr when the program did not simply exit (killed, limit reached, compile failure,
    /// jail failure); null when its exit code says it all.
    /// </summary>
    public static string? Note(ExecutionResult result, JailLimits runLimits, JailLimits compileLimits)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(runLimits);
        ArgumentNullException.ThrowIfNull(compileLimits);
        var compiling = result.Run is null;
        var stage = result.FinalStage;
        var limits = compiling ? compileLimits : runLimits;
        var where = compiling ? " while compiling" : "";
        var raise = compiling ? "" : "; raise it with ";
        var signal = Signals.Name(stage.Signal) ?? "a signal";
        return result.Verdict switch
        {
            Verdict.Ok or Verdict.RuntimeError => null,
            Verdict.CompileError => $"cordon: compile_error (the compiler exited with {stage.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "an error"})",
            Verdict.Signaled => $"cordon: signaled{where} (the program was killed by {signal})",
            Verdict.Timeout => $"cordon: timeout{where} (wall time {Seconds(limits.WallTime)} reached{Raise(raise, "--time")})",
            Verdict.CpuLimit => $"cordon: cpu_limit{where} (CPU time {Seconds(limits.CpuTime)} reached{Raise(raise, "--cpu-time")})",
            Verdict.MemoryLimit => $"cordon: memory_limit{where} (memory limit {Units.FormatSize(limits.MemoryBytes)} reached{Raise(raise, "--memory")})",
            Verdict.OutputLimit => $"cordon: output_limit{where} ({Streams(stage)} went past {Units.FormatSize(limits.OutputBytes)} and was cut{Raise(raise, "--output")})",
            Verdict.InternalError => $"cordon: internal_error{where}: {OneLine(stage.InternalMessage ?? "the jail failed")} (run `cordon doctor` to check this host)",
            _ => $"cordon: {result.Verdict}",
        };
    }

    private static string Raise(string raise, string option) => raise.Length == 0 ? "" : raise + option;

    private static string Seconds(TimeSpan? time) => time is { } t ? Units.FormatSeconds(t) : "the limit";

    private static string Streams(JailRunResult stage) => (stage.StdoutTruncated, stage.StderrTruncated) switch
    {
        (true, true) => "stdout and stderr",
        (false, true) => "stderr",
        _ => "stdout",
    };

    /// <summary>Text folded onto one line (messages from below may hold newlines).</summary>
    public static string OneLine(string text) =>
        string.Join(' ', (text ?? "").Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
