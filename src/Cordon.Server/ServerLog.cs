using Microsoft.Extensions.Logging;

namespace Cordon.Server;

/// <summary>
/// Source-generated log events of the server. An event about an execution names it by its id; one about a request
/// that never became an execution names the request (its trace id, also in the problem+json answer). API keys are
/// never logged: a client is its key's id (<see cref="ApiKeys.KeyId"/>) or its address.
/// </summary>
internal static partial class ServerLog
{
    [LoggerMessage(3001, LogLevel.Information, "Listening on {Address}; API keys: {KeyCount}; {RequestsPerMinute} requests per minute per client, {MaxConcurrent} executions at once, {MaxQueued} queued")]
    public static partial void Listening(ILogger logger, string address, int keyCount, int requestsPerMinute, int maxConcurrent, int maxQueued);

    [LoggerMessage(3002, LogLevel.Information, "Execution {ExecutionId}: {Verdict} returned to {Client} in {ElapsedMs} ms (streamed: {Streamed})")]
    public static partial void ExecutionServed(ILogger logger, string executionId, string verdict, string client, long elapsedMs, bool streamed);

    [LoggerMessage(3003, LogLevel.Information, "Request {RequestId} from {Client} refused with {Status} {Code}")]
    public static partial void RequestRefused(ILogger logger, string requestId, string client, int status, string code);

    [LoggerMessage(3004, LogLevel.Warning, "Request {RequestId} to {Path} from {RemoteAddress} refused: {Reason}")]
    public static partial void Unauthorized(ILogger logger, string requestId, string path, string remoteAddress, string reason);

    [LoggerMessage(3005, LogLevel.Information, "Request {RequestId} from {Client} refused: rate limit of {RequestsPerMinute} per minute reached")]
    public static partial void RateLimited(ILogger logger, string requestId, string client, int requestsPerMinute);

    [LoggerMessage(3006, LogLevel.Information, "Request {RequestId} from {Client}: the client went away; its execution was stopped")]
    public static partial void ClientGone(ILogger logger, string requestId, string client);

    [LoggerMessage(3007, LogLevel.Error, "Request {RequestId} from {Client}: streaming failed after the answer started")]
    public static partial void StreamFailed(ILogger logger, Exception exception, string requestId, string client);

    [LoggerMessage(3008, LogLevel.Warning, "Unknown setting {Key} (from a CORDON_ environment variable) ignored")]
    public static partial void UnknownEnvironmentSetting(ILogger logger, string key);

    [LoggerMessage(3009, LogLevel.Information, "Stopping: running executions have up to {Seconds} s to finish; {Running} running, {Queued} queued")]
    public static partial void Stopping(ILogger logger, int seconds, int running, int queued);

    [LoggerMessage(3010, LogLevel.Information, "Stopped: every jail is gone")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(3011, LogLevel.Information, "Request {RequestId} from {Client} refused: body over {MaxBytes} bytes")]
    public static partial void BodyTooLarge(ILogger logger, string requestId, string client, long maxBytes);
}
