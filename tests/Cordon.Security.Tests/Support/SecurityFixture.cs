using System.Collections.Immutable;
using System.Text;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>
/// One real engine (real bubblewrap jails, cgroups, seccomp, runtimes) shared by a test class, plus helpers that
/// run attacking programs through it.
/// </summary>
public sealed class SecurityFixture : IAsyncLifetime
{
    public CordonEngine Engine { get; private set; } = null!;

    public JailHost Host => Engine.Host;

    /// <summary>
    /// True when the suite runs in warm mode (CORDON_TEST_WARM=1, set by build.sh for a second pass): python,
    /// javascript and c run stages then come from warm pools, and every attack must fail the same way.
    /// </summary>
    public static bool Warm => Environment.GetEnvironmentVariable("CORDON_TEST_WARM") == "1";

    public async Task InitializeAsync()
    {
        // The marker is in this process's environment before the engine (and so every jail launcher) starts: a
        // jail that can read it has reached the host's environment.
        Environment.SetEnvironmentVariable(EnvironmentMarker.Name, EnvironmentMarker.Value);
        Engine = CordonEngine.Create(Warm
            ? new CordonEngineOptions { WarmPool = new WarmPoolOptions { Runtimes = ["python", "javascript", "c"], MinSize = 2, MaxSize = 4 } }
            : new CordonEngineOptions());
        HostInspector.Pools[Engine.Host.InstanceId] = Engine.Pool;
        if (Warm) await Engine.Pool.WaitUntilFilledAsync();
    }

    public async Task DisposeAsync()
    {
        HostInspector.Pools.TryRemove(Engine.Host.InstanceId, out _);
        await Engine.DisposeAsync();
    }

    /// <summary>Runs one file of <paramref name="language"/> through the whole engine pipeline.</summary>
    public Task<ExecutionResult> Run(string language, string code, LimitOverrides? limits = null, byte[]? stdin = null,
        string[]? args = null, LimitOverrides? compileLimits = null) =>
        Engine.ExecuteAsync(new ExecutionRequest
        {
            Language = language,
            Files = [new ExecutionFile(MainFile(language), Encoding.UTF8.GetBytes(code))],
            Stdin = stdin ?? ReadOnlyMemory<byte>.Empty,
            Args = args is null ? [] : [.. args],
            RunLimits = limits,
            CompileLimits = compileLimits,
        });

    /// <summary>Compiles C (with <see cref="CProbe.Prelude"/>) in one jail and runs it in another.</summary>
    public async Task<ExecutionResult> RunC(string body, LimitOverrides? limits = null, string[]? args = null, byte[]? stdin = null)
    {
        var result = await Run("c", CProbe.Prelude + body, limits, stdin, args);
        Assert.True(result.Compile is { Verdict: Verdict.Ok },
            $"the attack program did not compile: {result.Compile?.Verdict} {Text(result.Compile?.Stderr ?? default)}");
        return result;
    }

    public static string MainFile(string language) => language switch
    {
        "python" => "main.py",
        "c" => "main.c",
        "bash" => "main.sh",
        "javascript" => "main.js",
        _ => throw new ArgumentOutOfRangeException(nameof(language)),
    };

    public static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>Stdout of the run stage as lines, without the trailing empty one.</summary>
    public static string[] Lines(ExecutionResult result) =>
        Text(result.Run!.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>A failure message that shows what the jail said, so a failing assertion explains itself.</summary>
    public static string Describe(ExecutionResult result) =>
        $"execution verdict={result.Verdict}, decided by the {(result.Run is null ? "compile" : "run")} stage: " + Describe(result.FinalStage);

    public static string Describe(JailRunResult result) =>
        $"verdict={result.Verdict} exit={result.ExitCode} signal={result.Signal} kill={result.KillReason} internal={result.InternalMessage}\n" +
        $"usage={result.Usage}\nstdout:\n{Truncate(Text(result.Stdout))}\nstderr:\n{Truncate(Text(result.Stderr))}";

    private static string Truncate(string s) => s.Length > 4000 ? s[..4000] + "..." : s;

    /// <summary>A spec for <see cref="JailHost"/> directly, for attacks that need a jail the engine does not expose.</summary>
    public static JailSpec Shell(string script, JailLimits? limits = null) => new()
    {
        Argv = ["/bin/bash", "-c", script],
        Environment = ImmutableDictionary<string, string>.Empty.Add("PATH", "/usr/bin:/bin"),
        Limits = limits ?? JailLimits.Default,
    };

    /// <summary>A spec that runs a Python script given inline (host-side tests only; user code goes in files).</summary>
    public static JailSpec Python(string script, JailLimits? limits = null) => new()
    {
        Argv = ["/usr/bin/python3", "-c", script],
        Environment = ImmutableDictionary<string, string>.Empty.Add("PATH", "/usr/bin:/bin"),
        Limits = limits ?? JailLimits.Default,
    };
}

/// <summary>A variable set in the test process only; no jail may ever see it.</summary>
public static class EnvironmentMarker
{
    public const string Name = "CORDON_SECURITY_TEST_HOST_SECRET";

    public static readonly string Value = "host-secret-" + Guid.NewGuid().ToString("N");
}

/// <summary>The C attack programs' shared prelude: REPORT prints <c>name=OK</c> or <c>name=ERRNONAME</c>.</summary>
public static class CProbe
{
    public const string Prelude = """
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <signal.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>
        #include <sys/ioctl.h>
        #include <sys/socket.h>
        #include <sys/stat.h>
        #include <sys/syscall.h>
        #include <sys/types.h>
        #include <sys/wait.h>

        /* Prints name=OK when the call returned >= 0, else name=<errno name>; never exits. */
        static long report(const char *name, long rc)
        {
            if (rc < 0) printf("%s=%s\n", name, strerrorname_np(errno));
            else printf("%s=OK\n", name);
            fflush(stdout);
            return rc;
        }
        #define REPORT(name, expr) report(name, (long)(expr))

        /* A 32-bit x86 syscall through int $0x80 (ebx, ecx, edx, esi, edi); returns the kernel's -errno or result. */
        static long sys32(long nr, long a, long b, long c, long d, long e)
        {
            long ret = nr;
            __asm__ volatile ("int $0x80"
                : "+a"(ret)
                : "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                : "memory", "r8", "r9", "r10", "r11");
            return (int)ret;
        }
        static void report32(const char *name, long ret)
        {
            if (ret < 0 && ret > -4096) printf("%s=%s\n", name, strerrorname_np((int)-ret));
            else printf("%s=OK\n", name);
            fflush(stdout);
        }

        """;
}
