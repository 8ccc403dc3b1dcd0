using Microsoft.Extensions.Logging;

namespace Cordon.Server;

/// <summary>
/// Source-generated log events of the sessions API; each names its session by id, so a session's story can be
/// followed through the server's log next to the engine's own session events. API keys are never logged.
/// </summary>
internal static partial class SessionApiLog
{
    [LoggerMessage(3201, LogLevel.Information, "Session {SessionId}: created for {Client}")]
    public static partial void Created(ILogger logger, string sessionId, string client);

    [LoggerMessage(3202, LogLevel.Information, "Session {SessionId}: deleted by {Client}")]
    public static partial void Deleted(ILogger logger, string sessionId, string client);

    [LoggerMessage(3203, LogLevel.Information, "Session {SessionId}: cell {Cell} returned to {Client} in {ElapsedMs} ms (streamed: {Streamed})")]
    public static partial void CellServed(ILogger logger, string sessionId, int cell, string client, long elapsedMs, bool streamed);

    [LoggerMessage(3204, LogLevel.Debug, "Session {SessionId}: wrote {Path} ({Bytes} bytes)")]
    public static partial void FileWritten(ILogger logger, string sessionId, string path, int bytes);

    [LoggerMessage(3205, LogLevel.Information, "Session {SessionId}: command {CommandId} answered to {Client} in {ElapsedMs} ms (background: {Background}, running: {Running})")]
    public static partial void CommandServed(ILogger logger, string sessionId, string commandId, string client, bool background, bool running, long elapsedMs);

    [LoggerMessage(3206, LogLevel.Information, "Session {SessionId}: command {CommandId} sent signal {Signal} by {Client}")]
    public static partial void CommandSignalled(ILogger logger, string sessionId, string commandId, string signal, string client);

    [LoggerMessage(3207, LogLevel.Information, "Session {SessionId}: command {CommandId} killed by {Client}")]
    public static partial void CommandKilled(ILogger logger, string sessionId, string commandId, string client);
}
