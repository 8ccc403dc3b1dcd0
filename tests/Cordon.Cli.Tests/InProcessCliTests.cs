using System.Text;

namespace Cordon.Cli.Tests;

/// <summary>The command line parsed in-process (no jail starts): mistakes are one line and exit 2.</summary>
public sealed class Command_line_mistakes
{
    private static async Task<(int Exit, string Stdout, string Stderr)> Cli(params string[] args)
    {
        using var stdout = new MemoryStream();
        using var stderr = new MemoryStream();
        int exit;
        using (var console = new CliConsole(() => new MemoryStream(), stdout, stderr))
        {
            exit = await CordonCli.RunAsync(args, console);
        }
        return (exit, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }

    private static string OneLine(string stderr)
    {
        var line = Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("cordon: ", line, StringComparison.Ordinal);
        return line;
    }

    [Fact(Timeout = 60000)]
    public async Task No_command_says_which_commands_exist()
    {
        var (exit, _, stderr) = await Cli();
        Assert.Equal(2, exit);
        Assert.Contains("run, serve, mcp, runtimes or doctor", OneLine(stderr), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Run_without_files_points_to_run_help()
    {
        var (exit, _, stderr) = await Cli("run");
        Assert.Equal(2, exit);
        Assert.Contains("cordon run --help", OneLine(stderr), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task An_unknown_command_is_exit_2()
    {
        var (exit, _, stderr) = await Cli("launch", "x.py");
        Assert.Equal(2, exit);
        Assert.Contains("launch", OneLine(stderr), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task An_option_without_its_value_is_exit_2()
    {
        var (exit, _, stderr) = await Cli("run", "x.py", "--memory");
        Assert.Equal(2, exit);
        Assert.Contains("--memory", OneLine(stderr), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Bad_sizes_and_missing_files_are_reported_before_any_jail_starts()
    {
        var missing = Path.Combine(Path.GetTempPath(), "cordon-no-such-dir", "x.py");
        var (exit, stdout, stderr) = await Cli("run", missing, "--memory", "12XB", "--cpu-time", "0");
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        var line = OneLine(stderr);
        Assert.Contains("--memory '12XB'", line, StringComparison.Ordinal);
        Assert.Contains("--cpu-time '0' must be at least 1 ms", line, StringComparison.Ordinal);
        Assert.Contains("does not exist", line, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Run_help_is_printed_to_stdout_and_exits_0()
    {
        var (exit, stdout, stderr) = await Cli("run", "--help");
        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("Exit status:", stdout, StringComparison.Ordinal);
        Assert.Contains("--cpu-time <SECONDS>", stdout, StringComparison.Ordinal);
    }
}
