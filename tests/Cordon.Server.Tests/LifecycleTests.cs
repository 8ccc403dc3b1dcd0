using System.Diagnostics;

namespace Cordon.Server.Tests;

/// <summary>
/// Graceful shutdown on real Kestrel (StopAsync is what SIGTERM and SIGINT trigger): no new requests, running
/// executions finish within ShutdownTimeoutSeconds, what still runs after it is killed, and nothing is left.
/// </summary>
public sealed class LifecycleTests
{
    private static async Task<(string Instance, HttpClient Client, TestApp App)> StartAsync(int shutdownSeconds)
    {
        var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ShutdownTimeoutSeconds"] = shutdownSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) }, kestrel: true);
        return (app.EngineService.Engine.Host.InstanceId, app.Client, app);
    }

    private static async Task WaitRunningAsync(TestApp app)
    {
        // Executions, not jails: the warm pools keep jails alive of their own.
        var engine = app.EngineService.Engine;
        for (var i = 0; i < 400 && engine.Admission.Running == 0; i++) await Task.Delay(25);
        Assert.Equal(1, engine.Admission.Running);
    }

    private static void AssertNothingLeft(string instance)
    {
        Assert.False(Directory.Exists(Path.Combine("/run/cordon/instances", instance)), "the instance directory is gone");
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            Assert.False(Directory.Exists(Path.Combine(hierarchy, "cordon", instance)), $"{hierarchy}/cordon/{instance} is gone");
        }
        Assert.DoesNotContain("/run/cordon/instances/" + instance, File.ReadAllText("/proc/self/mounts"), StringComparison.Ordinal);
        // No process is in any cgroup of the instance (its cgroups are gone, and nothing escaped them).
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                Assert.DoesNotContain("/cordon/" + instance, File.ReadAllText(Path.Combine(proc, "cgroup")), StringComparison.Ordinal);
            }
            catch (IOException)
            {
                // Gone while we looked.
            }
            catch (UnauthorizedAccessException)
            {
                // Not a process folder.
            }
        }
    }

    [Fact(Timeout = 90000)]
    public async Task Shutdown_lets_a_running_execution_finish_then_leaves_nothing_behind()
    {
        var (instance, client, app) = await StartAsync(shutdownSeconds: 20);
        await using var _ = app;
        var running = client.PostAsync("/v1/executions", new StringContent(
            TestApp.Request("python", "main.py", "import time\ntime.sleep(2)\nprint('finished')"), System.Text.Encoding.UTF8, "application/json"));
        await WaitRunningAsync(app);
        Assert.True(Directory.Exists(Path.Combine("/run/cordon/instances", instance)));

        var stopwatch = Stopwatch.StartNew();
        var stopping = app.App.StopAsync();
        // No new connections once stopping began.
        await Task.Delay(300);
        using var late = new HttpClient { BaseAddress = client.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => late.GetAsync("/healthz"));

        using var response = await running;
        var result = await response.JsonAsync();
        Assert.Equal("ok", (string)result["verdict"]!);
        Assert.Equal("finished\n", (string)result["run"]!["stdout"]!);
        await stopping;
        Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(15));
        AssertNothingLeft(instance);
        Assert.Contains(app.Logs.Events, e => e.Id.Id == 3010);
    }

    [Fact(Timeout = 90000)]
    public async Task Executions_still_running_at_the_deadline_are_killed_and_nothing_is_left()
    {
        var (instance, client, app) = await StartAsync(shutdownSeconds: 1);
        await using var _ = app;
        var running = client.PostAsync("/v1/executions", new StringContent(
            TestApp.Request("python", "main.py", "import time\ntime.sleep(30)"), System.Text.Encoding.UTF8, "application/json"));
        await WaitRunningAsync(app);

        var stopwatch = Stopwatch.StartNew();
        await app.App.StopAsync();
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(10));
        // The client's connection was cut (or it got whatever the engine finished with); either way no hang.
        try
        {
            using var response = await running.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (HttpRequestException)
        {
        }
        AssertNothingLeft(instance);
    }
}
