using Cordon.Engine.Sessions;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

/// <summary>
/// The pipes between the host and a session's kernels and supervisor carry what code inside the jail may write too,
/// and callers give up half-way: neither may confuse the session or cost the host memory.
/// </summary>
public sealed class SessionProtocolTests(SessionFixture fixture) : IClassFixture<SessionFixture>
{
    private static Task<CellResult> Run(Session session, string code) =>
        session.RunCellAsync(new CellRequest { Code = code, Timeout = TimeSpan.FromSeconds(60) });

    [Fact(Timeout = 60000)]
    public Task Frames_a_cell_forges_on_the_kernels_pipe_between_cells_are_dropped_not_kept() => fixture.With(new SessionRequest(), async session =>
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        // A thread the cell leaves behind writes 200 MB of well-formed frames with ids the host is not waiting for,
        // plus the id of the next cell, after the cell has returned.
        await Run(session, """
            import os, threading, json
            def flood():
                body = json.dumps({"id": 999999, "stdout": "x" * 1000}).encode()
                frame = len(body).to_bytes(4, "big") + body
                for _ in range(200_000):
                    os.write(4, frame)
                open("flooded", "w").close()
            threading.Thread(target=flood, daemon=True).start()
            """);
        var deadline = DateTime.UtcNow.AddSeconds(40);
        while (!session.ListFiles().Contains("flooded") && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Contains("flooded", session.ListFiles());
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(after - before < 50L * 1024 * 1024, $"the host kept {(after - before) / (1024 * 1024)} MiB of a session's forged frames");
        var next = await Run(session, "6 * 7");
        Assert.Equal("42", next.Value);
        Assert.Equal(CellVerdict.Ok, next.Verdict);
    });

    [Fact(Timeout = 60000)]
    public Task A_forged_reply_with_the_cells_own_id_is_a_protocol_error_and_the_kernel_is_replaced() => fixture.With(new SessionRequest(), async session =>
    {
        // The cell answers for itself, in a shape the kernel never sends: "stdout" is a number.
        var forged = await Run(session, """
            import os, json, sys
            frame, request_id = sys._getframe(), None
            while frame is not None and request_id is None:
                request = frame.f_locals.get("request")
                request_id = request["id"] if isinstance(request, dict) and "id" in request else None
                frame = frame.f_back
            body = json.dumps({"id": request_id, "stdout": 5}).encode()
            os.write(4, len(body).to_bytes(4, "big") + body)
            import time
            time.sleep(1)
            """);
        Assert.Equal(CellVerdict.KernelDied, forged.Verdict);
        Assert.Equal("KernelProtocolError", forged.Error?.Type);
        Assert.True(forged.KernelRestarted);
        Assert.Equal("2", (await Run(session, "1+1")).Value);
    });

    [Fact(Timeout = 60000)]
    public Task A_frame_whose_id_is_not_a_number_is_dropped_and_the_host_lives_on() => fixture.With(new SessionRequest(), async session =>
    {
        // Parsed on the host's reader thread: an exception there would end the whole process (this test run too).
        var cell = await Run(session, """
            import os
            for forged in (b'{"id":"x"}', b'{"id":1.5}', b'{"id":{"a":1}}', b'[1,2]', b'"id"', b'{"died":{"signal":1.5,"exit_code":99999999999}}'):
                os.write(4, len(forged).to_bytes(4, "big") + forged)
            'still here'
            """);
        Assert.True(cell.Value == "'still here'" || cell.Verdict == CellVerdict.KernelDied, $"{cell.Verdict} {cell.Value} {cell.Error}");
        Assert.Equal("2", (await Run(session, "1+1")).Value);
    });

    [Fact(Timeout = 60000)]
    public async Task A_session_flooded_with_forged_death_reports_still_closes()
    {
        var session = await fixture.Engine.Sessions.CreateAsync(new SessionRequest());
        var work = session.WorkDirectory;
        await Run(session, """
            import os, threading
            def flood():
                body = b'{"id": -1, "died": {"exit_code": 1}}'
                while True:
                    os.write(4, len(body).to_bytes(4, "big") + body)
            threading.Thread(target=flood, daemon=True).start()
            """);
        await Task.Delay(500);
        // Within the test's timeout, not only when the machine's patience ends.
        await fixture.Engine.Sessions.DeleteAsync(session.Id);
        Assert.False(Directory.Exists(work));
    }

    [Fact(Timeout = 60000)]
    public Task A_streamed_cell_that_floods_output_and_ignores_its_interrupt_is_restarted_without_hanging() => fixture.With(new SessionRequest(), async session =>
    {
        var chunks = 0;
        var result = await session.RunCellAsync(new CellRequest
        {
            Code = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    print('x' * 1000, flush=True)",
            Timeout = TimeSpan.FromSeconds(1),
        }, _ => Interlocked.Increment(ref chunks));
        Assert.True(result.TimedOut);
        Assert.True(result.KernelRestarted);
        Assert.True(chunks > 0);
        Assert.Equal("2", (await Run(session, "1+1")).Value);
    });

    [Fact(Timeout = 60000)]
    public Task A_caller_that_gives_up_on_a_command_does_not_leave_the_next_answer_out_of_step() => fixture.With(new SessionRequest(), async session =>
    {
        for (var i = 0; i < 5; i++)
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(20 + 30 * i));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                session.RunCommandAsync(new CommandRequest { Command = "sleep 5", Timeout = TimeSpan.FromSeconds(30) }, cancel.Token));
            var mine = await session.RunCommandAsync(new CommandRequest { Command = $"echo mine-{i}", Timeout = TimeSpan.FromSeconds(30) });
            Assert.Equal($"mine-{i}\n", mine.Stdout);
            Assert.Equal(0, mine.ExitCode);
            // Every answer belongs to its own question: the file a command reports is the one asked about.
            await session.MakeDirectoryAsync($"dir-{i}");
            Assert.Equal("2", (await Run(session, "1+1")).Value);
        }
    });

    [Fact(Timeout = 30000)]
    public Task Every_problem_of_a_cell_or_command_is_reported_together() => fixture.With(new SessionRequest(), async session =>
    {
        var cell = await Assert.ThrowsAsync<CordonException>(() => session.RunCellAsync(
            new CellRequest { Code = "1", Language = "ruby", Timeout = TimeSpan.FromDays(2), MaxImageSide = 1 }));
        Assert.Equal(CordonErrorCode.InvalidRequest, cell.Code);
        Assert.Equal(3, cell.Errors.Count);
        var command = await Assert.ThrowsAsync<CordonException>(() => session.RunCommandAsync(
            new CommandRequest { Command = " ", Timeout = TimeSpan.Zero }));
        Assert.Equal(CordonErrorCode.InvalidRequest, command.Code);
        Assert.Equal(2, command.Errors.Count);
    });
}
