using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using Cordon.Engine.Sessions;

namespace Cordon.Server;

// As with the execution records, these request records are the single description of the session bodies: JsonShape
// checks against them and the OpenAPI document is generated from them.

/// <summary>The body of <c>POST /v1/sessions</c>; every field is optional.</summary>
public sealed record SessionRequestBody
{
    /// <summary>The kernels wanted: python, javascript or both (default: python).</summary>
    [Description("The kernels wanted: \"python\", \"javascript\" or both; aliases such as \"js\" work (default: [\"python\"]).")]
    public IReadOnlyList<string>? Languages { get; init; }

    /// <summary>Limits of the session's jail; each may only lower the server's session default.</summary>
    [Description("Limits of the session's jail; each may only lower the server's session default. A session has no wall or CPU time limit: each cell has a timeout.")]
    public SessionLimitsBody? Limits { get; init; }

    /// <summary>Seconds unused after which the session is closed.</summary>
    [Description("Seconds unused after which the session is closed (default: the server's, 600).")]
    [Range(1, SessionApiLimits.MaxSeconds)]
    public long? IdleTimeoutSeconds { get; init; }

    /// <summary>Seconds after creation at which the session is closed; at most the server's maximum.</summary>
    [Description("Seconds after creation at which the session is closed; at most the server's maximum (3600), which is also the default.")]
    [Range(1, SessionApiLimits.MaxSeconds)]
    public long? MaxLifetimeSeconds { get; init; }

    /// <summary>Allow network access (only where the server's AllowNetwork setting permits).</summary>
    [Description("Allow network access; refused unless the server's AllowNetwork setting is on.")]
    public bool? Network { get; init; }

    /// <summary>Free-form labels, returned with the session.</summary>
    [Description("Free-form string labels, returned with the session (at most 32; names of 1 to 64 characters, values of at most 256).")]
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
}

/// <summary>Limits a session asks for; omitted fields keep the server's session defaults.</summary>
public sealed record SessionLimitsBody
{
    /// <summary>Memory of everything in the session, bytes (at least 4 MiB).</summary>
    [Description("Memory of everything in the session, bytes (at least 4 MiB).")]
    [Range(4L * 1024 * 1024, long.MaxValue)]
    public long? MemoryBytes { get; init; }

    /// <summary>CPU cores the session may use at once (fractions allowed).</summary>
    [Description("CPU cores the session may use at once (0.5 is half a core); unset means the server's session default, if any.")]
    [Range(0.01, 1024)]
    public double? CpuCores { get; init; }

    /// <summary>Processes and threads.</summary>
    [Description("Processes and threads.")]
    [Range(1, int.MaxValue)]
    public int? Processes { get; init; }

    /// <summary>Size of the workspace, bytes.</summary>
    [Description("Size of the workspace, bytes.")]
    [Range(1, long.MaxValue)]
    public long? WorkDirBytes { get; init; }

    /// <summary>Size of /tmp, bytes.</summary>
    [Description("Size of /tmp, bytes.")]
    [Range(1, long.MaxValue)]
    public long? TmpBytes { get; init; }

    /// <summary>Largest file a process may write, bytes.</summary>
    [Description("Largest file a process may write, bytes.")]
    [Range(1, long.MaxValue)]
    public long? FileSizeBytes { get; init; }

    /// <summary>Bytes of stdout and of stderr kept per cell.</summary>
    [Description("Bytes of stdout and of stderr kept per cell; more is dropped and the result says output_truncated.")]
    [Range(0, long.MaxValue)]
    public long? OutputBytes { get; init; }
}

/// <summary>The body of <c>POST /v1/sessions/{id}/cells</c>.</summary>
public sealed record CellRequestBody
{
    /// <summary>The cell's source.</summary>
    [Description("The cell's source.")]
    public required string Code { get; init; }

    /// <summary>The kernel to run it in (default: the session's first).</summary>
    [Description("The kernel to run it in: \"python\" or \"javascript\" (default: the session's first kernel).")]
    public string? Language { get; init; }

    /// <summary>After this the cell is interrupted; default the server's (30 s).</summary>
    [Description("After this many ms the cell is interrupted (KeyboardInterrupt); if it does not stop, the kernel is restarted. Default: the server's, 30000.")]
    [Range(1, SessionApiLimits.MaxCellTimeoutMs)]
    public long? TimeoutMs { get; init; }
}

/// <summary>The body of <c>POST /v1/sessions/{id}/commands</c>.</summary>
public sealed record CommandRequestBody
{
    /// <summary>The shell command line, run by <c>/bin/sh -c</c> in the workspace.</summary>
    [Description("The shell command line, run by /bin/sh -c inside the session's jail, in the workspace, in its own process group.")]
    public required string Command { get; init; }

    /// <summary>Seconds after which the command's process group is killed.</summary>
    [Description("Seconds (fractions allowed) after which the command's whole process group is killed. Default: the server's cell timeout in the foreground (30), none in the background (it lives as long as the session).")]
    [Range(0.001, SessionApiLimits.MaxCommandTimeoutSeconds)]
    public double? TimeoutSeconds { get; init; }

    /// <summary>True to answer at once (202) with the command's id instead of waiting for its end.</summary>
    [Description("True to answer at once (202, Location: the command) instead of waiting for the end; read its output later with GET.")]
    public bool? Background { get; init; }
}

/// <summary>The body of <c>POST /v1/sessions/{id}/commands/{command}/signal</c>.</summary>
public sealed record SignalRequestBody
{
    /// <summary>The signal: a name (TERM, SIGINT) or its number.</summary>
    [Description("The signal, by name with or without SIG (TERM, SIGINT) or by number: HUP, INT, QUIT, KILL, USR1, USR2, TERM, CONT or STOP.")]
    public required string Signal { get; init; }
}

/// <summary>Bounds of the session API's numbers, so none can overflow a <see cref="TimeSpan"/>.</summary>
public static class SessionApiLimits
{
    /// <summary>Longest idle timeout or lifetime a request may name: a year (the server's maximum lifetime caps it anyway).</summary>
    public const long MaxSeconds = 365L * 24 * 3600;

    /// <summary>Longest cell timeout a request may name: a day.</summary>
    public const long MaxCellTimeoutMs = 24L * 3600 * 1000;

    /// <summary>Longest command timeout a request may name: a day.</summary>
    public const double MaxCommandTimeoutSeconds = 24 * 3600;
}

/// <summary>A session as the API shows it.</summary>
/// <param name="Id">The session's id, for every later call.</param>
/// <param name="Languages">Its kernels.</param>
/// <param name="Labels">Its labels.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="LastUsedAt">When a cell or file operation last used it.</param>
/// <param name="ExpiresAt">When it ends at the latest if unused (idle timeout or lifetime, whichever comes first).</param>
/// <param name="Cells">Cells run so far.</param>
public sealed record SessionResponse(string Id, IReadOnlyList<string> Languages, IReadOnlyDictionary<string, string> Labels,
    DateTimeOffset CreatedAt, DateTimeOffset LastUsedAt, DateTimeOffset ExpiresAt, int Cells)
{
    internal static SessionResponse From(SessionInfo info) =>
        new(info.Id, info.Languages, info.Labels, info.CreatedAt, info.LastUsedAt, info.ExpiresAt, info.Cells);
}

/// <summary>What a cell did.</summary>
/// <param name="Cell">The cell's number in its session, from 1 (tracebacks name it).</param>
/// <param name="Verdict">How it ended: ok, error (an exception: see error), timeout, memory_limit or kernel_died.</param>
/// <param name="Stdout">What it printed to stdout.</param>
/// <param name="Stderr">What it printed to stderr.</param>
/// <param name="OutputTruncated">Whether output past the session's output limit was dropped.</param>
/// <param name="Value">The trailing expression's repr, as the REPL shows it; null when none or None.</param>
/// <param name="Error">The exception the cell ended with; null when none.</param>
/// <param name="TimedOut">Whether the cell hit its timeout.</param>
/// <param name="KernelRestarted">Whether the kernel had to be restarted (its state is lost).</param>
/// <param name="Reloaded">Workspace modules dropped before the cell because their files changed.</param>
/// <param name="DurationMs">Time the cell ran, ms.</param>
/// <param name="CpuTimeMs">CPU time the session's processes used while it ran, ms.</param>
/// <param name="MemoryBytes">Memory the session's processes use at its end, bytes.</param>
/// <param name="Outputs">Rich outputs in order: each matplotlib figure open at the cell's end, as a PNG.</param>
public sealed record CellResponse(int Cell, CellVerdict Verdict, string Stdout, string Stderr, bool OutputTruncated, string? Value, CellErrorResponse? Error,
    bool TimedOut, bool KernelRestarted, IReadOnlyList<string> Reloaded, double DurationMs, double CpuTimeMs, long MemoryBytes,
    IReadOnlyList<CellOutputResponse> Outputs)
{
    internal static CellResponse From(CellResult result) => new(
        result.Cell, result.Verdict, result.Stdout, result.Stderr, result.OutputTruncated, result.Value,
        result.Error is { } e ? new CellErrorResponse(e.Type, e.Message, e.Traceback) : null,
        result.TimedOut, result.KernelRestarted, result.Reloaded, Math.Round(result.Duration.TotalMilliseconds, 3),
        Math.Round(result.CpuTime.TotalMilliseconds, 3), result.MemoryBytes,
        [.. result.Outputs.Select(o => new CellOutputResponse(o.MimeType, o.Data.ToArray()))]);
}

/// <summary>A rich output of a cell.</summary>
/// <param name="MimeType">Its media type (image/png).</param>
/// <param name="Data">Its bytes, base64 in JSON.</param>
public sealed record CellOutputResponse(string MimeType, byte[] Data);

/// <summary>A command's state as the API shows it: finished, or running with its output so far.</summary>
/// <param name="Id">The command's id in its session (c1, c2, ...), for GET, DELETE and signal.</param>
/// <param name="Running">True while it runs.</param>
/// <param name="ExitCode">Its exit code once it exited on its own; null while running or when a signal ended it.</param>
/// <param name="Signal">The signal that ended it (9 after a timeout or a kill); null otherwise.</param>
/// <param name="Stdout">What it wrote to stdout (so far), up to the session's output limit.</param>
/// <param name="Stderr">What it wrote to stderr (so far), up to the session's output limit.</param>
/// <param name="OutputTruncated">Whether output past the session's output limit was dropped.</param>
/// <param name="TimedOut">Whether it was killed at its timeout.</param>
/// <param name="DurationMs">How long it ran (so far), ms.</param>
public sealed record CommandResponse(string Id, bool Running, int? ExitCode, int? Signal, string Stdout, string Stderr,
    bool OutputTruncated, bool TimedOut, double DurationMs)
{
    internal static CommandResponse From(CommandResult result) => new(
        result.Id, result.Running, result.ExitCode, result.Signal, result.Stdout, result.Stderr,
        result.OutputTruncated, result.TimedOut, Math.Round(result.Duration.TotalMilliseconds, 3));
}

/// <summary>An exception a cell raised: a result of the cell, not a fault of Cordon.</summary>
/// <param name="Type">The exception's type (ZeroDivisionError).</param>
/// <param name="Message">Its message.</param>
/// <param name="Traceback">The traceback; the cell's frames are named <c>&lt;cordon session=ID cell=N&gt;</c>.</param>
public sealed record CellErrorResponse(string Type, string Message, string Traceback);
