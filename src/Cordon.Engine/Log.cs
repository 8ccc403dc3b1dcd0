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
}
