using Cordon.Engine;
using SessionOptions = Cordon.Engine.Sessions.SessionOptions;

namespace Cordon.Server;

/// <summary>
/// Settings of <c>cordon serve</c>, bound from configuration: a JSON file (<c>--config FILE</c>, else
/// <c>/etc/cordon/cordon.json</c> when present) and <c>CORDON_</c> environment variables (<c>CORDON_Address</c>,
/// <c>CORDON_ApiKeys__0</c>, <c>CORDON_Admission__MaxConcurrent</c>).
/// </summary>
public sealed class CordonServerOptions
{
    /// <summary>
    /// Where to listen, as host:port (<c>127.0.0.1:2000</c>, <c>[::1]:2000</c>, <c>0.0.0.0:2000</c>,
    /// <c>localhost:2000</c>); port 0 picks a free port. A non-loopback host needs at least one API key.
    /// </summary>
    public string Address { get; set; } = "127.0.0.1:2000";

    /// <summary>Bearer tokens; when any is set, every endpoint but /healthz needs one.</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Requests per minute allowed to each API key (or to each client address without keys); 0 turns it off.</summary>
    public int RequestsPerMinute { get; set; } = 6000;

    /// <summary>Largest request body accepted, in bytes.</summary>
    public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>How long running executions may take to finish after shutdown starts before they are killed.</summary>
    public int ShutdownTimeoutSeconds { get; set; } = 20;

    /// <summary>Whether requests may turn the network on.</summary>
    public bool AllowNetwork { get; set; }

    /// <summary>
    /// The runtimes folder; by default the one beside the program. <c>CORDON_RUNTIMES</c>, which the engine has
    /// always honoured, is this setting.
    /// </summary>
    public string? Runtimes { get; set; }

    /// <summary>Warm pools: runtimes whose run stages start from pre-started jails, and how many are kept ready.</summary>
    public WarmPoolSettings WarmPool { get; set; } = new();

    /// <summary>Executions at once (default: twice the cores), waiting, and how long one may wait.</summary>
    public AdmissionSettings Admission { get; set; } = new();

    /// <summary>The highest limits a request may ask for (and the defaults when it asks for none).</summary>
    public StageLimitSettings RunLimits { get; set; } = new() { WallTimeMs = 10_000, CpuTimeMs = 10_000, MemoryBytes = 256L * 1024 * 1024, Processes = 64, OutputBytes = 1024 * 1024 };

    /// <summary>The highest limits of a compile stage a request may ask for (and its defaults).</summary>
    public StageLimitSettings CompileLimits { get; set; } = new() { WallTimeMs = 30_000, CpuTimeMs = 30_000, MemoryBytes = 1024L * 1024 * 1024, Processes = 128, OutputBytes = 1024 * 1024 };

    /// <summary>Sessions: how many, how long they live, and the limits of each.</summary>
    public SessionSettings Sessions { get; set; } = new();

    /// <summary>The MCP server (<c>cordon mcp</c> and /mcp): call timeout, sessions per client, image size.</summary>
    public McpSettings Mcp { get; set; } = new();

    /// <summary>Every problem with these settings, each saying what to change.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!TryParseAddress(Address, out _, out _)) errors.Add($"Address '{Address}' must be host:port, e.g. 127.0.0.1:2000");
        else if (!IsLoopback(Address) && ApiKeys.Count == 0)
            errors.Add($"Address '{Address}' is not a loopback address: configure at least one API key (CORDON_ApiKeys__0) before serving beyond this machine");
        if (ApiKeys.Any(k => string.IsNullOrWhiteSpace(k) || k.Length < 16)) errors.Add("every API key must be at least 16 characters");
        if (RequestsPerMinute < 0) errors.Add("RequestsPerMinute must not be negative");
        if (MaxRequestBodyBytes < 1024) errors.Add("MaxRequestBodyBytes must be at least 1024");
        if (ShutdownTimeoutSeconds < 0) errors.Add("ShutdownTimeoutSeconds must not be negative");
        if (Runtimes is { Length: > 0 } runtimes && !Directory.Exists(runtimes)) errors.Add($"Runtimes '{runtimes}' is not a folder");
        if (Admission.MaxConcurrent < 0) errors.Add("Admission.MaxConcurrent must not be negative (0 means twice the core count)");
        if (Admission.MaxQueued < 0) errors.Add("Admission.MaxQueued must not be negative");
        // Checked here rather than by the engine: NaN or a huge value cannot even become a TimeSpan.
        if (Admission.QueueTimeoutSeconds is not (>= 0 and <= 86_400)) errors.Add("Admission.QueueTimeoutSeconds must be between 0 and 86400");
        errors.AddRange(RunLimits.Validate("RunLimits"));
        errors.AddRange(CompileLimits.Validate("CompileLimits"));
        errors.AddRange(Sessions.Validate());
        errors.AddRange(Mcp.Validate());
        return errors;
    }

    internal static bool TryParseAddress(string address, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = address.LastIndexOf(':');
        if (colon <= 0) return false;
        host = address[..colon].Trim('[', ']');
        return host.Length > 0
            && (host is "localhost" || System.Net.IPAddress.TryParse(host, out _))
            && int.TryParse(address.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture, out port) && port is >= 0 and < 65536;
    }

    internal static bool IsLoopback(string address) =>
        TryParseAddress(address, out var host, out _)
        && (host is "localhost" || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip)));
}

/// <summary>Warm pool settings (see <see cref="WarmPoolOptions"/>).</summary>
public sealed class WarmPoolSettings
{
    /// <summary>The runtimes pooled when <see cref="Runtimes"/> is not set.</summary>
    public static readonly string[] DefaultRuntimes = ["python", "javascript", "c"];

    /// <summary>False turns warm pools off.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Runtimes with a pool (their manifests declare a launcher); unset means python, javascript and c. (A list in
    /// configuration adds to a default list rather than replacing it, so the default lives in <see cref="DefaultRuntimes"/>.)
    /// </summary>
    public List<string>? Runtimes { get; set; }

    /// <summary>Ready jails kept per runtime at the least.</summary>
    public int MinSize { get; set; } = 2;

    /// <summary>Ready jails kept per runtime at the most; the pool grows toward it when requests find it empty.</summary>
    public int MaxSize { get; set; } = 8;

    internal WarmPoolOptions ToOptions() => new()
    {
        Runtimes = Enabled ? [.. Runtimes ?? [.. DefaultRuntimes]] : [],
        MinSize = MinSize,
        MaxSize = MaxSize,
    };
}

/// <summary>Admission control settings (see <see cref="AdmissionOptions"/>).</summary>
public sealed class AdmissionSettings
{
    /// <summary>Executions at once; 0 means twice the core count.</summary>
    public int MaxConcurrent { get; set; }

    /// <summary>Executions waiting; beyond it requests get 429.</summary>
    public int MaxQueued { get; set; } = Environment.ProcessorCount * 32;

    /// <summary>Seconds a request may wait for a slot before it gets 429.</summary>
    public double QueueTimeoutSeconds { get; set; } = 10;

    internal AdmissionOptions ToOptions() => new()
    {
        MaxConcurrent = MaxConcurrent > 0 ? MaxConcurrent : Environment.ProcessorCount * 2,
        MaxQueued = MaxQueued,
        QueueTimeout = TimeSpan.FromSeconds(QueueTimeoutSeconds),
    };
}

/// <summary>
/// Limits of one stage as configured: the default of every request and the most a request may ask for (a
/// runtime whose manifest raises a default, such as Java's memory, may go up to the manifest's value instead).
/// 0 keeps the engine's default.
/// </summary>
public sealed class StageLimitSettings
{
    /// <summary>Wall time, ms.</summary>
    public long WallTimeMs { get; set; }

    /// <summary>CPU time of the tree, ms.</summary>
    public long CpuTimeMs { get; set; }

    /// <summary>Memory of the tree, bytes.</summary>
    public long MemoryBytes { get; set; }

    /// <summary>Processes and threads of the tree.</summary>
    public int Processes { get; set; }

    /// <summary>Bytes kept per output stream.</summary>
    public long OutputBytes { get; set; }

    internal IEnumerable<string> Validate(string section)
    {
        // 0 keeps the engine's default; a negative value is a typo, not a wish for "no limit".
        if (WallTimeMs < 0) yield return $"{section}.WallTimeMs must not be negative";
        if (CpuTimeMs < 0) yield return $"{section}.CpuTimeMs must not be negative";
        if (MemoryBytes != 0 && MemoryBytes < 4 * 1024 * 1024) yield return $"{section}.MemoryBytes must be at least 4194304 (4 MiB)";
        if (Processes < 0) yield return $"{section}.Processes must not be negative";
        if (OutputBytes < 0) yield return $"{section}.OutputBytes must not be negative";
    }
}

/// <summary>
/// Session settings (see <see cref="SessionOptions"/>): how many may live, how long, and the limits of each jail, which
/// are also the most a request may ask for.
/// </summary>
public sealed class SessionSettings
{
    // Files cross the API as one array each; a gibibyte is far beyond any sensible upload already.
    private const long MaxFile = 1024L * 1024 * 1024;
    private static readonly SessionOptions Defaults = new();

    /// <summary>Sessions alive at once; one more is refused with 429.</summary>
    public int MaxSessions { get; set; } = Defaults.MaxSessions;

    /// <summary>Seconds unused after which a session is closed, unless its request asks for another value.</summary>
    public double IdleTimeoutSeconds { get; set; } = Defaults.IdleTimeout.TotalSeconds;

    /// <summary>Seconds after its creation at which a session is closed; the most a request may ask for.</summary>
    public double MaxLifetimeSeconds { get; set; } = Defaults.MaxLifetime.TotalSeconds;

    /// <summary>Seconds a cell (or a foreground command) may run when its request sets no timeout.</summary>
    public double CellTimeoutSeconds { get; set; } = Defaults.CellTimeout.TotalSeconds;

    /// <summary>Largest file written or read through the file API, bytes.</summary>
    public long MaxFileBytes { get; set; } = Defaults.MaxFileBytes;

    /// <summary>Memory of everything in a session, bytes.</summary>
    public long MemoryBytes { get; set; } = Defaults.Limits.MemoryBytes;

    /// <summary>Processes and threads of a session.</summary>
    public int Processes { get; set; } = Defaults.Limits.Processes;

    /// <summary>Size of a session's workspace (its disk), bytes.</summary>
    public long WorkDirBytes { get; set; } = Defaults.Limits.WorkDirBytes;

    /// <summary>Size of a session's /tmp, bytes.</summary>
    public long TmpBytes { get; set; } = Defaults.Limits.TmpBytes;

    internal IEnumerable<string> Validate()
    {
        // Checked here rather than by the engine: NaN or a huge value cannot even become a TimeSpan.
        if (MaxSessions < 1) yield return "Sessions.MaxSessions must be at least 1";
        if (IdleTimeoutSeconds is not (> 0 and <= SessionApiLimits.MaxSeconds)) yield return $"Sessions.IdleTimeoutSeconds must be more than 0 and at most {SessionApiLimits.MaxSeconds}";
        if (MaxLifetimeSeconds is not (> 0 and <= SessionApiLimits.MaxSeconds)) yield return $"Sessions.MaxLifetimeSeconds must be more than 0 and at most {SessionApiLimits.MaxSeconds}";
        if (CellTimeoutSeconds is not (> 0 and <= SessionApiLimits.MaxCellTimeoutMs / 1000)) yield return $"Sessions.CellTimeoutSeconds must be more than 0 and at most {SessionApiLimits.MaxCellTimeoutMs / 1000}";
        if (MaxFileBytes is < 1 or > MaxFile) yield return $"Sessions.MaxFileBytes must be between 1 and {MaxFile}";
        if (MemoryBytes < 4 * 1024 * 1024) yield return "Sessions.MemoryBytes must be at least 4194304 (4 MiB)";
        if (Processes < 1) yield return "Sessions.Processes must be at least 1";
        if (WorkDirBytes < 64 * 1024) yield return "Sessions.WorkDirBytes must be at least 65536 (64 KiB)";
        if (TmpBytes < 64 * 1024) yield return "Sessions.TmpBytes must be at least 65536 (64 KiB)";
    }

    internal SessionOptions ToOptions() => Defaults with
    {
        MaxSessions = MaxSessions,
        IdleTimeout = TimeSpan.FromSeconds(IdleTimeoutSeconds),
        MaxLifetime = TimeSpan.FromSeconds(MaxLifetimeSeconds),
        CellTimeout = TimeSpan.FromSeconds(CellTimeoutSeconds),
        MaxFileBytes = MaxFileBytes,
        Limits = Defaults.Limits with { MemoryBytes = MemoryBytes, Processes = Processes, WorkDirBytes = WorkDirBytes, TmpBytes = TmpBytes },
    };
}

/// <summary>Settings of the MCP server, the same for stdio (<c>cordon mcp</c>) and HTTP (/mcp).</summary>
public sealed class McpSettings
{
    /// <summary>
    /// Default timeout of a tool call that runs code, in seconds: below the 60 s after which most MCP clients give
    /// up on a call, so the agent gets the output so far rather than a client-side error.
    /// </summary>
    public int CallTimeoutSeconds { get; set; } = 50;

    /// <summary>Sessions one client (an API key; all key-less callers together) may have alive through MCP.</summary>
    public int MaxSessionsPerClient { get; set; } = 4;

    /// <summary>Largest side, in pixels, of a plot returned as an image; larger figures are drawn smaller to fit.</summary>
    public int MaxImageSide { get; set; } = 1024;

    internal IEnumerable<string> Validate()
    {
        if (CallTimeoutSeconds is < 1 or > 3600) yield return "Mcp.CallTimeoutSeconds must be from 1 to 3600 (clients usually give up at 60)";
        if (MaxSessionsPerClient < 1) yield return "Mcp.MaxSessionsPerClient must be at least 1";
        if (MaxImageSide is < 16 or > 10000) yield return "Mcp.MaxImageSide must be from 16 to 10000 pixels";
    }
}
