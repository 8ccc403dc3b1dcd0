using System.Text.Json;

namespace Cordon.Server.FunctionalTests;

/// <summary>The real piston-client package from npm, unchanged, drives cordon serve through /api/v2.</summary>
[Collection(ServerCollection.Name)]
public sealed class PistonClientTests(ServerFixture fixture)
{
    private Uri Server => fixture.Server.BaseAddress;

    [Fact(Timeout = 300_000)]
    public async Task Runtimes_lists_python_with_a_version_and_only_runtimes_that_are_available()
    {
        var runtimes = await PistonClient.RunAsync(Server, "runtimes");

        Assert.Equal(JsonValueKind.Array, runtimes.ValueKind);
        var python = runtimes.EnumerateArray().Single(r => r.GetProperty("language").GetString() == "python");
        Assert.Matches(@"^3\.\d+\.\d+$", python.GetProperty("version").GetString());
        Assert.Contains("py", python.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
        Assert.False(python.TryGetProperty("runtime", out _), "runtime is only for toolchains that provide several languages");
        Assert.All(runtimes.EnumerateArray(), r => Assert.False(string.IsNullOrEmpty(r.GetProperty("version").GetString())));
    }

    [Fact(Timeout = 300_000)]
    public async Task Execute_of_a_python_hello_world_prints_hello_and_exits_0_with_no_status()
    {
        var result = await PistonClient.RunAsync(Server, "hello");

        Assert.Equal("python", result.GetProperty("language").GetString());
        var run = result.GetProperty("run");
        Assert.Equal("hello\n", run.GetProperty("stdout").GetString());
        Assert.Equal("", run.GetProperty("stderr").GetString());
        Assert.Equal("hello\n", run.GetProperty("output").GetString());
        Assert.Equal(0, run.GetProperty("code").GetInt32());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("status").ValueKind);
        Assert.Equal(JsonValueKind.Null, run.GetProperty("signal").ValueKind);
        Assert.Equal(JsonValueKind.Null, run.GetProperty("message").ValueKind);
        Assert.True(run.GetProperty("wall_time").GetDouble() > 0);
        Assert.False(result.TryGetProperty("compile", out _), "an interpreted language has no compile stage");
    }

    [Fact(Timeout = 300_000)]
    public async Task Execute_of_a_failing_program_gives_RE_with_its_exit_code_and_the_clients_default_args()
    {
        var run = (await PistonClient.RunAsync(Server, "error")).GetProperty("run");

        Assert.Equal("RE", run.GetProperty("status").GetString());
        Assert.Equal(3, run.GetProperty("code").GetInt32());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("signal").ValueKind);
        Assert.Equal("['1', '2', '3']\n", run.GetProperty("stdout").GetString());
        Assert.Equal("Exited with error status 3", run.GetProperty("message").GetString());
    }

    [Fact(Timeout = 300_000)]
    public async Task Execute_past_run_timeout_gives_TO_and_SIGKILL()
    {
        var run = (await PistonClient.RunAsync(Server, "timeout")).GetProperty("run");

        Assert.Equal("TO", run.GetProperty("status").GetString());
        Assert.Equal("SIGKILL", run.GetProperty("signal").GetString());
        Assert.Equal(JsonValueKind.Null, run.GetProperty("code").ValueKind);
        var wall = run.GetProperty("wall_time").GetDouble();
        Assert.InRange(wall, 450, 5000);
    }

    [Fact(Timeout = 300_000)]
    public async Task Execute_of_a_c_program_has_a_compile_stage_and_runs_the_binary()
    {
        var result = await PistonClient.RunAsync(Server, "c");

        Assert.Equal("c", result.GetProperty("language").GetString());
        Assert.Equal(JsonValueKind.Null, result.GetProperty("compile").GetProperty("status").ValueKind);
        Assert.Equal(0, result.GetProperty("compile").GetProperty("code").GetInt32());
        Assert.Equal("compiled\n", result.GetProperty("run").GetProperty("stdout").GetString());
    }
}
