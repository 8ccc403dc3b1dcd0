using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Cordon.Server.Tests;

/// <summary>A session belongs to the API key that created it: to every other key it does not exist.</summary>
public sealed class SessionOwnershipTests
{
    private const string KeyA = "owner-test-key-a-0123456789";
    private const string KeyB = "owner-test-key-b-0123456789";

    [Fact(Timeout = 90000)]
    public async Task Another_key_cannot_list_get_run_cells_in_read_files_of_or_delete_a_session()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ApiKeys:0"] = KeyA, ["ApiKeys:1"] = KeyB });
        var created = await SendAsync(app, HttpMethod.Post, "/v1/sessions", KeyA, Json(new JsonObject()));
        Assert.Equal(201, (int)created.StatusCode);
        var id = (string)(await created.JsonAsync())["id"]!;
        Assert.Equal(201, (int)(await SendAsync(app, HttpMethod.Put, $"/v1/sessions/{id}/files/secret.txt", KeyA, new StringContent("a's"))).StatusCode);
        Assert.Equal(200, (int)(await SendAsync(app, HttpMethod.Post, $"/v1/sessions/{id}/cells", KeyA, Json(new JsonObject { ["code"] = "x = 41" }))).StatusCode);

        Assert.Empty((await (await SendAsync(app, HttpMethod.Get, "/v1/sessions", KeyB)).JsonAsync()).AsArray());
        var missing = await (await SendAsync(app, HttpMethod.Get, "/v1/sessions/s000000000000000000000000", KeyB)).ProblemAsync(404);
        var attempts = new (HttpMethod Method, string Path, HttpContent? Content)[]
        {
            (HttpMethod.Get, "", null),
            (HttpMethod.Post, "/cells", Json(new JsonObject { ["code"] = "x = 0" })),
            (HttpMethod.Post, "/kernel/restart", null),
            (HttpMethod.Get, "/files", null),
            (HttpMethod.Get, "/files/secret.txt", null),
            (HttpMethod.Put, "/files/secret.txt", new StringContent("b's")),
            (HttpMethod.Delete, "/files/secret.txt", null),
            (HttpMethod.Post, "/commands", Json(new JsonObject { ["command"] = "rm -f secret.txt" })),
            (HttpMethod.Get, "/commands/c1", null),
            (HttpMethod.Delete, "", null),
        };
        foreach (var (method, path, content) in attempts)
        {
            var problem = await (await SendAsync(app, method, $"/v1/sessions/{id}{path}", KeyB, content)).ProblemAsync(404);
            Assert.Equal("session_not_found", (string)problem["code"]!);
            // Word for word what an unknown id gets, so a key cannot tell another's session from none.
            Assert.Equal(((string)missing["detail"]!).Replace("s000000000000000000000000", id, StringComparison.Ordinal), (string)problem["detail"]!);
        }

        // Untouched: A still has it, its file and its state.
        Assert.Equal([id], (await (await SendAsync(app, HttpMethod.Get, "/v1/sessions", KeyA)).JsonAsync()).AsArray().Select(s => (string)s!["id"]!));
        Assert.Equal("a's", await (await SendAsync(app, HttpMethod.Get, $"/v1/sessions/{id}/files/secret.txt", KeyA)).Content.ReadAsStringAsync());
        var cell = await (await SendAsync(app, HttpMethod.Post, $"/v1/sessions/{id}/cells", KeyA, Json(new JsonObject { ["code"] = "x + 1" }))).JsonAsync();
        Assert.Equal("42", (string)cell["value"]!);
        Assert.Equal(204, (int)(await SendAsync(app, HttpMethod.Delete, $"/v1/sessions/{id}", KeyA)).StatusCode);
        Assert.Equal(0, app.EngineService.Engine.Sessions.Count);
    }

    [Fact(Timeout = 60000)]
    public async Task The_owner_comes_from_the_key_and_a_body_cannot_set_it()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ApiKeys:0"] = KeyA });
        var refused = await (await SendAsync(app, HttpMethod.Post, "/v1/sessions", KeyA, Json(new JsonObject { ["owner"] = "anonymous" }))).ProblemAsync(400);
        Assert.Contains(refused.Errors(), e => e.Contains("owner", StringComparison.Ordinal));

        var created = await SendAsync(app, HttpMethod.Post, "/v1/sessions", KeyA, Json(new JsonObject { ["labels"] = new JsonObject { ["owner"] = "someone" } }));
        var id = (string)(await created.JsonAsync())["id"]!;
        try
        {
            var session = app.EngineService.Engine.Sessions.Get(id, ApiKeys.Owner(KeyA));
            Assert.Equal(ApiKeys.Owner(KeyA), session.Owner);
            Assert.Equal("someone", session.Labels["owner"]);
            // The owner is the whole hash of the key, never written to the log (which names the key's short id).
            Assert.DoesNotContain(app.Logs.Events, e => e.Message.Contains(ApiKeys.Owner(KeyA)[4..], StringComparison.Ordinal) || e.Values.Contains(ApiKeys.Owner(KeyA)[4..], StringComparison.Ordinal));
        }
        finally
        {
            await app.EngineService.Engine.Sessions.DeleteAsync(id, ApiKeys.Owner(KeyA));
        }
    }

    private static Task<HttpResponseMessage> SendAsync(TestApp app, HttpMethod method, string path, string key, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return app.Client.SendAsync(request);
    }

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");
}
