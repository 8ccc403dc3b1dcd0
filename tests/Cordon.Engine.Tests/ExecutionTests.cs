using System.Collections.Immutable;
using System.Text;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

public sealed class ExecutionTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    [Theory(Timeout = 60000)]
    [InlineData("python")]
    [InlineData("javascript")]
    [InlineData("bash")]
    [InlineData("c")]
    public async Task Each_runtime_test_program_prints_OK(string language)
    {
        var manifest = fixture.Engine.Catalog.Find(language)!;
        var code = await File.ReadAllTextAsync(Path.Combine(manifest.Directory, manifest.TestProgram));
        var result = await fixture.Engine.ExecuteAsync(EngineFixture.Request(language, manifest.TestProgram, code));
        Assert.True(result.Verdict == Verdict.Ok, $"{result.Verdict}: {result.FinalStage.InternalMessage} {EngineFixture.Text(result.FinalStage.Stderr)}");
        Assert.Equal("OK\n", EngineFixture.Text(result.Run!.Stdout));
    }
}

public sealed class PipelineTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private static ExecutionFile File(string name, string text) => new(name, Encoding.UTF8.GetBytes(text));

    [Fact(Timeout = 60000)]
    public async Task Python_main_imports_a_sibling_module_and_a_package_in_a_subfolder()
    {
        var result = await fixture.Engine.ExecuteAsync(new ExecutionRequest
        {
            Language = "py",
            Files =
            [
                File("main.py", "import helpers\nfrom pkg.sub import value\nprint(helpers.greet(), value)\n"),
                File("helpers.py", "def greet():\n    return 'hi'\n"),
                File("pkg/__init__.py", ""),
                File("pkg/sub.py", "value = 42\n"),
            ],
        });
        Assert.Equal(Verdict.Ok, result.Verdict);
        Assert.Equal("hi 42\n", EngineFixture.Text(result.Run!.Stdout));
    }

    [Fact(Timeout = 60000)]
    public async Task C_with_a_header_and_two_sources_compiles_and_runs_in_a_fresh_jail_with_only_the_binary()
    {
        var result = await fixture.Engine.ExecuteAsync(new ExecutionRequest
        {
            Language = "c",
            Files =
            [
                File("main.c", "#include <stdio.h>\n#include \"util.h\"\nint main(void) { printf(\"%d\\n\", twice(21)); FILE *f = fopen(\"util.c\", \"r\"); puts(f ? \"source visible\" : \"only the binary\"); return 0; }\n"),
                File("util.h", "int twice(int x);\n"),
                File("util.c", "#include \"util.h\"\nint twice(int x) { return 2 * x; }\n"),
            ],
        });
        Assert.Equal(Verdict.Ok, result.Verdict);
        Assert.NotNull(result.Compile);
        Assert.Equal(Verdict.Ok, result.Compile!.Verdict);
        Assert.Equal("42\nonly the binary\n", EngineFixture.Text(result.Run!.Stdout));
    }

    [Fact(Timeout = 60000)]
    public async Task C_compile_error_gives_compile_error_with_the_compilers_message_and_no_run()
    {
        var result = await fixture.Engine.ExecuteAsync(EngineFixture.Request("c", "main.c", "int main(void) { return undefined_name; }\n"));
        Assert.Equal(Verdict.CompileError, result.Verdict);
        Assert.Null(result.Run);
        Assert.Contains("undefined_name", EngineFixture.Text(result.Compile!.Stderr), StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Stdin_and_arguments_reach_the_program()
    {
        var result = await fixture.Engine.ExecuteAsync(EngineFixture.Request("python", "main.py",
            "import sys\nprint(sys.argv[1:], sys.stdin.read().upper())\n", "abc", "x", "y z"));
        Assert.Equal(Verdict.Ok, result.Verdict);
        Assert.Equal("['x', 'y z'] ABC\n", EngineFixture.Text(result.Run!.Stdout));
    }

    [Fact(Timeout = 60000)]
    public async Task Runtime_error_keeps_the_exit_code_and_stderr()
    {
        var result = await fixture.Engine.ExecuteAsync(EngineFixture.Request("javascript", "main.js", "console.error('bad'); process.exit(7);\n"));
        Assert.Equal(Verdict.RuntimeError, result.Verdict);
        Assert.Equal(7, result.Run!.ExitCode);
        Assert.Equal("bad\n", EngineFixture.Text(result.Run.Stderr));
    }

    [Fact(Timeout = 60000)]
    public async Task Wall_time_limit_gives_timeout_with_sigkill()
    {
        var request = EngineFixture.Request("bash", "main.sh", "sleep 30\n") with { RunLimits = new LimitOverrides { WallTimeMs = 300 } };
        var result = await fixture.Engine.ExecuteAsync(request);
        Assert.Equal(Verdict.Timeout, result.Verdict);
        Assert.Equal(9, result.Run!.Signal);
        Assert.InRange(result.Run.Usage.WallTime, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(5));
    }

    [Fact(Timeout = 60000)]
    public async Task Invalid_request_lists_every_problem_at_once()
    {
        var request = new ExecutionRequest
        {
            Language = "python",
            Files = [File("../escape.py", ""), File("/etc/passwd", ""), File("ok.py", ""), File("ok.py", "")],
            Args = ["a\0b"],
        };
        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Engine.ExecuteAsync(request));
        Assert.Equal(CordonErrorCode.InvalidRequest, e.Code);
        Assert.Equal(4, e.Errors.Count);
    }

    [Fact(Timeout = 60000)]
    public async Task Network_is_refused_unless_the_operator_allows_it()
    {
        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Engine.ExecuteAsync(EngineFixture.Request("python", "m.py", "print(1)\n") with { Network = true }));
        Assert.Equal(CordonErrorCode.InvalidRequest, e.Code);
        Assert.Contains("network", e.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Unknown_language_names_the_known_ones()
    {
        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Engine.ExecuteAsync(EngineFixture.Request("cobol-2099", "x", "")));
        Assert.Equal(CordonErrorCode.UnknownRuntime, e.Code);
        Assert.Contains("python", e.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Version_that_is_not_installed_is_an_unknown_runtime()
    {
        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Engine.ExecuteAsync(EngineFixture.Request("python", "m.py", "") with { Version = "2.7" }));
        Assert.Equal(CordonErrorCode.UnknownRuntime, e.Code);
    }
}

public sealed class CatalogTests
{
    [Theory]
    [InlineData("3.11.2", null, true)]
    [InlineData("3.11.2", "*", true)]
    [InlineData("3.11.2", "3.x", true)]
    [InlineData("3.11.2", "3", true)]
    [InlineData("3.11.2", "3.11.*", true)]
    [InlineData("3.11.2", "3.11.2", true)]
    [InlineData("3.11.2", "3.12", false)]
    [InlineData("3.11.2", "2.x", false)]
    [InlineData("3.11.2", "3.11.2.1", false)]
    public void Version_ranges_match_like_piston(string version, string? wanted, bool matches) =>
        Assert.Equal(matches, RuntimeCatalog.VersionMatches(version, wanted));

    [Theory]
    [InlineData("*.class", "Main.class", true)]
    [InlineData("*.class", "pkg/Main.class", false)]
    [InlineData("**/*.class", "pkg/Main.class", true)]
    [InlineData("**/*.class", "Main.class", true)]
    [InlineData("main.out", "main.out", true)]
    [InlineData("main.out", "main.outx", false)]
    public void Artifact_globs_match_paths(string glob, string path, bool matches) =>
        Assert.Equal(matches, CordonEngine.GlobToRegex(glob).IsMatch(path));

    [Fact]
    public void Command_placeholders_expand_to_argument_lists()
    {
        ImmutableArray<CordonEngine.StagedFile> files = [new("main.c", default, false), new("util.h", default, false), new("util.c", default, false)];
        var expanded = CordonEngine.Expand(["gcc", "-o", "x", "{files:.c}", "--", "{main}", "{args}"], "main.c", files, ["a b", "c"]);
        Assert.Equal(new[] { "gcc", "-o", "x", "main.c", "util.c", "--", "main.c", "a b", "c" }, expanded.ToArray());
    }

    [Fact]
    public void Every_manifest_in_the_repository_loads_and_names_a_test_program_that_exists()
    {
        var catalog = RuntimeCatalog.Load(RuntimeCatalog.LocateDirectory());
        Assert.True(catalog.Manifests.Count >= 4);
        Assert.All(catalog.Manifests, m => Assert.True(System.IO.File.Exists(Path.Combine(m.Directory, m.TestProgram)), m.Name));
    }

    [Fact]
    public void A_manifest_with_unknown_fields_is_rejected_naming_the_file()
    {
        var dir = Directory.CreateTempSubdirectory("cordon-manifest-");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir.FullName, "bad"));
            System.IO.File.WriteAllText(Path.Combine(dir.FullName, "bad", "manifest.json"), """{ "name": "bad", "mainFile": "m", "version": { "command": ["x"] }, "run": { "command": ["x"] }, "testProgram": "t", "colour": "red" }""");
            var e = Assert.Throws<CordonException>(() => RuntimeCatalog.Load(dir.FullName));
            Assert.Contains("colour", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
