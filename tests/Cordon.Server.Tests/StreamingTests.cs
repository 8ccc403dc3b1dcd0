using System.Text;

namespace Cordon.Server.Tests;

/// <summary>POST /v1/executions with Accept: text/event-stream.</summary>
public sealed class StreamingTests : IAsyncLifetime
{
    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private async Task<List<SseEvent>> StreamAsync(string json)
    {
        using var response = await _app.PostExecutionAsync(json, "text/event-stream", completion: HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<SseEvent>();
        await foreach (var e in Sse.ReadAsync(response)) events.Add(e);
        return events;
    }

    [Fact(Timeout = 60000)]
    public async Task Output_events_arrive_live_in_order_and_the_result_comes_last()
    {
        var program = """
            import sys, time
            print('one', flush=True)
            time.sleep(1.5)
            print('two', file=sys.stderr, flush=True)
            print('three', flush=True)
            """;
        var events = await StreamAsync(TestApp.Request("python", "main.py", program));

        Assert.Equal("result", events[^1].Name);
        Assert.All(events[..^1], e => Assert.Contains(e.Name, new[] { "stdout", "stderr" }));
        var stdout = string.Concat(events.Where(e => e.Name == "stdout").Select(e => (string)e.Data["data"]!));
        var stderr = string.Concat(events.Where(e => e.Name == "stderr").Select(e => (string)e.Data["data"]!));
        Assert.Equal("one\nthree\n", stdout);
        Assert.Equal("two\n", stderr);
        Assert.All(events[..^1], e =>
        {
            Assert.Equal("run", (string)e.Data["stage"]!);
            Assert.Equal("utf8", (string)e.Data["encoding"]!);
        });
        // 'one' was sent while the program still slept: it arrived well before the result.
        Assert.True(events[^1].Arrived - events[0].Arrived > TimeSpan.FromSeconds(1), $"first event {events[0].Arrived:O}, result {events[^1].Arrived:O}");
        var result = events[^1].Data;
        Assert.Equal("ok", (string)result["verdict"]!);
        Assert.Equal("one\nthree\n", (string)result["run"]!["stdout"]!);
        Assert.Equal("two\n", (string)result["run"]!["stderr"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task A_compiled_program_streams_its_compile_stage_then_its_run_stage()
    {
        var source = "#include <stdio.h>\n#warning careful\nint main(void) { puts(\"ran\"); return 0; }\n";
        var events = await StreamAsync(TestApp.Request("c", "main.c", source));
        var compile = events.FindIndex(e => e.Name == "stderr" && (string)e.Data["stage"]! == "compile");
        var run = events.FindIndex(e => e.Name == "stdout" && (string)e.Data["stage"]! == "run");
        Assert.True(compile >= 0 && run > compile, string.Join("\n", events.Select(e => e.Name + " " + e.Data.ToJsonString())));
        Assert.Equal("result", events[^1].Name);
        Assert.Equal("ran\n", (string)events[^1].Data["run"]!["stdout"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task A_character_split_between_writes_stays_text_and_invalid_bytes_go_as_base64()
    {
        // 'é' is written in two halves with a pause between, so the pipe delivers them apart.
        var program = """
            import sys, time
            sys.stdout.buffer.write(b'caf\xc3'); sys.stdout.flush()
            time.sleep(0.3)
            sys.stdout.buffer.write(b'\xa9!'); sys.stdout.flush()
            time.sleep(0.3)
            sys.stdout.buffer.write(b'\xff'); sys.stdout.flush()
            """;
        var events = await StreamAsync(TestApp.Request("python", "main.py", program));
        var pieces = events.Where(e => e.Name == "stdout").ToList();
        var bytes = pieces.SelectMany(e => (string)e.Data["encoding"]! == "base64"
            ? Convert.FromBase64String((string)e.Data["data"]!)
            : Encoding.UTF8.GetBytes((string)e.Data["data"]!)).ToArray();
        Assert.Equal("café!"u8.ToArray().Append((byte)0xff), bytes);
        Assert.Contains(pieces, e => (string)e.Data["data"]! == "café!" || ((string)e.Data["data"]!).Contains('é', StringComparison.Ordinal));
        Assert.Equal("base64", (string)events[^1].Data["run"]!["stdout_encoding"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task A_request_refused_before_any_output_gets_its_status_not_a_stream()
    {
        using var response = await _app.PostExecutionAsync(TestApp.Request("python", "main.py", "print(1)", new { run_limits = new { wall_time_ms = 99_999_999 } }), "text/event-stream");
        var problem = await response.ProblemAsync(400);
        Assert.Contains("run_limits.wall_time_ms: 99999999 is above the maximum of 10000", problem.Errors());

        using var unknown = await _app.PostExecutionAsync(TestApp.Request("cobol", "main.cob", "x"), "text/event-stream");
        Assert.Equal("unknown_runtime", (string)(await unknown.ProblemAsync(400))["code"]!);
    }

    [Fact(Timeout = 60000)]
    public async Task A_silent_program_streams_only_its_result()
    {
        var events = await StreamAsync(TestApp.Request("python", "main.py", "pass"));
        var only = Assert.Single(events);
        Assert.Equal("result", only.Name);
        Assert.Equal("ok", (string)only.Data["verdict"]!);
    }
}
