using System.Text.Json;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Cli.Tests;

public sealed class Results_map_to_exit_codes_and_notes
{
    private static readonly JailLimits Run = JailLimits.Default with { WallTime = TimeSpan.FromSeconds(2), CpuTime = TimeSpan.FromSeconds(1.5), MemoryBytes = 64L << 20, OutputBytes = 1L << 20 };
    private static readonly JailLimits Compile = JailLimits.Default with { WallTime = TimeSpan.FromSeconds(30) };

    private static JailRunResult Stage(Verdict verdict, int? exit = null, int? signal = null, bool stdoutCut = false, bool stderrCut = false, string? internalMessage = null) => new()
    {
        Verdict = verdict,
        ExitCode = exit,
        Signal = signal,
        StdoutTruncated = stdoutCut,
        StderrTruncated = stderrCut,
        Usage = new ResourceUsage(TimeSpan.FromMilliseconds(12.4), TimeSpan.FromMilliseconds(7.6), 4096),
        InternalMessage = internalMessage,
    };

    private static ExecutionResult Ran(JailRunResult run, JailRunResult? compile = null) =>
        new() { Id = "abc", Language = "python", Version = "3.11.2", Verdict = run.Verdict, Run = run, Compile = compile };

    private static ExecutionResult CompileFailed(JailRunResult compile) =>
        new() { Id = "abc", Language = "c", Version = "12.2.0", Verdict = compile.Verdict, Compile = compile };

    [Fact]
    public void Ok_exits_0_without_a_note()
    {
        var result = Ran(Stage(Verdict.Ok, exit: 0));
        Assert.Equal(0, Outcome.ExitCode(result));
        Assert.Null(Outcome.Note(result, Run, Compile));
    }

    [Fact]
    public void A_non_zero_exit_is_passed_through_without_a_note()
    {
        var result = Ran(Stage(Verdict.RuntimeError, exit: 3));
        Assert.Equal(3, Outcome.ExitCode(result));
        Assert.Null(Outcome.Note(result, Run, Compile));
    }

    [Fact]
    public void A_signal_exits_128_plus_its_number_and_names_it()
    {
        var result = Ran(Stage(Verdict.Signaled, signal: 11));
        Assert.Equal(139, Outcome.ExitCode(result));
        Assert.Equal("cordon: signaled (the program was killed by SIGSEGV)", Outcome.Note(result, Run, Compile));
    }

    [Theory]
    [InlineData(Verdict.Timeout, "cordon: timeout (wall time 2 s reached; raise it with --time)")]
    [InlineData(Verdict.CpuLimit, "cordon: cpu_limit (CPU time 1.5 s reached; raise it with --cpu-time)")]
    [InlineData(Verdict.MemoryLimit, "cordon: memory_limit (memory limit 64 MiB reached; raise it with --memory)")]
    public void A_limit_exits_137_with_a_one_line_note(Verdict verdict, string note)
    {
        var result = Ran(Stage(verdict, signal: 9));
        Assert.Equal(137, Outcome.ExitCode(result));
        Assert.Equal(note, Outcome.Note(result, Run, Compile));
    }

    [Fact]
    public void Output_limit_says_which_stream_was_cut()
    {
        var result = Ran(Stage(Verdict.OutputLimit, signal: 9, stderrCut: true));
        Assert.Equal(137, Outcome.ExitCode(result));
        Assert.Equal("cordon: output_limit (stderr went past 1 MiB and was cut; raise it with --output)", Outcome.Note(result, Run, Compile));
    }

    [Fact]
    public void A_compile_error_exits_with_the_compilers_code()
    {
        var result = CompileFailed(Stage(Verdict.CompileError, exit: 1));
        Assert.Equal(1, Outcome.ExitCode(result));
        Assert.Equal("cordon: compile_error (the compiler exited with 1)", Outcome.Note(result, Run, Compile));
    }

    [Fact]
    public void A_compile_timeout_names_the_compile_limit()
    {
        var result = CompileFailed(Stage(Verdict.Timeout, signal: 9));
        Assert.Equal(137, Outcome.ExitCode(result));
        Assert.Equal("cordon: timeout while compiling (wall time 30 s reached)", Outcome.Note(result, Run, Compile));
    }

    [Fact]
    public void An_internal_error_exits_125_with_the_message_on_one_line()
    {
        var result = Ran(Stage(Verdict.InternalError, internalMessage: "the jail could not be set up:\nbwrap: oops"));
        Assert.Equal(125, Outcome.ExitCode(result));
        var note = Outcome.Note(result, Run, Compile)!;
        Assert.StartsWith("cordon: internal_error: the jail could not be set up: bwrap: oops", note, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', note);
    }

    [Fact]
    public void Json_uses_snake_case_verdict_strings_and_marks_non_utf8_output_as_base64()
    {
        var run = Stage(Verdict.Timeout, signal: 9, stdoutCut: true) with { Stdout = "héllo\n"u8.ToArray(), Stderr = new byte[] { 0xc3, 0x28 } };
        var json = JsonSerializer.Serialize(ExecutionJson.From(Ran(run), 137), CliJsonContext.Output.ExecutionJson);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal("timeout", root.GetProperty("verdict").GetString());
        Assert.Equal(137, root.GetProperty("exit_code").GetInt32());
        var stage = root.GetProperty("run");
        Assert.Equal("SIGKILL", stage.GetProperty("signal_name").GetString());
        Assert.Equal("héllo\n", stage.GetProperty("stdout").GetString());
        Assert.Equal("utf8", stage.GetProperty("stdout_encoding").GetString());
        Assert.True(stage.GetProperty("stdout_truncated").GetBoolean());
        Assert.Equal("base64", stage.GetProperty("stderr_encoding").GetString());
        Assert.Equal("wyg=", stage.GetProperty("stderr").GetString());
        Assert.Equal(12, stage.GetProperty("usage").GetProperty("wall_time_ms").GetInt64());
        Assert.Equal(8, stage.GetProperty("usage").GetProperty("cpu_time_ms").GetInt64());
        Assert.Equal(4096, stage.GetProperty("usage").GetProperty("peak_memory_bytes").GetInt64());
        // Written as itself, not as \u00e9: the JSON is for terminals and pipes, not HTML.
        Assert.Contains("héllo", json, StringComparison.Ordinal);
    }
}
