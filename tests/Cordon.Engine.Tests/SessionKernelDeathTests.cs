using Cordon.Engine.Sessions;

namespace Cordon.Engine.Tests;

/// <summary>
/// A kernel that dies under its cell (an exit call, the memory limit) is reported as such at once, not as a timeout,
/// and replaced; a cell whose caller gives up is interrupted so the kernel is free for the next one.
/// </summary>
public sealed class SessionKernelDeathTests(SessionFixture fixture) : IClassFixture<SessionFixture>
{
    // Long enough that a death reported as a timeout would show as TimedOut, never by luck.
    private static Task<CellResult> Run(Session session, string code, string language = "python", CancellationToken cancellationToken = default) =>
        session.RunCellAsync(new CellRequest { Code = code, Language = language, Timeout = TimeSpan.FromSeconds(60) }, cancellationToken);

    private Task With(SessionRequest request, Func<Session, Task> body) => fixture.With(request, body);

    [Fact(Timeout = 40000)]
    public Task A_python_kernel_that_exits_is_reported_as_died_and_replaced_with_an_empty_one() => With(new SessionRequest(), async session =>
    {
        await Run(session, "x = 41");
        var died = await Run(session, "import os\nprint('bye', flush=True)\nos._exit(3)");
        Assert.False(died.TimedOut);
        Assert.True(died.KernelRestarted);
        Assert.Equal(CellVerdict.KernelDied, died.Verdict);
        Assert.Equal("KernelDied", died.Error?.Type);
        Assert.Contains("exited with code 3", died.Error?.Message, StringComparison.Ordinal);
        Assert.Equal("False", (await Run(session, "'x' in globals()")).Value);
        Assert.Equal("2", (await Run(session, "1+1")).Value);
    });

    [Fact(Timeout = 40000)]
    public Task A_javascript_kernel_that_exits_is_reported_as_died_and_the_python_kernel_keeps_its_state() =>
        With(new SessionRequest { Languages = ["python", "javascript"] }, async session =>
        {
            await Run(session, "kept = 'yes'");
            await Run(session, "let lost = 1", "javascript");
            var died = await Run(session, "process.exit(2)", "javascript");
            Assert.False(died.TimedOut);
            Assert.True(died.KernelRestarted);
            Assert.Equal(CellVerdict.KernelDied, died.Verdict);
        Assert.Equal("KernelDied", died.Error?.Type);
            Assert.Contains("exited with code 2", died.Error?.Message, StringComparison.Ordinal);
            Assert.Equal("'undefined'", (await Run(session, "typeof lost", "javascript")).Value);
            Assert.Equal("'yes'", (await Run(session, "kept")).Value);
        });

    [Fact(Timeout = 40000)]
    public Task A_cell_past_the_memory_limit_is_reported_as_a_memory_kill_and_the_session_lives_on() =>
        With(new SessionRequest { Limits = new LimitOverrides { MemoryBytes = 128L * 1024 * 1024 } }, async session =>
        {
            session.WriteFile("kept.txt", "still here"u8);
            // Written, not just reserved: every page is touched, so the cgroup's limit is really hit.
            var died = await Run(session, "b = b'x' * (400 * 1024 * 1024)");
            Assert.False(died.TimedOut);
            Assert.True(died.KernelRestarted);
            Assert.Equal(CellVerdict.MemoryLimit, died.Verdict);
            Assert.Equal("MemoryLimitExceeded", died.Error?.Type);
            Assert.Contains("128 MiB", died.Error?.Message, StringComparison.Ordinal);
            Assert.Equal("'still here'", (await Run(session, "open('kept.txt').read()")).Value);
        });

    [Fact(Timeout = 40000)]
    public Task A_cell_whose_caller_gives_up_is_interrupted_and_the_kernel_keeps_its_state() => With(new SessionRequest(), async session =>
    {
        await Run(session, "x = 7");
        using var cancel = new CancellationTokenSource();
        // Cancelled once the loop surely runs: its first output has arrived.
        var cell = session.RunCellAsync(
            new CellRequest { Code = "import time\nprint('looping', flush=True)\nwhile True: time.sleep(0.01)", Timeout = TimeSpan.FromSeconds(60) },
            _ => Task.Run(cancel.Cancel),
            cancel.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cell);
        // Had the loop gone on, this cell would wait behind it for its whole timeout (past the test's).
        var after = await Run(session, "x");
        Assert.Equal("7", after.Value);
        Assert.False(after.KernelRestarted);
    });
}
