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

    private HttpClient Client()
    {
        var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress, Timeout = TimeSpan.FromSeconds(100) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", McpServerFixture.KeyA);
        return http;
    }

    /// <summary>One tools/call POST; the answer is an event stream whose message event holds the JSON-RPC result.</summary>
    private static async Task<JsonElement> CallAsync(HttpClient http, string tool, JsonObject arguments, CancellationToken cancellationToken = default)
    {
        var message = new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = 1,
            ["method"] = "tools/call",
            ["params"] = new JsonObject { ["name"] = tool, ["arguments"] = arguments },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "mcp") { Content = new StringContent(message.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var data = body.Split('\n').Single(l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..];
        using var document = JsonDocument.Parse(data);
        return document.RootElement.GetProperty("result").Clone();
    }
}
