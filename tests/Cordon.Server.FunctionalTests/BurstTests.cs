using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Cordon.Server.FunctionalTests;

/// <summary>
/// A burst far beyond admission control: 2 running, 4 waiting. The rest must get 429 with Retry-After at once,
/// every accepted request must complete with its own correct output, and the server must be fine afterwards.
/// </summary>
public sealed class BurstTests(ITestOutputHelper output)
{
    private const int Requests = 40;

    [Fact(Timeout = 240_000)]
    public async Task A_burst_past_the_queue_gets_429s_with_retry_after_and_every_accepted_request_completes_correctly()
    {
        await using var server = await CordonServe.StartAsync(new Dictionary<string, string>
        {
            ["Admission__MaxConcurrent"] = "2",
            ["Admission__MaxQueued"] = "4",
            ["Admission__QueueTimeoutSeconds"] = "5",
            // Only admission control may refuse here, not the per-client rate limiter.
            ["RequestsPerMinute"] = "0",
        });
        // Warm the runtime probe so the burst measures admission, not the first version probe.
        using (var warm = await server.Http.PostAsync("api/v2/execute", Body("warm-up", sleep: false)))
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);

        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, Requests).Select(i => Task.Run(async () =>
        {
            await start.Task;
            using var response = await server.Http.PostAsync("api/v2/execute", Body($"token-{i}", sleep: true));
            return (Index: i, response.StatusCode, RetryAfter: response.Headers.RetryAfter?.Delta, Text: await response.Content.ReadAsStringAsync());
        })).ToList();
        start.SetResult();
        var results = await Task.WhenAll(tasks);

        var summary = string.Join(", ", results.GroupBy(r => (int)r.StatusCode).Select(g => $"{g.Key}: {g.Count()}"));
        output.WriteLine($"{Requests} concurrent requests: {summary}");
        Assert.All(results, r => Assert.True(r.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"request {r.Index}: {(int)r.StatusCode} {r.Text}"));
        var accepted = results.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        var refused = results.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.True(refused.Count > 0, $"no request was refused ({summary})");
        Assert.True(accepted.Count >= 2, $"fewer accepted than can run at once ({summary})");
        // At most the running and the queued ones can have got in while all 40 were in flight; a slot freed during
        // the burst may admit a few more, but never most of them.
        Assert.True(accepted.Count < Requests / 2, $"admission let too many in ({summary})");

        foreach (var r in refused)
        {
            Assert.NotNull(r.RetryAfter);
            Assert.True(r.RetryAfter >= TimeSpan.FromSeconds(1), $"Retry-After {r.RetryAfter}");
            Assert.False(string.IsNullOrWhiteSpace(JsonDocument.Parse(r.Text).RootElement.GetProperty("message").GetString()));
        }
        foreach (var r in accepted)
        {
            var run = JsonDocument.Parse(r.Text).RootElement.GetProperty("run");
            Assert.Equal($"token-{r.Index}\n", run.GetProperty("stdout").GetString());
            Assert.Equal(JsonValueKind.Null, run.GetProperty("status").ValueKind);
            Assert.Equal(0, run.GetProperty("code").GetInt32());
        }

        using var health = await server.Http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using (var after = await server.Http.PostAsync("api/v2/execute", Body("after", sleep: false)))
        {
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
            Assert.Equal("after\n", JsonDocument.Parse(await after.Content.ReadAsStringAsync()).RootElement.GetProperty("run").GetProperty("stdout").GetString());
        }

        var exit = await server.StopAsync();
        Assert.True(exit == 0, $"cordon serve exited {exit} after SIGTERM:\n{server.Log}");
    }

    private static StringContent Body(string token, bool sleep) => new(new JsonObject
    {
        ["language"] = "python",
        ["version"] = "3",
        ["files"] = new JsonArray(new JsonObject { ["content"] = (sleep ? "import time\ntime.sleep(0.3)\n" : "") + $"print('{token}')" }),
    }.ToJsonString(), Encoding.UTF8, "application/json");
}
