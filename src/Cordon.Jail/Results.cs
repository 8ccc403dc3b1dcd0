using System.Text.Json.Serialization;

namespace Cordon.Jail;

/// <summary>How a stage ended. Serialized in snake_case (<c>runtime_error</c>, <c>memory_limit</c>, ...).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict
{
    /// <summary>Exit code 0.</summary>
    [JsonStringEnumMemberName("ok")] Ok,
    /// <summary>A non-zero exit code.</summary>
    [JsonStringEnumMemberName("runtime_error")] RuntimeError,
    /// <summary>Killed by a signal Cordon did not send.</summary>
    [JsonStringEnumMemberName("signaled")] Signaled,
    /// <summary>The wall-time limit was reached.</summary>
    [JsonStringEnumMemberName("timeout")] Timeout,
    /// <summary>The tree's total CPU time reached its limit.</summary>
    [JsonStringEnumMemberName("cpu_limit")] CpuLimit,
    /// <summary>The memory cgroup killed a process for lack of memory.</summary>
    [JsonStringEnumMemberName("memory_limit")] MemoryLimit,
    /// <summary>stdout or stderr went past its byte limit.</summary>
    [JsonStringEnumMemberName("output_limit")] OutputLimit,
    /// <summary>The compile stage failed (set by the engine; the run stage is skipped).</summary>
    [JsonStringEnumMemberName("compile_error")] CompileError,
    /// <summary>The jail itself failed; the program is not to blame.</summary>
    [JsonStringEnumMemberName("internal_error")] InternalError,
}

/// <summary>How to run a started jail's program (see <see cref="Jail.RunAsync(JailRunOptions, CancellationToken)"/>).</summary>
public sealed record JailRunOptions
{
    /// <summary>Receives each chunk of kept output as it arrives (from reader threads; may be called concurrently).</summary>
    public Action<OutputStreamKind, ReadOnlyMemory<byte>>? OnOutput { get; init; }

    /// <summary>Wall, CPU and output limits of this run; null keeps the spec's. (Cgroup limits: <see cref="Jail.TryApplyLimits"/>.)</summary>
    public JailLimits? Limits { get; init; }

    /// <summary>The program's stdin for this run; null keeps the spec's.</summary>
    public ReadOnlyMemory<byte>? Stdin { get; init; }

    /// <summary>Bytes written to extra pipe 0 (descriptor 3) once the clocks start, then the pipe is closed: how a waiting launcher gets its program.</summary>
    public ReadOnlyMemory<byte>? Program { get; init; }
}

/// <summary>Which output stream a chunk came from.</summary>
public enum OutputStreamKind
{
    /// <summary>The program's stdout.</summary>
    Stdout,
    /// <summary>The program's stderr.</summary>
    Stderr,
}

/// <summary>What a stage used, measured from the moment user code started.</summary>
public sealed record ResourceUsage(TimeSpan WallTime, TimeSpan CpuTime, long PeakMemoryBytes);

/// <summary>The outcome of one process tree run in a jail: data, never an exception.</summary>
public sealed record JailRunResult
{
    /// <summary>How it ended.</summary>
    public required Verdict Verdict { get; init; }

    /// <summary>The exit code when the program exited; null when it was killed by a signal or never ran.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The signal number that ended the program, if any.</summary>
    public int? Signal { get; init; }

    /// <summary>Captured stdout, at most the output limit.</summary>
    public ReadOnlyMemory<byte> Stdout { get; init; }

    /// <summary>Captured stderr, at most the output limit.</summary>
    public ReadOnlyMemory<byte> Stderr { get; init; }

    /// <summary>stdout and stderr interleaved in arrival order, at most both limits together.</summary>
    public ReadOnlyMemory<byte> Output { get; init; }

    /// <summary>True when stdout went past the limit and was cut.</summary>
    public bool StdoutTruncated { get; init; }

    /// <summary>True when stderr went past the limit and was cut.</summary>
    public bool StderrTruncated { get; init; }

    /// <summary>Resources used.</summary>
    public required ResourceUsage Usage { get; init; }

    /// <summary>When Cordon stopped the program at a limit: which one, in words ("wall time 2 s reached").</summary>
    public string? KillReason { get; init; }

    /// <summary>For <see cref="Verdict.InternalError"/>: what went wrong in the jail itself.</summary>
    public string? InternalMessage { get; init; }
}

/// <summary>How the jail's process tree ended, before output and verdict are put together.</summary>
public sealed record JailExit(int? ExitCode, int? Signal, bool SetupFailed);
