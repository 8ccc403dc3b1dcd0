using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cordon.Mcp.FunctionalTests;

/// <summary>/mcp as plain HTTP: what a client that is not the SDK sees, and what a dropped connection does.</summary>
[Collection(McpCollection.Name)]
public sealed class McpHttpTests(McpServerFixture fixture)
{
    [Fact(Timeout = 120_000)]
    public async Task A_dropped_http_request_interrupts_its_cell_so_the_session_answers_at_once()
    {
        using var http = Client();
        var created = await CallAsync(http, "create_session", new JsonObject());
        var id = created.GetProperty("structuredContent").GetProperty("session_id").GetString()!;
        try
        {
            using (var drop = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                    CallAsync(http, "execute", new JsonObject { ["session_id"] = id, ["code"] = "import time\ntime.sleep(60)" }, drop.Token));
            }
            var clock = Stopwatch.StartNew();
            var after = await CallAsync(http, "execute", new JsonObject { ["session_id"] = id, ["code"] = "print('after')" });

            Assert.Equal("after\n", after.GetProperty("structuredContent").GetProperty("stdout").GetString());
            Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(8));
            Assert.Contains($"MCP tool execute (session {id}) cancelled by its client", fixture.Server.Log, StringComparison.Ordinal);
        }
        finally
        {
            await CallAsync(http, "close_session", new JsonObject { ["session_id"] = id });
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Get_and_delete_on_the_stateless_endpoint_answer_405_with_a_json_rpc_error()
    {
        using var http = Client();
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Delete })
        {
            using var response = await http.SendAsync(new HttpRequestMessage(method, "mcp"));

            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Equal("POST", response.Content.Headers.Allow.Single());
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Contains("stateless", body.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task A_post_that_does_not_accept_an_event_stream_is_refused_with_406()
    {
        using var http = Client();
        using var request = new HttpRequestMessage(HttpMethod.Post, "mcp") { Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"ping"}""", Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotAcceptable, response.StatusCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_rest_session_labelled_mcp_client_counts_against_no_other_keys_cap_nor_shows_in_its_list()
    {
        using var a = Client(McpServerFixture.KeyA);
        using var b = Client(McpServerFixture.KeyB);
        // The label the MCP tools once trusted as the owner, naming B.
        using var planted = await a.PostAsync("v1/sessions", new StringContent(
            new JsonObject { ["labels"] = new JsonObject { ["mcp.client"] = "key " + Cordon.Server.ApiKeys.KeyId(McpServerFixture.KeyB) } }.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, planted.StatusCode);
        var plantedId = JsonDocument.Parse(await planted.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        var mine = new List<string>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var created = await CallAsync(b, "create_session", new JsonObject());
                Assert.False(created.TryGetProperty("isError", out var error) && error.GetBoolean(), created.ToString());
                mine.Add(created.GetProperty("structuredContent").GetProperty("session_id").GetString()!);
            }
            var third = await CallAsync(b, "create_session", new JsonObject());
            Assert.Equal("session_limit_reached", third.GetProperty("structuredContent").GetProperty("error").GetString());

            var listed = await CallAsync(b, "list_sessions", new JsonObject());
            Assert.Equal(mine.Order(), listed.GetProperty("structuredContent").GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetString()!).Order());
            // A's own REST session is A's over MCP too, whatever its labels say.
            var aListed = await CallAsync(a, "list_sessions", new JsonObject());
            Assert.Equal([plantedId], aListed.GetProperty("structuredContent").GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetString()!));
        }
        finally
        {
            foreach (var id in mine) await CallAsync(b, "close_session", new JsonObject { ["session_id"] = id });
            Assert.Equal(HttpStatusCode.NoContent, (await a.DeleteAsync($"v1/sessions/{plantedId}")).StatusCode);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task A_cancel_notification_stops_only_the_call_of_its_own_key_with_that_id()
    {
        using var a = Client(McpServerFixture.KeyA);
        using var b = Client(McpServerFixture.KeyB);
        var id = (await CallAsync(a, "create_session", new JsonObject())).GetProperty("structuredContent").GetProperty("session_id").GetString()!;
        try
        {
            // B cancels "its" call 7 while A's call 7 runs: A's runs on.
            var call = CallAsync(a, "execute", new JsonObject { ["session_id"] = id, ["code"] = "import time\nopen('started', 'w').close()\ntime.sleep(2)\nprint('done')" }, requestId: 7);
            await WaitForFileAsync(a, id, "started");
            Assert.Equal(HttpStatusCode.Accepted, (await CancelAsync(b, 7)).StatusCode);
            var result = await call;
            Assert.Equal("done\n", result.GetProperty("structuredContent").GetProperty("stdout").GetString());

            // A cancels its own call 8: it ends without a result and the session is free at once.
            var cancelled = PostAsync(a, ToolCall(8, "execute", new JsonObject { ["session_id"] = id, ["code"] = "import time\nopen('again', 'w').close()\ntime.sleep(60)" }));
            await WaitForFileAsync(a, id, "again");
            Assert.Equal(HttpStatusCode.Accepted, (await CancelAsync(a, 8)).StatusCode);
            Assert.DoesNotContain("\"result\"", await cancelled, StringComparison.Ordinal);
            var after = await CallAsync(a, "execute", new JsonObject { ["session_id"] = id, ["code"] = "print('after')" });
            Assert.Equal("after\n", after.GetProperty("structuredContent").GetProperty("stdout").GetString());
        }
        finally
        {
            await CallAsync(a, "close_session", new JsonObject { ["session_id"] = id });
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task A_second_call_reusing_an_id_in_flight_is_served_and_a_cancel_reaches_only_the_first()
    {
        using var a = Client(McpServerFixture.KeyA);
        var first = (await CallAsync(a, "create_session", new JsonObject())).GetProperty("structuredContent").GetProperty("session_id").GetString()!;
        var second = (await CallAsync(a, "create_session", new JsonObject())).GetProperty("structuredContent").GetProperty("session_id").GetString()!;
        try
        {
            var cancelled = PostAsync(a, ToolCall(5, "execute", new JsonObject { ["session_id"] = first, ["code"] = "import time\nopen('started', 'w').close()\ntime.sleep(60)" }));
            await WaitForFileAsync(a, first, "started");
            var served = PostAsync(a, ToolCall(5, "execute", new JsonObject { ["session_id"] = second, ["code"] = "import time\nopen('started', 'w').close()\ntime.sleep(3)\nprint('served')" }));
            await WaitForFileAsync(a, second, "started");

            Assert.Equal(HttpStatusCode.Accepted, (await CancelAsync(a, 5)).StatusCode);
            Assert.DoesNotContain("\"result\"", await cancelled, StringComparison.Ordinal);
            // With the first gone, the id names no call it can cancel: the second was never registered under it.
            Assert.Equal(HttpStatusCode.Accepted, (await CancelAsync(a, 5)).StatusCode);
            Assert.Contains("served\\n", await served, StringComparison.Ordinal);
        }
        finally
        {
            await CallAsync(a, "close_session", new JsonObject { ["session_id"] = first });
            await CallAsync(a, "close_session", new JsonObject { ["session_id"] = second });
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task An_execute_that_created_its_session_and_is_cancelled_closes_that_session()
    {
        using var a = Client(McpServerFixture.KeyA);
        var cancelled = PostAsync(a, ToolCall(9, "execute", new JsonObject { ["code"] = "import time\nopen('started', 'w').close()\ntime.sleep(60)" }));
        // The client never learns the new session's id, but the same key sees it over REST.
        string? id = null;
        while (id is null)
        {
            using var listed = JsonDocument.Parse(await a.GetStringAsync("v1/sessions"));
            id = listed.RootElement.EnumerateArray().Select(s => s.GetProperty("id").GetString()).SingleOrDefault();
            if (id is null) await Task.Delay(50);
        }
        await WaitForFileAsync(a, id, "started");

        Assert.Equal(HttpStatusCode.Accepted, (await CancelAsync(a, 9)).StatusCode);
        Assert.DoesNotContain("\"result\"", await cancelled, StringComparison.Ordinal);

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (JsonDocument.Parse(await a.GetStringAsync("v1/sessions")).RootElement.GetArrayLength() > 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(0, JsonDocument.Parse(await a.GetStringAsync("v1/sessions")).RootElement.GetArrayLength());
        Assert.Equal(HttpStatusCode.NotFound, (await a.GetAsync($"v1/sessions/{id}")).StatusCode);
        Assert.Contains($"MCP session {id} of key {Cordon.Server.ApiKeys.KeyId(McpServerFixture.KeyA)} closed: the execute call that created it ended without a result", fixture.Server.Log, StringComparison.Ordinal);
    }

    private HttpClient Client(string key = McpServerFixture.KeyA)
    {
        var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress, Timeout = TimeSpan.FromSeconds(100) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return http;
    }

    private static JsonObject ToolCall(int id, string tool, JsonObject arguments) => new()
    {
        ["jsonrpc"] = "2.0",
        ["id"] = id,
        ["method"] = "tools/call",
        ["params"] = new JsonObject { ["name"] = tool, ["arguments"] = arguments },
    };

    /// <summary>One tools/call POST; the answer is an event stream whose message event holds the JSON-RPC result.</summary>
    private static async Task<JsonElement> CallAsync(HttpClient http, string tool, JsonObject arguments, CancellationToken cancellationToken = default, int requestId = 1)
    {
        var body = await PostAsync(http, ToolCall(requestId, tool, arguments), cancellationToken);
        var data = body.Split('\n').Single(l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..];
        using var document = JsonDocument.Parse(data);
        return document.RootElement.GetProperty("result").Clone();
    }

    /// <summary>POSTs a JSON-RPC message and returns the whole answer (an event stream) once it ends.</summary>
    private static async Task<string> PostAsync(HttpClient http, JsonObject message, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "mcp") { Content = new StringContent(message.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    private static async Task<HttpResponseMessage> CancelAsync(HttpClient http, int requestId)
    {
        var message = new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["method"] = "notifications/cancelled",
            ["params"] = new JsonObject { ["requestId"] = requestId, ["reason"] = "test" },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "mcp") { Content = new StringContent(message.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        return await http.SendAsync(request);
    }

    /// <summary>Waits until the session's workspace has the file (the cell got that far), read over REST with the same key.</summary>
    private static async Task WaitForFileAsync(HttpClient http, string session, string file)
    {
        while (true)
        {
            using var response = await http.GetAsync($"v1/sessions/{session}/files/{file}");
            if (response.StatusCode == HttpStatusCode.OK) return;
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            await Task.Delay(50);
        }
    }
}
