using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Cordon.Server.FunctionalTests;

/// <summary>SIGTERM stops cordon serve, even with a run in flight, and its instance leaves nothing behind.</summary>
public sealed class ShutdownTests
{
    [Fact(Timeout = 180_000)]
    public async Task Sigterm_with_a_run_in_flight_exits_and_leaves_no_jail_cgroup_or_directory()
    {
        await using var server = await CordonServe.StartAsync(new Dictionary<string, string> { ["ShutdownTimeoutSeconds"] = "3" });
        Assert.NotNull(server.InstanceId);

        var body = new JsonObject
        {
            ["language"] = "python",
            ["version"] = "3",
            ["files"] = new JsonArray(new JsonObject { ["content"] = "import time\nprint('started', flush=True)\ntime.sleep(60)" }),
            ["run_timeout"] = 10_000,
        };
        var inFlight = server.Http.PostAsync("api/v2/execute", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        // Wait until the jail's process is really running in the instance's cgroup.
        for (var i = 0; i < 200 && CordonServe.Leftovers(server.InstanceId).All(l => !l.StartsWith("process", StringComparison.Ordinal)); i++)
            await Task.Delay(50);
        Assert.Contains(CordonServe.Leftovers(server.InstanceId), l => l.StartsWith("process", StringComparison.Ordinal));

        // StopAsync throws if anything of the instance is left once the process has exited.
        var exit = await server.StopAsync();
        Assert.True(exit == 0, $"cordon serve exited {exit} after SIGTERM:\n{server.Log}");

        // The request in flight either completed before the deadline or lost its connection; it never hangs.
        try
        {
            using var response = await inFlight;
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode}");
        }
        catch (HttpRequestException)
        {
            // The server closed the connection while shutting down.
        }
        catch (TaskCanceledException)
        {
            // The client was disposed with the server.
        }
    }
    [Theory(Timeout = 180_000)]
    [InlineData("api/v2/execute")]
    [InlineData("v1/executions")]
    public async Task Sigterm_right_after_clients_abandoned_their_requests_exits_within_the_shutdown_deadline(string path)
    {
        await using var server = await CordonServe.StartAsync(new Dictionary<string, string> { ["ShutdownTimeoutSeconds"] = "3" });
        var body = new JsonObject
        {
            ["language"] = "python",
            ["version"] = "3",
            ["files"] = new JsonArray(new JsonObject { ["name"] = "main.py", ["content"] = "import time\ntime.sleep(0.3)\nprint('done')" }),
        }.ToJsonString();

        // 16 clients at once (more than run at once, so some wait in the queue), all gone after a second, as when
        // a load generator stops; then the operator stops the server.
        using (var clients = new HttpClient { BaseAddress = server.BaseAddress })
        using (var abandon = new CancellationTokenSource(TimeSpan.FromSeconds(1)))
        {
            var requests = Enumerable.Range(0, 16).Select(async _ =>
            {
                try
                {
                    while (true)
                    {
                        using var response = await clients.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"), abandon.Token);
                    }
                }
                catch (OperationCanceledException)
                {
                    // Abandoned, as intended.
                }
            }).ToList();
            await Task.WhenAll(requests);
        }

        var stopping = Stopwatch.StartNew();
        var exit = await server.StopAsync();
        Assert.True(exit == 0, $"cordon serve exited {exit} after SIGTERM:\n{server.Log}");
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(3 + 10), $"cordon serve took {stopping.Elapsed} to stop with a 3 s shutdown deadline");
    }
}
