using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Cordon.Server.Tests;

/// <summary>/metrics, /healthz, /readyz and the OpenAPI document.</summary>
public sealed class ObservabilityTests : IAsyncLifetime
{
    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact(Timeout = 60000)]
    public async Task Metrics_after_a_run_have_executions_by_runtime_and_verdict_and_stage_durations()
    {
        Assert.Equal(200, (int)(await _app.PostExecutionAsync(TestApp.Request("python", "main.py", "print(1)"))).StatusCode);
        Assert.Equal(200, (int)(await _app.PostExecutionAsync(TestApp.Request("python", "main.py", "exit(4)"))).StatusCode);

        using var response = await _app.GetAsync("/metrics");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = await response.Content.ReadAsStringAsync();

        Assert.Contains("# TYPE cordon_executions_total counter", text, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^cordon_executions_total\{runtime=""python"",verdict=""ok""\} [1-9]\d*$", text);
        Assert.Matches(@"(?m)^cordon_executions_total\{runtime=""python"",verdict=""runtime_error""\} [1-9]\d*$", text);
        Assert.Contains("# TYPE cordon_stage_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^cordon_stage_duration_seconds_bucket\{runtime=""python"",stage=""run"",le=""0\.1""\} \d+$", text);
        Assert.Matches(@"(?m)^cordon_stage_duration_seconds_bucket\{runtime=""python"",stage=""run"",le=""\+Inf""\} [1-9]\d*$", text);
        Assert.Matches(@"(?m)^cordon_stage_duration_seconds_sum\{runtime=""python"",stage=""run""\} [0-9.eE+-]+$", text);
        Assert.Matches(@"(?m)^cordon_stage_duration_seconds_count\{runtime=""python"",stage=""run""\} [1-9]\d*$", text);
        foreach (var gauge in new[] { "cordon_queue_depth", "cordon_executions_running", "cordon_jails_live" })
        {
            Assert.Contains($"# TYPE {gauge} gauge", text, StringComparison.Ordinal);
            Assert.Matches($"(?m)^{gauge} \\d+$", text);
        }
        Assert.Contains("cordon_http_requests_total{method=\"POST\",route=\"/v1/executions\",status=\"200\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE cordon_http_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE cordon_http_rejected_total counter", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE cordon_rejected_total counter", text, StringComparison.Ordinal);

        // Every line is a comment or a sample of the text format.
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.Matches(@"^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*=""([^""\\]|\\.)*"",?)*\})? -?[0-9.eE+-]+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (\+Inf|NaN))$", line);
    }

    [Fact(Timeout = 60000)]
    public async Task Metrics_count_live_sessions_and_cells_by_language_and_verdict()
    {
        static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");
        using var created = await _app.Client.PostAsync("/v1/sessions", Json("{}"));
        Assert.Equal(201, (int)created.StatusCode);
        var id = (string)JsonNode.Parse(await created.Content.ReadAsStringAsync())!["id"]!;
        using (var ok = await _app.Client.PostAsync($"/v1/sessions/{id}/cells", Json("""{"code": "1+1"}"""))) Assert.Equal(200, (int)ok.StatusCode);
        using (var error = await _app.Client.PostAsync($"/v1/sessions/{id}/cells", Json("""{"code": "1/0"}"""))) Assert.Equal(200, (int)error.StatusCode);

        var text = await (await _app.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Contains("# TYPE cordon_sessions_live gauge", text, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^cordon_sessions_live [1-9]\d*$", text);
        Assert.Matches(@"(?m)^cordon_cells_total\{language=""python"",verdict=""ok""\} [1-9]\d*$", text);
        Assert.Matches(@"(?m)^cordon_cells_total\{language=""python"",verdict=""error""\} [1-9]\d*$", text);

        using (var deleted = await _app.Client.DeleteAsync($"/v1/sessions/{id}")) Assert.Equal(204, (int)deleted.StatusCode);
        text = await (await _app.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Matches(@"(?m)^cordon_sessions_live 0$", text);
    }

    [Fact(Timeout = 60000)]
    public async Task Histogram_buckets_are_cumulative_and_end_with_the_count()
    {
        Assert.Equal(200, (int)(await _app.PostExecutionAsync(TestApp.Request("python", "main.py", "print(1)"))).StatusCode);
        var text = await (await _app.GetAsync("/metrics")).Content.ReadAsStringAsync();
        var buckets = Regex.Matches(text, @"(?m)^cordon_http_request_duration_seconds_bucket\{route=""/v1/executions"",le=""([^""]+)""\} (\d+)$")
            .Select(m => long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.NotEmpty(buckets);
        Assert.Equal(buckets.Order(), buckets);
        var count = Regex.Match(text, @"(?m)^cordon_http_request_duration_seconds_count\{route=""/v1/executions""\} (\d+)$").Groups[1].Value;
        Assert.Equal(count, buckets[^1].ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact(Timeout = 30000)]
    public async Task Health_and_readiness_answer()
    {
        using var health = await _app.GetAsync("/healthz");
        Assert.Equal("ok\n", await health.Content.ReadAsStringAsync());
        using var ready = await _app.GetAsync("/readyz");
        Assert.Equal(200, (int)ready.StatusCode);
        Assert.Equal("ready\n", await ready.Content.ReadAsStringAsync());
    }

    [Fact(Timeout = 30000)]
    public async Task The_openapi_document_describes_the_native_api_in_snake_case()
    {
        using var response = await _app.GetAsync("/openapi/v1.json");
        Assert.Equal(200, (int)response.StatusCode);
        var document = await response.JsonAsync();
        Assert.StartsWith("3.", (string)document["openapi"]!, StringComparison.Ordinal);
        var execute = document["paths"]!["/v1/executions"]!["post"]!;
        Assert.NotNull(execute["requestBody"]!["content"]!["application/json"]);
        Assert.NotNull(execute["responses"]!["200"]!["content"]!["text/event-stream"]);
        Assert.NotNull(execute["responses"]!["429"]);
        Assert.NotNull(document["paths"]!["/v1/runtimes"]!["get"]!["responses"]!["200"]!["content"]);

        var schemas = document["components"]!["schemas"]!;
        var request = schemas["ExecutionRequestBody"]!;
        Assert.Equal(["language", "version", "files", "stdin", "stdin_encoding", "args", "run_limits", "compile_limits", "network"],
            request["properties"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["files", "language"], request["required"]!.AsArray().Select(r => (string)r!).Order());
        Assert.Equal(["wall_time_ms", "cpu_time_ms", "memory_bytes", "processes", "output_bytes"],
            schemas["LimitsBody"]!["properties"]!.AsObject().Select(p => p.Key));
        var stage = schemas["StageResponse"]!["properties"]!.AsObject().Select(p => p.Key).ToList();
        Assert.Contains("stdout_encoding", stage);
        Assert.Contains("kill_reason", stage);
        Assert.NotNull(JsonNode.Parse(document.ToJsonString()));
    }
}
