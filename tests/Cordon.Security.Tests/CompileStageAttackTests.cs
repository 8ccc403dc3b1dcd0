using System.Text;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>The compile stage as an attack: the compiler reads what the source names and runs in a jail too.</summary>
public sealed class CompileStageAttackTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    private static readonly LimitOverrides TightCompile = new() { WallTimeMs = 15000, CpuTimeMs = 5000, MemoryBytes = 128L * 1024 * 1024, OutputBytes = 64 * 1024 };

    private static string CompileOutput(ExecutionResult result) =>
        SecurityFixture.Text(result.Compile!.Stdout) + SecurityFixture.Text(result.Compile.Stderr);

    [Fact(Timeout = 60000)]
    public async Task Compiler_including_host_secrets_finds_only_the_jails_files()
    {
        // Secrets, plus host files that are harmless but absent from a jail: the compiler's /etc is the jail's.
        string[] absent =
        [
            "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh/ssh_host_ed25519_key", "/root/.bash_history",
            "/proc/1/root/etc/shadow", "/etc/debian_version", "/etc/os-release",
        ];
        var probes = string.Concat(absent.Append("/etc/passwd").Select(s => $"#if __has_include(\"{s}\")\n#warning \"{s} visible\"\n#else\n#warning \"{s} missing\"\n#endif\n"));
        var result = await fixture.Run("c", probes + "#include \"/etc/passwd\"\n", compileLimits: TightCompile);

        Assert.Equal(Verdict.CompileError, result.Verdict);
        Assert.Null(result.Run);
        var output = CompileOutput(result);
        foreach (var path in absent)
        {
            Assert.Contains($"{path} missing", output, StringComparison.Ordinal);
            Assert.DoesNotContain($"{path} visible", output, StringComparison.Ordinal);
        }
        // The probe works (the jail's passwd is there), and the passwd the compiler read is Cordon's, not the host's.
        Assert.Contains("/etc/passwd visible", output, StringComparison.Ordinal);
        Assert.Contains("root:x:0:0:root:/root:/usr/sbin/nologin", output, StringComparison.Ordinal);
        Assert.DoesNotContain(File.ReadLines("/etc/passwd").First(), output, StringComparison.Ordinal);
        foreach (var hash in ReadableShadowHashes()) Assert.DoesNotContain(hash, output, StringComparison.Ordinal);
    }

    private static IEnumerable<string> ReadableShadowHashes() =>
        File.Exists("/etc/shadow")
            ? File.ReadAllLines("/etc/shadow").Select(l => l.Split(':')).Where(f => f.Length > 1 && f[1].Length > 8).Select(f => f[1])
            : [];

    [Fact(Timeout = 60000)]
    public async Task Compiler_including_proc_environ_and_cmdline_gets_nothing_of_the_host()
    {
        var result = await fixture.RunC("""
            static const char from_environ[] = ""
            #include "/proc/self/environ"
            ;
            static const char from_pid1[] = ""
            #include "/proc/1/environ"
            ;
            static const char from_cmdline[] = ""
            #include "/proc/1/cmdline"
            ;
            int main(void)
            {
                printf("%zu %zu %zu\n", sizeof from_environ - 1, sizeof from_pid1 - 1, sizeof from_cmdline - 1);
                return 0;
            }
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal("0 0 0\n", SecurityFixture.Text(result.Run!.Stdout));
        var everything = CompileOutput(result) + SecurityFixture.Text(result.Run.Stdout) + SecurityFixture.Text(result.Run.Stderr);
        Assert.DoesNotContain(EnvironmentMarker.Value, everything, StringComparison.Ordinal);
        Assert.DoesNotContain("/run/cordon", everything, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Self_including_header_bomb_is_cut_off_at_the_output_limit_and_runs_nothing()
    {
        // Each level includes itself twice: 2^200 inclusions if nothing stopped it. gcc reports every one past its
        // nesting limit, and that flood of errors is what the output limit cuts off, within milliseconds.
        var result = await fixture.Run("c", "#include __FILE__\n#include __FILE__\nint x;\n", compileLimits: TightCompile);

        Assert.True(result.Verdict == Verdict.OutputLimit, SecurityFixture.Describe(result));
        Assert.Null(result.Run);
        Assert.True(result.Compile!.StderrTruncated);
        Assert.Equal("stderr went past 65536 bytes", result.Compile.KillReason);
        Assert.Equal(64 * 1024, result.Compile.Stderr.Length);
        Assert.Contains("#include nested depth 200 exceeds maximum of 200", SecurityFixture.Text(result.Compile.Stderr), StringComparison.Ordinal);
        Assert.True(result.Compile.Usage.CpuTime < TimeSpan.FromSeconds(5), $"cpu {result.Compile.Usage.CpuTime}");
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Theory(Timeout = 60000)]
    [InlineData("#include \"/dev/zero\"\n")]
    [InlineData("#define A0 0,0,0,0,0,0,0,0,0,0,\n#define A1 A0 A0 A0 A0 A0 A0 A0 A0 A0 A0\n#define A2 A1 A1 A1 A1 A1 A1 A1 A1 A1 A1\n" +
                "#define A3 A2 A2 A2 A2 A2 A2 A2 A2 A2 A2\n#define A4 A3 A3 A3 A3 A3 A3 A3 A3 A3 A3\n#define A5 A4 A4 A4 A4 A4 A4 A4 A4 A4 A4\n" +
                "#define A6 A5 A5 A5 A5 A5 A5 A5 A5 A5 A5\n#define A7 A6 A6 A6 A6 A6 A6 A6 A6 A6 A6\n#define A8 A7 A7 A7 A7 A7 A7 A7 A7 A7 A7\n" +
                "int x[] = { A8 };\nint main(void) { return 0; }\n")]
    public async Task Compile_time_memory_blowup_gets_the_memory_limit_verdict(string source)
    {
        var result = await fixture.Run("c", source, compileLimits: TightCompile);

        Assert.True(result.Verdict == Verdict.MemoryLimit, SecurityFixture.Describe(result));
        Assert.Null(result.Run);
        Assert.InRange(result.Compile!.Usage.PeakMemoryBytes, 1, 128L * 1024 * 1024);
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task File_names_cannot_inject_compiler_options()
    {
        // gcc reads "@file" arguments as more options, and -wrapper runs any program in place of the compiler.
        var request = new ExecutionRequest
        {
            Language = "c",
            Files =
            [
                new ExecutionFile("main.c", "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"u8.ToArray()),
                new ExecutionFile("@opts.c", ""u8.ToArray()),
                new ExecutionFile("opts.c", "-wrapper /bin/sh,-c,echo${IFS}INJECTED${IFS}$(id${IFS}-u)>&2\n"u8.ToArray()),
                new ExecutionFile("-o/main.c", "int unused_by_injection;\n"u8.ToArray()),
            ],
        };

        var result = await fixture.Engine.ExecuteAsync(request);

        var output = CompileOutput(result);
        // The payload's text shows in gcc's error quoting opts.c; what must never show is its output ("INJECTED <uid>").
        Assert.DoesNotMatch(@"INJECTED \d", output);
        // Each name was compiled as the file it is: opts.c is not C, so the compile fails on its text.
        Assert.Equal(Verdict.CompileError, result.Verdict);
        Assert.Contains("opts.c:1:", output, StringComparison.Ordinal);
        Assert.DoesNotContain("unrecognized", output, StringComparison.Ordinal);
        Assert.Null(result.Run);
    }
}
