using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Cordon.Jail;

namespace Cordon.Engine.Sessions;

/// <summary>Engine-wide settings of sessions.</summary>
public sealed record SessionOptions
{
    /// <summary>Most sessions alive at once; one more is refused with <see cref="CordonErrorCode.SessionLimitReached"/>.</summary>
    public int MaxSessions { get; init; } = 64;

    /// <summary>A session unused for this long is closed by the reaper, unless its request says otherwise.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>A session older than this is closed by the reaper, unless its request asks for less.</summary>
    public TimeSpan MaxLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often the reaper looks for idle and expired sessions.</summary>
    public TimeSpan ReaperInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Limits of a session's jail before the request's overrides; wall and CPU time are never set (it lives on).</summary>
    public JailLimits Limits { get; init; } = JailLimits.Default with
    {
        WallTime = null,
        CpuTime = null,
        MemoryBytes = 512L * 1024 * 1024,
        WorkDirBytes = 256L * 1024 * 1024,
    };

    /// <summary>A cell's timeout when its request sets none.</summary>
    public TimeSpan CellTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an interrupted cell gets to stop before its kernel is replaced.</summary>
    public TimeSpan InterruptGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a kernel may take to start (or restart) and say hello.</summary>
    public TimeSpan KernelStartTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Largest file moved in or out through the file API.</summary>
    public long MaxFileBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>The clock of idle timeouts and lifetimes (tests pass a fake one); null for the jail host's.</summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>Returns every problem with these options; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxSessions < 1) errors.Add("sessions: at most must be at least 1");
        if (IdleTimeout <= TimeSpan.Zero) errors.Add("sessions: idle timeout must be positive");
        if (MaxLifetime <= TimeSpan.Zero) errors.Add("sessions: maximum lifetime must be positive");
        if (ReaperInterval <= TimeSpan.Zero) errors.Add("sessions: reaper interval must be positive");
        if (CellTimeout <= TimeSpan.Zero) errors.Add("sessions: cell timeout must be positive");
        if (InterruptGrace <= TimeSpan.Zero) errors.Add("sessions: interrupt grace must be positive");
        if (MaxFileBytes < 0) errors.Add("sessions: file size must not be negative");
        errors.AddRange(Limits.Validate().Select(e => "sessions: " + e));
        return errors;
    }
}

/// <summary>What a new session asks for.</summary>
public sealed record SessionRequest
{
    /// <summary>The kernels wanted: <c>python</c>, <c>javascript</c> or both (aliases as in the runtime catalog: <c>py</c>, <c>js</c>, <c>node</c>, ...).</summary>
    public ImmutableArray<string> Languages { get; init; } = ["python"];

    /// <summary>Memory, CPU cores, processes and work-directory size on top of <see cref="SessionOptions.Limits"/>; wall and CPU time are refused.</summary>
    public LimitOverrides? Limits { get; init; }

    /// <summary>Idle timeout; null for the engine's default.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>Maximum lifetime; null for the engine's default, which is also the most a request can get.</summary>
    public TimeSpan? MaxLifetime { get; init; }

    /// <summary>Network access (only where the engine allows it).</summary>
    public bool Network { get; init; }

    /// <summary>Free-form labels, kept with the session and listed with it.</summary>
    public ImmutableDictionary<string, string> Labels { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>
    /// Who the session belongs to: the caller's identity, set by the front end (never taken from a request body).
    /// <see cref="SessionManager"/> finds, lists and deletes a session only for the same owner; null is a library
    /// caller's own, unowned sessions.
    /// </summary>
    public string? Owner { get; init; }

    /// <summary>Returns every problem with this request; empty when it can be served.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Languages.IsDefaultOrEmpty) errors.Add("at least one language is required");
        else
        {
            foreach (var language in Languages.Where(l => SessionLanguages.Canonical(l) is null))
                errors.Add($"language '{JailFiles.Printable(language)}' has no session kernel (python or javascript)");
        }
        if (Limits is { WallTimeMs: not null } or { CpuTimeMs: not null })
            errors.Add("a session has no wall or CPU time limit; give each cell a timeout instead");
        if (IdleTimeout is { } idle && idle <= TimeSpan.Zero) errors.Add("idle timeout must be positive");
        if (MaxLifetime is { } life && life <= TimeSpan.Zero) errors.Add("maximum lifetime must be positive");
        if (Owner is { Length: 0 }) errors.Add("owner must not be empty (null for none)");
        if (Labels.Count > 32 || Labels.Any(l => l.Key.Length is 0 or > 64 || l.Value.Length > 256))
            errors.Add("at most 32 labels, names of 1 to 64 characters and values of at most 256");
        return errors;
    }
}

/// <summary>The languages a session can have a kernel for, with the runtime catalog's aliases.</summary>
public static class SessionLanguages
{
    /// <summary>Python (its supervisor runs every session).</summary>
    public const string Python = "python";

    /// <summary>JavaScript, on node.</summary>
    public const string JavaScript = "javascript";

    // The aliases of runtimes/python and runtimes/javascript's manifests.
    private static readonly Dictionary<string, string> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        ["python"] = Python, ["py"] = Python, ["python3"] = Python, ["py3"] = Python,
        ["javascript"] = JavaScript, ["js"] = JavaScript, ["node"] = JavaScript, ["node-js"] = JavaScript, ["nodejs"] = JavaScript,
    };

    /// <summary>The kernel's name for <paramref name="language"/> or one of its aliases; null when no kernel runs it.</summary>
    public static string? Canonical(string? language) => language is not null && Names.TryGetValue(language, out var name) ? name : null;
}

/// <summary>A piece of a streamed cell's output, as the kernel sent it (coalesced: a line or up to ~50 ms of output).</summary>
/// <param name="Stream">Standard output or standard error.</param>
/// <param name="Text">The text.</param>
public sealed record CellStreamChunk(OutputStreamKind Stream, string Text);

/// <summary>One cell to run in a session.</summary>
public sealed record CellRequest
{
    /// <summary>The cell's source.</summary>
    public required string Code { get; init; }

    /// <summary>The kernel to run it in: <c>python</c> or <c>javascript</c> (or an alias); the session must have it.</summary>
    public string Language { get; init; } = "python";

    /// <summary>After this the cell is interrupted; null for <see cref="SessionOptions.CellTimeout"/>.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// The longest side, in pixels, of an image output; larger figures are drawn at a lower resolution to fit
    /// (agents pay per pixel). Null for the figure's own size. From 16 to 10000.
    /// </summary>
    public int? MaxImageSide { get; init; }

    /// <summary>The longest timeout a cell or command may have: a day (a timer cannot count much further).</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    /// <summary>Returns every problem with this cell; empty when it can run (the session checks its language).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Code is null) errors.Add("a cell needs code");
        if (Timeout is { } t && (t <= TimeSpan.Zero || t > MaxTimeout)) errors.Add("a cell's timeout must be positive and at most a day");
        if (MaxImageSide is < 16 or > 10000) errors.Add("a cell's largest image side must be from 16 to 10000 pixels");
        return errors;
    }
}

/// <summary>An exception a cell raised, as the interpreter reports it (a result, not a fault of Cordon).</summary>
/// <param name="Type">The exception's type name (<c>ZeroDivisionError</c>).</param>
/// <param name="Message">Its message.</param>
/// <param name="Traceback">The traceback text; frames of the cell name it <c>&lt;cordon session=ID cell=N&gt;</c>.</param>
public sealed record CellError(string Type, string Message, string Traceback);

/// <summary>How a cell ended, in one word (snake_case in JSON: <c>ok</c>, <c>memory_limit</c>, ...).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CellVerdict>))]
public enum CellVerdict
{
    /// <summary>It ran to its end.</summary>
    [JsonStringEnumMemberName("ok")]
    Ok,

    /// <summary>It raised (threw) an exception: see <see cref="CellResult.Error"/>.</summary>
    [JsonStringEnumMemberName("error")]
    Error,

    /// <summary>It hit its timeout and was interrupted (or its kernel replaced).</summary>
    [JsonStringEnumMemberName("timeout")]
    Timeout,

    /// <summary>Its kernel was killed at the session's memory limit; the kernel was replaced.</summary>
    [JsonStringEnumMemberName("memory_limit")]
    MemoryLimit,

    /// <summary>Its kernel exited or crashed under it (an exit call, a crash); the kernel was replaced.</summary>
    [JsonStringEnumMemberName("kernel_died")]
    KernelDied,
}

/// <summary>What a cell did.</summary>
public sealed record CellResult
{
    /// <summary>The cell's number in its session, from 1.</summary>
    public required int Cell { get; init; }

    /// <summary>How it ended.</summary>
    public CellVerdict Verdict { get; init; }

    /// <summary>What the cell printed to standard output (<c>sys.stdout</c>, <c>console.log</c>).</summary>
    public string Stdout { get; init; } = "";

    /// <summary>What the cell printed to standard error (<c>sys.stderr</c>, <c>console.error</c>).</summary>
    public string Stderr { get; init; } = "";

    /// <summary>True when output beyond the session's output limit was dropped.</summary>
    public bool OutputTruncated { get; init; }

    /// <summary>The trailing expression's value as the REPL shows it (<c>repr</c>, <c>util.inspect</c>); null when there is none or it is None or undefined.</summary>
    public string? Value { get; init; }

    /// <summary>The exception the cell ended with, if any (an interrupted cell ends with <c>KeyboardInterrupt</c> in Python, <c>Interrupted</c> in JavaScript).</summary>
    public CellError? Error { get; init; }

    /// <summary>True when the cell hit its timeout.</summary>
    public bool TimedOut { get; init; }

    /// <summary>True when the kernel did not stop after the interrupt and was replaced: the namespace is empty again.</summary>
    public bool KernelRestarted { get; init; }

    /// <summary>
    /// Workspace modules dropped before the cell because their files changed, in the order they were dropped (Python:
    /// module names; JavaScript: files relative to the workspace, with the modules that required them).
    /// </summary>
    public ImmutableArray<string> Reloaded { get; init; } = [];

    /// <summary>Time the cell ran, from the host's view.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>
    /// CPU time the session's processes used while the cell ran, from its cgroup: the kernel's and whatever the cell
    /// started (a background command running meanwhile counts too).
    /// </summary>
    public TimeSpan CpuTime { get; init; }

    /// <summary>Memory the session's processes use at the cell's end, in bytes, from its cgroup.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>Rich outputs, in order: each matplotlib figure open at the cell's end, as <c>image/png</c> (the figures are then closed).</summary>
    public ImmutableArray<CellOutput> Outputs { get; init; } = [];
}

/// <summary>A rich output of a cell.</summary>
/// <param name="MimeType">Its media type (<c>image/png</c>).</param>
/// <param name="Data">Its bytes.</param>
public sealed record CellOutput(string MimeType, ReadOnlyMemory<byte> Data);

/// <summary>A shell command to run in a session's workspace, by <c>/bin/sh -c</c> inside its jail.</summary>
public sealed record CommandRequest
{
    /// <summary>The shell command line.</summary>
    public required string Command { get; init; }

    /// <summary>
    /// After this the command's process group is killed. Null means <see cref="SessionOptions.CellTimeout"/> in the
    /// foreground and no timeout in the background (it then lives as long as the session).
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>True to return at once with the command's id; its output is read later with <see cref="Session.GetCommandAsync"/>.</summary>
    public bool Background { get; init; }

    /// <summary>Returns every problem with this command; empty when it can run.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Command) || Command.Contains('\0', StringComparison.Ordinal))
            errors.Add("a command must be a non-empty shell line without NUL");
        if (Timeout is { } t && (t <= TimeSpan.Zero || t > CellRequest.MaxTimeout)) errors.Add("a command's timeout must be positive and at most a day");
        return errors;
    }
}

/// <summary>A command's state: finished, or still running with its output so far.</summary>
public sealed record CommandResult
{
    /// <summary>The command's id within its session (<c>c1</c>, <c>c2</c>, ...).</summary>
    public required string Id { get; init; }

    /// <summary>True while it runs.</summary>
    public bool Running { get; init; }

    /// <summary>Its exit code once it exited on its own; null while running or when a signal ended it.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The signal that ended it, if one did (9 after a timeout or a kill).</summary>
    public int? Signal { get; init; }

    /// <summary>What it wrote to standard output (so far), up to the session's output limit.</summary>
    public string Stdout { get; init; } = "";

    /// <summary>What it wrote to standard error (so far), up to the session's output limit.</summary>
    public string Stderr { get; init; } = "";

    /// <summary>True when output beyond the session's output limit was dropped.</summary>
    public bool OutputTruncated { get; init; }

    /// <summary>True when it was killed at its timeout.</summary>
    public bool TimedOut { get; init; }

    /// <summary>How long it ran (so far), as the jail saw it.</summary>
    public TimeSpan Duration { get; init; }
}

/// <summary>A snapshot of a session for listings.</summary>
/// <param name="Id">The session id.</param>
/// <param name="Languages">Its kernels.</param>
/// <param name="Labels">Its labels.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="LastUsedAt">When it was last used.</param>
/// <param name="ExpiresAt">When it ends at the latest (idle timeout or lifetime, whichever comes first).</param>
/// <param name="Cells">Cells run so far.</param>
/// <param name="Owner">Who it belongs to (<see cref="SessionRequest.Owner"/>); null when nobody.</param>
public sealed record SessionInfo(string Id, ImmutableArray<string> Languages, ImmutableDictionary<string, string> Labels,
    DateTimeOffset CreatedAt, DateTimeOffset LastUsedAt, DateTimeOffset ExpiresAt, int Cells, string? Owner = null);
