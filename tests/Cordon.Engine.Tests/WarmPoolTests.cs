using System.Text;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

/// <summary>One engine with warm pools for python, javascript and c, and one without, side by side.</summary>
public sealed class WarmAndColdFixture : IAsyncLifetime
{
    public CordonEngine Warm { get; private set; } = null!;

    public CordonEngine Cold { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Warm = CordonEngine.Create(new CordonEngineOptions { WarmPool = new WarmPoolOptions { Runtimes = ["python", "javascript", "c"], MinSize = 2, MaxSize = 4 } });
        Cold = CordonEngine.Create();
        await Warm.Pool.WaitUntilFilledAsync();
    }

    public async Task DisposeAsync()
    {
        await Warm.DisposeAsync();
        await Cold.DisposeAsync();
    }

    /// <summary>Runs on the warm engine and asserts the run stage really came from its pool.</summary>
    public async Task<ExecutionResult> RunWarmAsync(ExecutionRequest request)
    {
        await Warm.Pool.WaitUntilFilledAsync();
        var before = Warm.Pool.Counts.Hits;
        var result = await Warm.ExecuteAsync(request);
        Assert.Equal(before + 1, Warm.Pool.Counts.Hits);
        return result;
    }
}

public sealed class WarmPoolTests(WarmAndColdFixture fixture) : IClassFixture<WarmAndColdFixture>
{
    private static ExecutionRequest Request(string language, string name, string code, string stdin = "", params string[] args) =>
        EngineFixture.Request(language, name, code, stdin, args);

    // What a program can see of how it was started: argv, __main__, paths, directory, environment, descriptors,
    // modules, the process's own command line, and how an uncaught error is reported.
    private const string PythonIntrospection = """
        import os, sys
        print(sys.argv)
        print(__name__, __file__, __spec__, __package__, type(__loader__).__name__)
        print(sys.path[0], os.getcwd())
        print(sorted(os.environ.items()))
        print(sorted(os.listdir('/proc/self/fd')))
        print(sorted(m for m in sys.modules if not m.startswith('_')))
        print(open('/proc/self/cmdline', 'rb').read())
        print(sys.stdin.read())
        import helper
        print(helper.where())
        raise ValueError('boom')
        """;

    [Fact(Timeout = 120000)]
    public async Task A_pooled_python_run_cannot_tell_it_was_prestarted()
    {
        ExecutionRequest Make() => new()
        {
            Language = "python",
            Files =
            [
                new ExecutionFile("main.py", Encoding.UTF8.GetBytes(PythonIntrospection)),
                new ExecutionFile("helper.py", "import os\ndef where():\n    return os.path.abspath(__file__)\n"u8.ToArray()),
            ],
            Stdin = "input line\n"u8.ToArray(),
            Args = ["a", "b c"],
        };
        var warm = await fixture.RunWarmAsync(Make());
        var cold = await fixture.Cold.ExecuteAsync(Make());

        Assert.Equal(Verdict.RuntimeError, cold.Verdict);
        Assert.Equal(cold.Verdict, warm.Verdict);
        Assert.Equal(cold.Run!.ExitCode, warm.Run!.ExitCode);
        Assert.Equal(EngineFixture.Text(cold.Run.Stdout), EngineFixture.Text(warm.Run.Stdout));
        Assert.Equal(EngineFixture.Text(cold.Run.Stderr), EngineFixture.Text(warm.Run.Stderr));
        var stdout = EngineFixture.Text(warm.Run.Stdout);
        Assert.StartsWith("['main.py', 'a', 'b c']\n__main__ /work/main.py None None SourceFileLoader\n/work /work\n", stdout, StringComparison.Ordinal);
        // The traceback points into the program only, as `python3 main.py` would print it.
        var stderr = EngineFixture.Text(warm.Run.Stderr);
        Assert.True(stderr.StartsWith("Traceback (most recent call last):\n  File \"/work/main.py\", line 12, in <module>", StringComparison.Ordinal), stderr);
        Assert.DoesNotContain("launcher", stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120000)]
    public async Task A_pooled_javascript_run_cannot_tell_it_was_prestarted()
    {
        const string code = """
            const fs = require('fs');
            console.log(JSON.stringify(process.argv.slice(1)));
            console.log(require.main === module, __filename, process.cwd());
            console.log(JSON.stringify(Object.entries(process.env).sort()));
            console.log(fs.readdirSync('/proc/self/fd').sort().join(','));
            console.log(fs.readFileSync(0, 'utf8').trim());
            """;
        var warm = await fixture.RunWarmAsync(Request("javascript", "main.js", code, "from stdin\n", "x", "y"));
        var cold = await fixture.Cold.ExecuteAsync(Request("javascript", "main.js", code, "from stdin\n", "x", "y"));

        Assert.Equal(Verdict.Ok, warm.Verdict);
        Assert.Equal(EngineFixture.Text(cold.Run!.Stdout), EngineFixture.Text(warm.Run!.Stdout));
        Assert.StartsWith("[\"/work/main.js\",\"x\",\"y\"]\ntrue /work/main.js /work\n", EngineFixture.Text(warm.Run.Stdout), StringComparison.Ordinal);
    }

    [Fact(Timeout = 120000)]
    public async Task A_pooled_c_run_is_the_program_itself_as_in_a_cold_run()
    {
        const string code = """
            #include <stdio.h>
            #include <stdlib.h>
            extern char **environ;
            int main(int argc, char **argv) {
                for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
                for (char **e = environ; *e; e++) printf("env %s\n", *e);
                FILE *f = fopen("/proc/self/cmdline", "rb"); char buf[256]; size_t n = fread(buf, 1, sizeof buf, f);
                for (size_t i = 0; i < n; i++) putchar(buf[i] ? buf[i] : ' ');
                putchar('\n');
                return 3;
            }
            """;
        var warm = await fixture.RunWarmAsync(Request("c", "main.c", code, "", "one"));
        var cold = await fixture.Cold.ExecuteAsync(Request("c", "main.c", code, "", "one"));

        Assert.Equal(Verdict.RuntimeError, warm.Verdict);
        Assert.Equal(3, warm.Run!.ExitCode);
        Assert.Equal(EngineFixture.Text(cold.Run!.Stdout), EngineFixture.Text(warm.Run.Stdout));
        Assert.Contains("./main.out one \n", EngineFixture.Text(warm.Run.Stdout), StringComparison.Ordinal);
    }

    [Fact(Timeout = 120000)]
    public async Task Every_pooled_run_gets_a_fresh_jail_that_no_earlier_run_touched()
    {
        const string code = """
            import os
            seen = os.path.exists('/tmp/mark') or os.path.exists('/work/mark')
            open('/tmp/mark', 'w').write('x'); open('/work/mark', 'w').write('x')
            print('dirty' if seen else 'fresh', os.getpid())
            """;
        for (var i = 0; i < 4; i++)
        {
            var result = await fixture.RunWarmAsync(Request("python", "main.py", code));
            Assert.StartsWith("fresh ", EngineFixture.Text(result.Run!.Stdout), StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = 120000)]
    public async Task Clocks_start_when_the_program_is_handed_over_not_when_the_jail_started()
    {
        // The pooled jail has been waiting since the fixture started (and a second more): none of that is the run's.
        await Task.Delay(1000);
        var result = await fixture.RunWarmAsync(Request("python", "main.py", "print('hi')\n"));
        Assert.Equal(Verdict.Ok, result.Verdict);
        Assert.True(result.Run!.Usage.WallTime < TimeSpan.FromSeconds(1), result.Run.Usage.ToString());
        // The interpreter's own start-up CPU was spent before the hand-over and is not counted either.
        var cold = await fixture.Cold.ExecuteAsync(Request("python", "main.py", "print('hi')\n"));
        Assert.True(result.Run.Usage.CpuTime < cold.Run!.Usage.CpuTime, $"warm {result.Run.Usage.CpuTime} cold {cold.Run.Usage.CpuTime}");
    }

    [Fact(Timeout = 120000)]
    public async Task Pooled_runs_get_the_same_limit_verdicts_as_cold_ones()
    {
        var timeout = await fixture.RunWarmAsync(Request("python", "main.py", "while True: pass\n") with { RunLimits = new LimitOverrides { WallTimeMs = 300, CpuTimeMs = 5000 } });
        Assert.Equal(Verdict.Timeout, timeout.Verdict);

        var cpu = await fixture.RunWarmAsync(Request("python", "main.py", "while True: pass\n") with { RunLimits = new LimitOverrides { CpuTimeMs = 300 } });
        Assert.Equal(Verdict.CpuLimit, cpu.Verdict);

        // The pool's jails were made with the default memory limit; the request's lower one applies at hand-over.
        var memory = await fixture.RunWarmAsync(Request("python", "main.py", "x = bytearray(200 * 1024 * 1024)\nprint(len(x))\n") with { RunLimits = new LimitOverrides { MemoryBytes = 64L * 1024 * 1024 } });
        Assert.Equal(Verdict.MemoryLimit, memory.Verdict);

        var output = await fixture.RunWarmAsync(Request("python", "main.py", "print('x' * 100000)\n") with { RunLimits = new LimitOverrides { OutputBytes = 1000 } });
        Assert.Equal(Verdict.OutputLimit, output.Verdict);
        Assert.Equal(1000, output.Run!.Stdout.Length);

        var processes = await fixture.RunWarmAsync(Request("python", "main.py", """
            import os
            n = 0
            try:
                for _ in range(100):
                    if os.fork() == 0:
                        import time; time.sleep(5); os._exit(0)
                    n += 1
            except OSError as e:
                print('refused after', n)
            """) with { RunLimits = new LimitOverrides { Processes = 8 } });
        Assert.StartsWith("refused after", EngineFixture.Text(processes.Run!.Stdout), StringComparison.Ordinal);
    }

    [Fact(Timeout = 120000)]
    public async Task A_request_the_pool_cannot_serve_runs_cold_and_still_works()
    {
        await fixture.Warm.Pool.WaitUntilFilledAsync();
        var before = fixture.Warm.Pool.Counts.Hits;
        // A different file size limit is an rlimit fixed when the jail started: no pooled jail can honour it.
        var result = await fixture.Warm.ExecuteAsync(Request("python", "main.py", "print('cold')\n") with { RunLimits = new LimitOverrides { FileSizeBytes = 1024 * 1024 } });
        Assert.Equal(Verdict.Ok, result.Verdict);
        Assert.Equal("cold\n", EngineFixture.Text(result.Run!.Stdout));
        Assert.Equal(before, fixture.Warm.Pool.Counts.Hits);
    }

    [Fact(Timeout = 120000)]
    public async Task The_pool_refills_after_each_run_and_grows_when_requests_find_it_empty()
    {
        // An engine of its own: this test drains and grows its pool.
        await using var engine = CordonEngine.Create(new CordonEngineOptions { WarmPool = new WarmPoolOptions { Runtimes = ["python"], MinSize = 2, MaxSize = 4 } });
        await engine.Pool.WaitUntilFilledAsync();
        Assert.Equal(2, engine.Pool.Ready["python"]);

        var one = await engine.ExecuteAsync(Request("python", "main.py", "print('one')\n"));
        Assert.Equal("one\n", EngineFixture.Text(one.Run!.Stdout));
        await engine.Pool.WaitUntilFilledAsync();
        Assert.Equal(2, engine.Pool.Ready["python"]);

        var burst = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => engine.ExecuteAsync(Request("python", "main.py", $"print({i})\n"))));
        Assert.All(burst.Select((r, i) => (r, i)), x => Assert.Equal($"{x.i}\n", EngineFixture.Text(x.r.Run!.Stdout)));
        Assert.True(engine.Pool.Counts.Misses > 0, "six at once outran a pool of two");

        await engine.Pool.WaitUntilFilledAsync();
        Assert.True(engine.Pool.Ready["python"] > 2, $"the pool grew after misses: {engine.Pool.Ready["python"]}");
        Assert.True(engine.Pool.Ready["python"] <= 4, "and stays within its maximum");
    }
}
