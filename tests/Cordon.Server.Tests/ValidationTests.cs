using System.Net.Http.Headers;
using System.Text;

namespace Cordon.Server.Tests;

/// <summary>Every class of bad request gets 400 (or 413/415) problem+json listing every problem; never a 500.</summary>
public sealed class ValidationTests : IAsyncLifetime
{
    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync(new Dictionary<string, string?> { ["MaxRequestBodyBytes"] = "65536" });

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private async Task<List<string>> ErrorsAsync(string json)
    {
        using var response = await _app.PostExecutionAsync(json);
        var problem = await response.ProblemAsync(400);
        Assert.Equal("invalid_request", (string)problem["code"]!);
        return problem.Errors();
    }

    [Theory(Timeout = 30000)]
    [InlineData("""{"files":[{"name":"a.py","content":"x"}]}""", "language: required string")]
    [InlineData("""{"language":"python"}""", "files: required array")]
    [InlineData("""{"language":"python","files":[{"name":"a.py"}]}""", "files[0].content: required string")]
    [InlineData("""{"language":"python","files":[{"content":"x"}]}""", "files[0].name: required string")]
    [InlineData("""{"language":null,"files":[{"name":"a.py","content":"x"}]}""", "language: required string, not null")]
    public async Task Missing_required_fields_are_named(string json, string error) =>
        Assert.Contains(error, await ErrorsAsync(json));

    [Theory(Timeout = 30000)]
    [InlineData("""{"language":5,"files":[{"name":"a.py","content":"x"}]}""", "language: expected a string")]
    [InlineData("""{"language":"python","files":{"name":"a.py"}}""", "files: expected an array")]
    [InlineData("""{"language":"python","files":["a.py"]}""", "files[0]: expected an object")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"run_limits":{"wall_time_ms":"fast"}}""", "run_limits.wall_time_ms: expected a number")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"run_limits":{"wall_time_ms":1.5}}""", "run_limits.wall_time_ms: expected a whole number")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"run_limits":{"processes":1e12}}""", "run_limits.processes: must be at most 2147483647")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"run_limits":[]}""", "run_limits: expected an object")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"network":"yes"}""", "network: expected true or false")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"args":[1]}""", "args[0]: expected a string")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x","encoding":"hex"}]}""", "files[0].encoding: expected \"utf8\" or \"base64\"")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"stdin_encoding":"latin1"}""", "stdin_encoding: expected \"utf8\" or \"base64\"")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"args":["a",null]}""", "args[1]: expected a string, not null")]
    [InlineData("""[1,2]""", "request body: expected an object")]
    public async Task Wrong_types_and_values_are_named(string json, string error) =>
        Assert.Contains(error, await ErrorsAsync(json));

    [Theory(Timeout = 30000)]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"colour":"red"}""", "colour: unknown field")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x","mode":1}]}""", "files[0].mode: unknown field")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"run_limits":{"wall_time":5}}""", "run_limits.wall_time: unknown field (did you mean wall_time_ms?)")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"stdinEncoding":"utf8"}""", "stdinEncoding: unknown field (did you mean stdin_encoding?)")]
    [InlineData("""{"language":"python","language":"ruby","files":[{"name":"a.py","content":"x"}]}""", "language: given more than once")]
    public async Task Unknown_and_repeated_fields_are_named(string json, string error) =>
        Assert.Contains(error, await ErrorsAsync(json));

    [Theory(Timeout = 30000)]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"run_limits":{"wall_time_ms":0}}""", "run_limits.wall_time_ms: must be at least 1")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"run_limits":{"memory_bytes":1000}}""", "run_limits.memory_bytes: must be at least 4194304")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"compile_limits":{"processes":-1}}""", "compile_limits.processes: must be at least 1")]
    [InlineData("""{"language":"python","files":[{"name":"a.py","content":"x"}],"run_limits":{"output_bytes":-5}}""", "run_limits.output_bytes: must be at least 0")]
    public async Task Limits_out_of_range_are_named(string json, string error) =>
        Assert.Contains(error, await ErrorsAsync(json));

    [Fact(Timeout = 30000)]
    public async Task Every_problem_of_a_request_is_listed_in_one_answer()
    {
        var errors = await ErrorsAsync("""
            {"language": 5, "files": [{"name": "a.py"}, {"content": 1}], "colour": "red",
             "run_limits": {"wall_time_ms": "x", "memory": 1}, "network": 1}
            """);
        Assert.Equal(
        [
            "language: expected a string",
            "files[0].content: required string",
            "files[1].content: expected a string",
            "files[1].name: required string",
            "colour: unknown field",
            "run_limits.wall_time_ms: expected a number",
            "run_limits.memory: unknown field (did you mean memory_bytes?)",
            "network: expected true or false",
        ], errors);
    }

    [Fact(Timeout = 30000)]
    public async Task Limits_above_the_maxima_name_the_field_and_the_maximum()
    {
        var errors = await ErrorsAsync(TestApp.Request("python", "main.py", "print(1)", new
        {
            run_limits = new { wall_time_ms = 10_001, cpu_time_ms = 20_000, memory_bytes = 1L << 30, processes = 65, output_bytes = 2 << 20 },
            compile_limits = new { wall_time_ms = 30_001 },
        }));
        Assert.Equal(
        [
            "run_limits.wall_time_ms: 10001 is above the maximum of 10000",
            "run_limits.cpu_time_ms: 20000 is above the maximum of 10000",
            "run_limits.memory_bytes: 1073741824 is above the maximum of 268435456",
            "run_limits.processes: 65 is above the maximum of 64",
            "run_limits.output_bytes: 2097152 is above the maximum of 1048576",
            "compile_limits.wall_time_ms: 30001 is above the maximum of 30000",
        ], errors);
    }

    [Fact(Timeout = 30000)]
    public async Task A_manifest_that_raises_a_default_raises_the_maximum_to_it_and_no_further()
    {
        // Java's manifest gives its programs 512 MiB, over the configured 256 MiB.
        var errors = await ErrorsAsync(TestApp.Request("java", "Main.java", "class Main {}", new { run_limits = new { memory_bytes = 536_870_913 } }));
        Assert.Equal(["run_limits.memory_bytes: 536870913 is above the maximum of 536870912"], errors);
    }

    [Fact(Timeout = 30000)]
    public async Task Problems_found_after_the_shape_check_come_together_with_the_engine_s_own()
    {
        var json = """
            {"language": "python", "files": [{"name": "../evil.py", "content": "x"}, {"name": "b.bin", "content": "@@@", "encoding": "base64"}],
             "stdin": "%%%", "stdin_encoding": "base64", "network": true}
            """;
        var errors = await ErrorsAsync(json);
        Assert.Contains("files[1].content: not valid base64", errors);
        Assert.Contains("stdin: not valid base64", errors);
        Assert.Contains("network: network access is turned off on this server (setting AllowNetwork)", errors);

        var names = await ErrorsAsync("""{"language": "python", "files": [{"name": "../evil.py", "content": "x"}, {"name": "/abs.py", "content": "x"}]}""");
        Assert.Equal(2, names.Count);
        Assert.StartsWith("files[0] '../evil.py'", names[0], StringComparison.Ordinal);
        Assert.StartsWith("files[1] '/abs.py'", names[1], StringComparison.Ordinal);

        Assert.Equal(["at least one file is required"], await ErrorsAsync("""{"language": "python", "files": []}"""));
    }

    [Fact(Timeout = 30000)]
    public async Task An_unknown_language_is_named_with_the_known_ones()
    {
        using var response = await _app.PostExecutionAsync(TestApp.Request("cobol", "main.cob", "x"));
        var problem = await response.ProblemAsync(400);
        Assert.Equal("unknown_runtime", (string)problem["code"]!);
        Assert.Contains("Known languages:", problem.Errors().Single(), StringComparison.Ordinal);

        // Together with other problems it is one more line of the list.
        var errors = await ErrorsAsync("""{"language": "cobol", "files": [{"name": "a", "content": "x"}], "network": true}""");
        Assert.StartsWith("language: Unknown language 'cobol'", errors[0], StringComparison.Ordinal);
    }

    [Theory(Timeout = 30000)]
    [InlineData("""{"language": "python", """)]
    [InlineData("""{"language": 'python'}""")]
    [InlineData("""not json""")]
    [InlineData("")]
    [InlineData("""{"a": 1} {"b": 2}""")]
    public async Task Malformed_json_is_a_400_without_internals(string json)
    {
        using var response = await _app.PostExecutionAsync(json);
        var problem = await response.ProblemAsync(400);
        Assert.Equal("malformed_json", (string)problem["code"]!);
        Assert.DoesNotContain(" at ", (string)problem["detail"]!, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30000)]
    public async Task Json_nested_deeper_than_32_is_a_400()
    {
        var deep = "{\"language\":\"python\",\"files\":[{\"name\":\"a.py\",\"content\":\"x\"}],\"x\":" + new string('[', 40) + new string(']', 40) + "}";
        using var response = await _app.PostExecutionAsync(deep);
        var problem = await response.ProblemAsync(400);
        Assert.Equal("malformed_json", (string)problem["code"]!);
        Assert.Contains("depth", (string)problem["detail"]!, StringComparison.Ordinal);

        // 32 levels are fine as JSON (and then an unknown field).
        var ok = "{\"language\":\"python\",\"files\":[{\"name\":\"a.py\",\"content\":\"x\"}],\"x\":" + new string('[', 30) + new string(']', 30) + "}";
        using var allowed = await _app.PostExecutionAsync(ok);
        Assert.Equal(["x: unknown field"], (await allowed.ProblemAsync(400)).Errors());
    }

    [Fact(Timeout = 30000)]
    public async Task A_body_that_is_not_json_is_a_415()
    {
        using var response = await _app.Client.PostAsync("/v1/executions", new StringContent("language=python", Encoding.UTF8, "application/x-www-form-urlencoded"));
        var problem = await response.ProblemAsync(415);
        Assert.Equal("unsupported_media_type", (string)problem["code"]!);
    }

    [Fact(Timeout = 30000)]
    public async Task A_body_over_the_limit_is_a_413_whether_or_not_its_length_is_declared()
    {
        var big = TestApp.Request("python", "main.py", new string('#', 100_000));
        using var declared = await _app.PostExecutionAsync(big);
        Assert.Equal("body_too_large", (string)(await declared.ProblemAsync(413))["code"]!);

        // Without Content-Length the limit is found while reading.
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/executions") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var chunked = await _app.Client.SendAsync(request);
        Assert.Equal("body_too_large", (string)(await chunked.ProblemAsync(413))["code"]!);

        var metrics = await (await _app.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Contains("cordon_http_rejected_total{reason=\"body_too_large\",status=\"413\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30000)]
    public async Task Unknown_paths_and_methods_are_problems_too()
    {
        using var missing = await _app.GetAsync("/v1/nothing");
        Assert.Equal("not_found", (string)(await missing.ProblemAsync(404))["code"]!);
        using var method = await _app.Client.DeleteAsync("/v1/executions");
        Assert.Equal("method_not_allowed", (string)(await method.ProblemAsync(405))["code"]!);
    }
}
