using System.Text;
using System.Text.Json;

namespace Cordon.Cli.Tests;

/// <summary>
/// `cordon run` as a user runs it: the built program, real files in a temp folder, real jails. One collection,
/// so these processes do not start jail hosts all at once.
/// </summary>
[Collection(CordonProcessCollection.Name)]
public sealed class Cordon_run_as_a_process : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private Task<CordonRun> Cordon(params string[] args) => CordonProcess.RunAsync(_dir.Path, null, args);

    [Fact(Timeout = 60000)]
    public async Task Hello_py_prints_its_output_and_exits_0()
    {
        _dir.Write("hello.py", "print('hello from a jail')\n");
        var run = await Cordon("run", "hello.py");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("hello from a jail\n", run.Stdout);
        Assert.Equal("", run.Stderr);
    }

    [Fact(Timeout = 60000)]
    public async Task A_program_exiting_3_makes_cordon_exit_3_with_its_stderr_passed_through()
    {
        _dir.Write("three.py", "import sys\nprint('bye', file=sys.stderr)\nsys.exit(3)\n");
        var run = await Cordon("run", "three.py");
        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal("bye\n", run.Stderr);
    }

    [Fact(Timeout = 60000)]
    public async Task Stdin_comes_from_a_file()
    {
        _dir.Write("echo.py", "import sys\nprint(sys.stdin.read().upper(), end='')\n");
        _dir.Write("input.txt", "line one\nline two\n");
        var run = await Cordon("run", "echo.py", "--stdin", "input.txt");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("LINE ONE\nLINE TWO\n", run.Stdout);
    }

    [Fact(Timeout = 60000)]
    public async Task Stdin_dash_passes_cordons_own_stdin()
    {
        _dir.Write("sum.py", "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n");
        var run = await CordonProcess.RunAsync(_dir.Path, "1 2 3 4\n"u8.ToArray(), "run", "sum.py", "--stdin", "-");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("10\n", run.Stdout);
    }

    [Fact(Timeout = 60000)]
    public async Task Args_reach_the_program_in_order_even_when_they_start_with_a_dash()
    {
        _dir.Write("argv.py", "import sys\nprint(sys.argv[1:])\n");
        var run = await Cordon("run", "argv.py", "--arg", "first", "--arg=-v", "-a", "two words");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("['first', '-v', 'two words']\n", run.Stdout);
    }

    [Fact(Timeout = 60000)]
    public async Task Output_is_passed_through_byte_for_byte()
    {
        _dir.Write("bytes.py", "import sys\nsys.stdout.buffer.write(bytes([0xff, 0x00, 0x1b, 0x41]))\n");
        var run = await Cordon("run", "bytes.py");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(new byte[] { 0xff, 0x00, 0x1b, 0x41 }, run.StdoutBytes);
    }

    [Fact(Timeout = 60000)]
    public async Task Relative_sub_folders_are_kept_so_imports_work()
    {
        _dir.Write("app/main.py", "from lib import util\nprint(util.greet())\n");
        _dir.Write("app/lib/util.py", "def greet():\n    return 'greetings'\n");
        var run = await Cordon("run", "app/main.py", "./app/lib/util.py");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("greetings\n", run.Stdout);
    }

    [Fact(Timeout = 60000)]
    public async Task Json_prints_the_whole_result_with_snake_case_fields()
    {
        _dir.Write("mixed.py", "import sys\nprint('out')\nsys.stderr.buffer.write(b'\\xff\\xfe')\nsys.exit(4)\n");
        var run = await Cordon("run", "--json", "mixed.py");
        Assert.True(run.ExitCode == 4, run.ToString());
        using var json = JsonDocument.Parse(run.StdoutBytes);
        var root = json.RootElement;
        Assert.Equal("python", root.GetProperty("language").GetString());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("version").GetString()));
        Assert.False(string.IsNullOrEmpty(root.GetProperty("id").GetString()));
        Assert.Equal("runtime_error", root.GetProperty("verdict").GetString());
        Assert.Equal(4, root.GetProperty("exit_code").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("compile").ValueKind);
        var stage = root.GetProperty("run");
        Assert.Equal("runtime_error", stage.GetProperty("verdict").GetString());
        Assert.Equal(4, stage.GetProperty("exit_code").GetInt32());
        Assert.Equal(JsonValueKind.Null, stage.GetProperty("signal").ValueKind);
        Assert.Equal(JsonValueKind.Null, stage.GetProperty("signal_name").ValueKind);
        Assert.Equal("out\n", stage.GetProperty("stdout").GetString());
        Assert.Equal("utf8", stage.GetProperty("stdout_encoding").GetString());
        Assert.False(stage.GetProperty("stdout_truncated").GetBoolean());
        Assert.Equal("base64", stage.GetProperty("stderr_encoding").GetString());
        Assert.Equal(new byte[] { 0xff, 0xfe }, Convert.FromBase64String(stage.GetProperty("stderr").GetString()!));
        Assert.False(stage.GetProperty("stderr_truncated").GetBoolean());
        var usage = stage.GetProperty("usage");
        Assert.True(usage.GetProperty("wall_time_ms").GetInt64() >= 0);
        Assert.True(usage.GetProperty("cpu_time_ms").GetInt64() >= 0);
        Assert.True(usage.GetProperty("peak_memory_bytes").GetInt64() > 0);
        Assert.Equal("", run.Stderr);
    }

    [Fact(Timeout = 60000)]
    public async Task Json_of_a_timeout_names_the_signal()
    {
        _dir.Write("spin.py", "while True:\n    pass\n");
        var run = await Cordon("run", "spin.py", "--time", "0.5", "--json");
        Assert.True(run.ExitCode == 137, run.ToString());
        using var json = JsonDocument.Parse(run.StdoutBytes);
        var stage = json.RootElement.GetProperty("run");
        Assert.Equal("timeout", stage.GetProperty("verdict").GetString());
        Assert.Equal(9, stage.GetProperty("signal").GetInt32());
        Assert.Equal("SIGKILL", stage.GetProperty("signal_name").GetString());
    }

    [Fact(Timeout = 60000)]
    public async Task A_c_program_compiles_and_runs()
    {
        _dir.Write("square.c", "#include <stdio.h>\nint main(void) { int x; if (scanf(\"%d\", &x) != 1) return 9; printf(\"%d\\n\", x * x); return 0; }\n");
        _dir.Write("in.txt", "12\n");
        var run = await Cordon("run", "square.c", "--stdin", "in.txt");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("144\n", run.Stdout);
    }

    [Fact(Timeout = 60000)]
    public async Task A_c_compile_error_shows_the_compilers_message_and_exits_non_zero()
    {
        _dir.Write("broken.c", "int main(void) { return undeclared_thing; }\n");
        var run = await Cordon("run", "broken.c");
        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.Contains("undeclared_thing", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("error", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
        Assert.Contains(run.CordonLines, l => l.StartsWith("cordon: compile_error", StringComparison.Ordinal));
    }

    [Fact(Timeout = 60000)]
    public async Task Time_1_on_an_endless_loop_gives_the_timeout_note_and_exit_137()
    {
        _dir.Write("spin.py", "while True:\n    pass\n");
        var run = await Cordon("run", "spin.py", "--time", "1");
        Assert.True(run.ExitCode == 137, run.ToString());
        var note = Assert.Single(run.CordonLines);
        Assert.StartsWith("cordon: timeout (wall time 1 s reached", note, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Memory_limit_gives_the_memory_note()
    {
        _dir.Write("hog.py", "x = bytearray(512 * 1024 * 1024)\n");
        var run = await Cordon("run", "hog.py", "--memory", "64M");
        Assert.True(run.ExitCode == 137, run.ToString());
        Assert.StartsWith("cordon: memory_limit (memory limit 64 MiB reached", Assert.Single(run.CordonLines), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task A_program_killed_by_a_signal_exits_128_plus_the_signal()
    {
        _dir.Write("abort.sh", "kill -SEGV $$\n");
        var run = await Cordon("run", "abort.sh");
        Assert.True(run.ExitCode == 128 + 11, run.ToString());
        Assert.Equal("cordon: signaled (the program was killed by SIGSEGV)", Assert.Single(run.CordonLines));
    }

    [Fact(Timeout = 60000)]
    public async Task Sigterm_stops_the_run_kills_the_jail_and_exits_143()
    {
        _dir.Write("spin.py", "while True:\n    pass\n");
        var started = DateTime.UtcNow;
        var run = await CordonProcess.RunAsync(_dir.Path, null, async pid =>
        {
            // Long enough for the jail to be running; the run's own limit (30 s) is far away.
            await Task.Delay(TimeSpan.FromSeconds(2));
            await Signal.SendAsync(pid, "TERM");
        }, "run", "spin.py", "--time", "30", "--cpu-time", "30");
        Assert.True(run.ExitCode == 128 + 15, run.ToString());
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15), "cordon did not stop promptly");
        Assert.StartsWith("cordon: interrupted", Assert.Single(run.CordonLines), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Language_option_overrides_the_extension()
    {
        _dir.Write("script.txt", "console.log(6 * 7)\n");
        var run = await Cordon("run", "--language", "node", "script.txt");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("42\n", run.Stdout);
    }
}

/// <summary>Mistakes on the command line: one `cordon: ` line on stderr, exit 2, nothing run.</summary>
[Collection(CordonProcessCollection.Name)]
public sealed class Cordon_run_rejects_bad_input : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void AssertOneClearLine(CordonRun run, params string[] mentions)
    {
        Assert.True(run.ExitCode == 2, run.ToString());
        var line = Assert.Single(run.Stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("cordon: ", line, StringComparison.Ordinal);
        foreach (var mention in mentions) Assert.Contains(mention, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.Equal("", run.Stdout);
    }

    [Fact(Timeout = 60000)]
    public async Task Unknown_language_is_one_clear_message_and_exit_2()
    {
        _dir.Write("prog.py", "print(1)\n");
        var run = await CordonProcess.RunAsync(_dir.Path, null, "run", "--language", "cobol", "prog.py");
        AssertOneClearLine(run, "unknown language 'cobol'", "python");
    }

    [Fact(Timeout = 60000)]
    public async Task Unknown_extension_asks_for_language()
    {
        _dir.Write("prog.xyz", "print(1)\n");
        var run = await CordonProcess.RunAsync(_dir.Path, null, "run", "prog.xyz");
        AssertOneClearLine(run, ".xyz", "--language");
    }

    [Fact(Timeout = 60000)]
    public async Task Missing_file_is_one_clear_message_and_exit_2()
    {
        var run = await CordonProcess.RunAsync(_dir.Path, null, "run", "nowhere.py");
        AssertOneClearLine(run, "'nowhere.py' does not exist");
    }

    [Fact(Timeout = 60000)]
    public async Task Malformed_memory_size_is_one_clear_message_and_exit_2()
    {
        _dir.Write("prog.py", "print(1)\n");
        var run = await CordonProcess.RunAsync(_dir.Path, null, "run", "prog.py", "--memory", "12XB");
        AssertOneClearLine(run, "--memory '12XB' is not a size", "256M");
    }

    [Fact(Timeout = 60000)]
    public async Task Every_mistake_is_reported_in_the_same_line()
    {
        var run = await CordonProcess.RunAsync(_dir.Path, null, "run", "gone.py", "--time", "soon", "--output", "lots", "--processes", "-3");
        AssertOneClearLine(run, "'gone.py' does not exist", "--time 'soon'", "--output 'lots'", "--processes '-3'");
    }

    [Fact(Timeout = 60000)]
    public async Task Unknown_option_is_one_clear_message_and_exit_2()
    {
        _dir.Write("prog.py", "print(1)\n");
        var run = await CordonProcess.RunAsync(_dir.Path, null, "run", "prog.py", "--colour");
        AssertOneClearLine(run, "unknown option '--colour'");
    }

    [Fact(Timeout = 60000)]
    public async Task A_limit_the_engine_refuses_is_exit_2()
    {
        _dir.Write("prog.py", "print(1)\n");
        var run = await CordonProcess.RunAsync(_dir.Path, null, "run", "prog.py", "--memory", "1M");
        AssertOneClearLine(run, "memory must be at least 4 MiB");
    }
}

/// <summary>`cordon runtimes`, `cordon doctor`, help and version as a user sees them.</summary>
[Collection(CordonProcessCollection.Name)]
public sealed class Cordon_host_commands
{
    [Fact(Timeout = 60000)]
    public async Task Runtimes_lists_python_javascript_bash_and_c_with_versions()
    {
        var run = await CordonProcess.RunAsync(Path.GetTempPath(), null, "runtimes");
        Assert.True(run.ExitCode == 0, run.ToString());
        var rows = run.Stdout.Split('\n').Skip(1).Where(l => l.Length > 0 && !l.StartsWith(' ')).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        foreach (var name in new[] { "python", "javascript", "bash", "c" })
        {
            var row = Assert.Single(rows, r => r[0] == name);
            Assert.Matches(@"^\d+\.\d+", row[1]);
        }
        Assert.Contains("py, python3", run.Stdout, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Runtimes_json_has_name_version_and_aliases()
    {
        var run = await CordonProcess.RunAsync(Path.GetTempPath(), null, "runtimes", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        using var json = JsonDocument.Parse(run.StdoutBytes);
        var python = json.RootElement.EnumerateArray().Single(r => r.GetProperty("name").GetString() == "python");
        Assert.True(python.GetProperty("available").GetBoolean());
        Assert.Matches(@"^3\.\d+\.\d+$", python.GetProperty("version").GetString()!);
        Assert.Contains("py", python.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact(Timeout = 60000)]
    public async Task Doctor_exits_0_on_this_machine_with_one_line_per_check()
    {
        var run = await CordonProcess.RunAsync(Path.GetTempPath(), null, "doctor");
        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("ok   running as root", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ok   bubblewrap ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ok   cgroups ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ok   smoke run: the python test program printed OK", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("FAIL", StringComparison.Ordinal));
    }

    [Fact(Timeout = 60000)]
    public async Task Help_describes_every_command_and_run_help_explains_file_names_and_exit_codes()
    {
        var root = await CordonProcess.RunAsync(Path.GetTempPath(), null, "--help");
        Assert.True(root.ExitCode == 0, root.ToString());
        foreach (var command in new[] { "run", "runtimes", "doctor" }) Assert.Contains(command, root.Stdout, StringComparison.Ordinal);

        var run = await CordonProcess.RunAsync(Path.GetTempPath(), null, "run", "--help");
        Assert.True(run.ExitCode == 0, run.ToString());
        foreach (var text in new[] { "--language", "--stdin", "--memory", "--json", "sub/mod.py", "Exit status", "125" })
            Assert.Contains(text, run.Stdout, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Version_prints_a_version_number()
    {
        var run = await CordonProcess.RunAsync(Path.GetTempPath(), null, "--version");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"^\d+\.\d+\.\d+", run.Stdout.Trim());
    }
}

[CollectionDefinition(Name)]
public sealed class CordonProcessCollection
{
    public const string Name = "cordon processes";
}

/// <summary>Every runtime's test program, run the way a user would: `cordon run FILE`.</summary>
[Collection(CordonProcessCollection.Name)]
public sealed class RuntimeTestProgramTests
{
    public static TheoryData<string> Runtimes()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.EnumerateDirectories(Path.Combine(AppContext.BaseDirectory, "runtimes")).Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(dir));
        return data;
    }

    [Theory(Timeout = 60000)]
    [MemberData(nameof(Runtimes))]
    public async Task Test_program_prints_OK_through_cordon_run(string runtime)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "runtimes", runtime);
        using var manifest = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, "manifest.json")),
            new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var testProgram = manifest.RootElement.GetProperty("testProgram").GetString()!;
        using var dir = new TempDir();
        File.Copy(Path.Combine(folder, testProgram), Path.Combine(dir.Path, testProgram));

        var run = await CordonProcess.RunAsync(dir.Path, null, "run", "--language", runtime, testProgram);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("OK\n", run.Stdout);
    }
}
