using Microsoft.Extensions.Logging;

namespace Cordon.Engine;

/// <summary>Log events of sessions; each names the session.</summary>
internal static partial class Log
{
    [LoggerMessage(2101, LogLevel.Information, "Session {SessionId}: created (uid {Uid})")]
    public static partial void SessionCreated(ILogger logger, string sessionId, uint uid);

    [LoggerMessage(2102, LogLevel.Information, "Session {SessionId}: deleted")]
    public static partial void SessionDeleted(ILogger logger, string sessionId);

    [LoggerMessage(2103, LogLevel.Information, "Session {SessionId}: idle timeout or lifetime reached; closing")]
    public static partial void SessionExpired(ILogger logger, string sessionId);

    [LoggerMessage(2104, LogLevel.Debug, "Session {SessionId}: closed; nothing of it is left")]
    public static partial void SessionClosed(ILogger logger, string sessionId);

    [LoggerMessage(2105, LogLevel.Information, "Session {SessionId}: cell {Cell} ({Language}) timed out; interrupting")]
    public static partial void CellInterrupted(ILogger logger, string sessionId, int cell, string language);

    [LoggerMessage(2106, LogLevel.Warning, "Session {SessionId}: {Language} kernel restarted")]
    public static partial void KernelRestarted(ILogger logger, string sessionId, string language);

    [LoggerMessage(2107, LogLevel.Debug, "Session {SessionId}: command {CommandId} started (background {Background})")]
    public static partial void CommandStarted(ILogger logger, string sessionId, string commandId, bool background);

    [LoggerMessage(2108, LogLevel.Information, "Session {SessionId}: command {CommandId} signalled ({Signal})")]
    public static partial void CommandSignalled(ILogger logger, string sessionId, string commandId, int signal);

    [LoggerMessage(2109, LogLevel.Information, "Session {SessionId}: cell {Cell} ({Language}) cancelled by its caller; interrupting")]
    public static partial void CellCancelled(ILogger logger, string sessionId, int cell, string language);

    [LoggerMessage(2110, LogLevel.Warning, "Session {SessionId}: the {Language} kernel died during cell {Cell}: {Reason}")]
    public static partial void KernelDied(ILogger logger, string sessionId, int cell, string language, string reason);

    [LoggerMessage(2111, LogLevel.Warning, "Session {SessionId}: its supervisor did not answer within {Seconds} s; closing the session")]
    public static partial void SupervisorUnresponsive(ILogger logger, string sessionId, double seconds);

    [LoggerMessage(2112, LogLevel.Warning, "Session {SessionId}: its jail ended from inside (every process in it died); closing the session")]
    public static partial void JailEnded(ILogger logger, string sessionId);
}
