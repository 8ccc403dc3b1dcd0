using Cordon.Jail;

namespace Cordon.Jail.Tests;

public sealed class JailRunTests(JailHostFixture fixture) : IClassFixture<JailHostFixture>
{
    [Fact(Timeout = 30000)]
    public async Task Program_output_and_exit_code_come_back()
    {
        var result = await fixture.Host.RunAsync(JailHostFixture.Shell("echo out; echo err >&2; exit 3"));
        Assert.True(result.Verdict == Verdict.RuntimeError, $"{result.Verdict}: {result.InternalMessage}");
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("out\n", JailHostFixture.Text(result.Stdout));
        Assert.Equal("err\n", JailHostFixture.Text(result.Stderr));
    }

    [Fact(Timeout = 30000)]
    public async Task Program_runs_as_unprivileged_inside_uid_with_its_own_pid_namespace()
    {
        var result = await fixture.Host.RunAsync(JailHostFixture.Shell("id -u; echo $$; ls /proc | grep -c '^[0-9]'"));
        Assert.Equal(Verdict.Ok, result.Verdict);
        var lines = JailHostFixture.Text(result.Stdout).Split('\n');
        Assert.Equal("1000", lines[0]);
    }
}
