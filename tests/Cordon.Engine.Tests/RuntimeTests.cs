using System.Globalization;
using System.Text;
using Cordon.Engine;
using Cordon.Jail;
using Xunit.Abstractions;

namespace Cordon.Engine.Tests;

/// <summary>Helpers shared by the runtime tests: the repository's manifests and small requests.</summary>
internal static class Runtimes
{
    public static readonly RuntimeCatalog Catalog = RuntimeCatalog.Load(RuntimeCatalog.LocateDirectory());

    public static ExecutionFile File(string name, string text) => new(name, Encoding.UTF8.GetBytes(text));

    public static ExecutionRequest Request(string language, params ExecutionFile[] files) => new() { Language = language, Files = [.. files] };

    public static string Describe(ExecutionResult result)
    {
        var stage = result.FinalStage;
        return $"{result.Language}: {result.Verdict} (exit {stage.ExitCode}, signal {stage.Signal}) {stage.InternalMessage}\n"
            + $"compile stdout: {EngineFixture.Text(result.Compile?.Stdout ?? default)}\ncompile stderr: {EngineFixture.Text(result.Compile?.Stderr ?? default)}\n"
            + $"run stdout: {EngineFixture.Text(result.Run?.Stdout ?? default)}\nrun stderr: {EngineFixture.Text(result.Run?.Stderr ?? default)}";
    }
}

/// <summary>Every manifest's test program, through a real jail.</summary>
public sealed class RuntimeTestProgramTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    public static TheoryData<string> ManifestNames() => new(Runtimes.Catalog.Manifests.Select(m => m.Name));

    [Theory(Timeout = 120000)]
    [MemberData(nameof(ManifestNames))]
    public async Task Test_program_prints_OK(string name)
    {
        var manifest = fixture.Engine.Catalog.Find(name)!;
        var info = await fixture.Engine.Catalog.ProbeAsync(manifest);
        Assert.True(info.Available, $"{name} is not installed: {info.Problem}");
        Assert.Matches(@"^\d+(\.\d+)+$", info.Version);
        var code = await System.IO.File.ReadAllTextAsync(Path.Combine(manifest.Directory, manifest.TestProgram));

        var result = await fixture.Engine.ExecuteAsync(Runtimes.Request(name, Runtimes.File(manifest.TestProgram, code)));

        Assert.True(result.Verdict == Verdict.Ok, Runtimes.Describe(result));
        Assert.Equal("OK\n", EngineFixture.Text(result.Run!.Stdout));
        Assert.Equal(manifest.Compile is not null, result.Compile is not null);
        // The timings of a cold (fresh jail, fresh compiler) run, for the record in the test log.
        static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture);
        var compile = result.Compile is { } c ? $"compile wall {Ms(c.Usage.WallTime)} ms, cpu {Ms(c.Usage.CpuTime)} ms; " : "";
        output.WriteLine($"{name} {info.Version}: {compile}run wall {Ms(result.Run.Usage.WallTime)} ms, cpu {Ms(result.Run.Usage.CpuTime)} ms");
    }
}

/// <summary>A program that fails while running gives runtime_error with its exit code and its stderr.</summary>
public sealed class RuntimeErrorTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    public static TheoryData<string, string, string, int> Programs() => new()
    {
        { "python", "main.py", "raise ValueError('bad input')\n", 1 },
        { "javascript", "main.js", "throw new Error('bad input');\n", 1 },
        { "typescript", "main.ts", "const n: number = 1;\nif (n > 0) throw new Error('bad input');\n", 1 },
        { "php", "main.php", "<?php\nthrow new Exception('bad input');\n", 255 },
        { "ruby", "main.rb", "raise 'bad input'\n", 1 },
        { "perl", "main.pl", "die \"bad input\\n\";\n", 255 },
        { "lua", "main.lua", "error('bad input')\n", 1 },
        { "bash", "main.sh", "echo 'bad input' >&2\nexit 3\n", 3 },
        { "c", "main.c", "#include <stdio.h>\nint main(void) { fputs(\"bad input\\n\", stderr); return 3; }\n", 3 },
        { "cpp", "main.cpp", "#include <iostream>\nint main() { std::cerr << \"bad input\" << std::endl; return 3; }\n", 3 },
        { "go", "main.go", "package main\n\nfunc main() {\n\tpanic(\"bad input\")\n}\n", 2 },
        { "rust", "main.rs", "fn main() {\n    panic!(\"bad input\");\n}\n", 101 },
        { "java", "Main.java", "public class Main {\n    public static void main(String[] args) {\n        throw new IllegalStateException(\"bad input\");\n    }\n}\n", 1 },
        { "csharp", "main.cs", "Console.Error.WriteLine(\"bad input\");\nreturn 3;\n", 3 },
        { "sqlite3", "main.sql", "SELECT 'before';\nSELECT * FROM no_such_table;\n", 1 },
        { "fortran", "main.f90", "program main\n  error stop 'bad input'\nend program main\n", 1 },
        { "pascal", "main.pas", "program Main;\nbegin\n  WriteLn(StdErr, 'bad input');\n  Halt(3);\nend.\n", 3 },
        { "awk", "main.awk", "BEGIN { print \"bad input\" > \"/dev/stderr\"; exit 3 }\n", 3 },
    };

    [Theory(Timeout = 120000)]
    [MemberData(nameof(Programs))]
    public async Task Failing_program_gives_runtime_error_with_its_exit_code_and_stderr(string language, string file, string code, int exitCode)
    {
        var result = await fixture.Engine.ExecuteAsync(Runtimes.Request(language, Runtimes.File(file, code)));

        Assert.True(result.Verdict == Verdict.RuntimeError, Runtimes.Describe(result));
        Assert.Equal(exitCode, result.Run!.ExitCode);
        var stderr = EngineFixture.Text(result.Run.Stderr);
        Assert.True(stderr.Contains("bad input", StringComparison.Ordinal) || language == "sqlite3" && stderr.Contains("no_such_table", StringComparison.Ordinal), Runtimes.Describe(result));
    }

    [Fact(Timeout = 120000)]
    public async Task Unhandled_dotnet_exception_aborts_with_the_exception_on_stderr()
    {
        // .NET aborts on an unhandled exception (like C++'s std::terminate), so it is a signal, not an exit code.
        var result = await fixture.Engine.ExecuteAsync(Runtimes.Request("cs", Runtimes.File("main.cs", "throw new InvalidOperationException(\"bad input\");\n")));

        Assert.True(result.Verdict == Verdict.Signaled, Runtimes.Describe(result));
        Assert.Equal(6, result.Run!.Signal);
        Assert.Contains("System.InvalidOperationException: bad input", EngineFixture.Text(result.Run.Stderr), StringComparison.Ordinal);
    }
}

/// <summary>A compiled language's compile error: compile_error, the compiler's message on stderr, no run stage.</summary>
public sealed class CompileErrorTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    public static TheoryData<string, string, string> Programs() => new()
    {
        { "c", "main.c", "int main(void) { return undefined_name; }\n" },
        { "cpp", "main.cpp", "int main() { return undefined_name; }\n" },
        { "go", "main.go", "package main\n\nfunc main() {\n\tprintln(undefined_name)\n}\n" },
        { "rust", "main.rs", "fn main() {\n    println!(\"{}\", undefined_name);\n}\n" },
        { "java", "Main.java", "public class Main {\n    public static void main(String[] args) {\n        System.out.println(undefined_name);\n    }\n}\n" },
        { "csharp", "main.cs", "Console.WriteLine(undefined_name);\n" },
        { "typescript", "main.ts", "const n: number = undefined_name;\nconsole.log(n);\n" },
        { "fortran", "main.f90", "program main\n  implicit none\n  print *, undefined_name\nend program main\n" },
        { "pascal", "main.pas", "program Main;\nbegin\n  WriteLn(undefined_name);\nend.\n" },
    };

    [Theory(Timeout = 120000)]
    [MemberData(nameof(Programs))]
    public async Task Compile_error_gives_compile_error_with_the_compilers_message_and_no_run(string language, string file, string code)
    {
        var result = await fixture.Engine.ExecuteAsync(Runtimes.Request(language, Runtimes.File(file, code)));

        Assert.True(result.Verdict == Verdict.CompileError, Runtimes.Describe(result));
        Assert.Null(result.Run);
        Assert.NotEqual(0, result.Compile!.ExitCode);
        Assert.Contains("undefined_name", EngineFixture.Text(result.Compile.Stderr), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_compiled_runtime_has_a_compile_error_case() =>
        Assert.Equal(
            Runtimes.Catalog.Manifests.Where(m => m.Compile is not null).Select(m => m.Name).Order(StringComparer.Ordinal),
            Programs().Select(row => (string)row[0]).Order(StringComparer.Ordinal));

    [Fact(Timeout = 120000)]
    public async Task Java_without_a_main_method_is_a_compile_error_that_says_so()
    {
        var result = await fixture.Engine.ExecuteAsync(Runtimes.Request("java", Runtimes.File("Util.java", "class Util {\n    static int twice(int x) { return 2 * x; }\n}\n")));

        Assert.True(result.Verdict == Verdict.CompileError, Runtimes.Describe(result));
        Assert.Contains("public static void main", EngineFixture.Text(result.Compile!.Stderr), StringComparison.Ordinal);
    }
}

/// <summary>Every language reads its stdin.</summary>
public sealed class StdinTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    public static TheoryData<string, string, string> Programs() => new()
    {
        { "python", "main.py", "import sys\nsys.stdout.write(sys.stdin.read().upper())\n" },
        { "javascript", "main.js", "process.stdout.write(require('fs').readFileSync(0, 'utf8').toUpperCase());\n" },
        { "typescript", "main.ts", "const input: string = require('fs').readFileSync(0, 'utf8');\nprocess.stdout.write(input.toUpperCase());\n" },
        { "typescript", "main.ts", "import { readFileSync } from 'node:fs';\nimport * as os from 'os';\nconst input: string = readFileSync(0, 'utf8');\nprocess.stdout.write(input.toUpperCase().split('\\n').join(os.EOL));\n" },
        { "php", "main.php", "<?php\necho strtoupper(stream_get_contents(STDIN));\n" },
        { "ruby", "main.rb", "print $stdin.read.upcase\n" },
        { "perl", "main.pl", "while (my $line = <STDIN>) { print uc $line; }\n" },
        { "lua", "main.lua", "io.write(string.upper(io.read('a')))\n" },
        { "bash", "main.sh", "while IFS= read -r line; do echo \"${line^^}\"; done\n" },
        { "c", "main.c", "#include <ctype.h>\n#include <stdio.h>\nint main(void) { int c; while ((c = getchar()) != EOF) putchar(toupper(c)); return 0; }\n" },
        { "cpp", "main.cpp", "#include <cctype>\n#include <iostream>\n#include <string>\nint main() {\n    std::string line;\n    while (std::getline(std::cin, line)) {\n        for (auto &c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));\n        std::cout << line << '\\n';\n    }\n}\n" },
        { "go", "main.go", "package main\n\nimport (\n\t\"fmt\"\n\t\"io\"\n\t\"os\"\n\t\"strings\"\n)\n\nfunc main() {\n\tb, _ := io.ReadAll(os.Stdin)\n\tfmt.Print(strings.ToUpper(string(b)))\n}\n" },
        { "rust", "main.rs", "use std::io::Read;\n\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n    print!(\"{}\", s.to_uppercase());\n}\n" },
        { "java", "Main.java", "import java.io.*;\n\npublic class Main {\n    public static void main(String[] args) throws IOException {\n        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));\n        String line;\n        while ((line = in.readLine()) != null) System.out.println(line.toUpperCase());\n    }\n}\n" },
        { "csharp", "main.cs", "Console.Write(Console.In.ReadToEnd().ToUpperInvariant());\n" },
        // sqlite's .import reopens /dev/stdin by name, which only works when the jail owns its stdin pipe.
        { "sqlite3", "main.sql", "CREATE TABLE input(line TEXT);\n.import /dev/stdin input\nSELECT upper(line) FROM input;\n" },
        { "fortran", "main.f90", "program main\n  implicit none\n  character(len=1000) :: line\n  integer :: ios, i\n  do\n    read (*, '(a)', iostat=ios) line\n    if (ios /= 0) exit\n    do i = 1, len_trim(line)\n      if (line(i:i) >= 'a' .and. line(i:i) <= 'z') line(i:i) = achar(iachar(line(i:i)) - 32)\n    end do\n    write (*, '(a)') trim(line)\n  end do\nend program main\n" },
        { "pascal", "main.pas", "program Main;\nuses SysUtils;\nvar line: string;\nbegin\n  while not Eof(Input) do\n  begin\n    ReadLn(line);\n    WriteLn(UpperCase(line));\n  end;\nend.\n" },
        { "awk", "main.awk", "{ print toupper($0) }\n" },
    };

    [Theory(Timeout = 120000)]
    [MemberData(nameof(Programs))]
    public async Task Program_reads_stdin(string language, string file, string code)
    {
        var request = Runtimes.Request(language, Runtimes.File(file, code)) with { Stdin = Encoding.UTF8.GetBytes("hello\nstdin world\n") };

        var result = await fixture.Engine.ExecuteAsync(request);

        Assert.True(result.Verdict == Verdict.Ok, Runtimes.Describe(result));
        Assert.Equal("HELLO\nSTDIN WORLD\n", EngineFixture.Text(result.Run!.Stdout));
    }

    [Fact(Timeout = 120000)]
    public async Task Node_reads_dev_stdin_by_name()
    {
        var request = Runtimes.Request("js", Runtimes.File("main.js", "process.stdout.write(require('fs').readFileSync('/dev/stdin', 'utf8').toUpperCase());\n"))
            with { Stdin = Encoding.UTF8.GetBytes("abc\n") };

        var result = await fixture.Engine.ExecuteAsync(request);

        Assert.True(result.Verdict == Verdict.Ok, Runtimes.Describe(result));
        Assert.Equal("ABC\n", EngineFixture.Text(result.Run!.Stdout));
    }
}

/// <summary>Programs of several files, compiled in one jail and run in a fresh one.</summary>
public sealed class MultiFileTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private async Task<ExecutionResult> RunOk(string language, string expected, params ExecutionFile[] files)
    {
        var result = await fixture.Engine.ExecuteAsync(Runtimes.Request(language, files));
        Assert.True(result.Verdict == Verdict.Ok, Runtimes.Describe(result));
        Assert.Equal(expected, EngineFixture.Text(result.Run!.Stdout));
        return result;
    }

    [Fact(Timeout = 120000)]
    public Task Cpp_with_a_header_and_two_sources() => RunOk("c++", "42\n",
        Runtimes.File("main.cpp", "#include <iostream>\n#include \"util.hpp\"\nint main() { std::cout << util::twice(21) << std::endl; }\n"),
        Runtimes.File("util.hpp", "#pragma once\nnamespace util { int twice(int x); }\n"),
        Runtimes.File("util.cpp", "#include \"util.hpp\"\nint util::twice(int x) { return 2 * x; }\n"));

    [Fact(Timeout = 120000)]
    public async Task Java_with_two_classes_in_two_files_finds_the_main_class_and_runs_only_class_files()
    {
        var result = await RunOk("java", "Hello, jail\nsource gone\n",
            Runtimes.File("Main.java", "public class Main {\n    public static void main(String[] args) {\n        System.out.println(new Greeter(\"jail\").greet());\n        System.out.println(new java.io.File(\"Main.java\").exists() ? \"source visible\" : \"source gone\");\n    }\n}\n"),
            Runtimes.File("Greeter.java", "public class Greeter {\n    private final String name;\n    Greeter(String name) { this.name = name; }\n    String greet() { return \"Hello, \" + name; }\n}\n"));
        Assert.Equal(Verdict.Ok, result.Compile!.Verdict);
    }

    [Fact(Timeout = 120000)]
    public Task Java_main_class_in_a_package_and_not_in_the_first_file_is_found() => RunOk("java", "App 3 [x, y]\n",
        Runtimes.File("util/MathUtil.java", "package util;\n\npublic final class MathUtil {\n    public static int add(int a, int b) { return a + b; }\n}\n"),
        Runtimes.File("app/App.java", "package app;\n\nimport util.MathUtil;\n\nclass App {\n    public static void main(String... args) throws Exception {\n        System.out.println(\"App \" + MathUtil.add(1, 2) + \" \" + java.util.Arrays.toString(new String[] { \"x\", \"y\" }));\n    }\n}\n"));

    [Fact(Timeout = 120000)]
    public Task Go_with_a_second_source_file() => RunOk("golang", "42\n",
        Runtimes.File("main.go", "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(twice(21))\n}\n"),
        Runtimes.File("util.go", "package main\n\nfunc twice(x int) int { return 2 * x }\n"));

    [Fact(Timeout = 120000)]
    public Task Rust_with_a_second_module_file() => RunOk("rs", "42\n",
        Runtimes.File("main.rs", "mod util;\n\nfn main() {\n    println!(\"{}\", util::twice(21));\n}\n"),
        Runtimes.File("util.rs", "pub fn twice(x: i32) -> i32 {\n    2 * x\n}\n"));

    [Fact(Timeout = 120000)]
    public Task Csharp_with_two_files() => RunOk("cs", "42\n",
        Runtimes.File("main.cs", "Console.WriteLine(Util.Twice(21));\n"),
        Runtimes.File("Util.cs", "static class Util\n{\n    public static int Twice(int x) => 2 * x;\n}\n"));

    [Fact(Timeout = 120000)]
    public Task Pascal_program_uses_a_unit_in_a_second_file() => RunOk("pascal", "42\n",
        Runtimes.File("main.pas", "program Main;\nuses Util;\nbegin\n  WriteLn(Twice(21));\nend.\n"),
        Runtimes.File("util.pas", "unit Util;\ninterface\nfunction Twice(x: Integer): Integer;\nimplementation\nfunction Twice(x: Integer): Integer;\nbegin\n  Twice := 2 * x;\nend;\nend.\n"));

    [Fact(Timeout = 120000)]
    public Task Typescript_imports_a_sibling_module() => RunOk("ts", "42\n",
        Runtimes.File("main.ts", "import { twice } from './util';\nconsole.log(twice(21));\n"),
        Runtimes.File("util.ts", "export function twice(x: number): number {\n    return 2 * x;\n}\n"));

    [Fact(Timeout = 120000)]
    public async Task Arguments_reach_a_compiled_program()
    {
        var request = Runtimes.Request("java", Runtimes.File("Main.java", "public class Main {\n    public static void main(String[] args) {\n        System.out.println(java.util.Arrays.toString(args));\n    }\n}\n"))
            with { Args = ["a b", "c"] };

        var result = await fixture.Engine.ExecuteAsync(request);

        Assert.True(result.Verdict == Verdict.Ok, Runtimes.Describe(result));
        Assert.Equal("[a b, c]\n", EngineFixture.Text(result.Run!.Stdout));
    }
}

/// <summary>Per-language limits: the JVM's heap fits its memory limit; threads and compile time are raised where needed.</summary>
public sealed class RuntimeLimitTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    [Fact(Timeout = 120000)]
    public async Task Java_churning_through_gigabytes_of_garbage_stays_inside_its_memory_limit()
    {
        // Without -Xmx the JVM (which cannot see its cgroup) would size its heap from the host's memory and be killed.
        var result = await fixture.Engine.ExecuteAsync(Runtimes.Request("java", Runtimes.File("Main.java",
            "public class Main {\n    public static void main(String[] args) {\n        long total = 0;\n        for (int i = 0; i < 4096; i++) { byte[] b = new byte[1 << 20]; b[i] = 1; total += b.length; }\n        System.out.println(total >> 30);\n    }\n}\n")));

        Assert.True(result.Verdict == Verdict.Ok, Runtimes.Describe(result));
        Assert.Equal("4\n", EngineFixture.Text(result.Run!.Stdout));
    }

    [Fact(Timeout = 120000)]
    public async Task Java_heap_exhaustion_is_an_OutOfMemoryError_not_a_kill()
    {
        var result = await fixture.Engine.ExecuteAsync(Runtimes.Request("java", Runtimes.File("Main.java",
            "public class Main {\n    public static void main(String[] args) {\n        byte[] b = new byte[400_000_000];\n        System.out.println(b.length);\n    }\n}\n")));

        Assert.True(result.Verdict == Verdict.RuntimeError, Runtimes.Describe(result));
        Assert.Contains("java.lang.OutOfMemoryError", EngineFixture.Text(result.Run!.Stderr), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("java")]
    [InlineData("go")]
    public void Java_and_go_get_more_threads_than_python(string language)
    {
        var engine = fixture.Engine;
        var python = engine.RunLimitsFor(engine.Catalog.Find("python")!, null);
        var limits = engine.RunLimitsFor(engine.Catalog.Find(language)!, null);
        Assert.True(limits.Processes > python.Processes);
        Assert.True(limits.MemoryBytes >= python.MemoryBytes);
    }

    [Fact]
    public void Java_gets_more_memory_than_python() =>
        Assert.True(fixture.Engine.RunLimitsFor(fixture.Engine.Catalog.Find("java")!, null).MemoryBytes
            > fixture.Engine.RunLimitsFor(fixture.Engine.Catalog.Find("python")!, null).MemoryBytes);

    [Fact]
    public void Every_compile_stage_gets_more_time_than_its_run_stage() =>
        Assert.All(fixture.Engine.Catalog.Manifests.Where(m => m.Compile is not null), m =>
            Assert.True(fixture.Engine.CompileLimitsFor(m, null).CpuTime > fixture.Engine.RunLimitsFor(m, null).CpuTime, m.Name));
}

/// <summary>The catalog's view of the runtimes folder, without jails.</summary>
public sealed class RuntimeCatalogTests
{
    [Fact]
    public void At_least_fifteen_languages_are_declared() => Assert.True(Runtimes.Catalog.Manifests.Count >= 15, string.Join(", ", Runtimes.Catalog.Manifests.Select(m => m.Name)));

    [Theory]
    [InlineData("py", "python")]
    [InlineData("js", "javascript")]
    [InlineData("node", "javascript")]
    [InlineData("ts", "typescript")]
    [InlineData("c++", "cpp")]
    [InlineData("cpp", "cpp")]
    [InlineData("cs", "csharp")]
    [InlineData("c#", "csharp")]
    [InlineData("rb", "ruby")]
    [InlineData("golang", "go")]
    [InlineData("rs", "rust")]
    [InlineData("sqlite", "sqlite3")]
    [InlineData("sh", "bash")]
    [InlineData("pl", "perl")]
    public void Piston_style_aliases_resolve(string alias, string name) => Assert.Equal(name, Runtimes.Catalog.Find(alias)?.Name);

    [Theory]
    [InlineData(".ts", "typescript")]
    [InlineData(".cpp", "cpp")]
    [InlineData(".java", "java")]
    [InlineData(".cs", "csharp")]
    [InlineData(".sql", "sqlite3")]
    [InlineData(".rs", "rust")]
    [InlineData(".go", "go")]
    public void Extensions_pick_the_runtime(string extension, string name) => Assert.Equal(name, Runtimes.Catalog.FindByExtension(extension)?.Name);

    [Fact(Timeout = 60000)]
    public async Task A_runtime_whose_toolchain_is_missing_is_unavailable_with_the_program_and_install_hint_and_the_others_still_work()
    {
        var dir = Directory.CreateTempSubdirectory("cordon-runtimes-");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir.FullName, "ghost"));
            await System.IO.File.WriteAllTextAsync(Path.Combine(dir.FullName, "ghost", "manifest.json"), """
                {
                  "name": "ghost",
                  "mainFile": "main.ghost",
                  "version": { "command": ["ghostc-not-installed", "--version"] },
                  "install": "apt-get install -y ghost-compiler",
                  "compile": { "command": ["ghostc-not-installed", "{main}"], "artifacts": ["main.out"] },
                  "run": { "command": ["./main.out"] },
                  "testProgram": "test.ghost"
                }
                """);
            Directory.CreateDirectory(Path.Combine(dir.FullName, "bash"));
            System.IO.File.Copy(Path.Combine(Runtimes.Catalog.Find("bash")!.Directory, "manifest.json"), Path.Combine(dir.FullName, "bash", "manifest.json"));

            var catalog = RuntimeCatalog.Load(dir.FullName);
            var infos = await catalog.ProbeAllAsync();

            var ghost = Assert.Single(infos, i => i.Name == "ghost");
            Assert.False(ghost.Available);
            Assert.Null(ghost.Version);
            Assert.Contains("ghostc-not-installed", ghost.Problem, StringComparison.Ordinal);
            Assert.Contains("apt-get install -y ghost-compiler", ghost.Problem, StringComparison.Ordinal);
            var bash = Assert.Single(infos, i => i.Name == "bash");
            Assert.True(bash.Available, bash.Problem);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Read_only_path_globs_expand_to_what_is_installed()
    {
        var dir = Directory.CreateTempSubdirectory("cordon-globs-");
        try
        {
            foreach (var name in new[] { "java-21-openjdk", "java-17-openjdk", "python3" }) Directory.CreateDirectory(Path.Combine(dir.FullName, name));
            var expanded = CordonEngine.ExpandPathGlobs([Path.Combine(dir.FullName, "java-*-openjdk"), Path.Combine(dir.FullName, "python3"), Path.Combine(dir.FullName, "missing", "x-*"), Path.Combine(dir.FullName, "none-*")]);
            Assert.Equal(new[] { Path.Combine(dir.FullName, "java-17-openjdk"), Path.Combine(dir.FullName, "java-21-openjdk"), Path.Combine(dir.FullName, "python3") }, expanded.ToArray());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
