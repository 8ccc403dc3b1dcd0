using Cordon.Engine;

namespace Cordon.Server;

/// <summary>
/// Settings of <c>cordon serve</c>, bound from configuration: a JSON file (<c>--config FILE</c>, else
/// <c>/etc/cordon/cordon.json</c> when present) and <c>CORDON_</c> environment variables (<c>CORDON_Address</c>,
/// <c>CORDON_ApiKeys__0</c>, <c>CORDON_Admission__MaxConcurrent</c>).
/// </summary>
public sealed class CordonServerOptions
{
    /// <summary>Where to listen, as host:port. A non-loopback host needs at least one API key.</summary>
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

    /// <summary>Executions at once (default: twice the cores), waiting, and how long one may wait.</summary>
    public AdmissionSettings Admission { get; set; } = new();

    /// <summary>The highest limits a request may ask for (and the defaults when it asks for none).</summary>
    public StageLimitSettings RunLimits { get; set; } = new() { WallTimeMs = 10_000, CpuTimeMs = 10_000, MemoryBytes = 256L * 1024 * 1024, OutputBytes = 1024 * 1024 };

    /// <summary>The highest limits of a compile stage a request may ask for.</summary>
    public StageLimitSettings CompileLimits { get; set; } = new() { WallTimeMs = 30_000, CpuTimeMs = 30_000, MemoryBytes = 1024L * 1024 * 1024, OutputBytes = 1024 * 1024 };

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
        errors.AddRange(Admission.ToOptions().Validate());
        return errors;
    }

    internal static bool TryParseAddress(string address, out string host, out int port)
    {
        host = "";
        port = 0;
        var colon = address.LastIndexOf(':');
        if (colon <= 0) return false;
        host = address[..colon].Trim('[', ']');
        return int.TryParse(address.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536;
    }

    internal static bool IsLoopback(string address) =>
        TryParseAddress(address, out var host, out _)
        && (host is "localhost" || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip)));
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

/// <summary>Limits of one stage as configured: the most a request may ask for, and its default.</summary>
public sealed class StageLimitSettings
{
    /// <summary>Wall time, ms.</summary>
    public long WallTimeMs { get; set; }

    /// <summary>CPU time of the tree, ms.</summary>
    public long CpuTimeMs { get; set; }

    /// <summary>Memory of the tree, bytes.</summary>
    public long MemoryBytes { get; set; }

    /// <summary>Bytes kept per output stream.</summary>
    public long OutputBytes { get; set; }
}
