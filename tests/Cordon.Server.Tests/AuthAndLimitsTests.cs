namespace Cordon.Server.Tests;

/// <summary>API keys, per-client rate limits and admission control.</summary>
public sealed class AuthAndLimitsTests
{
    private const string Key = "test-key-0123456789abcdef";
    private const string OtherKey = "other-key-0123456789abcdef";

    [Fact(Timeout = 60000)]
    public async Task With_keys_every_endpoint_but_healthz_needs_a_configured_key()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ApiKeys:0"] = Key, ["ApiKeys:1"] = OtherKey });

        foreach (var path in new[] { "/v1/runtimes", "/metrics", "/readyz", "/openapi/v1.json", "/api/v2/runtimes", "/no/such/path" })
        {
            using var none = await app.GetAsync(path);
            Assert.Equal("unauthorized", (string)(await none.ProblemAsync(401))["code"]!);
            Assert.StartsWith("Bearer", none.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
            using var wrong = await app.GetAsync(path, "wrong-key-0123456789abcdef");
            await wrong.ProblemAsync(401);
        }
        using var noKeyPost = await app.PostExecutionAsync(TestApp.Request("python", "main.py", "print(1)"));
        await noKeyPost.ProblemAsync(401);

        using var health = await app.GetAsync("/healthz");
        Assert.Equal(200, (int)health.StatusCode);
        using var runtimes = await app.GetAsync("/v1/runtimes", Key);
        Assert.Equal(200, (int)runtimes.StatusCode);
        using var other = await app.GetAsync("/readyz", OtherKey);
        Assert.Equal(200, (int)other.StatusCode);
        using var run = await app.PostExecutionAsync(TestApp.Request("python", "main.py", "print(1)"), key: Key);
        Assert.Equal("1\n", (string)(await run.JsonAsync())["run"]!["stdout"]!);

        var metrics = await (await app.GetAsync("/metrics", Key)).Content.ReadAsStringAsync();
        Assert.Contains("cordon_http_rejected_total{reason=\"unauthorized\",status=\"401\"} 13", metrics, StringComparison.Ordinal);

        // The keys never reach the log, not even a wrong one; a key's short id may.
        Assert.NotEmpty(app.Logs.Events);
        Assert.DoesNotContain(app.Logs.Events, e => e.Message.Contains(Key, StringComparison.Ordinal) || e.Values.Contains(Key, StringComparison.Ordinal)
            || e.Message.Contains("0123456789abcdef", StringComparison.Ordinal) || e.Values.Contains("0123456789abcdef", StringComparison.Ordinal));
        Assert.Contains(app.Logs.Events, e => e.Message.Contains("key " + ApiKeys.KeyId(Key), StringComparison.Ordinal));
    }

    [Fact(Timeout = 60000)]
    public async Task A_bearer_scheme_is_needed_and_its_case_does_not_matter()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["ApiKeys:0"] = Key });
        var basic = new HttpRequestMessage(HttpMethod.Get, "/v1/runtimes");
        basic.Headers.TryAddWithoutValidation("Authorization", "Basic " + Key);
        await (await app.Client.SendAsync(basic)).ProblemAsync(401);
        var lower = new HttpRequestMessage(HttpMethod.Get, "/v1/runtimes");
        lower.Headers.TryAddWithoutValidation("Authorization", "bearer " + Key);
        Assert.Equal(200, (int)(await app.Client.SendAsync(lower)).StatusCode);
    }

    [Fact(Timeout = 60000)]
    public async Task Each_key_has_its_own_rate_limit_and_beyond_it_gets_429_with_retry_after()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["ApiKeys:0"] = Key,
            ["ApiKeys:1"] = OtherKey,
            ["RequestsPerMinute"] = "3",
        });
        for (var i = 0; i < 3; i++) Assert.Equal(200, (int)(await app.GetAsync("/readyz", Key)).StatusCode);
        using var limited = await app.GetAsync("/readyz", Key);
        var problem = await limited.ProblemAsync(429);
        Assert.Equal("rate_limited", (string)problem["code"]!);
        var retry = limited.Headers.RetryAfter?.Delta;
        Assert.NotNull(retry);
        Assert.InRange(retry!.Value.TotalSeconds, 1, 60);

        // Another key is not affected, nor are health probes.
        Assert.Equal(200, (int)(await app.GetAsync("/readyz", OtherKey)).StatusCode);
        for (var i = 0; i < 5; i++) Assert.Equal(200, (int)(await app.GetAsync("/healthz")).StatusCode);

        var metrics = await (await app.GetAsync("/metrics", OtherKey)).Content.ReadAsStringAsync();
        Assert.Contains("cordon_http_rejected_total{reason=\"rate_limited\",status=\"429\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Without_keys_the_rate_limit_is_per_client_address()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?> { ["RequestsPerMinute"] = "2" });
        Assert.Equal(200, (int)(await app.GetAsync("/readyz")).StatusCode);
        Assert.Equal(200, (int)(await app.GetAsync("/readyz")).StatusCode);
        using var limited = await app.GetAsync("/v1/runtimes");
        await limited.ProblemAsync(429);
        Assert.NotNull(limited.Headers.RetryAfter);
    }

    [Fact(Timeout = 60000)]
    public async Task Admission_control_answers_429_with_retry_after_when_slots_and_queue_are_full()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Admission:MaxConcurrent"] = "1",
            ["Admission:MaxQueued"] = "0",
        });
        var admission = app.EngineService.Engine.Admission;
        var holder = app.PostExecutionAsync(TestApp.Request("python", "main.py", "import time\ntime.sleep(3)\nprint('held')"));
        for (var i = 0; i < 200 && admission.Running == 0; i++) await Task.Delay(25);
        Assert.Equal(1, admission.Running);

        using var refused = await app.PostExecutionAsync(TestApp.Request("python", "main.py", "print(1)"));
        var problem = await refused.ProblemAsync(429);
        Assert.Equal("overloaded", (string)problem["code"]!);
        Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);

        // Streaming requests are refused the same way, before any event.
        using var refusedStream = await app.PostExecutionAsync(TestApp.Request("python", "main.py", "print(1)"), "text/event-stream");
        await refusedStream.ProblemAsync(429);

        using var held = await holder;
        Assert.Equal("held\n", (string)(await held.JsonAsync())["run"]!["stdout"]!);
        using var after = await app.PostExecutionAsync(TestApp.Request("python", "main.py", "print(2)"));
        Assert.Equal(200, (int)after.StatusCode);

        var metrics = await (await app.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Contains("cordon_http_rejected_total{reason=\"overloaded\",status=\"429\"} 2", metrics, StringComparison.Ordinal);
        Assert.Matches("cordon_rejected_total\\{reason=\"overloaded\"\\} [1-9]", metrics);
    }
}
