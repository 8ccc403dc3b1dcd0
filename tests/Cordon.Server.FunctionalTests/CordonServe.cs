using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Cordon.Server.FunctionalTests;

/// <summary>
/// A real <c>dotnet cordon.dll serve</c> on 127.0.0.1 and a free port, configured through CORDON_ environment
/// variables as an operator would. <see cref="StopAsync"/> sends SIGTERM and proves the process exited and left
/// nothing behind: no jail process, cgroup or directory of its instance.
/// </summary>
public sealed class CordonServe : IAsyncDisposable
{
    private const string InstancesDirectory = "/run/cordon/instances";
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly Task _stdout;
    private readonly Task _stderr;
    private bool _stopped;

    private CordonServe(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        _stdout = PumpAsync(process.StandardOutput);
        _stderr = PumpAsync(process.StandardError);
    }

    /// <summary>The server's root, http://127.0.0.1:PORT/.</summary>
    public Uri BaseAddress { get; }

    /// <summary>A client for the server.</summary>
    public HttpClient Http { get; }

    /// <summary>The server's process id.</summary>
    public int Pid => _process.Id;

    /// <summary>The engine's instance id (its folder under /run/cordon/instances), found once the server is up.</summary>
    public string? InstanceId { get; private set; }

    /// <summary>Everything the server wrote so far (logs), for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    /// <summary>Starts a server with these settings (CORDON_ variables without the prefix) and waits for /healthz.</summary>
    public static async Task<CordonServe> StartAsync(IReadOnlyDictionary<string, string>? settings = null)
    {
        // A port found free can be taken before the server binds it; then the server exits and we try another.
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort();
            var start = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
                WorkingDirectory = AppContext.BaseDirectory,
            };
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "cordon.dll"));
            start.ArgumentList.Add("serve");
            // Only what the test says configures the server: no variable of the developer's shell leaks in, and the
            // runtimes beside cordon.dll are the ones under test.
            foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("CORDON_", StringComparison.OrdinalIgnoreCase)).ToList())
                start.Environment.Remove(name);
            start.Environment["CORDON_Address"] = $"127.0.0.1:{port}";
            foreach (var (key, value) in settings ?? new Dictionary<string, string>()) start.Environment["CORDON_" + key] = value;

            var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
            process.StandardInput.Close();
            var server = new CordonServe(process, new Uri($"http://127.0.0.1:{port}/"));
            if (await server.WaitUntilHealthyAsync(TimeSpan.FromSeconds(60))) return server;
            var log = server.Log;
            await server.KillAsync();
            if (attempt >= 3 || !log.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException($"cordon serve did not become healthy on port {port}:\n{log}");
        }
    }

    private async Task<bool> WaitUntilHealthyAsync(TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        using var probe = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        while (deadline.Elapsed < timeout && !_process.HasExited)
        {
            try
            {
                using var response = await probe.GetAsync("healthz");
                if (response.IsSuccessStatusCode)
                {
                    InstanceId = FindInstance(_process.Id);
                    return true;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Slow to answer while starting.
            }
            await Task.Delay(100);
        }
        return false;
    }

    /// <summary>
    /// Sends SIGTERM, waits for the process to exit, and checks that its instance left nothing: no folder, no
    /// cgroup in any hierarchy, no process in one of its jails. Returns the exit code.
    /// </summary>
    public async Task<int> StopAsync()
    {
        if (_stopped) return _process.ExitCode;
        _stopped = true;
        // The client stays open until the process is gone: a request in flight must meet the shutdown, not a
        // client-side cancel that would end its run first.
        await SendSignalAsync(_process.Id, "TERM");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await _process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"cordon serve did not exit within 60 s of SIGTERM:\n{Log}");
        }
        await Task.WhenAll(_stdout, _stderr);
        Http.Dispose();
        var leftovers = Leftovers(InstanceId);
        if (leftovers.Count > 0)
            throw new InvalidOperationException($"cordon serve left things behind after SIGTERM: {string.Join("; ", leftovers)}\n{Log}");
        return _process.ExitCode;
    }

    /// <summary>
    /// Kills the server with SIGKILL, as a crash or the OOM killer would: only the server process, which cleans
    /// nothing up. Returns once it has exited; what it leaves is for the next server's janitor.
    /// </summary>
    public async Task CrashAsync()
    {
        _stopped = true;
        await SendSignalAsync(_process.Id, "KILL");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(deadline.Token);
        Http.Dispose();
    }

    /// <summary>What an instance left behind: its folder, cgroups and jail processes; empty when nothing.</summary>
    public static IReadOnlyList<string> Leftovers(string? instanceId)
    {
        var found = new List<string>();
        if (instanceId is null) return found;
        if (Directory.Exists(Path.Combine(InstancesDirectory, instanceId))) found.Add($"{InstancesDirectory}/{instanceId}");
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            var cgroup = Path.Combine(hierarchy, "cordon", instanceId);
            if (Directory.Exists(cgroup)) found.Add(cgroup);
        }
        if (Directory.Exists(Path.Combine("/sys/fs/cgroup", "cordon", instanceId))) found.Add($"/sys/fs/cgroup/cordon/{instanceId}");
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(proc, "cgroup")).Contains($"/cordon/{instanceId}/", StringComparison.Ordinal))
                    found.Add($"process {Path.GetFileName(proc)} in a jail cgroup of the instance");
            }
            catch (IOException)
            {
                // Gone while we looked, or not a process folder.
            }
            catch (UnauthorizedAccessException)
            {
                // Not a process folder we may read.
            }
        }
        return found.Distinct().ToList();
    }

    /// <summary>The instance a process runs: it holds the flock on /run/cordon/instances/ID/lock open.</summary>
    private static string? FindInstance(int pid)
    {
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                var target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith(InstancesDirectory + "/", StringComparison.Ordinal))
                    return target[(InstancesDirectory.Length + 1)..].Split('/')[0];
            }
        }
        catch (IOException)
        {
            // The process ended.
        }
        return null;
    }

    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Sends a signal with kill(1), as a service manager would.</summary>
    public static async Task SendSignalAsync(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-s", signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -s {signal} {pid} failed");
    }

    private async Task PumpAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_log)
            {
                // Enough to explain a failure; a long test must not grow it without bound.
                if (_log.Length < 1_000_000) _log.AppendLine(line);
            }
        }
    }

    private async Task KillAsync()
    {
        _stopped = true;
        Http.Dispose();
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>Stops the server if a test did not; a server that cannot stop cleanly fails the fixture.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_stopped) await StopAsync();
        }
        finally
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }
    }
}
