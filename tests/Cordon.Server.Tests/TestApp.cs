using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cordon.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cordon.Server.Tests;

/// <summary>
/// A Cordon server built by <see cref="CordonServer.Build"/> with test settings, in process: on a TestServer, or
/// on real Kestrel at 127.0.0.1 with a free port (for shutdown). Every log event is captured.
/// </summary>
public sealed class TestApp : IAsyncDisposable
{
    private TestApp(WebApplication app, HttpClient client, CapturedLogs logs)
    {
        App = app;
        Client = client;
        Logs = logs;
    }

    public WebApplication App { get; }

    public HttpClient Client { get; }

    public CapturedLogs Logs { get; }

    public EngineService EngineService => App.Services.GetRequiredService<EngineService>();

    public static async Task<TestApp> StartAsync(IDictionary<string, string?>? settings = null, bool kestrel = false)
    {
        var logs = new CapturedLogs();
        var all = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>());
        if (kestrel) all.TryAdd("Address", "127.0.0.1:0");
        var app = CordonServer.Build([], configure: builder =>
        {
            if (!kestrel) builder.WebHost.UseTestServer();
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
            builder.Logging.AddProvider(logs);
        }, settings: all);
        await app.StartAsync();
        var client = kestrel
            ? new HttpClient { BaseAddress = new Uri(CordonServer.ListeningAddresses(app)[0]), Timeout = TimeSpan.FromSeconds(60) }
            : app.GetTestClient();
        return new TestApp(app, client, logs);
    }

    public Task<HttpResponseMessage> PostExecutionAsync(string json, string? accept = null, string? key = null, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/executions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (accept is not null) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return Client.SendAsync(request, completion);
    }

    public Task<HttpResponseMessage> GetAsync(string path, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return Client.SendAsync(request);
    }

    /// <summary>An execution request's JSON with one file.</summary>
    public static string Request(string language, string name, string content, object? extra = null)
    {
        var body = new JsonObject
        {
            ["language"] = language,
            ["files"] = new JsonArray(new JsonObject { ["name"] = name, ["content"] = content }),
        };
        if (extra is not null)
        {
            foreach (var (key, value) in JsonSerializer.SerializeToNode(extra)!.AsObject()) body[key] = value?.DeepClone();
        }
        return body.ToJsonString();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>Reading answers.</summary>
public static class Answers
{
    public static async Task<JsonNode> JsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

    /// <summary>The problem+json of a refused request, after checking its status and media type.</summary>
    public static async Task<JsonNode> ProblemAsync(this HttpResponseMessage response, int status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!;
        Assert.Equal(status, (int)problem["status"]!);
        Assert.False(string.IsNullOrEmpty((string?)problem["code"]), text);
        return problem;
    }

    public static List<string> Errors(this JsonNode problem) =>
        problem["errors"]?.AsArray().Select(e => (string)e!).ToList() ?? [];
}

/// <summary>One server-sent event as it arrived.</summary>
public sealed record SseEvent(string Name, JsonNode Data, DateTime Arrived);

/// <summary>Reads a text/event-stream answer event by event.</summary>
public static class Sse
{
    public static async IAsyncEnumerable<SseEvent> ReadAsync(HttpResponseMessage response)
    {
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? name = null;
        var data = new StringBuilder();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                if (name is not null) yield return new SseEvent(name, JsonNode.Parse(data.ToString())!, DateTime.UtcNow);
                name = null;
                data.Clear();
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line["event: ".Length..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line["data: ".Length..]);
            else Assert.Fail($"unexpected line in the event stream: {line}");
        }
    }
}

/// <summary>Keeps every log event (category, level, formatted message and structured values).</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, EventId Id, string Message, string Values)> Events { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(";", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            owner.Events.Enqueue((category, logLevel, eventId, formatter(state, exception) + (exception is null ? "" : "\n" + exception), values));
        }
    }
}
