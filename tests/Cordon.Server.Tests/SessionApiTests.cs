using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Cordon.Server.Tests;

/// <summary>/v1/sessions through HTTP, each test with real jails.</summary>
public sealed class SessionApiTests : IAsyncLifetime
{
    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact(Timeout = 120000)]
    public async Task Full_lifecycle_create_get_list_cell_restart_delete()
    {
        var created = await SendAsync(HttpMethod.Post, "/v1/sessions", Json(new JsonObject
        {
            ["labels"] = new JsonObject { ["owner"] = "tests" },
            ["idle_timeout_seconds"] = 300,
            ["limits"] = new JsonObject { ["memory_bytes"] = 256L * 1024 * 1024, ["processes"] = 32 },
        }));
        var session = await created.JsonAsync();
        Assert.Equal(201, (int)created.StatusCode);
        var id = (string)session["id"]!;
        Assert.Equal($"/v1/sessions/{id}", created.Headers.Location?.OriginalString);
        Assert.Equal(["id", "languages", "labels", "created_at", "last_used_at", "expires_at", "cells"], session.AsObject().Select(p => p.Key));
        Assert.Equal(["python"], session["languages"]!.AsArray().Select(l => (string)l!));
        Assert.Equal("tests", (string)session["labels"]!["owner"]!);
        Assert.Equal(0, (int)session["cells"]!);
        Assert.True(DateTimeOffset.Parse((string)session["expires_at"]!) > DateTimeOffset.Parse((string)session["created_at"]!));
        Assert.Contains(_app.Logs.Events, e => e.Id.Id == 3201 && e.Message.Contains(id, StringComparison.Ordinal));

        var cell = await CellAsync(id, "x = 20\nprint('hi')\nx + 1");
        Assert.Equal(["cell", "verdict", "stdout", "stderr", "output_truncated", "value", "error", "timed_out", "kernel_restarted", "reloaded", "duration_ms", "cpu_time_ms", "memory_bytes", "outputs"],
            cell.AsObject().Select(p => p.Key));
        Assert.Equal(1, (int)cell["cell"]!);
        Assert.Equal("ok", (string)cell["verdict"]!);
        Assert.True((long)cell["memory_bytes"]! > 0);
        Assert.Equal("hi\n", (string)cell["stdout"]!);
        Assert.Equal("21", (string)cell["value"]!);
        Assert.Null(cell["error"]);
        Assert.False((bool)cell["timed_out"]!);
        Assert.True((double)cell["duration_ms"]! >= 0);

        var got = await (await SendAsync(HttpMethod.Get, $"/v1/sessions/{id}")).JsonAsync();
        Assert.Equal(1, (int)got["cells"]!);
        var listed = await (await SendAsync(HttpMethod.Get, "/v1/sessions")).JsonAsync();
        Assert.Contains(listed.AsArray(), s => (string)s!["id"]! == id);

        Assert.Equal(204, (int)(await SendAsync(HttpMethod.Post, $"/v1/sessions/{id}/kernel/restart")).StatusCode);
        var after = await CellAsync(id, "'x' in globals()");
        Assert.Equal("False", (string)after["value"]!);

        Assert.Equal(204, (int)(await SendAsync(HttpMethod.Delete, $"/v1/sessions/{id}")).StatusCode);
        var listedAfter = await (await SendAsync(HttpMethod.Get, "/v1/sessions")).JsonAsync();
        Assert.DoesNotContain(listedAfter.AsArray(), s => (string)s!["id"]! == id);
    }

    [Fact(Timeout = 60000)]
    public async Task Cells_keep_state_and_a_traceback_names_the_session_and_cell()
    {
        var id = await CreateAsync();
        await CellAsync(id, "def f():\n    return 1 / 0\nkept = 41");
        var failed = await CellAsync(id, "kept += 1\nf()");
        var error = failed["error"]!;
        Assert.Equal("ZeroDivisionError", (string)error["type"]!);
        Assert.Equal("division by zero", (string)error["message"]!);
        var traceback = (string)error["traceback"]!;
        Assert.Contains($"File \"<cordon session={id} cell=2>\", line 2", traceback, StringComparison.Ordinal);
        Assert.Contains($"File \"<cordon session={id} cell=1>\", line 2, in f", traceback, StringComparison.Ordinal);
        Assert.Equal("42", (string)(await CellAsync(id, "kept"))["value"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Uploaded_module_is_imported_and_a_change_is_hot_reloaded()
    {
        var id = await CreateAsync();
        Assert.Equal(201, (int)(await PutAsync(id, "helpers.py", "VALUE = 1\n")).StatusCode);
        Assert.Equal(201, (int)(await PutAsync(id, "pkg/__init__.py", "")).StatusCode);
        Assert.Equal(201, (int)(await PutAsync(id, "pkg/sub.py", "DEPTH = 'sub'\n")).StatusCode);
        var first = await CellAsync(id, "import helpers, pkg.sub\n(helpers.VALUE, pkg.sub.DEPTH)");
        Assert.Equal("(1, 'sub')", (string)first["value"]!);

        Assert.Equal(204, (int)(await PutAsync(id, "helpers.py", "VALUE = 2\n")).StatusCode);
        var second = await CellAsync(id, "import helpers\nhelpers.VALUE");
        Assert.Equal("2", (string)second["value"]!);
        Assert.Equal(["helpers"], second["reloaded"]!.AsArray().Select(m => (string)m!));

        var listing = await (await SendAsync(HttpMethod.Get, $"/v1/sessions/{id}/files")).JsonAsync();
        Assert.Equal(["helpers.py", "pkg/__init__.py", "pkg/sub.py"], listing.AsArray().Select(p => (string)p!).Where(p => !p.Contains("__pycache__", StringComparison.Ordinal)));
    }

    [Fact(Timeout = 90000)]
    public async Task Two_sessions_with_different_helpers_each_see_their_own()
    {
        var ids = await Task.WhenAll(CreateAsync(), CreateAsync());
        await Task.WhenAll(ids.Select((id, i) => PutAsync(id, "helpers.py", $"WHO = 'session-{i}'\n")));
        var results = await Task.WhenAll(ids.Select(id => CellAsync(id, "import helpers\n(helpers.WHO, helpers.__file__)")));
        Assert.Equal("('session-0', '/work/helpers.py')", (string)results[0]["value"]!);
        Assert.Equal("('session-1', '/work/helpers.py')", (string)results[1]["value"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Files_are_binary_safe_and_can_be_deleted_and_folders_made()
    {
        var id = await CreateAsync();
        var bytes = Enumerable.Range(0, 256).Select(b => (byte)b).Concat(Encoding.UTF8.GetBytes("\r\n\0é")).ToArray();
        var put = new HttpRequestMessage(HttpMethod.Put, $"/v1/sessions/{id}/files/data/blob.bin") { Content = new ByteArrayContent(bytes) };
        put.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        Assert.Equal(201, (int)(await _app.Client.SendAsync(put)).StatusCode);

        var get = await SendAsync(HttpMethod.Get, $"/v1/sessions/{id}/files/data/blob.bin");
        Assert.Equal(200, (int)get.StatusCode);
        Assert.Equal("application/octet-stream", get.Content.Headers.ContentType?.MediaType);
        Assert.Equal(bytes, await get.Content.ReadAsByteArrayAsync());
        Assert.Equal("True", (string)(await CellAsync(id, "open('data/blob.bin', 'rb').read() == bytes(range(256)) + '\\r\\n\\x00é'.encode()"))["value"]!);

        Assert.Equal(201, (int)(await SendAsync(HttpMethod.Post, $"/v1/sessions/{id}/directories/out/deep")).StatusCode);
        Assert.Equal("True", (string)(await CellAsync(id, "import os\nos.path.isdir('out/deep')"))["value"]!);

        Assert.Equal(204, (int)(await SendAsync(HttpMethod.Delete, $"/v1/sessions/{id}/files/data/blob.bin")).StatusCode);
        var missing = await (await SendAsync(HttpMethod.Get, $"/v1/sessions/{id}/files/data/blob.bin")).ProblemAsync(404);
        Assert.Equal("file_not_found", (string)missing["code"]!);
        var deleteMissing = await (await SendAsync(HttpMethod.Delete, $"/v1/sessions/{id}/files/data/blob.bin")).ProblemAsync(404);
        Assert.Equal("file_not_found", (string)deleteMissing["code"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Bad_file_names_links_and_fifos_are_refused_with_400()
    {
        var id = await CreateAsync();
        foreach (var path in new[] { "..%2Fescape.py", "a/..%2F..%2Fescape.py", "%2Fetc%2Fpasswd" })
        {
            var problem = await (await PutAsync(id, path, "x")).ProblemAsync(400);
            Assert.Equal("unsafe_path", (string)problem["code"]!);
        }
        await CellAsync(id, "import os\nos.symlink('/etc/passwd', 'link')\nos.mkfifo('fifo')");
        foreach (var name in new[] { "link", "fifo" })
        {
            var read = await (await SendAsync(HttpMethod.Get, $"/v1/sessions/{id}/files/{name}")).ProblemAsync(400);
            Assert.Equal("unsafe_path", (string)read["code"]!);
            var write = await (await PutAsync(id, name, "x")).ProblemAsync(400);
            Assert.Equal("unsafe_path", (string)write["code"]!);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_deleted_or_unknown_session_is_404_session_not_found_everywhere()
    {
        var id = await CreateAsync();
        Assert.Equal(204, (int)(await SendAsync(HttpMethod.Delete, $"/v1/sessions/{id}")).StatusCode);
        var calls = new (HttpMethod Method, string Path, HttpContent? Content)[]
        {
            (HttpMethod.Get, $"/v1/sessions/{id}", null),
            (HttpMethod.Delete, $"/v1/sessions/{id}", null),
            (HttpMethod.Post, $"/v1/sessions/{id}/cells", Json(new JsonObject { ["code"] = "1" })),
            (HttpMethod.Post, $"/v1/sessions/{id}/kernel/restart", null),
            (HttpMethod.Get, $"/v1/sessions/{id}/files", null),
            (HttpMethod.Put, $"/v1/sessions/{id}/files/a.py", new StringContent("x")),
            (HttpMethod.Get, $"/v1/sessions/{id}/files/a.py", null),
            (HttpMethod.Delete, $"/v1/sessions/{id}/files/a.py", null),
            (HttpMethod.Post, $"/v1/sessions/{id}/directories/d", null),
            (HttpMethod.Get, "/v1/sessions/s000000000000000000000000", null),
        };
        foreach (var (method, path, content) in calls)
        {
            var problem = await (await SendAsync(method, path, content)).ProblemAsync(404);
            Assert.Equal("session_not_found", (string)problem["code"]!);
            Assert.Contains("not found or expired", (string)problem["detail"]!, StringComparison.Ordinal);
            Assert.Contains("Create a new session", (string)problem["detail"]!, StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Unknown_fields_and_wrong_types_are_400_listing_each_problem()
    {
        var session = await (await SendAsync(HttpMethod.Post, "/v1/sessions", new StringContent(
            """{"languages": "python", "idle_timeout": 5, "limits": {"memory_bytes": "big", "wall_time_ms": 1}, "labels": {"a": 1}, "network": "yes"}""",
            Encoding.UTF8, "application/json"))).ProblemAsync(400);
        Assert.Equal("invalid_request", (string)session["code"]!);
        var errors = session.Errors();
        Assert.Contains("languages: expected an array", errors);
        Assert.Contains("idle_timeout: unknown field (did you mean idle_timeout_seconds?)", errors);
        Assert.Contains("limits.memory_bytes: expected a number", errors);
        Assert.Contains("limits.wall_time_ms: unknown field", errors);
        Assert.Contains("labels.a: expected a string", errors);
        Assert.Contains("network: expected true or false", errors);
        Assert.Equal(6, errors.Count);

        var id = await CreateAsync();
        var cell = await (await SendAsync(HttpMethod.Post, $"/v1/sessions/{id}/cells", new StringContent(
            """{"source": "1", "timeout_ms": -1, "language": 3}""", Encoding.UTF8, "application/json"))).ProblemAsync(400);
        Assert.Equal(["source: unknown field", "timeout_ms: must be between 1 and 86400000", "language: expected a string", "code: required string"], cell.Errors());

        var above = await (await SendAsync(HttpMethod.Post, "/v1/sessions", Json(new JsonObject
        {
            ["languages"] = new JsonArray("cobol"),
            ["limits"] = new JsonObject { ["memory_bytes"] = 1L << 40 },
        }))).ProblemAsync(400);
        Assert.Contains(above.Errors(), e => e.StartsWith("limits.memory_bytes: 1099511627776 is above the maximum", StringComparison.Ordinal));
        Assert.Contains(above.Errors(), e => e.Contains("'cobol'", StringComparison.Ordinal));
    }

    [Fact(Timeout = 60000)]
    public async Task With_an_api_key_configured_sessions_need_it()
    {
        const string key = "session-test-key-0123456789";
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ApiKeys:0"] = key });
        var anonymous = await app.Client.PostAsync("/v1/sessions", null);
        Assert.Equal("unauthorized", (string)(await anonymous.ProblemAsync(401))["code"]!);
        Assert.Equal(401, (int)(await app.GetAsync("/v1/sessions")).StatusCode);
        Assert.Equal(401, (int)(await app.GetAsync("/v1/sessions/s0/files/a.py")).StatusCode);
        Assert.Equal(0, app.EngineService.Engine.Sessions.Count);

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/sessions");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var created = await app.Client.SendAsync(request);
        Assert.Equal(201, (int)created.StatusCode);
        var id = (string)(await created.JsonAsync())["id"]!;
        Assert.Equal(200, (int)(await app.GetAsync($"/v1/sessions/{id}", key)).StatusCode);
        Assert.Equal(401, (int)(await app.GetAsync($"/v1/sessions/{id}")).StatusCode);
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content = null) =>
        _app.Client.SendAsync(new HttpRequestMessage(method, path) { Content = content });

    private Task<HttpResponseMessage> PutAsync(string id, string path, string content) =>
        SendAsync(HttpMethod.Put, $"/v1/sessions/{id}/files/{path}", new StringContent(content));

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");

    private async Task<string> CreateAsync()
    {
        var response = await SendAsync(HttpMethod.Post, "/v1/sessions", Json(new JsonObject()));
        var body = await response.JsonAsync();
        Assert.True((int)response.StatusCode == 201, body.ToJsonString());
        return (string)body["id"]!;
    }

    private async Task<JsonNode> CellAsync(string id, string code)
    {
        var response = await SendAsync(HttpMethod.Post, $"/v1/sessions/{id}/cells", Json(new JsonObject { ["code"] = code }));
        var body = await response.JsonAsync();
        Assert.True((int)response.StatusCode == 200, body.ToJsonString());
        return body;
    }
}
