using Microsoft.Extensions.Logging;

namespace Cordon.Jail;

/// <summary>Source-generated log events of the jail layer; every event names the jail.</summary>
internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Debug, "Jail {JailId} ({Label}) started as uid {Uid}, pid {Pid}")]
    public static partial void JailStarted(ILogger logger, string jailId, string? label, uint uid, int pid);

    [LoggerMessage(1002, LogLevel.Debug, "Jail {JailId} ({Label}) ended: {Verdict}, exit {ExitCode}, signal {Signal}, {WallMs} ms")]
    public static partial void JailEnded(ILogger logger, string jailId, string? label, Verdict verdict, int? exitCode, int? signal, long wallMs);

    [LoggerMessage(1003, LogLevel.Warning, "Jail {JailId} ({Label}) failed to set up: {Message}")]
    public static partial void JailSetupFailed(ILogger logger, string jailId, string? label, string message);

    [LoggerMessage(1004, LogLevel.Information, "Janitor removed what instance {InstanceId} left behind: {Cgroups} cgroups, {Directories} jail directories")]
    public static partial void JanitorReaped(ILogger logger, string instanceId, int cgroups, int directories);

    [LoggerMessage(1005, LogLevel.Warning, "Jail {JailId} cleanup incomplete: {Message}")]
    public static partial void CleanupIncomplete(ILogger logger, string jailId, string message);

    [LoggerMessage(1006, LogLevel.Debug, "Jail {JailId} killed: {Reason}")]
    public static partial void JailKilled(ILogger logger, string jailId, string reason);
}
