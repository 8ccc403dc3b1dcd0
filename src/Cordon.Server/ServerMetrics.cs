using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Cordon.Server;

/// <summary>
/// The server's own instruments (meter <c>Cordon.Server</c>, created per application through its
/// <see cref="IMeterFactory"/>): requests by route, method and status, their duration, and requests refused
/// before they reached an execution (401, 413, 429) by reason.
/// </summary>
public sealed class ServerMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Cordon.Server";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _rejected;
    private readonly Histogram<double> _duration;

    /// <summary>Creates the instruments.</summary>
    public ServerMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(MeterName);
        _requests = Meter.CreateCounter<long>("cordon.http.requests", "{request}", "HTTP requests answered, by route, method and status.");
        _rejected = Meter.CreateCounter<long>("cordon.http.rejected", "{request}", "HTTP requests refused (401, 413, 429), by status and reason.");
        _duration = Meter.CreateHistogram<double>("cordon.http.request.duration", "s", "Time to answer HTTP requests, by route.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
    }

    /// <summary>The meter (its scope is the application's meter factory).</summary>
    public Meter Meter { get; }

    internal void RequestFinished(string route, string method, int status, TimeSpan elapsed, string? rejection)
    {
        var statusText = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _requests.Add(1, new("route", route), new("method", method), new("status", statusText));
        _duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("route", route));
        if (status is StatusCodes.Status401Unauthorized or StatusCodes.Status413PayloadTooLarge or StatusCodes.Status429TooManyRequests)
        {
            var reason = rejection ?? status switch
            {
                StatusCodes.Status401Unauthorized => "unauthorized",
                StatusCodes.Status413PayloadTooLarge => "body_too_large",
                _ => "too_many_requests",
            };
            _rejected.Add(1, new("status", statusText), new("reason", reason));
        }
    }
}

/// <summary>
/// Counts every request once it is answered, rejections included. Outermost in the pipeline so it sees the final
/// status, even one the exception handler wrote; the route is the matched pattern, never the raw path, so random
/// paths cannot grow the number of series.
/// </summary>
internal sealed class RequestMetricsMiddleware(RequestDelegate next, ServerMetrics metrics)
{
    private const string RouteItem = "cordon.route";

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            var route = context.Items[RouteItem] as string ?? "unmatched";
            metrics.RequestFinished(route, context.Request.Method, context.Response.StatusCode, Stopwatch.GetElapsedTime(started),
                context.Items[Problems.RejectionReasonItem] as string);
        }
    }

    /// <summary>Remembers the matched route (placed right after routing, before anything can clear the endpoint).</summary>
    public static Task CaptureRoute(HttpContext context, RequestDelegate next)
    {
        if (context.GetEndpoint() is RouteEndpoint endpoint) context.Items[RouteItem] = "/" + endpoint.RoutePattern.RawText?.TrimStart('/');
        return next(context);
    }
}
