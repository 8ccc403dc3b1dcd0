using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Bench;

/// <summary>
/// Modes that start one process per run: the bare program, the program in a plain bwrap jail, and <c>cordon run</c>.
/// Every process gets an empty stdin and has both outputs read to the end; the time runs from before the spawn to the
/// exit with both outputs read.
/// </summary>
internal sealed class ProcessTarget(string mode, Func<Workload, ProcessStartInfo> startInfo) : ITarget
{
    /// <summary>The environment of the bare and bwrap runs: what Cordon gives a jailed program, nothing of the caller's.</summary>
    public static readonly ImmutableDictionary<string, string> JailEnvironment = ImmutableDictionary.CreateRange(StringComparer.Ordinal,
    [
        new KeyValuePair<string, string>("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        new KeyValuePair<string, string>("HOME", "/tmp"),
        new KeyValuePair<string, string>("TMPDIR", "/tmp"),
        new KeyValuePair<string, string>("LANG", "C.UTF-8"),
        new KeyValuePair<string, string>("LC_ALL", "C.UTF-8"),
        new KeyValuePair<string, string>("PYTHONDONTWRITEBYTECODE", "1"),
        new KeyValuePair<string, string>("PYTHONIOENCODING", "utf-8"),
    ]);

    /// <summary>
    /// The plain jail: every namespace unshared, no capabilities, a read-only /usr, fresh /proc, /dev and /tmp, and a
    /// fresh tmpfs work directory holding the program, as Cordon's jails have.
    /// </summary>
    public static ImmutableArray<string> BwrapPrefix(string hostFile, string jailFile) =>
    [
        "/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        "--tmpfs", "/work", "--ro-bind", hostFile, "/work/" + jailFile, "--chdir", "/work",
    ];

    public static ProcessStartInfo StartInfo(IEnumerable<string> argv, string directory, IReadOnlyDictionary<string, string>? environment)
    {
        var list = argv.ToList();
        // Process.Start resolves a relative program against the caller's directory, not the child's.
        var program = list[0].StartsWith("./", StringComparison.Ordinal) ? Path.Combine(directory, list[0][2..]) : list[0];
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in list.Skip(1)) info.ArgumentList.Add(arg);
        if (environment is not null)
        {
            info.Environment.Clear();
            foreach (var (key, value) in environment) info.Environment[key] = value;
        }
        return info;
    }

    public string Mode => mode;

    public async Task<Sample> RunAsync(Workload workload, CancellationToken cancellationToken)
    {
        var info = startInfo(workload);
        var started = Stopwatch.GetTimestamp();
        using var process = Process.Start(info) ?? throw new InvalidOperationException("no process started");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false);
        var errors = await stderr.ConfigureAwait(false);
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (process.ExitCode != 0 || output.Trim() != workload.Expected)
            return new Sample(ms, $"exit {process.ExitCode}, stdout '{Short(output)}', stderr '{Short(errors)}'");
        return new Sample(ms, null);
    }

    public Task<bool> IdleAsync(CancellationToken cancellationToken) => Task.FromResult(true);

    public Task<(long Hits, long Misses)?> PoolCountsAsync(CancellationToken cancellationToken) => Task.FromResult<(long, long)?>(null);

    internal static string Short(string text) => text.Length <= 300 ? text.Trim() : text[..300].Trim() + "...";
}

/// <summary>The library modes: <see cref="CordonEngine.ExecuteAsync(ExecutionRequest, CancellationToken)"/> in this process.</summary>
internal sealed class LibraryTarget : ITarget, IAsyncDisposable
{
    private readonly CordonEngine _engine;
    private readonly int _minSize;

    private LibraryTarget(string mode, CordonEngine engine, int minSize)
    {
        Mode = mode;
        _engine = engine;
        _minSize = minSize;
    }

    public string Mode { get; }

    /// <summary>
    /// An engine like <c>cordon serve</c>'s: admission at its defaults, and with <paramref name="warm"/> pools for python,
    /// javascript and c of 2 to 8 jails (the server's defaults), filled before this returns.
    /// </summary>
    public static async Task<LibraryTarget> CreateAsync(string mode, bool warm, WarmPoolOptions pool, CancellationToken cancellationToken)
    {
        var engine = CordonEngine.Create(new CordonEngineOptions { WarmPool = warm ? pool : new WarmPoolOptions() });
        if (warm) await engine.Pool.WaitUntilFilledAsync(cancellationToken).ConfigureAwait(false);
        return new LibraryTarget(mode, engine, warm ? pool.MinSize : 0);
    }

    public async Task<Sample> RunAsync(Workload workload, CancellationToken cancellationToken)
    {
        var request = workload.Request();
        var started = Stopwatch.GetTimestamp();
        var result = await _engine.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var stdout = result.Run is { } run ? Encoding.UTF8.GetString(run.Stdout.Span) : "";
        if (result.Verdict != Verdict.Ok || stdout.Trim() != workload.Expected)
        {
            var stderr = result.FinalStage.Stderr.IsEmpty ? Encoding.UTF8.GetString(result.FinalStage.Output.Span) : Encoding.UTF8.GetString(result.FinalStage.Stderr.Span);
            return new Sample(ms, $"verdict {result.Verdict}, stdout '{ProcessTarget.Short(stdout)}', stderr '{ProcessTarget.Short(stderr)}'");
        }
        var stages = (result.Compile?.Usage.WallTime ?? TimeSpan.Zero) + (result.Run?.Usage.WallTime ?? TimeSpan.Zero);
        return new Sample(ms, null, stages.TotalMilliseconds);
    }

    public Task<bool> IdleAsync(CancellationToken cancellationToken)
    {
        var ready = _engine.Pool.Ready;
        var idle = _engine.Host.LiveJails == ready.Values.Sum() && (_minSize == 0 || ready.Values.All(n => n >= _minSize));
        return Task.FromResult(idle);
    }

    public Task<(long Hits, long Misses)?> PoolCountsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<(long, long)?>(_minSize > 0 ? _engine.Pool.Counts : null);

    public ValueTask DisposeAsync() => _engine.DisposeAsync();
}

/// <summary>
/// A <c>cordon serve</c> of its own on a free loopback port, rate limit off, logging to a file. The engine's debug
/// events are on so the log tells warm-pool hits (one line per pooled run).
/// </summary>
internal sealed partial class CordonServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _log;
    private readonly string _configDirectory;
    private readonly HttpClient _client;
    private long _logOffset;
    private long _hits;
    private long _requests;

    private CordonServerProcess(Process process, string log, string configDirectory, Uri url, HttpClient client, bool warm)
    {
        _process = process;
        _configDirectory = configDirectory;
        _log = log;
        Url = url;
        _client = client;
        Warm = warm;
    }

    public Uri Url { get; }

    public bool Warm { get; }

    public HttpClient Client => _client;

    /// <summary>Jails alive when nothing runs: the pools' ready jails (0 without pools).</summary>
    public int IdleJails { get; private set; }

    public static async Task<CordonServerProcess> StartAsync(string dotnet, string cordonDll, bool warm, string log, CancellationToken cancellationToken, bool engineDebug = true)
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
        }
        // exec keeps the pid; the shell only sends both streams to the log, so the harness never pumps them.
        // A configuration file of its own: a host's /etc/cordon/cordon.json (API keys, limits) must not change the
        // measurement. It only turns on the engine's debug events; the settings come from CORDON_ variables.
        // Its own folder: the server watches its configuration file's folder, and the log must not be written there.
        var configDirectory = Directory.CreateTempSubdirectory("cordon-bench-config.").FullName;
        var config = Path.Combine(configDirectory, "cordon.json");
        await File.WriteAllTextAsync(config, engineDebug ? """{ "Logging": { "LogLevel": { "Cordon.Engine": "Debug" } } }""" : "{}", cancellationToken).ConfigureAwait(false);
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec \"$0\" \"$1\" serve --config \"$2\" >>\"$3\" 2>&1");
        info.ArgumentList.Add(dotnet);
        info.ArgumentList.Add(cordonDll);
        info.ArgumentList.Add(config);
        info.ArgumentList.Add(log);
        info.Environment["CORDON_Address"] = $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        info.Environment["CORDON_RequestsPerMinute"] = "0";
        info.Environment["CORDON_WarmPool__Enabled"] = warm ? "true" : "false";
        var process = Process.Start(info) ?? throw new InvalidOperationException("cordon serve did not start");
        process.StandardInput.Close();
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            MaxConnectionsPerServer = 64,
        };
        var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        var url = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var server = new CordonServerProcess(process, log, configDirectory, url, client, warm);
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"cordon serve exited with {process.ExitCode}; see {log}");
            try
            {
                using var ready = await client.GetAsync(new Uri(url, "/readyz"), cancellationToken).ConfigureAwait(false);
                if (ready.IsSuccessStatusCode) break;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            if (Stopwatch.GetTimestamp() > deadline) throw new InvalidOperationException($"cordon serve did not become ready in 60 s; see {log}");
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        // Pools fill in the background after start: wait until the machine has been quiet for 300 ms, then count.
        await Quiet.WaitAsync(null, TimeSpan.FromSeconds(30), cancellationToken, windows: 60).ConfigureAwait(false);
        server.IdleJails = await server.LiveJailsAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary><c>cordon_jails_live</c> from /metrics.</summary>
    public async Task<int> LiveJailsAsync(CancellationToken cancellationToken)
    {
        var text = await _client.GetStringAsync(new Uri(Url, "/metrics"), cancellationToken).ConfigureAwait(false);
        var match = JailsLive().Match(text);
        return match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
    }

    /// <summary>Pooled runs so far (debug log lines "run stage from the warm pool") against pooled-runtime requests sent.</summary>
    public (long Hits, long Misses) PoolCounts()
    {
        using var stream = new FileStream(_log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(_logOffset, SeekOrigin.Begin);
        using var reader = new StreamReader(stream);
        var text = reader.ReadToEnd();
        // Only whole lines: a line being written is read next time.
        var end = text.LastIndexOf('\n') + 1;
        _logOffset += Encoding.UTF8.GetByteCount(text.AsSpan(0, end));
        var lines = text.AsSpan(0, end);
        var count = 0;
        foreach (var line in lines.EnumerateLines())
        {
            if (line.Contains("from the warm pool of", StringComparison.Ordinal)) count++;
        }
        _hits += count;
        var requests = Interlocked.Read(ref _requests);
        return (_hits, requests - _hits);
    }

    /// <summary>Counts a request for a runtime that has a pool (python, javascript, c).</summary>
    public void CountPooledRequest() => Interlocked.Increment(ref _requests);

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, 15);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
            }
        }
        _process.Dispose();
        Directory.Delete(_configDirectory, recursive: true);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [System.Text.RegularExpressions.GeneratedRegex(@"^cordon_jails_live (\d+)", System.Text.RegularExpressions.RegexOptions.Multiline)]
    private static partial System.Text.RegularExpressions.Regex JailsLive();
}

/// <summary>The HTTP modes: POST /v1/executions (native) or POST /api/v2/execute (Piston) to a running server.</summary>
internal sealed class HttpTarget(string mode, CordonServerProcess server, bool piston) : ITarget
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly string[] Pooled = ["python", "javascript", "c"];
    private readonly Dictionary<string, byte[]> _bodies = [];
    private readonly Uri _endpoint = new(server.Url, piston ? "/api/v2/execute" : "/v1/executions");

    public string Mode => mode;

    public async Task<Sample> RunAsync(Workload workload, CancellationToken cancellationToken)
    {
        byte[]? body;
        lock (_bodies)
        {
            if (!_bodies.TryGetValue(workload.Name, out body)) _bodies[workload.Name] = body = piston ? workload.PistonBody() : workload.NativeBody();
        }
        if (server.Warm && Pooled.Contains(workload.Language)) server.CountPooledRequest();
        var started = Stopwatch.GetTimestamp();
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = Json;
        using var response = await server.Client.PostAsync(_endpoint, content, cancellationToken).ConfigureAwait(false);
        var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK) return new Sample(ms, $"HTTP {(int)response.StatusCode}: {ProcessTarget.Short(Encoding.UTF8.GetString(answer))}");
        using var json = JsonDocument.Parse(answer);
        var run = json.RootElement.TryGetProperty("run", out var r) ? r : default;
        var stdout = run.ValueKind == JsonValueKind.Object && run.TryGetProperty("stdout", out var s) ? s.GetString() ?? "" : "";
        var ok = piston
            ? run.ValueKind == JsonValueKind.Object && run.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.Number && code.GetInt32() == 0
            : json.RootElement.TryGetProperty("verdict", out var verdict) && verdict.GetString() == "ok";
        if (!ok || stdout.Trim() != workload.Expected) return new Sample(ms, $"answer {ProcessTarget.Short(Encoding.UTF8.GetString(answer))}");
        if (piston) return new Sample(ms, null);
        // The native answer carries each stage's wall time (whole ms).
        double stages = 0;
        foreach (var name in new[] { "compile", "run" })
        {
            if (json.RootElement.TryGetProperty(name, out var stage) && stage.ValueKind == JsonValueKind.Object
                && stage.TryGetProperty("usage", out var usage) && usage.TryGetProperty("wall_time_ms", out var wall))
            {
                stages += wall.GetDouble();
            }
        }
        return new Sample(ms, null, stages);
    }

    public async Task<bool> IdleAsync(CancellationToken cancellationToken) =>
        await server.LiveJailsAsync(cancellationToken).ConfigureAwait(false) == server.IdleJails;

    public async Task<(long Hits, long Misses)?> PoolCountsAsync(CancellationToken cancellationToken)
    {
        if (!server.Warm) return null;
        // The server's console logger writes from a queue; give the last run's line time to reach the file.
        await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        return server.PoolCounts();
    }
}
