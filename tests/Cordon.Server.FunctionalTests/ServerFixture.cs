[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Cordon.Server.FunctionalTests;

/// <summary>
/// One real <c>cordon serve</c> shared by the tests of <see cref="ServerCollection"/>. The request body limit is
/// lowered to 1 MiB so the oversized-body cases stay cheap; everything else is the default configuration.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    /// <summary>The body limit this server is configured with.</summary>
    public const int MaxRequestBodyBytes = 1024 * 1024;

    private CordonServe? _server;

    /// <summary>The running server.</summary>
    public CordonServe Server => _server ?? throw new InvalidOperationException("The server is not started.");

    public async Task InitializeAsync() =>
        _server = await CordonServe.StartAsync(new Dictionary<string, string>
        {
            ["MaxRequestBodyBytes"] = MaxRequestBodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

    // Stopping checks the exit and that nothing was left behind; a failure there fails the collection.
    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}

/// <summary>Tests that share one server.</summary>
[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "cordon serve";
}
