using Cordon.Server.FunctionalTests;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Cordon.Mcp.FunctionalTests;

/// <summary>
/// One real <c>cordon serve</c> with two API keys and a cap of two MCP sessions per client, shared by the tests;
/// the stdio tests give <c>cordon mcp</c> the same settings.
/// </summary>
public sealed class McpServerFixture : IAsyncLifetime
{
    public const string KeyA = "mcp-test-key-a-0123456789abcdef";
    public const string KeyB = "mcp-test-key-b-0123456789abcdef";

    /// <summary>Settings of both transports' servers (CORDON_ variables without the prefix).</summary>
    public static readonly IReadOnlyDictionary<string, string> Settings = new Dictionary<string, string>
    {
        ["Mcp__MaxSessionsPerClient"] = "2",
    };

    private CordonServe? _server;

    /// <summary>The running server.</summary>
    public CordonServe Server => _server ?? throw new InvalidOperationException("The server is not started.");

    public async Task InitializeAsync() =>
        _server = await CordonServe.StartAsync(new Dictionary<string, string>(Settings)
        {
            ["ApiKeys__0"] = KeyA,
            ["ApiKeys__1"] = KeyB,
        });

    // Stopping checks the exit and that nothing was left behind: no jail, cgroup or folder of the instance.
    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    /// <summary>Plays a scenario over "stdio" or "http" (with key A unless another is given).</summary>
    public Task<System.Text.Json.JsonElement> RunAsync(string transport, string scenario, string? arg = null, string? apiKey = KeyA) =>
        transport == "stdio"
            ? McpAgent.RunAsync(null, scenario, arg, settings: Settings)
            : McpAgent.RunAsync(Server.BaseAddress, scenario, arg, apiKey);
}

/// <summary>Tests that share one server.</summary>
[CollectionDefinition(Name)]
public sealed class McpCollection : ICollectionFixture<McpServerFixture>
{
    public const string Name = "cordon mcp";
}
