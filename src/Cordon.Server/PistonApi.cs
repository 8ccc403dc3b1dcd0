using System.Globalization;
using System.Text.Json;
using Cordon.Engine;
using Cordon.Jail;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Cordon.Server;

/// <summary>
/// Piston v2 compatible API (<c>/api/v2</c>): a mapping at the edge. It parses and validates a request exactly as
/// Piston does, maps it onto an <see cref="ExecutionRequest"/>, runs it on the same engine as /v1, and maps the
/// result back onto Piston's shape and status letters. Every error is <c>{"message": "..."}</c>, Piston's shape;
/// no input of a client gets a 500.
/// </summary>
public static class PistonApi
{
    // Deeper than any real request, far below what would strain the parser.
    private const int MaxJsonDepth = 64;

    /// <summary>Maps <c>GET /api/v2/runtimes</c> and <c>POST /api/v2/execute</c>.</summary>
    public static IEndpointRouteBuilder MapPistonApi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/api/v2").WithTags("Piston v2");
        group.MapGet("/runtimes", RuntimesAsync)
            .WithSummary("Piston v2: the runtimes installed here")
            .Produces<IReadOnlyList<PistonRuntime>>();
        group.MapPost("/execute", ExecuteAsync)
            .WithSummary("Piston v2: run a program (Piston's request fields, response shape, status letters and messages)")
            .Produces<PistonExecuteResponse>()
            .Produces<PistonMessage>(StatusCodes.Status400BadRequest)
            .Produces<PistonMessage>(StatusCodes.Status413PayloadTooLarge)
            .Produces<PistonMessage>(StatusCodes.Status415UnsupportedMediaType)
            .Produces<PistonMessage>(StatusCodes.Status429TooManyRequests);
        return app;
    }

    private static async Task<IResult> RuntimesAsync([FromServices] EngineService engine, CancellationToken cancellationToken)
    {
        var all = await engine.Engine.Catalog.ProbeAllAsync(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<PistonRuntime> runtimes = all
            .Where(r => r.Available)
            .Select(r => new PistonRuntime(r.Name, r.Version!, r.Manifest.Aliases, PistonRequests.ToolchainOf(r.Manifest)))
            .ToList();
        return Results.Json(runtimes, PistonJsonContext.Relaxed.IReadOnlyListPistonRuntime);
    }

    private static async Task<IResult> ExecuteAsync(HttpContext context, [FromServices] EngineService engine, [FromServices] ILoggerFactory loggerFactory)
    {
        var cancellationToken = context.RequestAborted;
        var logger = loggerFactory.CreateLogger("Cordon.Server.PistonApi");
        var response = await RespondAsync(context, engine, cancellationToken, logger).ConfigureAwait(false);
        if (response is { Status: >= 400 and < 500, Message: { } refused })
            // The reason can quote the request (an unknown language): printable and short in the log.
            PistonLog.Refused(logger, Problems.RequestId(context), response.Status, JailFiles.Printable(refused));
        return response.Result;
    }

    private static async Task<(IResult Result, int Status, string? Message)> RespondAsync(HttpContext context, EngineService engine, CancellationToken cancellationToken, ILogger logger)
    {
        if (!IsJson(context.Request)) return Message(StatusCodes.Status415UnsupportedMediaType, "requests must be of type application/json");

        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(context.Request.Body,
                new JsonDocumentOptions { MaxDepth = MaxJsonDepth, AllowDuplicateProperties = false }, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            // The parser's message says what and where ("... LineNumber: 0 | BytePositionInLine: 7"), never a stack.
            return Message(StatusCodes.Status400BadRequest, "the request body is not valid JSON: " + e.Message);
        }
        catch (BadHttpRequestException e)
        {
            if (e.StatusCode == StatusCodes.Status413PayloadTooLarge) Problems.NoteRejection(context, "body_too_large");
            return Message(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? "the request body is larger than this server accepts"
                : "the request body could not be read: " + e.Message);
        }

        using (document)
        {
            try
            {
                var (execution, error) = await PistonRequests.ParseAsync(document.RootElement, engine.Engine, cancellationToken).ConfigureAwait(false);
                if (error is not null) return Message(StatusCodes.Status400BadRequest, error);
                var result = await engine.Engine.ExecuteAsync(execution!.Request, cancellationToken).ConfigureAwait(false);
                PistonLog.Executed(logger, result.Id, Problems.RequestId(context), result.Language, result.Verdict);
                return (Results.Json(PistonResults.Map(result, execution.RunMemoryLimit, execution.CompileMemoryLimit),
                    PistonJsonContext.Relaxed.PistonExecuteResponse), StatusCodes.Status200OK, null);
            }
            catch (CordonException e)
            {
                var status = CordonServer.StatusOf(e.Code);
                if (e.Code == CordonErrorCode.Overloaded) Problems.NoteRejection(context, "overloaded");
                if (status >= StatusCodes.Status500InternalServerError) PistonLog.Failed(logger, e, Problems.RequestId(context), e.CodeName);
                if (e.RetryAfter is { } retry)
                    context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return Message(status, status == StatusCodes.Status500InternalServerError
                    ? "Cordon failed unexpectedly; the server log has the details."
                    : e.Message);
            }
        }
    }

    /// <summary>
    /// Piston accepts only <c>application/json</c>. Cordon also takes <c>text/plain</c> from non-browser clients:
    /// piston-client 1.0.2 posts a string body through node-fetch without a Content-Type, which node-fetch sends as
    /// text/plain, so it fails against a self-hosted Piston (dthree/node-piston#4). A browser always sends Origin on
    /// a POST, and text/plain is a "simple" request that skips CORS preflight, so text/plain with an Origin stays
    /// refused: no web page can make a loopback Cordon run code.
    /// </summary>
    internal static bool IsJson(HttpRequest request)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var type) || type.MediaType.Value is not { } media) return false;
        if (media.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || media.EndsWith("+json", StringComparison.OrdinalIgnoreCase)) return true;
        return media.Equals("text/plain", StringComparison.OrdinalIgnoreCase) && !request.Headers.ContainsKey(HeaderNames.Origin);
    }

    private static (IResult, int, string) Message(int status, string message) =>
        (Results.Json(new PistonMessage(message), PistonJsonContext.Relaxed.PistonMessage, statusCode: status), status, message);
}

/// <summary>Log events of the Piston API (31xx); each names the request, and the execution once there is one.</summary>
internal static partial class PistonLog
{
    [LoggerMessage(3101, LogLevel.Information, "Piston execution {ExecutionId} (request {RequestId}): {Language} {Verdict}")]
    public static partial void Executed(ILogger logger, string executionId, string requestId, string language, Verdict verdict);

    [LoggerMessage(3102, LogLevel.Information, "Piston request {RequestId} refused with {Status}: {Reason}")]
    public static partial void Refused(ILogger logger, string requestId, int status, string reason);

    [LoggerMessage(3103, LogLevel.Error, "Piston request {RequestId} failed in Cordon itself ({Code})")]
    public static partial void Failed(ILogger logger, Exception exception, string requestId, string code);
}
