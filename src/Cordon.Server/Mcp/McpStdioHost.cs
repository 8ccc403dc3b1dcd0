using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Server;

namespace Cordon.Server.Mcp;

/// <summary>
/// MCP over stdio for <c>cordon mcp</c>: one client (the process that started it), one engine configured like
/// <c>cordon serve</c> (config file and CORDON_ variables). stdout is the protocol channel, so nothing else may
/// write there; logs go to the logger factory the caller gives (stderr). Returns when stdin closes or on
/// cancellation, after every session and jail is gone.
/// </summary>
public static class McpStdioHost
{
    /// <summary>The owner identity (and log name) of the stdio client: it owns every session it creates, up to the per-client cap.</summary>
    public const string Client = "stdio";

    /// <summary>
    /// The settings as <c>cordon serve</c> reads them (<paramref name="configFile"/>, else /etc/cordon/cordon.json
    /// when present, and CORDON_ variables). Throws <see cref="Cordon.Jail.CordonException"/> with
    /// <see cref="Cordon.Jail.CordonErrorCode.InvalidRequest"/> listing every problem.
    /// </summary>
    public static CordonServerOptions LoadSettings(string? configFile) => CordonServer.LoadOptions(configFile);

    /// <summary>Serves until stdin ends. Throws <see cref="Cordon.Jail.CordonException"/> when the host cannot run jails.</summary>
    public static async Task RunAsync(CordonServerOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var engine = new EngineService(Options.Create(options), loggerFactory);
        await using (engine.ConfigureAwait(false))
        {
            await engine.StartAsync(cancellationToken).ConfigureAwait(false);
            var tools = new McpTools(engine, options.Mcp, loggerFactory);
            var sdkLogging = new SdkLogging(loggerFactory);
            var transport = new StdioServerTransport("cordon", sdkLogging);
            await using (transport.ConfigureAwait(false))
            {
                var server = McpServer.Create(transport, tools.ServerOptions(new McpCaller(Client, Client)), sdkLogging);
                await using (server.ConfigureAwait(false))
                {
                    McpLog.StdioStarted(loggerFactory.CreateLogger("Cordon.Server.Mcp"), options.Mcp.MaxSessionsPerClient, options.Mcp.CallTimeoutSeconds);
                    await server.RunAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
