using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Cordon.Engine;
using Cordon.Engine.Sessions;

namespace Cordon.Bench;

/// <summary>The workloads of the sessions part: a `1+1` cell, and a session's creation up to its first cell's answer.</summary>
internal static class SessionWorkloads
{
    public const string CellCode = "1+1";

    /// <summary>A `1+1` cell in a live session (or the bare REPL); its answer must be the value '2'.</summary>
    public static readonly Workload Cell = new("cell", "cell `1+1`", "python", "", "", "2", []);

    /// <summary>Create a session, run `1+1` as its first cell (then delete it, untimed).</summary>
    public static readonly Workload Create = new("create", "session creation", "python", "", "", "2", []);
}

/// <summary>
/// The comparison: a bare <c>python3</c> reading framed requests (4-byte big-endian length, UTF-8 JSON) on a pipe and
/// answering the same way, no jail, the same framing and JSON as Cordon's session kernel (bench/session_repl.py).
/// </summary>
internal sealed class ReplTarget : ITarget, IAsyncDisposable
{
    private readonly Process _process;
    private readonly Stream _requests;
    private readonly Stream _replies;
    private long _next;

    private ReplTarget(Process process)
    {
        _process = process;
        _requests = process.StandardInput.BaseStream;
        _replies = process.StandardOutput.BaseStream;
    }

    public string Mode => "repl_bare";

    public static ReplTarget Start(string script, string directory)
    {
        var info = ProcessTarget.StartInfo(["/usr/bin/python3", script], directory, ProcessTarget.JailEnvironment);
        return new ReplTarget(Process.Start(info) ?? throw new InvalidOperationException("python3 did not start"));
    }

    public async Task<Sample> RunAsync(Workload workload, CancellationToken cancellationToken)
    {
        var id = ++_next;
        var started = Stopwatch.GetTimestamp();
        await Frames.WriteAsync(_requests, new Dictionary<string, object> { ["id"] = id, ["op"] = "exec", ["code"] = SessionWorkloads.CellCode }, cancellationToken).ConfigureAwait(false);
        using var reply = await Frames.ReadAsync(_replies, cancellationToken).ConfigureAwait(false);
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var value = reply.RootElement.TryGetProperty("value", out var v) ? v.GetString() : null;
        return reply.RootElement.GetProperty("id").GetInt64() == id && value == workload.Expected
            ? new Sample(ms, null)
            : new Sample(ms, $"answer {reply.RootElement.GetRawText()}");
    }

    public Task<bool> IdleAsync(CancellationToken cancellationToken) => Task.FromResult(true);

    public Task<(long Hits, long Misses)?> PoolCountsAsync(CancellationToken cancellationToken) => Task.FromResult<(long, long)?>(null);

    public async ValueTask DisposeAsync()
    {
        _requests.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
        }
        _process.Dispose();
    }
}

/// <summary>Length-prefixed JSON frames, as the session kernel's protocol has them.</summary>
internal static class Frames
{
    public static async Task WriteAsync(Stream stream, object message, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message);
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task<JsonDocument> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        await stream.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
        var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header)];
        await stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        return JsonDocument.Parse(body);
    }
}

/// <summary>
/// The library's sessions: <see cref="SessionManager"/> of an engine in this process (no warm pools: sessions do not
/// use them). For <see cref="SessionWorkloads.Cell"/> it runs the cell in one long-lived session; for
/// <see cref="SessionWorkloads.Create"/> it creates a session, runs the first cell and deletes the session (untimed).
/// </summary>
internal sealed class LibrarySessionTarget(CordonEngine engine) : ITarget, IAsyncDisposable
{
    private Session? _session;

    public string Mode => "session_lib";

    public CordonEngine Engine => engine;

    /// <summary>Delete times of the creation samples, ms.</summary>
    public List<double> DeleteMs { get; } = [];

    public static LibrarySessionTarget Create() => new(CordonEngine.Create(new CordonEngineOptions()));

    public async Task<Sample> RunAsync(Workload workload, CancellationToken cancellationToken)
    {
        if (workload == SessionWorkloads.Cell)
        {
            _session ??= await engine.Sessions.CreateAsync(new SessionRequest(), cancellationToken).ConfigureAwait(false);
            var started = Stopwatch.GetTimestamp();
            var result = await _session.RunCellAsync(new CellRequest { Code = SessionWorkloads.CellCode }, cancellationToken).ConfigureAwait(false);
            return Check(result, Stopwatch.GetElapsedTime(started).TotalMilliseconds, result.Duration.TotalMilliseconds, workload);
        }
        var start = Stopwatch.GetTimestamp();
        var session = await engine.Sessions.CreateAsync(new SessionRequest(), cancellationToken).ConfigureAwait(false);
        var ready = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        try
        {
            var first = await session.RunCellAsync(new CellRequest { Code = SessionWorkloads.CellCode }, cancellationToken).ConfigureAwait(false);
            return Check(first, Stopwatch.GetElapsedTime(start).TotalMilliseconds, ready, workload);
        }
        finally
        {
            var deleting = Stopwatch.GetTimestamp();
            await engine.Sessions.DeleteAsync(session.Id).ConfigureAwait(false);
            DeleteMs.Add(Stopwatch.GetElapsedTime(deleting).TotalMilliseconds);
        }
    }

    private static Sample Check(CellResult result, double ms, double stage, Workload workload) =>
        result.Value == workload.Expected && result.Error is null
            ? new Sample(ms, null, stage)
            : new Sample(ms, $"value '{result.Value}', error {result.Error?.Type}: {result.Error?.Message}");

    /// <summary>Only the long-lived session (if any) is alive: nothing of a deleted one is being torn down.</summary>
    public Task<bool> IdleAsync(CancellationToken cancellationToken) =>
        Task.FromResult(engine.Host.LiveJails == (_session is null ? 0 : 1));

    public Task<(long Hits, long Misses)?> PoolCountsAsync(CancellationToken cancellationToken) => Task.FromResult<(long, long)?>(null);

    public async ValueTask DisposeAsync()
    {
        if (_session is not null) await engine.Sessions.DeleteAsync(_session.Id).ConfigureAwait(false);
        await engine.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// The HTTP sessions API of a <c>cordon serve</c>: POST /v1/sessions/{id}/cells in one long-lived session, or
/// POST /v1/sessions + the first cell (then DELETE, untimed). The stage time is the cell's duration_ms as the server
/// measured it inside the session, so the difference is what HTTP adds.
/// </summary>
internal sealed class HttpSessionTarget(CordonServerProcess server) : ITarget, IAsyncDisposable
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly byte[] CellBody = Encoding.UTF8.GetBytes($$"""{"code":"{{SessionWorkloads.CellCode}}"}""");
    private string? _session;

    public string Mode => "session_http";

    public List<double> DeleteMs { get; } = [];

    public async Task<Sample> RunAsync(Workload workload, CancellationToken cancellationToken)
    {
        if (workload == SessionWorkloads.Cell)
        {
            _session ??= await CreateAsync(cancellationToken).ConfigureAwait(false);
            var started = Stopwatch.GetTimestamp();
            var (error, duration) = await CellAsync(_session, workload, cancellationToken).ConfigureAwait(false);
            return new Sample(Stopwatch.GetElapsedTime(started).TotalMilliseconds, error, duration);
        }
        var start = Stopwatch.GetTimestamp();
        var id = await CreateAsync(cancellationToken).ConfigureAwait(false);
        var ready = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        try
        {
            var (error, _) = await CellAsync(id, workload, cancellationToken).ConfigureAwait(false);
            return new Sample(Stopwatch.GetElapsedTime(start).TotalMilliseconds, error, ready);
        }
        finally
        {
            var deleting = Stopwatch.GetTimestamp();
            await DeleteAsync(id, cancellationToken).ConfigureAwait(false);
            DeleteMs.Add(Stopwatch.GetElapsedTime(deleting).TotalMilliseconds);
        }
    }

    private async Task<string> CreateAsync(CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent("{}"u8.ToArray());
        content.Headers.ContentType = Json;
        using var response = await server.Client.PostAsync(new Uri(server.Url, "/v1/sessions"), content, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"POST /v1/sessions: HTTP {(int)response.StatusCode}: {ProcessTarget.Short(text)}");
        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("id").GetString()!;
    }

    private async Task<(string? Error, double? DurationMs)> CellAsync(string id, Workload workload, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(CellBody);
        content.Headers.ContentType = Json;
        using var response = await server.Client.PostAsync(new Uri(server.Url, $"/v1/sessions/{id}/cells"), content, cancellationToken).ConfigureAwait(false);
        var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK) return ($"HTTP {(int)response.StatusCode}: {ProcessTarget.Short(Encoding.UTF8.GetString(answer))}", null);
        using var json = JsonDocument.Parse(answer);
        var root = json.RootElement;
        var value = root.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        if (value != workload.Expected || (root.TryGetProperty("error", out var e) && e.ValueKind != JsonValueKind.Null))
            return ($"answer {ProcessTarget.Short(Encoding.UTF8.GetString(answer))}", null);
        return (null, root.GetProperty("duration_ms").GetDouble());
    }

    private async Task DeleteAsync(string id, CancellationToken cancellationToken)
    {
        using var response = await server.Client.DeleteAsync(new Uri(server.Url, $"/v1/sessions/{id}"), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.NoContent) throw new InvalidOperationException($"DELETE /v1/sessions/{id}: HTTP {(int)response.StatusCode}");
    }

    /// <summary>The server's jails: its idle ones plus the long-lived session, if any.</summary>
    public async Task<bool> IdleAsync(CancellationToken cancellationToken) =>
        await server.LiveJailsAsync(cancellationToken).ConfigureAwait(false) == server.IdleJails + (_session is null ? 0 : 1);

    public Task<(long Hits, long Misses)?> PoolCountsAsync(CancellationToken cancellationToken) => Task.FromResult<(long, long)?>(null);

    public async ValueTask DisposeAsync()
    {
        if (_session is not null) await DeleteAsync(_session, CancellationToken.None).ConfigureAwait(false);
    }
}

/// <summary>Memory of one idle session's processes and cgroup, bytes.</summary>
internal sealed record SessionMemory
{
    public required int Processes { get; init; }
    /// <summary>Proportional set size of every process of the session (shared pages divided among their users).</summary>
    public required long PssBytes { get; init; }
    /// <summary>Pages only the session's processes use (private clean + private dirty): what deleting it frees at least.</summary>
    public required long UssBytes { get; init; }
    public required long RssBytes { get; init; }
    /// <summary>PSS by role: bwrap (its outer and init processes), the supervisor, the kernel.</summary>
    public required IReadOnlyDictionary<string, long> PssByRole { get; init; }
    /// <summary>The session's memory cgroup: usage (v1 memory.usage_in_bytes, v2 memory.current), page cache included.</summary>
    public long? CgroupBytes { get; init; }
    /// <summary>Anonymous memory charged to the cgroup (v1 memory.stat rss, v2 anon).</summary>
    public long? CgroupAnonBytes { get; init; }
    /// <summary>tmpfs and shared memory charged to the cgroup (v1 shmem, v2 shmem): the workspace's and /tmp's files.</summary>
    public long? CgroupShmemBytes { get; init; }
}

internal sealed record MemoryReport
{
    public required int Sessions { get; init; }
    public required string Note { get; init; }
    public required IReadOnlyList<SessionMemory> PerSession { get; init; }
    /// <summary>The driver's own growth per session (RSS after a full GC, before and after creating them), bytes.</summary>
    public required long HostRssPerSessionBytes { get; init; }
    public required long HostManagedPerSessionBytes { get; init; }
}

/// <summary>
/// Measures idle sessions: N created one after another, each runs one `1+1` cell, then after a quiet second every
/// process whose real uid is a session's host uid is read from /proc (smaps_rollup), and the session's memory cgroup
/// (found from its kernel's /proc/PID/cgroup).
/// </summary>
internal static class SessionMemoryProbe
{
    public static async Task<MemoryReport> MeasureAsync(CordonEngine engine, int count, CancellationToken cancellationToken)
    {
        var sessions = new List<Session>();
        var (rss0, managed0) = HostMemory();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var session = await engine.Sessions.CreateAsync(new SessionRequest(), cancellationToken).ConfigureAwait(false);
                sessions.Add(session);
                var cell = await session.RunCellAsync(new CellRequest { Code = SessionWorkloads.CellCode }, cancellationToken).ConfigureAwait(false);
                if (cell.Value != "2") throw new InvalidOperationException($"session {session.Id}: `1+1` gave '{cell.Value}'");
            }
            await Quiet.WaitAsync(null, TimeSpan.FromSeconds(10), cancellationToken, windows: 200).ConfigureAwait(false);
            var (rss1, managed1) = HostMemory();
            var uids = sessions.Select(s => s.HostUid).ToHashSet();
            var byUid = ProcessesByUid(uids);
            var per = sessions.Select(s => Read(byUid.TryGetValue(s.HostUid, out var p) ? p : [])).ToList();
            return new MemoryReport
            {
                Sessions = count,
                Note = "each session after its creation and one `1+1` cell, idle; processes are those whose real uid is the session's host uid",
                PerSession = per,
                HostRssPerSessionBytes = (rss1 - rss0) / count,
                HostManagedPerSessionBytes = (managed1 - managed0) / count,
            };
        }
        finally
        {
            foreach (var session in sessions) await engine.Sessions.DeleteAsync(session.Id).ConfigureAwait(false);
        }
    }

    private static (long Rss, long Managed) HostMemory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return (self.WorkingSet64, GC.GetTotalMemory(false));
    }

    private sealed record Proc(int Pid, int Ppid, string Comm);

    private static Dictionary<uint, List<Proc>> ProcessesByUid(HashSet<uint> uids)
    {
        var found = new Dictionary<uint, List<Proc>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            string status;
            try
            {
                status = File.ReadAllText(Path.Combine(dir, "status"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            var fields = status.Split('\n').Select(l => l.Split(':', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1].Trim());
            var uid = uint.Parse(fields["Uid"].Split('\t')[0], CultureInfo.InvariantCulture);
            if (!uids.Contains(uid)) continue;
            if (!found.TryGetValue(uid, out var list)) found[uid] = list = [];
            list.Add(new Proc(pid, int.Parse(fields["PPid"], CultureInfo.InvariantCulture), fields["Name"]));
        }
        return found;
    }

    private static SessionMemory Read(List<Proc> processes)
    {
        long pss = 0, uss = 0, rss = 0;
        var roles = new Dictionary<string, long>();
        var pids = processes.Select(p => p.Pid).ToHashSet();
        foreach (var p in processes)
        {
            var rollup = Rollup(p.Pid);
            pss += rollup.GetValueOrDefault("Pss");
            uss += rollup.GetValueOrDefault("Private_Clean") + rollup.GetValueOrDefault("Private_Dirty");
            rss += rollup.GetValueOrDefault("Rss");
            // The kernel is the supervisor's child: a python3 whose parent is a python3 of the same session.
            var role = p.Comm.StartsWith("bwrap", StringComparison.Ordinal) ? "bwrap"
                : processes.Any(q => q.Pid == p.Ppid && q.Comm.StartsWith("python", StringComparison.Ordinal)) ? "kernel"
                : p.Comm.StartsWith("python", StringComparison.Ordinal) ? "supervisor" : p.Comm;
            roles[role] = roles.GetValueOrDefault(role) + rollup.GetValueOrDefault("Pss");
        }
        var kernel = processes.FirstOrDefault(p => p.Comm.StartsWith("python", StringComparison.Ordinal));
        var cgroup = kernel is null ? null : MemoryCgroup(kernel.Pid);
        long? usage = null, anon = null, shmem = null;
        if (cgroup is not null)
        {
            usage = ReadLong(Path.Combine(cgroup, "memory.usage_in_bytes")) ?? ReadLong(Path.Combine(cgroup, "memory.current"));
            var stat = ReadStat(Path.Combine(cgroup, "memory.stat"));
            anon = stat.TryGetValue("rss", out var r) ? r : stat.TryGetValue("anon", out var a) ? a : null;
            shmem = stat.TryGetValue("shmem", out var s) ? s : null;
        }
        return new SessionMemory
        {
            Processes = pids.Count,
            PssBytes = pss,
            UssBytes = uss,
            RssBytes = rss,
            PssByRole = roles,
            CgroupBytes = usage,
            CgroupAnonBytes = anon,
            CgroupShmemBytes = shmem,
        };
    }

    /// <summary>/proc/PID/smaps_rollup's fields, bytes.</summary>
    private static Dictionary<string, long> Rollup(int pid)
    {
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
            {
                var parts = line.Split(':', 2);
                if (parts.Length != 2 || !parts[1].TrimEnd().EndsWith(" kB", StringComparison.Ordinal)) continue;
                values[parts[0]] = long.Parse(parts[1].Trim()[..^3].Trim(), CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
            // The process ended meanwhile.
        }
        return values;
    }

    /// <summary>The host folder of the memory cgroup (v1 memory controller, else the v2 unified one) PID is in.</summary>
    private static string? MemoryCgroup(int pid)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines($"/proc/{pid}/cgroup");
        }
        catch (IOException)
        {
            return null;
        }
        foreach (var line in lines)
        {
            var parts = line.Split(':', 3);
            if (parts.Length == 3 && parts[1].Split(',').Contains("memory") && Directory.Exists("/sys/fs/cgroup/memory" + parts[2]))
                return "/sys/fs/cgroup/memory" + parts[2];
        }
        var unified = lines.FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal));
        return unified is not null && File.Exists("/sys/fs/cgroup" + unified[3..] + "/memory.current") ? "/sys/fs/cgroup" + unified[3..] : null;
    }

    private static long? ReadLong(string path) =>
        File.Exists(path) && long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static Dictionary<string, long> ReadStat(string path)
    {
        var stat = new Dictionary<string, long>(StringComparer.Ordinal);
        if (!File.Exists(path)) return stat;
        foreach (var line in File.ReadLines(path))
        {
            var parts = line.Split(' ');
            if (parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var v)) stat[parts[0]] = v;
        }
        return stat;
    }
}
