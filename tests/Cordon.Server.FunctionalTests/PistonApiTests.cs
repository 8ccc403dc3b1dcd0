using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cordon.Server.FunctionalTests;

/// <summary>The Piston mapping over real jails: status letters, signals, messages, files, stdin and versions.</summary>
[Collection(ServerCollection.Name)]
public sealed class PistonApiTests(ServerFixture fixture)
{
    private async Task<(HttpStatusCode Status, JsonElement Body)> ExecuteAsync(JsonObject body)
    {
        using var response = await fixture.Server.Http.PostAsync("api/v2/execute", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        return (response.StatusCode, document.RootElement.Clone());
    }

    private static JsonObject Python(string code, string version = "3.x") => new()
    {
        ["language"] = "python",
        ["version"] = version,
        ["files"] = new JsonArray(new JsonObject { ["content"] = code }),
    };

    private async Task<JsonElement> RunAsync(JsonObject body)
    {
        var (status, result) = await ExecuteAsync(body);
        Assert.True(status == HttpStatusCode.OK, result.ToString());
        return result;
    }

    [Fact(Timeout = 120_000)]
    public async Task A_memory_kill_is_SG_SIGKILL_with_a_message_naming_the_memory_limit()
    {
        var body = Python("x = bytearray(512 * 1024 * 1024)\nprint('survived')");
        body["run_memory_limit"] = 64 * 1024 * 1024;
        var run = (await RunAsync(body)).GetProperty("run");

        Assert.Equal("SG", run.GetProperty("status").GetString());
        Assert.Equal("SIGKILL", run.GetProperty("signal").GetString());
        Assert.Contains("Memory limit exceeded", run.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("67108864 bytes", run.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("", run.GetProperty("stdout").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task Too_much_stdout_is_OL_and_too_much_stderr_is_EL_both_with_SIGKILL()
    {
        var ol = (await RunAsync(Python("import sys\nwhile True: sys.stdout.write('x' * 65536)"))).GetProperty("run");
        Assert.Equal("OL", ol.GetProperty("status").GetString());
        Assert.Equal("SIGKILL", ol.GetProperty("signal").GetString());
        Assert.Equal("stdout length exceeded", ol.GetProperty("message").GetString());
        Assert.InRange(ol.GetProperty("stdout").GetString()!.Length, 1, 1024 * 1024);

        var el = (await RunAsync(Python("import sys\nwhile True: sys.stderr.write('x' * 65536)"))).GetProperty("run");
        Assert.Equal("EL", el.GetProperty("status").GetString());
        Assert.Equal("SIGKILL", el.GetProperty("signal").GetString());
        Assert.Equal("stderr length exceeded", el.GetProperty("message").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task Cpu_time_and_wall_time_limits_are_TO()
    {
        var body = Python("while True: pass");
        body["run_cpu_time"] = 300;
        var cpu = (await RunAsync(body)).GetProperty("run");
        Assert.Equal("TO", cpu.GetProperty("status").GetString());
        Assert.Equal("SIGKILL", cpu.GetProperty("signal").GetString());
        Assert.Equal("Time limit exceeded", cpu.GetProperty("message").GetString());

        body = Python("import time\ntime.sleep(30)");
        body["run_timeout"] = 300;
        var wall = (await RunAsync(body)).GetProperty("run");
        Assert.Equal("TO", wall.GetProperty("status").GetString());
        Assert.Equal("Time limit exceeded (wall clock)", wall.GetProperty("message").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task A_signal_the_program_got_is_SG_with_its_name()
    {
        var run = (await RunAsync(Python("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"))).GetProperty("run");

        Assert.Equal("SG", run.GetProperty("status").GetString());
        Assert.Equal("SIGSEGV", run.GetProperty("signal").GetString());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("code").ValueKind);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_compile_error_gives_the_compile_stage_and_a_run_that_is_a_copy_of_it()
    {
        var result = await RunAsync(new JsonObject
        {
            ["language"] = "c",
            ["version"] = "*",
            ["files"] = new JsonArray(new JsonObject { ["content"] = "int main( {" }),
        });

        var compile = result.GetProperty("compile");
        Assert.Equal("RE", compile.GetProperty("status").GetString());
        Assert.NotEqual(0, compile.GetProperty("code").GetInt32());
        // The unnamed main file is main.c, so gcc (which picks sources by extension) compiled it.
        Assert.Contains("main.c", compile.GetProperty("stderr").GetString(), StringComparison.Ordinal);
        Assert.Equal(compile.ToString(), result.GetProperty("run").ToString());
    }

    [Fact(Timeout = 120_000)]
    public async Task Stdin_gets_a_trailing_newline_when_it_lacks_one_as_in_Piston()
    {
        var body = Python("import sys\nprint(repr(sys.stdin.read()))");
        body["stdin"] = "abc";
        Assert.Equal("'abc\\n'\n", (await RunAsync(body)).GetProperty("run").GetProperty("stdout").GetString());

        body = Python("import sys\nprint(repr(sys.stdin.read()))");
        body["stdin"] = "two\nlines\n";
        Assert.Equal("'two\\nlines\\n'\n", (await RunAsync(body)).GetProperty("run").GetProperty("stdout").GetString());

        body = Python("import sys\nprint(repr(sys.stdin.read()))");
        Assert.Equal("'\\n'\n", (await RunAsync(body)).GetProperty("run").GetProperty("stdout").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task The_first_utf8_file_is_the_main_file_wherever_it_stands_and_other_encodings_decode()
    {
        var result = await RunAsync(new JsonObject
        {
            ["language"] = "python",
            ["version"] = "3",
            ["files"] = new JsonArray(
                new JsonObject { ["name"] = "data.bin", ["content"] = Convert.ToBase64String("from base64"u8.ToArray()), ["encoding"] = "base64" },
                new JsonObject { ["name"] = "main.py", ["content"] = "import lib.util\nprint(open('data.bin').read(), open('more.bin').read(), lib.util.VALUE)" },
                new JsonObject { ["name"] = "more.bin", ["content"] = Convert.ToHexString("from hex"u8), ["encoding"] = "hex" },
                new JsonObject { ["name"] = "lib/util.py", ["content"] = "VALUE = 'from a sub-folder'" }),
            ["args"] = new JsonArray(),
        });

        Assert.Equal("from base64 from hex from a sub-folder\n", result.GetProperty("run").GetProperty("stdout").GetString());
    }

    [Theory(Timeout = 120_000)]
    [InlineData("python", "3.x")]
    [InlineData("python", "*")]
    [InlineData("python", "3")]
    [InlineData("py3", "3.x")]
    [InlineData("py", "*")]
    public async Task A_name_or_alias_and_a_matching_range_run_and_answer_the_runtimes_own_name(string language, string version)
    {
        var body = Python("print('ok')", version);
        body["language"] = language;
        var result = await RunAsync(body);

        Assert.Equal("python", result.GetProperty("language").GetString());
        Assert.Matches(@"^3\.\d+\.\d+$", result.GetProperty("version").GetString());
        Assert.Equal("ok\n", result.GetProperty("run").GetProperty("stdout").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task The_exact_installed_version_matches_and_a_different_one_is_unknown()
    {
        using var response = await fixture.Server.Http.GetAsync("api/v2/runtimes");
        var runtimes = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var version = runtimes.EnumerateArray().Single(r => r.GetProperty("language").GetString() == "python").GetProperty("version").GetString()!;

        Assert.Equal("ok\n", (await RunAsync(Python("print('ok')", version))).GetProperty("run").GetProperty("stdout").GetString());

        var (status, body) = await ExecuteAsync(Python("print('ok')", "2.7.18"));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("python-2.7.18 runtime is unknown", body.GetProperty("message").GetString());
    }

    [Theory(Timeout = 120_000)]
    [InlineData("Python")]
    [InlineData("PYTHON")]
    [InlineData(" python")]
    public async Task Language_names_match_exactly_as_in_Piston(string language)
    {
        var body = Python("print('ok')");
        body["language"] = language;
        var (status, result) = await ExecuteAsync(body);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal($"{language}-3.x runtime is unknown", result.GetProperty("message").GetString());
    }

    [Fact(Timeout = 120_000)]
    public async Task Runtimes_name_gcc_as_the_toolchain_of_c_and_cpp()
    {
        using var response = await fixture.Server.Http.GetAsync("api/v2/runtimes");
        var runtimes = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.EnumerateArray().ToList();

        Assert.Equal("gcc", runtimes.Single(r => r.GetProperty("language").GetString() == "c").GetProperty("runtime").GetString());
        Assert.Equal("gcc", runtimes.Single(r => r.GetProperty("language").GetString() == "cpp").GetProperty("runtime").GetString());
    }
}
