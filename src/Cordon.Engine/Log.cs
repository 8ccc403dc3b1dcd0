using Cordon.Jail;
using Microsoft.Extensions.Logging;

namespace Cordon.Engine;

/// <summary>Source-generated log events of the engine; each names the execution.</summary>
internal static partial class Log
{
    [LoggerMessage(2001, LogLevel.Information, "Execution {ExecutionId}: {Language} {Version} started")]
    public static partial void ExecutionStarted(ILogger logger, string executionId, string language, string version);

    [LoggerMessage(2002, LogLevel.Information, "Execution {ExecutionId}: {Verdict} in {WallMs} ms")]
    public static partial void ExecutionEnded(ILogger logger, string executionId, Verdict verdict, long wallMs);

    [LoggerMessage(2003, LogLevel.Information, "Execution {ExecutionId}: compile stage ended {Verdict}; run skipped")]
    public static partial void CompileFailed(ILogger logger, string executionId, Verdict verdict);

    [LoggerMessage(2004, LogLevel.Warning, "Warm pool for {Runtime} could not start a jail: {Message}")]
    public static partial void PoolFillFailed(ILogger logger, string runtime, string message);

    [LoggerMessage(2005, LogLevel.Debug, "Execution {ExecutionId}: run stage from the warm pool of {Runtime}")]
    public static partial void PooledRun(ILogger logger, string executionId, string runtime);
}
