using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Cordon.Server.Tests;

/// <summary>Cells over /v1/sessions with <c>Accept: text/event-stream</c> and in JavaScript, with real jails.</summary>
public sealed class SessionCellStreamTests : IAsyncLifetime
{
    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact(Timeout = 60000)]
    public async Task A_streamed_cell_sends_its_output_while_it_runs_then_the_result()
    {
        var id = await CreateAsync(new JsonObject());
        // The cell waits for a file the test writes only after the first output event came: that event cannot have
        // been sent at the end.
        using var response = await StreamCellAsync(id, new JsonObject
        {
            ["code"] = "import os, sys, time\nprint('first')\nwhile not os.path.exists('go'): time.sleep(0.01)\nprint('oops', file=sys.stderr)\nprint('second')\n6 * 7",
        });
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<SseEvent>();
        await foreach (var e in Sse.ReadAsync(response))
        {
            events.Add(e);
            if (events.Count == 1)
            {
                Assert.Equal("stdout", e.Name);
                Assert.Equal("first\n", (string)e.Data["data"]!);
                Assert.Equal(201, (int)(await _app.Client.PutAsync($"/v1/sessions/{id}/files/go", new StringContent(""))).StatusCode);
            }
        }
        Assert.Equal("result", events[^1].Name);
        Assert.All(events[..^1], e => Assert.Contains(e.Name, new[] { "stdout", "stderr" }));
        Assert.All(events[..^1], e => Assert.Equal(["stage", "data", "encoding"], e.Data.AsObject().Select(p => p.Key)));
        var result = events[^1].Data;
        Assert.True(result["error"] is null, result.ToJsonString());
        Assert.Equal("first\nsecond\n", (string)result["stdout"]!);
        Assert.Equal("oops\n", (string)result["stderr"]!);
        Assert.Equal("42", (string)result["value"]!);
        Assert.Equal((string)result["stdout"]!, string.Concat(events.Where(e => e.Name == "stdout").Select(e => (string)e.Data["data"]!)));
        Assert.Equal((string)result["stderr"]!, string.Concat(events.Where(e => e.Name == "stderr").Select(e => (string)e.Data["data"]!)));
    }

    [Fact(Timeout = 60000)]
    public async Task A_javascript_cell_streams_a_language_the_session_lacks_is_a_problem_and_none_means_the_sessions_own()
    {
        var id = await CreateAsync(new JsonObject { ["languages"] = new JsonArray("python", "javascript") });
        using var response = await StreamCellAsync(id, new JsonObject
        {
            ["code"] = "console.log('a')\nawait new Promise(r => setTimeout(r, 100))\nconsole.log('b')\nlet n = 6 * 7\nn",
            ["language"] = "javascript",
        });
        var events = new List<SseEvent>();
        await foreach (var e in Sse.ReadAsync(response)) events.Add(e);
        Assert.Equal(["stdout", "stdout", "result"], events.Select(e => e.Name));
        Assert.Equal("a\n", (string)events[0].Data["data"]!);
        Assert.Equal("42", (string)events[^1].Data["value"]!);

        var jsOnly = await CreateAsync(new JsonObject { ["languages"] = new JsonArray("js") });
        using var refused = await StreamCellAsync(jsOnly, new JsonObject { ["code"] = "1", ["language"] = "python" });
        var problem = await refused.ProblemAsync(400);
        Assert.Contains("no 'python' kernel", (string)problem["detail"]!, StringComparison.Ordinal);

        // Without a language, a cell goes to the session's (first) kernel.
        var plain = await _app.Client.PostAsync($"/v1/sessions/{jsOnly}/cells", Json(new JsonObject { ["code"] = "typeof require" }));
        Assert.Equal("'function'", (string)(await plain.JsonAsync())["value"]!);
    }

    [Fact(Timeout = 90000)]
    public async Task A_client_that_hangs_up_mid_cell_stops_it_and_the_next_cell_answers_with_the_state_kept()
    {
        // Real Kestrel on 127.0.0.1: a dropped TCP connection is what a client that hangs up does.
        await using var app = await TestApp.StartAsync(kestrel: true);
        var created = await (await app.Client.PostAsync("/v1/sessions", Json(new JsonObject()))).JsonAsync();
        var id = (string)created["id"]!;
        Assert.Equal(200, (int)(await app.Client.PostAsync($"/v1/sessions/{id}/cells", Json(new JsonObject { ["code"] = "x = 41" }))).StatusCode);

        // Its own client and connection, closed outright: nothing drains the stream or reuses the connection.
        using (var hangingUp = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = app.Client.BaseAddress })
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{id}/cells")
            {
                // Its timeout is far beyond the test's: only the hang-up can end it in time.
                Content = Json(new JsonObject { ["code"] = "print('looping', flush=True)\nwhile True: pass", ["timeout_ms"] = 600000 }),
            };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await hangingUp.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            await foreach (var e in Sse.ReadAsync(response))
            {
                Assert.Equal("looping\n", (string)e.Data["data"]!);
                break;
            }
        }

        using var prompt = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var next = await app.Client.PostAsync($"/v1/sessions/{id}/cells", Json(new JsonObject { ["code"] = "x + 1" }), prompt.Token);
        var result = await next.JsonAsync();
        Assert.True((int)next.StatusCode == 200, result.ToJsonString());
        Assert.Equal("42", (string)result["value"]!);
        Assert.False((bool)result["kernel_restarted"]!);
        Assert.Equal(3, (int)result["cell"]!);
        Assert.Contains(app.Logs.Events, e => e.Message.Contains($"Session {id}: cell 2 (python) cancelled by its caller", StringComparison.Ordinal));
    }

    private Task<HttpResponseMessage> StreamCellAsync(string id, JsonObject body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{id}/cells") { Content = Json(body) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return _app.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");

    private async Task<string> CreateAsync(JsonObject body)
    {
        var response = await _app.Client.PostAsync("/v1/sessions", Json(body));
        var created = await response.JsonAsync();
        Assert.True((int)response.StatusCode == 201, created.ToJsonString());
        return (string)created["id"]!;
    }
}
