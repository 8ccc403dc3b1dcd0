using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Cordon.Mcp.FunctionalTests;

/// <summary>
/// An agent on the official TypeScript SDK drives Cordon over both transports: <c>cordon mcp</c> on stdio and
/// <c>cordon serve</c>'s /mcp over streamable HTTP.
/// </summary>
[Collection(McpCollection.Name)]
public sealed class McpAgentTests(McpServerFixture fixture)
{
    private static readonly string[] ToolNames =
    [
        "run_code", "create_session", "list_sessions", "close_session", "execute", "run_command", "get_command_output",
        "kill_command", "write_file", "read_file", "list_files", "list_runtimes",
    ];

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task Tools_list_names_every_tool_with_a_description_an_object_schema_and_annotations(string transport)
    {
        var tools = (await fixture.RunAsync(transport, "tools")).GetProperty("tools").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);

        Assert.Equal(ToolNames.Order(), tools.Keys.Order());
        foreach (var (name, tool) in tools)
        {
            Assert.True(tool.GetProperty("description").GetString()!.Length > 40, $"{name} has a real description");
            Assert.Equal("object", tool.GetProperty("inputSchema").GetProperty("type").GetString());
            var annotations = tool.GetProperty("annotations");
            Assert.Equal(JsonValueKind.False, annotations.GetProperty("openWorldHint").ValueKind);
            Assert.True(annotations.TryGetProperty("readOnlyHint", out _) && annotations.TryGetProperty("destructiveHint", out _), $"{name} says whether it reads or destroys");
        }
        Assert.True(tools["list_sessions"].GetProperty("annotations").GetProperty("readOnlyHint").GetBoolean());
        Assert.True(tools["close_session"].GetProperty("annotations").GetProperty("destructiveHint").GetBoolean());
        Assert.False(tools["run_code"].GetProperty("annotations").GetProperty("readOnlyHint").GetBoolean());
        Assert.Equal(["language", "code"], tools["run_code"].GetProperty("inputSchema").GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["code"], tools["execute"].GetProperty("inputSchema").GetProperty("required").EnumerateArray().Select(e => e.GetString()));
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task Run_code_runs_python_javascript_c_and_bash_and_a_failing_program_is_a_normal_result(string transport)
    {
        var results = await fixture.RunAsync(transport, "languages");

        foreach (var (language, expected) in new[] { ("python", "hello from python 3\n"), ("javascript", "hello from javascript 42\n"), ("c", "hello from c 42\n"), ("bash", "hello from bash 42\n") })
        {
            var result = results.GetProperty(language);
            Assert.False(result.GetProperty("isError").GetBoolean(), language);
            var structured = result.GetProperty("structured");
            Assert.Equal("ok", structured.GetProperty("verdict").GetString());
            Assert.Equal(expected, structured.GetProperty("run").GetProperty("stdout").GetString());
            Assert.True(structured.GetProperty("run").GetProperty("usage").GetProperty("wall_time_ms").GetInt64() >= 0);
            Assert.Contains(expected.TrimEnd(), result.GetProperty("text").GetString(), StringComparison.Ordinal);
        }
        var failing = results.GetProperty("failing");
        Assert.False(failing.GetProperty("isError").GetBoolean());
        Assert.Equal("runtime_error", failing.GetProperty("structured").GetProperty("verdict").GetString());
        Assert.Equal(3, failing.GetProperty("structured").GetProperty("run").GetProperty("exit_code").GetInt32());
        Assert.Equal("partial\n", failing.GetProperty("structured").GetProperty("run").GetProperty("stdout").GetString());
        Assert.Equal("SHOUT\n", results.GetProperty("stdin").GetProperty("structured").GetProperty("run").GetProperty("stdout").GetString());
        Assert.Equal("42\n", results.GetProperty("files").GetProperty("structured").GetProperty("run").GetProperty("stdout").GetString());
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task Execute_keeps_state_across_calls_in_the_session_it_created_and_the_session_tools_work_on_it(string transport)
    {
        var r = await fixture.RunAsync(transport, "state");

        var first = r.GetProperty("first").GetProperty("structured");
        Assert.True(first.GetProperty("session_created").GetBoolean());
        var id = first.GetProperty("session_id").GetString()!;
        Assert.Contains(id, r.GetProperty("first").GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("42.0", Structured(r, "second").GetProperty("value").GetString());
        Assert.False(Structured(r, "second").GetProperty("session_created").GetBoolean());
        Assert.Equal("ok", Structured(r, "second").GetProperty("verdict").GetString());
        Assert.True(Structured(r, "second").GetProperty("memory_bytes").GetInt64() > 0, "execute reports the session's memory");
        Assert.True(Structured(r, "second").GetProperty("cpu_time_ms").GetDouble() >= 0);
        // The cell's own exception is a result, and the state survives it.
        Assert.False(r.GetProperty("error").GetProperty("isError").GetBoolean());
        Assert.Equal("ZeroDivisionError", Structured(r, "error").GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("error", Structured(r, "error").GetProperty("verdict").GetString());
        Assert.Equal("42", Structured(r, "third").GetProperty("value").GetString());
        Assert.Equal("2", Structured(r, "lines").GetProperty("value").GetString());
        Assert.Equal(4, Structured(r, "command").GetProperty("exit_code").GetInt32());
        Assert.Equal("2 data/in.txt\n", Structured(r, "command").GetProperty("stdout").GetString());
        Assert.Equal("oops\n", Structured(r, "command").GetProperty("stderr").GetString());
        Assert.True(Structured(r, "background").GetProperty("running").GetBoolean());
        Assert.False(Structured(r, "output").GetProperty("running").GetBoolean());
        Assert.Equal("tick 1\ntick 2\ntick 3\n", Structured(r, "output").GetProperty("stdout").GetString());
        Assert.Equal(["data/in.txt"], Structured(r, "files").GetProperty("files").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal("line one\nline two\n", Structured(r, "read").GetProperty("content").GetString());
        Assert.Contains(id, Structured(r, "listed").GetProperty("sessions").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.True(Structured(r, "closed").GetProperty("closed").GetBoolean());
        Assert.True(r.GetProperty("after").GetProperty("isError").GetBoolean(), "a closed session is gone");
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task Execute_in_javascript_keeps_state_with_top_level_await_and_shares_the_workspace_with_python(string transport)
    {
        var r = await fixture.RunAsync(transport, "javascript");

        Assert.True(Structured(r, "first").GetProperty("session_created").GetBoolean());
        Assert.Equal("set 20\n", Structured(r, "first").GetProperty("stdout").GetString());
        Assert.Equal("21", Structured(r, "second").GetProperty("value").GetString());
        // A thrown error is the cell's result, not a failure of the call.
        Assert.False(r.GetProperty("thrown").GetProperty("isError").GetBoolean());
        Assert.Equal("TypeError", Structured(r, "thrown").GetProperty("error").GetProperty("type").GetString());
        // A session created for javascript has no python kernel, and the agent is told so.
        Assert.True(r.GetProperty("python").GetProperty("isError").GetBoolean());
        Assert.Contains("javascript", r.GetProperty("python").GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("'from python'", Structured(r, "js").GetProperty("value").GetString());
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task A_plot_comes_back_as_a_png_image_block_downscaled_to_the_largest_side(string transport)
    {
        var r = await fixture.RunAsync(transport, "plot");

        Assert.False(r.GetProperty("isError").GetBoolean(), r.GetProperty("text").GetString());
        Assert.Equal(1, r.GetProperty("structured").GetProperty("images").GetInt32());
        var image = Assert.Single(r.GetProperty("images").EnumerateArray());
        Assert.Equal("image/png", image.GetProperty("mimeType").GetString());
        Assert.True(image.GetProperty("signature").GetBoolean());
        // Drawn 3000 x 2000 at 100 dpi; the default MaxImageSide is 1024.
        Assert.Equal(1024, image.GetProperty("width").GetInt32());
        Assert.InRange(image.GetProperty("height").GetInt32(), 600, 700);
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task A_call_past_its_timeout_is_a_normal_result_that_says_so_with_the_output_so_far(string transport)
    {
        var r = await fixture.RunAsync(transport, "timeout");

        var cell = r.GetProperty("cell");
        Assert.False(cell.GetProperty("isError").GetBoolean());
        Assert.True(cell.GetProperty("structured").GetProperty("timed_out").GetBoolean());
        Assert.Equal("before\n", cell.GetProperty("structured").GetProperty("stdout").GetString());
        Assert.Contains("timed out", cell.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("still alive\n", Structured(r, "after").GetProperty("stdout").GetString());
        var run = Structured(r, "run");
        Assert.False(r.GetProperty("run").GetProperty("isError").GetBoolean());
        Assert.Equal("timeout", run.GetProperty("verdict").GetString());
        Assert.Equal("spinning\n", run.GetProperty("run").GetProperty("stdout").GetString());
        var command = Structured(r, "command");
        Assert.True(command.GetProperty("timed_out").GetBoolean());
        Assert.Equal("start\n", command.GetProperty("stdout").GetString());
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task A_long_cell_sends_progress_notifications_to_a_client_that_sent_a_progress_token(string transport)
    {
        var r = await fixture.RunAsync(transport, "progress");

        Assert.Equal("slept\n", r.GetProperty("structured").GetProperty("stdout").GetString());
        var progress = r.GetProperty("progress").EnumerateArray().Select(p => p.GetProperty("progress").GetDouble()).ToList();
        Assert.InRange(progress.Count, 1, 3);
        Assert.Equal(progress.Order(), progress);
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task Cancelling_a_cell_returns_at_once_and_interrupts_it_so_the_session_answers_the_next_cell_with_its_state(string transport)
    {
        var cancelsBefore = CancelNotices();
        var r = await fixture.RunAsync(transport, "cancel-cell");

        // Over stateless HTTP the client's notifications/cancelled comes in a POST of its own and still finds the call.
        if (transport == "http") Assert.Equal(cancelsBefore + 1, CancelNotices());
        var cancelled = r.GetProperty("cancelled");
        Assert.True(cancelled.GetProperty("rejected").GetBoolean());
        Assert.InRange(cancelled.GetProperty("elapsedMs").GetDouble(), 1900, 5000);
        // Had the 60 s sleep gone on, the next cell would wait for it.
        Assert.Equal("42", Structured(r, "after").GetProperty("value").GetString());
        Assert.InRange(r.GetProperty("afterMs").GetDouble(), 0, 5000);
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task Cancelling_a_run_returns_at_once_and_kills_its_jail(string transport) =>
        await CancelSleepAsync(transport, "cancel-run");

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task Cancelling_a_foreground_command_returns_at_once_and_kills_the_command(string transport)
    {
        var r = await CancelSleepAsync(transport, "cancel-command");

        Assert.Single(Structured(r, "listed").GetProperty("sessions").EnumerateArray());
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task A_bad_session_id_or_bad_arguments_give_a_clean_isError_that_says_what_to_do(string transport)
    {
        var r = await fixture.RunAsync(transport, "bad-session");

        foreach (var call in new[] { "execute", "files" })
        {
            Assert.True(r.GetProperty(call).GetProperty("isError").GetBoolean());
            Assert.Equal("session_not_found", Structured(r, call).GetProperty("error").GetString());
            Assert.Contains("create_session", r.GetProperty(call).GetProperty("text").GetString(), StringComparison.Ordinal);
        }
        Assert.True(r.GetProperty("args").GetProperty("isError").GetBoolean());
        Assert.Equal(["code: expected a string", "extra: this tool has no such argument"],
            Structured(r, "args").GetProperty("errors").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("unknown_runtime", Structured(r, "language").GetProperty("error").GetString());
        Assert.Contains("list_runtimes", r.GetProperty("language").GetProperty("text").GetString(), StringComparison.Ordinal);
        // The server's run limit is 10 s; longer work belongs in a session.
        Assert.Equal(["timeout_seconds: a one-shot run may take at most 10 s on this server; for longer work use execute or run_command in a session"],
            Structured(r, "tooLong").GetProperty("errors").EnumerateArray().Select(e => e.GetString()));
    }

    [Theory(Timeout = 300_000)]
    [InlineData("stdio")]
    [InlineData("http")]
    public async Task A_client_may_keep_only_MaxSessionsPerClient_sessions(string transport)
    {
        var r = await fixture.RunAsync(transport, "cap");

        var results = r.GetProperty("results").EnumerateArray().ToList();
        Assert.False(results[0].GetProperty("isError").GetBoolean());
        Assert.False(results[1].GetProperty("isError").GetBoolean());
        Assert.True(results[2].GetProperty("isError").GetBoolean());
        Assert.Equal("session_limit_reached", results[2].GetProperty("structured").GetProperty("error").GetString());
        Assert.Contains("close_session", results[2].GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, r.GetProperty("listed").GetProperty("structured").GetProperty("sessions").GetArrayLength());
    }

    [Fact(Timeout = 300_000)]
    public async Task Over_http_a_session_of_another_api_key_is_not_found_and_not_listed()
    {
        var created = await fixture.RunAsync("http", "create-session", apiKey: McpServerFixture.KeyA);
        var id = created.GetProperty("structured").GetProperty("session_id").GetString()!;
        try
        {
            var other = await fixture.RunAsync("http", "use-session", id, McpServerFixture.KeyB);

            Assert.Equal("session_not_found", Structured(other, "execute").GetProperty("error").GetString());
            Assert.Equal("session_not_found", Structured(other, "close").GetProperty("error").GetString());
            Assert.Equal(0, Structured(other, "listed").GetProperty("sessions").GetArrayLength());
        }
        finally
        {
            var own = await fixture.RunAsync("http", "use-session", id, McpServerFixture.KeyA);
            Assert.True(Structured(own, "close").GetProperty("closed").GetBoolean(), "the owner can use and close it");
        }
    }

    [Fact(Timeout = 300_000)]
    public async Task When_the_stdio_client_goes_cordon_mcp_ends_and_the_sessions_it_left_open_are_gone()
    {
        var created = await fixture.RunAsync("stdio", "create-session");
        var id = created.GetProperty("structured").GetProperty("session_id").GetString()!;

        // The kernel runs as `python3 session_kernel.py ID`; the agent closed stdin without closing the session.
        await AssertGoneAsync("python3", "/opt/cordon/kernels/python/session_kernel.py\0" + id);
    }

    [Fact(Timeout = 300_000)]
    public async Task Over_http_a_client_without_an_api_key_is_refused_with_401()
    {
        var r = await fixture.RunAsync("http", "connect", apiKey: null);

        Assert.False(r.GetProperty("connected").GetBoolean());
        Assert.Equal(401, r.GetProperty("code").GetInt32());
    }

    [Fact(Timeout = 300_000)]
    public async Task Cordon_mcp_refuses_a_bad_mcp_setting_with_exit_2_and_says_which()
    {
        var start = new ProcessStartInfo("dotnet", [McpAgent.CordonDll, "mcp"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["CORDON_Mcp__CallTimeoutSeconds"] = "0";
        start.Environment["CORDON_Mcp__MaxImageSide"] = "5";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(deadline.Token);

        Assert.Equal(2, process.ExitCode);
        Assert.Equal("", await stdout);
        var error = await stderr;
        Assert.StartsWith("cordon: invalid configuration: ", error, StringComparison.Ordinal);
        Assert.Contains("Mcp.CallTimeoutSeconds", error, StringComparison.Ordinal);
        Assert.Contains("Mcp.MaxImageSide", error, StringComparison.Ordinal);
    }

    /// <summary>
    /// Plays a scenario that runs <c>sleep MARKER</c> and gives up on it after 2 s: the program ran, the call
    /// ended within a few seconds of the cancel, and the program is gone from the host.
    /// </summary>
    private async Task<JsonElement> CancelSleepAsync(string transport, string scenario)
    {
        var marker = Marker();
        using var watch = new CancellationTokenSource();
        var seen = SeenAsync("sleep", marker, watch.Token);
        var r = await fixture.RunAsync(transport, scenario, marker);
        await watch.CancelAsync();

        Assert.True(await seen, "the program ran before the cancel");
        Assert.InRange(r.GetProperty("cancelled").GetProperty("elapsedMs").GetDouble(), 1900, 5000);
        await AssertGoneAsync("sleep", marker);
        return r;
    }

    private int CancelNotices() => fixture.Server.Log.Split('\n').Count(l => l.Contains("cancelled by the client", StringComparison.Ordinal));

    private static JsonElement Structured(JsonElement results, string call) => results.GetProperty(call).GetProperty("structured");

    // A sleep length no other process on the host has, to find the program on the host afterwards.
    private static string Marker() => string.Create(CultureInfo.InvariantCulture, $"{Random.Shared.Next(61, 99)}.{Random.Shared.Next(100_000, 999_999)}");

    private static async Task AssertGoneAsync(string program, string argument)
    {
        var deadline = Stopwatch.StartNew();
        List<string> found;
        do
        {
            found = Running(program, argument);
            if (found.Count == 0) return;
            await Task.Delay(100);
        }
        while (deadline.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Fail($"'{program} {argument}' still runs 10 s after the cancel: {string.Join(", ", found)}");
    }

    /// <summary>Whether the program was seen running on the host before <paramref name="cancellationToken"/> ends the watch.</summary>
    private static async Task<bool> SeenAsync(string program, string argument, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (Running(program, argument).Count > 0) return true;
            await Task.Delay(50, CancellationToken.None);
        }
        return false;
    }

    private static List<string> Running(string program, string argument) =>
        [.. Directory.EnumerateDirectories("/proc").Where(p => int.TryParse(Path.GetFileName(p), out _)).Where(p => CommandLine(p).Contains(program + "\0" + argument, StringComparison.Ordinal))];

    private static string CommandLine(string proc)
    {
        try
        {
            return File.ReadAllText(Path.Combine(proc, "cmdline"));
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }
}
