using Microsoft.Extensions.Logging;

namespace Cordon.Server.Mcp;

/// <summary>Events of the MCP server; each names the client and, where there is one, the session.</summary>
internal static partial class McpLog
{
    [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "MCP tool {Tool} called by {Client} (session {SessionId}) answered in {ElapsedMs} ms, error {IsError}")]
    public static partial void ToolCalled(ILogger logger, string tool, string client, string? sessionId, long elapsedMs, bool isError);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "MCP session {SessionId} created for {Client}")]
    public static partial void SessionCreated(ILogger logger, string sessionId, string client);

    [LoggerMessage(EventId = 702, Level = LogLevel.Information, Message = "MCP session {SessionId} closed by {Client}")]
    public static partial void SessionClosed(ILogger logger, string sessionId, string client);

    [LoggerMessage(EventId = 703, Level = LogLevel.Debug, Message = "MCP request {RequestId} from {Client} refused: {Reason}")]
    public static partial void RequestRefused(ILogger logger, string requestId, string client, string reason);

    [LoggerMessage(EventId = 704, Level = LogLevel.Information, Message = "MCP over stdio: serving (sessions per client {MaxSessions}, call timeout {CallTimeoutSeconds} s)")]
    public static partial void StdioStarted(ILogger logger, int maxSessions, int callTimeoutSeconds);

    [LoggerMessage(EventId = 705, Level = LogLevel.Information, Message = "MCP call {RequestId} of {Client} cancelled by the client")]
    public static partial void CallCancelled(ILogger logger, string requestId, string client);

    [LoggerMessage(EventId = 706, Level = LogLevel.Information, Message = "MCP tool {Tool} (session {SessionId}) cancelled by its client after {ElapsedMs} ms; stopping what it runs")]
    public static partial void CallStopped(ILogger logger, string tool, string? sessionId, long elapsedMs);

    [LoggerMessage(EventId = 707, Level = LogLevel.Information, Message = "MCP session {SessionId} of {Client} closed: the execute call that created it ended without a result")]
    public static partial void UnclaimedSessionClosed(ILogger logger, string sessionId, string client);
}
