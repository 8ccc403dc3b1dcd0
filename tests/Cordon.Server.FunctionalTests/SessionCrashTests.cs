using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Cordon.Server.FunctionalTests;

/// <summary>A server killed with SIGKILL while its sessions are busy leaves them behind; the next server's janitor removes every trace.</summary>
public sealed class SessionCrashTests
{
    private static readonly Dictionary<string, string> Settings = new() { ["WarmPool__Enabled"] = "false", ["Sessions__MaxSessions"] = "2" };

    [Fact(Timeout = 300_000)]
    public async Task After_kill_9_the_next_server_removes_the_old_sessions_processes_cgroups_and_workspaces()
    {
        string instance;
        string workspace;
        List<(int Pid, uint Uid, string Start)> jailed;
        await using (var old = await CordonServe.StartAsync(Settings))
        {
            instance = old.InstanceId ?? throw new InvalidOperationException("the server's instance was not found");

            // One session whose kernel is stuck in an endless loop, with a cell nobody waits for...
            var hung = await CreateAsync(old.Http);
            var marker = "marker-" + Guid.NewGuid().ToString("N");
            Assert.Equal(201, (int)(await old.Http.PutAsync($"v1/sessions/{hung}/files/{marker}.txt", new StringContent(marker))).StatusCode);
            var cell = old.Http.PostAsync($"v1/sessions/{hung}/cells", Json(new JsonObject { ["code"] = "while True: pass", ["timeout_ms"] = 600_000 }));
            var cells = 0;
            for (var i = 0; i < 200 && cells == 0; i++)
            {
                await Task.Delay(50);
                cells = (int)(await (await old.Http.GetAsync($"v1/sessions/{hung}")).JsonAsync())["cells"]!;
            }
            Assert.Equal(1, cells);
            Assert.False(cell.IsCompleted, "the endless cell ended");

            // ...and one running a background command.
            var busy = await CreateAsync(old.Http);
            var command = await old.Http.PostAsync($"v1/sessions/{busy}/commands", Json(new JsonObject { ["command"] = "sleep 600", ["background"] = true }));
            Assert.Equal(202, (int)command.StatusCode);
            Assert.True((bool)(await command.JsonAsync())["running"]!);
            // CORDON_Sessions__MaxSessions reached the engine.
            Assert.Equal(429, (int)(await old.Http.PostAsync("v1/sessions", Json(new JsonObject()))).StatusCode);

            workspace = Path.GetDirectoryName(FindFile($"/run/cordon/instances/{instance}", marker + ".txt"))!;
            jailed = JailProcesses(instance);
            Assert.True(jailed.Select(p => p.Uid).Distinct().Count() >= 2, $"expected the processes of two sessions in the instance's cgroups, found {jailed.Count}");

            await old.CrashAsync();
            try
            {
                (await cell).Dispose();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or ObjectDisposedException)
            {
                // The server died under it, as it should.
            }
        }
        // The dead server cleaned nothing up.
        Assert.True(Directory.Exists(workspace), $"{workspace} should outlive a server killed with SIGKILL");
        Assert.NotEmpty(CordonServe.Leftovers(instance));

        await using var next = await CordonServe.StartAsync(Settings);
        Assert.NotEqual(instance, next.InstanceId);
        // Killed processes whose parents died are reaped by the host's init a moment after their cgroup is gone.
        for (var i = 0; i < 100 && (CordonServe.Leftovers(instance).Count > 0 || Alive(jailed).Count > 0); i++) await Task.Delay(50);
        Assert.Empty(CordonServe.Leftovers(instance));
        Assert.Empty(Alive(jailed));
        Assert.False(Directory.Exists(workspace), $"{workspace} is left");
        Assert.Equal("[]", (await (await next.Http.GetAsync("v1/sessions")).JsonAsync()).ToJsonString());
    }

    private static async Task<string> CreateAsync(HttpClient http)
    {
        var response = await http.PostAsync("v1/sessions", Json(new JsonObject()));
        var body = await response.JsonAsync();
        Assert.True((int)response.StatusCode == 201, body.ToJsonString());
        return (string)body["id"]!;
    }

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");

    private static string FindFile(string root, string name)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, MaxRecursionDepth = 6, AttributesToSkip = FileAttributes.ReparsePoint };
        return Directory.EnumerateFiles(root, name, options).Single();
    }

    /// <summary>The processes in the jail cgroups of an instance, each with its start time (a pid alone can be reused).</summary>
    private static List<(int Pid, uint Uid, string Start)> JailProcesses(string instance) =>
        [.. Processes().Where(p => p.Cgroup.Contains($"/cordon/{instance}/", StringComparison.Ordinal)).Select(p => (p.Pid, p.Uid, p.Start))];

    /// <summary>Those of <paramref name="processes"/> still alive: same pid, same start time.</summary>
    private static List<int> Alive(List<(int Pid, uint Uid, string Start)> processes) =>
        [.. Processes().Where(p => processes.Contains((p.Pid, p.Uid, p.Start))).Select(p => p.Pid)];

    private static IEnumerable<(int Pid, uint Uid, string Start, string Cgroup)> Processes()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            (int, uint, string, string)? found = null;
            try
            {
                var uid = File.ReadLines(Path.Combine(dir, "status")).First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];
                // Field 22 of stat, counted after the command's closing parenthesis (a command may hold spaces).
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var start = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
                found = (pid, uint.Parse(uid, CultureInfo.InvariantCulture), start, File.ReadAllText(Path.Combine(dir, "cgroup")));
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
            if (found is { } process) yield return process;
        }
    }
}
