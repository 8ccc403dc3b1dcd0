using System.Text;
using Cordon.Engine;

namespace Cordon.Cli.Tests;

public sealed class Run_arguments_map_to_an_execution_request : IDisposable
{
    private static readonly RuntimeCatalog Catalog = RuntimeCatalog.Load(Path.Combine(AppContext.BaseDirectory, "runtimes"));
    private readonly TempDir _dir = new();

    public Run_arguments_map_to_an_execution_request()
    {
        _dir.Write("main.py", "print(1)\n");
    }

    public void Dispose() => _dir.Dispose();

    private static Stream NoStdin() => throw new InvalidOperationException("stdin must not be read");

    private (RunPlan? Plan, List<string> Errors) Build(RunArguments args, Func<Stream>? stdin = null)
    {
        var errors = new List<string>();
        // Paths in these tests are absolute or made so, so no test depends on the process's current folder.
        var plan = RunRequestBuilder.Build(args with { Files = [.. args.Files.Select(Absolute)] }, Catalog, stdin ?? NoStdin, errors);
        return (plan, errors);
    }

    private string Absolute(string file) => file.StartsWith('-') ? file : Path.Combine(_dir.Path, file);

    [Fact]
    public void The_language_comes_from_the_main_files_extension()
    {
        var (plan, errors) = Build(new RunArguments { Files = ["main.py"] });
        Assert.Empty(errors);
        Assert.Equal("python", plan!.Request.Language);
        Assert.Equal("main.py", Assert.Single(plan.Request.Files).Name);
        Assert.Equal("print(1)\n", Encoding.UTF8.GetString(plan.Request.Files[0].Content.Span));
    }

    [Fact]
    public void Language_option_accepts_an_alias_and_wins_over_the_extension()
    {
        var (plan, errors) = Build(new RunArguments { Files = ["main.py"], Language = "node" });
        Assert.Empty(errors);
        Assert.Equal("javascript", plan!.Request.Language);
    }

    [Fact]
    public void Unknown_language_names_the_known_ones()
    {
        var (plan, errors) = Build(new RunArguments { Files = ["main.py"], Language = "cobol" });
        Assert.Null(plan);
        var error = Assert.Single(errors);
        Assert.Contains("unknown language 'cobol'", error, StringComparison.Ordinal);
        Assert.Contains("python (py, python3, py3)", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_without_a_known_extension_asks_for_language()
    {
        _dir.Write("README", "x");
        var (_, errors) = Build(new RunArguments { Files = ["README"] });
        Assert.Contains("--language", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Limits_map_to_run_stage_overrides()
    {
        var (plan, errors) = Build(new RunArguments
        {
            Files = ["main.py"],
            Time = "0.5",
            CpuTime = "2",
            Memory = "64MiB",
            Processes = "10",
            Output = "512k",
            Network = true,
        });
        Assert.Empty(errors);
        var limits = plan!.Request.RunLimits!;
        Assert.Equal(500, limits.WallTimeMs);
        Assert.Equal(2000, limits.CpuTimeMs);
        Assert.Equal(64L * 1024 * 1024, limits.MemoryBytes);
        Assert.Equal(10, limits.Processes);
        Assert.Equal(512L * 1024, limits.OutputBytes);
        Assert.Null(plan.Request.CompileLimits);
        Assert.True(plan.Request.Network);
    }

    [Fact]
    public void No_limit_options_means_no_overrides()
    {
        var (plan, _) = Build(new RunArguments { Files = ["main.py"] });
        Assert.Null(plan!.Request.RunLimits);
        Assert.False(plan.Request.Network);
        Assert.True(plan.Request.Stdin.IsEmpty);
        Assert.Empty(plan.Request.Args);
    }

    [Fact]
    public void Every_problem_is_reported_together()
    {
        var (plan, errors) = Build(new RunArguments
        {
            Files = ["missing.py", "--bogus"],
            Memory = "12XB",
            Time = "soon",
            Processes = "0",
            Stdin = Path.Combine(_dir.Path, "no-input.txt"),
        });
        Assert.Null(plan);
        Assert.Equal(6, errors.Count);
        Assert.Contains(errors, e => e.Contains("--memory '12XB' is not a size", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("--time 'soon' is not a duration", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("--processes '0'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("missing.py' does not exist", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("unknown option '--bogus'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("--stdin file", StringComparison.Ordinal));
    }

    [Fact]
    public void A_directory_is_not_a_file()
    {
        Directory.CreateDirectory(Path.Combine(_dir.Path, "pkg.py"));
        var (_, errors) = Build(new RunArguments { Files = ["main.py", "pkg.py"] });
        Assert.Contains("is a directory", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Two_files_with_the_same_base_name_are_refused_with_both_paths()
    {
        _dir.Write("a/util.py", "");
        _dir.Write("b/util.py", "");
        var (_, errors) = Build(new RunArguments { Files = ["main.py", "a/util.py", "b/util.py"] });
        var error = Assert.Single(errors);
        Assert.Contains("would both be sent as 'util.py'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Stdin_file_and_dash_are_read()
    {
        var input = _dir.Write("in.txt", "from a file");
        var (fromFile, _) = Build(new RunArguments { Files = ["main.py"], Stdin = input });
        Assert.Equal("from a file", Encoding.UTF8.GetString(fromFile!.Request.Stdin.Span));

        var (fromDash, _) = Build(new RunArguments { Files = ["main.py"], Stdin = "-" }, () => new MemoryStream("piped"u8.ToArray()));
        Assert.Equal("piped", Encoding.UTF8.GetString(fromDash!.Request.Stdin.Span));
    }

    [Fact]
    public void Args_are_passed_in_order()
    {
        var (plan, _) = Build(new RunArguments { Files = ["main.py"], Args = ["-v", "two words", ""] });
        Assert.Equal(new[] { "-v", "two words", "" }, plan!.Request.Args.AsEnumerable());
    }

    [Theory]
    [InlineData("hello.py", "hello.py")]
    [InlineData("./hello.py", "hello.py")]
    [InlineData("sub/mod.py", "sub/mod.py")]
    [InlineData("./sub//deep/./mod.py", "sub/deep/mod.py")]
    [InlineData("../elsewhere/x.py", "x.py")]
    [InlineData("sub/../x.py", "x.py")]
    [InlineData("/tmp/x/hello.py", "hello.py")]
    [InlineData("/hello.py", "hello.py")]
    public void Relative_paths_below_here_keep_their_folders_and_others_send_the_base_name(string given, string sent) =>
        Assert.Equal(sent, RunRequestBuilder.JailName(given));

    [Theory]
    [InlineData("sub/")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("/")]
    public void Paths_that_name_no_file_have_no_jail_name(string given) =>
        Assert.Null(RunRequestBuilder.JailName(given));
}
