using System.Collections.Concurrent;
using System.Text;
using Cordon.Engine.Sessions;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

public sealed class SessionStreamingTests(SessionFixture fixture) : IClassFixture<SessionFixture>
{
    private SessionManager Sessions => fixture.Engine.Sessions;

    // The cell waits for a file the test writes only once the first chunk has arrived: that chunk cannot have come
    // with the cell's end.
    [Theory(Timeout = 60000)]
    [InlineData("python", "import os, sys, time\nprint('first')\nwhile not os.path.exists('go'): time.sleep(0.01)\nprint('oops', file=sys.stderr)\nprint('second')")]
    [InlineData("javascript", "const fs = require('fs')\nconsole.log('first')\nwhile (!fs.existsSync('go')) await new Promise(r => setTimeout(r, 10))\nconsole.error('oops')\nconsole.log('second')")]
    public async Task A_chunk_arrives_before_the_cell_ends_and_the_chunks_add_up_to_the_result(string language, string code)
    {
        var session = await Sessions.CreateAsync(new SessionRequest { Languages = [language] });
        try
        {
            var chunks = new ConcurrentQueue<CellStreamChunk>();
            var first = new TaskCompletionSource<CellStreamChunk>(TaskCreationOptions.RunContinuationsAsynchronously);
            var cell = session.RunCellAsync(new CellRequest { Code = code, Language = language, Timeout = TimeSpan.FromSeconds(30) }, chunk =>
            {
                chunks.Enqueue(chunk);
                first.TrySetResult(chunk);
            });
            var got = await first.Task.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.False(cell.IsCompleted);
            Assert.Equal(new CellStreamChunk(OutputStreamKind.Stdout, "first\n"), got);
            session.WriteFile("go", Encoding.UTF8.GetBytes(""));
            var result = await cell;
            Assert.Null(result.Error);
            Assert.Equal("first\nsecond\n", result.Stdout);
            Assert.Equal("oops\n", result.Stderr);
            Assert.Equal(result.Stdout, string.Concat(chunks.Where(c => c.Stream == OutputStreamKind.Stdout).Select(c => c.Text)));
            Assert.Equal(result.Stderr, string.Concat(chunks.Where(c => c.Stream == OutputStreamKind.Stderr).Select(c => c.Text)));
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Theory(Timeout = 60000)]
    [InlineData("python", "for i in range(20000): print(i)")]
    [InlineData("javascript", "for (let i = 0; i < 20000; i++) console.log(i)")]
    public async Task A_print_loop_is_coalesced_into_few_chunks(string language, string code)
    {
        var session = await Sessions.CreateAsync(new SessionRequest { Languages = [language] });
        try
        {
            var chunks = new ConcurrentQueue<CellStreamChunk>();
            var result = await session.RunCellAsync(new CellRequest { Code = code, Language = language, Timeout = TimeSpan.FromSeconds(30) }, chunks.Enqueue);
            Assert.Equal(20000, result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.Equal(result.Stdout, string.Concat(chunks.Select(c => c.Text)));
            Assert.InRange(chunks.Count, 1, 1000);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }
}
