using System.Text;
using System.Text.Json.Nodes;

namespace Cordon.Server.Tests;

/// <summary>The /v1 endpoints' happy paths, each through real jails.</summary>
public sealed class NativeApiTests : IAsyncLifetime
{
    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact(Timeout = 60000)]
    public async Task Runtimes_lists_every_runtime_with_version_aliases_extensions_and_flags()
    {
        var response = await _app.GetAsync("/v1/runtimes");
        Assert.Equal(200, (int)response.StatusCode);
        var runtimes = (await response.JsonAsync()).AsArray();
        var python = runtimes.Single(r => (string)r!["name"]! == "python")!;
        Assert.True((bool)python["available"]!);
        Assert.False((bool)python["compiled"]!);
        Assert.StartsWith("3.", (string)python["version"]!, StringComparison.Ordinal);
        Assert.Contains("py", python["aliases"]!.AsArray().Select(a => (string)a!));
        Assert.Contains(".py", python["extensions"]!.AsArray().Select(a => (string)a!));
        var c = runtimes.Single(r => (string)r!["name"]! == "c")!;
        Assert.True((bool)c["compiled"]!);
        foreach (var runtime in runtimes)
        {
            Assert.Equal(["name", "version", "aliases", "extensions", "compiled", "available", "problem"], runtime!.AsObject().Select(p => p.Key));
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Python_hello_world_returns_the_full_result()
    {
        var response = await _app.PostExecutionAsync(TestApp.Request("python", "main.py", "print('hello')"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var result = JsonNode.Parse(text)!;
        Assert.Matches("^[0-9a-f]{16}$", (string)result["id"]!);
        Assert.Equal("python", (string)result["language"]!);
        Assert.Equal("ok", (string)result["verdict"]!);
        Assert.Null(result["compile"]);
        var run = result["run"]!;
        Assert.Equal("ok", (string)run["verdict"]!);
        Assert.Equal(0, (int)run["exit_code"]!);
        Assert.Null(run["signal"]);
        Assert.Null(run["signal_name"]);
        Assert.Equal("hello\n", (string)run["stdout"]!);
        Assert.Equal("utf8", (string)run["stdout_encoding"]!);
        Assert.Equal("", (string)run["stderr"]!);
        Assert.Equal("utf8", (string)run["stderr_encoding"]!);
        Assert.False((bool)run["stdout_truncated"]!);
        Assert.False((bool)run["stderr_truncated"]!);
        Assert.Null(run["kill_reason"]);
        Assert.Null(run["internal_message"]);
        Assert.True((long)run["usage"]!["wall_time_ms"]! >= 0);
        Assert.True((long)run["usage"]!["cpu_time_ms"]! >= 0);
        Assert.True((long)run["usage"]!["peak_memory_bytes"]! > 0);
        // The execution id is in the server's log event about it.
        Assert.Contains(_app.Logs.Events, e => e.Id.Id == 3002 && e.Message.Contains((string)result["id"]!, StringComparison.Ordinal));
    }

    [Fact(Timeout = 60000)]
    public async Task C_program_is_compiled_then_run_with_arguments()
    {
        var source = """
            #include <stdio.h>
            int main(int argc, char **argv) { printf("%d %s\n", argc - 1, argv[1]); return 3; }
            """;
        var response = await _app.PostExecutionAsync(TestApp.Request("c", "main.c", source, new { args = new[] { "first", "second" } }));
        var result = await response.JsonAsync();
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("runtime_error", (string)result["verdict"]!);
        Assert.Equal("ok", (string)result["compile"]!["verdict"]!);
        Assert.Equal(0, (int)result["compile"]!["exit_code"]!);
        Assert.Equal("2 first\n", (string)result["run"]!["stdout"]!);
        Assert.Equal(3, (int)result["run"]!["exit_code"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task A_compile_error_has_a_compile_stage_and_no_run_stage()
    {
        var response = await _app.PostExecutionAsync(TestApp.Request("c", "main.c", "int main( { return 0; }"));
        var result = await response.JsonAsync();
        Assert.Equal("compile_error", (string)result["verdict"]!);
        Assert.Equal("compile_error", (string)result["compile"]!["verdict"]!);
        Assert.Contains("error", (string)result["compile"]!["stderr"]!, StringComparison.Ordinal);
        Assert.Null(result["run"]);
    }

    [Fact(Timeout = 60000)]
    public async Task Stdin_reaches_the_program_as_utf8_or_base64()
    {
        var program = "import sys\nprint(sys.stdin.read().upper(), end='')";
        var utf8 = await (await _app.PostExecutionAsync(TestApp.Request("python", "main.py", program, new { stdin = "héllo\n" }))).JsonAsync();
        Assert.Equal("HÉLLO\n", (string)utf8["run"]!["stdout"]!);

        var base64 = await (await _app.PostExecutionAsync(TestApp.Request("python", "main.py", program,
            new { stdin = Convert.ToBase64String("bytes\n"u8), stdin_encoding = "base64" }))).JsonAsync();
        Assert.Equal("BYTES\n", (string)base64["run"]!["stdout"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Base64_files_arrive_byte_for_byte()
    {
        var main = "print(open('data.bin', 'rb').read().hex())";
        var body = new JsonObject
        {
            ["language"] = "python",
            ["files"] = new JsonArray(
                new JsonObject { ["name"] = "main.py", ["content"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(main)), ["encoding"] = "base64" },
                new JsonObject { ["name"] = "data.bin", ["content"] = Convert.ToBase64String(new byte[] { 0, 1, 0x80, 0xff }), ["encoding"] = "base64" }),
        };
        var result = await (await _app.PostExecutionAsync(body.ToJsonString())).JsonAsync();
        Assert.Equal("000180ff\n", (string)result["run"]!["stdout"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Output_that_is_not_utf8_comes_back_as_base64()
    {
        var program = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe ok')\nsys.stderr.write('fine')";
        var result = await (await _app.PostExecutionAsync(TestApp.Request("python", "main.py", program))).JsonAsync();
        var run = result["run"]!;
        Assert.Equal("base64", (string)run["stdout_encoding"]!);
        Assert.Equal(new byte[] { 0xff, 0xfe, (byte)' ', (byte)'o', (byte)'k' }, Convert.FromBase64String((string)run["stdout"]!));
        Assert.Equal("utf8", (string)run["stderr_encoding"]!);
        Assert.Equal("fine", (string)run["stderr"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Lower_limits_are_applied_and_a_limit_that_stops_the_program_is_named()
    {
        var result = await (await _app.PostExecutionAsync(TestApp.Request("python", "main.py", "import time\ntime.sleep(10)",
            new { run_limits = new { wall_time_ms = 300 } }))).JsonAsync();
        Assert.Equal("timeout", (string)result["verdict"]!);
        Assert.Equal("SIGKILL", (string)result["run"]!["signal_name"]!);
        Assert.False(string.IsNullOrEmpty((string?)result["run"]!["kill_reason"]));

        var output = await (await _app.PostExecutionAsync(TestApp.Request("python", "main.py", "print('x' * 5000)",
            new { run_limits = new { output_bytes = 100 } }))).JsonAsync();
        Assert.Equal("output_limit", (string)output["verdict"]!);
        Assert.True((bool)output["run"]!["stdout_truncated"]!);
        Assert.Equal(100, ((string)output["run"]!["stdout"]!).Length);
    }

    [Fact(Timeout = 60000)]
    public async Task A_runtime_whose_manifest_raises_a_default_may_ask_for_up_to_it()
    {
        // The configured default is 64 processes; JavaScript's manifest raises its own to 128.
        var response = await _app.PostExecutionAsync(TestApp.Request("javascript", "main.js", "console.log('ok')", new { run_limits = new { processes = 128 } }));
        var result = await response.JsonAsync();
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("ok\n", (string)result["run"]!["stdout"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task Language_aliases_and_version_ranges_resolve()
    {
        var result = await (await _app.PostExecutionAsync(TestApp.Request("py", "main.py", "print(1)", new { version = "3.x" }))).JsonAsync();
        Assert.Equal("python", (string)result["language"]!);
        Assert.StartsWith("3.", (string)result["version"]!, StringComparison.Ordinal);
    }
}
