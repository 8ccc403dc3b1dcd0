using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

public sealed class AdmissionTests
{
    [Fact(Timeout = 10000)]
    public async Task Slots_up_to_the_limit_are_granted_at_once_and_returned_on_dispose()
    {
        using var admission = new AdmissionController(new AdmissionOptions { MaxConcurrent = 2, MaxQueued = 0 });
        var a = await admission.EnterAsync();
        var b = await admission.EnterAsync();
        Assert.Equal(2, admission.Running);
        a.Dispose();
        a.Dispose(); // twice is harmless
        Assert.Equal(1, admission.Running);
        using var c = await admission.EnterAsync();
        b.Dispose();
        Assert.Equal(1, admission.Running);
    }

    [Fact(Timeout = 10000)]
    public async Task Beyond_the_queue_a_caller_is_refused_at_once_with_a_retry_hint()
    {
        using var admission = new AdmissionController(new AdmissionOptions { MaxConcurrent = 1, MaxQueued = 1, QueueTimeout = TimeSpan.FromSeconds(30) });
        using var running = await admission.EnterAsync();
        var waiting = admission.EnterAsync().AsTask();
        Assert.Equal(1, admission.Queued);

        var e = await Assert.ThrowsAsync<CordonException>(async () => await admission.EnterAsync());
        Assert.Equal(CordonErrorCode.Overloaded, e.Code);
        Assert.NotNull(e.RetryAfter);

        running.Dispose();
        using var granted = await waiting;
        Assert.Equal(0, admission.Queued);
    }

    [Fact(Timeout = 10000)]
    public async Task A_queued_caller_is_refused_when_the_queue_timeout_passes()
    {
        using var admission = new AdmissionController(new AdmissionOptions { MaxConcurrent = 1, MaxQueued = 4, QueueTimeout = TimeSpan.FromMilliseconds(100) });
        using var running = await admission.EnterAsync();
        var e = await Assert.ThrowsAsync<CordonException>(async () => await admission.EnterAsync());
        Assert.Equal(CordonErrorCode.Overloaded, e.Code);
        Assert.Equal(0, admission.Queued);
    }

    [Fact(Timeout = 10000)]
    public async Task A_queued_caller_that_cancels_leaves_the_queue()
    {
        using var admission = new AdmissionController(new AdmissionOptions { MaxConcurrent = 1, MaxQueued = 4 });
        using var running = await admission.EnterAsync();
        using var cts = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await admission.EnterAsync(cts.Token));
        Assert.Equal(0, admission.Queued);
        Assert.Equal(1, admission.Running);
    }
}

public sealed class StreamingTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    [Fact(Timeout = 60000)]
    public async Task Output_chunks_arrive_while_the_program_runs_and_add_up_to_the_result()
    {
        var chunks = new System.Collections.Concurrent.ConcurrentQueue<OutputChunk>();
        var code = "import sys, time\nprint('first', flush=True)\ntime.sleep(0.3)\nprint('err', file=sys.stderr, flush=True)\nprint('second', flush=True)\n";
        var firstSeenBeforeEnd = false;
        var task = fixture.Engine.ExecuteAsync(EngineFixture.Request("python", "main.py", code), chunks.Enqueue);
        for (var i = 0; i < 200 && !task.IsCompleted; i++)
        {
            if (!chunks.IsEmpty) { firstSeenBeforeEnd = true; break; }
            await Task.Delay(10);
        }
        var result = await task;
        Assert.True(firstSeenBeforeEnd, "a chunk arrived before the program ended");
        var stdout = string.Concat(chunks.Where(c => c.Stream == OutputStreamKind.Stdout).Select(c => EngineFixture.Text(c.Data)));
        var stderr = string.Concat(chunks.Where(c => c.Stream == OutputStreamKind.Stderr).Select(c => EngineFixture.Text(c.Data)));
        Assert.Equal(EngineFixture.Text(result.Run!.Stdout), stdout);
        Assert.Equal("err\n", stderr);
        Assert.All(chunks, c => Assert.Equal(ExecutionStage.Run, c.Stage));
    }
}
