using System.Text;
using System.Text.Json.Nodes;

namespace Cordon.Server.Tests;

/// <summary>/v1/sessions/{id}/commands through HTTP, with real jails.</summary>
public sealed class SessionCommandApiTests : IAsyncLifetime
{
    private TestApp _app = null!;
    private string _session = null!;

    public async Task InitializeAsync()
    {
        _app = await TestApp.StartAsync();
        var created = await _app.Client.PostAsync("/v1/sessions", Json(new JsonObject()));
        Assert.Equal(201, (int)created.StatusCode);
        _session = (string)(await created.JsonAsync())["id"]!;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private string Commands => $"/v1/sessions/{_session}/commands";

    [Fact(Timeout = 60000)]
    public async Task A_foreground_command_answers_its_output_and_exit_code_when_it_ends()
    {
        Assert.Equal(201, (int)(await _app.Client.PutAsync($"/v1/sessions/{_session}/files/data.txt", new StringContent("one\ntwo\n"))).StatusCode);
        var response = await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "wc -l < data.txt; echo oops >&2; exit 3" }));
        var body = await response.JsonAsync();
        Assert.True((int)response.StatusCode == 200, body.ToJsonString());
        Assert.Equal(["id", "running", "exit_code", "signal", "stdout", "stderr", "output_truncated", "timed_out", "duration_ms"],
            body.AsObject().Select(p => p.Key));
        Assert.Matches("^c[0-9]+$", (string)body["id"]!);
        Assert.False((bool)body["running"]!);
        Assert.Equal(3, (int)body["exit_code"]!);
        Assert.Null(body["signal"]);
        Assert.Equal("2\n", (string)body["stdout"]!);
        Assert.Equal("oops\n", (string)body["stderr"]!);
        Assert.False((bool)body["timed_out"]!);
        Assert.True((double)body["duration_ms"]! >= 0);
        Assert.Contains(_app.Logs.Events, e => e.Id.Id == 3205 && e.Values.Contains("SessionId=" + _session, StringComparison.Ordinal));
    }

    [Fact(Timeout = 60000)]
    public async Task A_foreground_command_past_its_timeout_is_killed_and_says_so()
    {
        var response = await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "echo start; sleep 30", ["timeout_seconds"] = 0.5 }));
        var body = await response.JsonAsync();
        Assert.Equal(200, (int)response.StatusCode);
        Assert.True((bool)body["timed_out"]!);
        Assert.Equal(9, (int)body["signal"]!);
        Assert.Null(body["exit_code"]);
        Assert.Equal("start\n", (string)body["stdout"]!);
        Assert.InRange((double)body["duration_ms"]!, 400, 20_000);
    }

    [Fact(Timeout = 60000)]
    public async Task A_background_command_is_202_with_a_location_then_readable_signalled_and_killed()
    {
        var started = await _app.Client.PostAsync(Commands, Json(new JsonObject
        {
            ["command"] = "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done",
            ["background"] = true,
        }));
        var first = await started.JsonAsync();
        Assert.True((int)started.StatusCode == 202, first.ToJsonString());
        var id = (string)first["id"]!;
        Assert.Equal($"{Commands}/{id}", started.Headers.Location?.OriginalString);
        Assert.True((bool)first["running"]!);

        // Its output so far is readable while it runs.
        JsonNode state = first;
        for (var i = 0; i < 200 && !((string)state["stdout"]!).Contains("ready", StringComparison.Ordinal); i++)
        {
            await Task.Delay(25);
            state = await (await _app.GetAsync($"{Commands}/{id}")).JsonAsync();
        }
        Assert.Equal("ready\n", (string)state["stdout"]!);
        Assert.True((bool)state["running"]!);

        var signalled = await _app.Client.PostAsync($"{Commands}/{id}/signal", Json(new JsonObject { ["signal"] = "TERM" }));
        Assert.Equal(200, (int)signalled.StatusCode);
        for (var i = 0; i < 200 && (bool)state["running"]!; i++)
        {
            await Task.Delay(25);
            state = await (await _app.GetAsync($"{Commands}/{id}")).JsonAsync();
        }
        Assert.False((bool)state["running"]!);
        Assert.Equal(7, (int)state["exit_code"]!);
        Assert.Equal("ready\ngot-term\n", (string)state["stdout"]!);
        Assert.Contains(_app.Logs.Events, e => e.Id.Id == 3206 && e.Values.Contains("SessionId=" + _session, StringComparison.Ordinal));

        // DELETE of a command that already ended leaves it as it was.
        var ended = await (await _app.Client.DeleteAsync($"{Commands}/{id}")).JsonAsync();
        Assert.Equal(7, (int)ended["exit_code"]!);
        Assert.Null(ended["signal"]);

        // DELETE kills a running one and answers its final state.
        var second = await (await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "sleep 60", ["background"] = true }))).JsonAsync();
        var killed = await _app.Client.DeleteAsync($"{Commands}/{(string)second["id"]!}");
        var final = await killed.JsonAsync();
        Assert.True((int)killed.StatusCode == 200, final.ToJsonString());
        Assert.False((bool)final["running"]!);
        Assert.Equal(9, (int)final["signal"]!);
        Assert.Contains(_app.Logs.Events, e => e.Id.Id == 3207 && e.Values.Contains("SessionId=" + _session, StringComparison.Ordinal));
    }

    [Fact(Timeout = 60000)]
    public async Task A_client_that_hangs_up_takes_its_foreground_command_with_it()
    {
        using var hangUp = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "echo started; sleep 30" }), hangUp.Token));
        JsonNode state = new JsonObject { ["running"] = true };
        for (var i = 0; i < 200 && (bool)state["running"]!; i++)
        {
            await Task.Delay(25);
            var response = await _app.GetAsync($"{Commands}/c1");
            if ((int)response.StatusCode == 200) state = await response.JsonAsync();
        }
        Assert.False((bool)state["running"]!, state.ToJsonString());
        Assert.Equal(9, (int)state["signal"]!);
        Assert.False((bool)state["timed_out"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task An_unknown_or_malformed_command_id_is_404_command_not_found()
    {
        foreach (var id in new[] { "c999", "x", "c1%0Arm%20x" })
        {
            foreach (var response in new[]
            {
                await _app.GetAsync($"{Commands}/{id}"),
                await _app.Client.DeleteAsync($"{Commands}/{id}"),
                await _app.Client.PostAsync($"{Commands}/{id}/signal", Json(new JsonObject { ["signal"] = "TERM" })),
            })
            {
                var problem = await response.ProblemAsync(404);
                Assert.Equal("command_not_found", (string)problem["code"]!);
                Assert.Equal("Command not found", (string)problem["title"]!);
                Assert.Contains("no such command", (string)problem["detail"]!, StringComparison.Ordinal);
            }
        }
        // A command of one session is not a command of another.
        var other = await (await _app.Client.PostAsync("/v1/sessions", Json(new JsonObject()))).JsonAsync();
        var mine = await (await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "sleep 30", ["background"] = true }))).JsonAsync();
        var foreign = await _app.GetAsync($"/v1/sessions/{(string)other["id"]!}/commands/{(string)mine["id"]!}");
        Assert.Equal("command_not_found", (string)(await foreign.ProblemAsync(404))["code"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Bad_command_bodies_are_400_listing_every_problem()
    {
        var shape = await (await _app.Client.PostAsync(Commands, new StringContent(
            """{"cmd": "ls", "timeout": 5, "timeout_seconds": "5", "background": 1}""", Encoding.UTF8, "application/json"))).ProblemAsync(400);
        Assert.Equal("invalid_request", (string)shape["code"]!);
        Assert.Equal(["cmd: unknown field", "timeout: unknown field (did you mean timeout_seconds?)",
            "timeout_seconds: expected a number", "background: expected true or false", "command: required string"], shape.Errors());

        var range = await (await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = " ", ["timeout_seconds"] = 0 }))).ProblemAsync(400);
        Assert.Equal(["timeout_seconds: must be between 0.001 and 86400", "command: must not be empty"], range.Errors());
        var empty = await (await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "  " }))).ProblemAsync(400);
        Assert.Equal(["command: must not be empty"], empty.Errors());
        var nul = await (await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "echo a\0b" }))).ProblemAsync(400);
        Assert.Equal(["command: must not contain NUL (\\u0000)"], nul.Errors());

        var started = await (await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "sleep 30", ["background"] = true }))).JsonAsync();
        var signal = await (await _app.Client.PostAsync($"{Commands}/{(string)started["id"]!}/signal", Json(new JsonObject { ["signal"] = "BOGUS" }))).ProblemAsync(400);
        Assert.Contains("'BOGUS' is not a signal", (string)signal["detail"]!, StringComparison.Ordinal);
        var noSignal = await (await _app.Client.PostAsync($"{Commands}/{(string)started["id"]!}/signal", Json(new JsonObject { ["signal"] = 15 }))).ProblemAsync(400);
        Assert.Equal(["signal: expected a string"], noSignal.Errors());
        var text = await _app.Client.PostAsync(Commands, new StringContent("ls"));
        Assert.Equal("unsupported_media_type", (string)(await text.ProblemAsync(415))["code"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Commands_of_a_deleted_session_are_404_session_not_found()
    {
        var started = await (await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "sleep 30", ["background"] = true }))).JsonAsync();
        Assert.Equal(204, (int)(await _app.Client.DeleteAsync($"/v1/sessions/{_session}")).StatusCode);
        foreach (var response in new[]
        {
            await _app.Client.PostAsync(Commands, Json(new JsonObject { ["command"] = "true" })),
            await _app.GetAsync($"{Commands}/{(string)started["id"]!}"),
            await _app.Client.DeleteAsync($"{Commands}/{(string)started["id"]!}"),
        })
        {
            Assert.Equal("session_not_found", (string)(await response.ProblemAsync(404))["code"]!);
        }
    }

    [Fact(Timeout = 30000)]
    public async Task The_openapi_document_describes_the_command_endpoints()
    {
        var document = await (await _app.GetAsync("/openapi/v1.json")).JsonAsync();
        var run = document["paths"]!["/v1/sessions/{id}/commands"]!["post"]!;
        Assert.Equal("RunCommand", (string)run["operationId"]!);
        Assert.NotNull(run["requestBody"]!["content"]!["application/json"]);
        Assert.NotNull(run["responses"]!["202"]);
        Assert.NotNull(run["responses"]!["404"]);
        var one = document["paths"]!["/v1/sessions/{id}/commands/{command}"]!;
        Assert.NotNull(one["get"]);
        Assert.NotNull(one["delete"]);
        Assert.NotNull(document["paths"]!["/v1/sessions/{id}/commands/{command}/signal"]!["post"]);
        var schemas = document["components"]!["schemas"]!;
        Assert.Equal(["command", "timeout_seconds", "background"], schemas["CommandRequestBody"]!["properties"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["id", "running", "exit_code", "signal", "stdout", "stderr", "output_truncated", "timed_out", "duration_ms"],
            schemas["CommandResponse"]!["properties"]!.AsObject().Select(p => p.Key));
    }

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");
}
