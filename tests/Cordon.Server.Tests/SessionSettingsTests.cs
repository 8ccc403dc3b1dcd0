using System.Text;
using System.Text.Json.Nodes;
using Cordon.Jail;

namespace Cordon.Server.Tests;

/// <summary>The Sessions section of the server settings: validated with the rest, mapped to the engine, and in force over HTTP.</summary>
public sealed class SessionSettingsTests
{
    [Fact(Timeout = 10000)]
    public async Task Defaults_are_the_engines_and_are_valid()
    {
        await Task.Yield();
        var settings = new SessionSettings();
        var engine = new Cordon.Engine.Sessions.SessionOptions();
        Assert.Empty(new CordonServerOptions().Validate());
        Assert.Equal(engine.MaxSessions, settings.MaxSessions);
        Assert.Equal(engine.IdleTimeout.TotalSeconds, settings.IdleTimeoutSeconds);
        Assert.Equal(engine.MaxLifetime.TotalSeconds, settings.MaxLifetimeSeconds);
        Assert.Equal(engine.CellTimeout.TotalSeconds, settings.CellTimeoutSeconds);
        Assert.Equal(engine.MaxFileBytes, settings.MaxFileBytes);
        Assert.Equal(engine.Limits.MemoryBytes, settings.MemoryBytes);
        Assert.Equal(engine.Limits.Processes, settings.Processes);
        Assert.Equal(engine.Limits.WorkDirBytes, settings.WorkDirBytes);
    }

    [Fact(Timeout = 10000)]
    public async Task Every_bad_session_setting_is_reported_together_with_the_others()
    {
        await Task.Yield();
        var options = new CordonServerOptions
        {
            RequestsPerMinute = -1,
            Sessions = new SessionSettings
            {
                MaxSessions = 0,
                IdleTimeoutSeconds = double.NaN,
                MaxLifetimeSeconds = 0,
                CellTimeoutSeconds = 1e12,
                MaxFileBytes = 0,
                MemoryBytes = 5,
                Processes = 0,
                WorkDirBytes = 1,
                TmpBytes = -1,
            },
        };
        Assert.Equal([
            "RequestsPerMinute must not be negative",
            "Sessions.MaxSessions must be at least 1",
            "Sessions.IdleTimeoutSeconds must be more than 0 and at most 31536000",
            "Sessions.MaxLifetimeSeconds must be more than 0 and at most 31536000",
            "Sessions.CellTimeoutSeconds must be more than 0 and at most 86400",
            "Sessions.MaxFileBytes must be between 1 and 1073741824",
            "Sessions.MemoryBytes must be at least 4194304 (4 MiB)",
            "Sessions.Processes must be at least 1",
            "Sessions.WorkDirBytes must be at least 65536 (64 KiB)",
            "Sessions.TmpBytes must be at least 65536 (64 KiB)",
        ], options.Validate());
    }

    [Fact(Timeout = 10000)]
    public async Task A_server_with_bad_session_settings_does_not_start_and_says_why()
    {
        await Task.Yield();
        var error = Assert.Throws<CordonException>(() => CordonServer.Build([], settings: new Dictionary<string, string?>
        {
            ["Sessions:MaxSessions"] = "0",
            ["Sessions:IdleTimeoutSecond"] = "5",
        }));
        Assert.Equal(CordonErrorCode.InvalidRequest, error.Code);
        Assert.Contains("Sessions.MaxSessions must be at least 1", error.Errors);
        Assert.Contains(error.Errors, e => e.StartsWith("unknown setting 'Sessions:IdleTimeoutSecond'", StringComparison.Ordinal));
    }

    [Fact(Timeout = 60000)]
    public async Task Configured_settings_reach_the_engine_and_hold_over_http()
    {
        await using var app = await TestApp.StartAsync(new Dictionary<string, string?>
        {
            ["Sessions:MaxSessions"] = "1",
            ["Sessions:IdleTimeoutSeconds"] = "120",
            ["Sessions:MaxLifetimeSeconds"] = "900",
            ["Sessions:CellTimeoutSeconds"] = "0.5",
            ["Sessions:MaxFileBytes"] = "10",
            ["Sessions:MemoryBytes"] = "134217728",
            ["Sessions:Processes"] = "20",
            ["Sessions:WorkDirBytes"] = "8388608",
            ["Sessions:TmpBytes"] = "4194304",
        });
        var options = app.EngineService.Engine.Sessions.Options;
        Assert.Equal(1, options.MaxSessions);
        Assert.Equal(TimeSpan.FromSeconds(120), options.IdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(900), options.MaxLifetime);
        Assert.Equal(TimeSpan.FromSeconds(0.5), options.CellTimeout);
        Assert.Equal(10, options.MaxFileBytes);
        Assert.Equal(134217728, options.Limits.MemoryBytes);
        Assert.Equal(20, options.Limits.Processes);
        Assert.Equal(8388608, options.Limits.WorkDirBytes);
        Assert.Equal(4194304, options.Limits.TmpBytes);

        var created = await app.Client.PostAsync("/v1/sessions", null);
        var session = await created.JsonAsync();
        Assert.Equal(201, (int)created.StatusCode);
        var id = (string)session["id"]!;
        // The lifetime caps the idle timeout's end only when it comes first; here the idle timeout does.
        var expires = DateTimeOffset.Parse((string)session["expires_at"]!) - DateTimeOffset.Parse((string)session["created_at"]!);
        Assert.InRange(expires.TotalSeconds, 119, 121);

        Assert.Equal("session_limit_reached", (string)(await (await app.Client.PostAsync("/v1/sessions", null)).ProblemAsync(429))["code"]!);
        var above = await (await app.Client.PostAsync("/v1/sessions", Json(new JsonObject { ["limits"] = new JsonObject { ["memory_bytes"] = 256L * 1024 * 1024 } }))).ProblemAsync(400);
        Assert.Equal(["limits.memory_bytes: 268435456 is above the maximum of 134217728"], above.Errors());
        Assert.Equal("file_too_large", (string)(await (await app.Client.PutAsync($"/v1/sessions/{id}/files/a.txt", new StringContent("01234567890"))).ProblemAsync(413))["code"]!);

        var cell = await (await app.Client.PostAsync($"/v1/sessions/{id}/cells", Json(new JsonObject { ["code"] = "while True: pass" }))).JsonAsync();
        Assert.True((bool)cell["timed_out"]!);
        var command = await (await app.Client.PostAsync($"/v1/sessions/{id}/commands", Json(new JsonObject { ["command"] = "sleep 30" }))).JsonAsync();
        Assert.True((bool)command["timed_out"]!);
    }

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");
}
