using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Cordon.Server;

/// <summary>
/// Writes problem+json answers in one shape everywhere: <c>status</c>, <c>title</c>, <c>detail</c>, a stable
/// snake_case <c>code</c> and, for rejected requests, <c>errors</c> listing every problem.
/// </summary>
public static class Problems
{
    /// <summary>The item under which a rejection's reason is left for the request metrics.</summary>
    internal const string RejectionReasonItem = "cordon.rejection";

    /// <summary>Logs a refused request (with its client, never its key) and writes its problem.</summary>
    public static Task RefuseAsync(HttpContext context, Microsoft.Extensions.Logging.ILogger logger, int status, string code, string title, string detail,
        IReadOnlyList<string>? errors = null, TimeSpan? retryAfter = null)
    {
        ServerLog.RequestRefused(logger, RequestId(context), Clients.Of(context), status, code);
        return WriteAsync(context, status, code, title, detail, errors, retryAfter);
    }

    /// <summary>Writes a problem; <paramref name="retryAfter"/> also sets Retry-After (whole seconds, at least 1).</summary>
    public static Task WriteAsync(HttpContext context, int status, string code, string title, string? detail,
        IReadOnlyList<string>? errors = null, TimeSpan? retryAfter = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (retryAfter is { } retry)
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        context.Response.StatusCode = status;
        var problem = new ProblemDetails
        {
            Status = status,
            Title = title,
            Detail = detail,
            Extensions = { ["code"] = code },
        };
        if (errors is not null) problem.Extensions["errors"] = errors;
        return Results.Problem(problem).ExecuteAsync(context);
    }

    /// <summary>
    /// The id of a request as its problem+json answer gives it (<c>trace_id</c>), so a log event about a refused
    /// request can be found from the answer a client shows.
    /// </summary>
    public static string RequestId(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return System.Diagnostics.Activity.Current?.Id ?? context.TraceIdentifier;
    }

    /// <summary>Notes why a request was refused (unauthorized, body_too_large, rate_limited, overloaded), for metrics.</summary>
    internal static void NoteRejection(HttpContext context, string reason) => context.Items[RejectionReasonItem] = reason;
}
