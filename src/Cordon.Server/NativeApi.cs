using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Cordon.Engine;
using Cordon.Jail;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Cordon.Server;

/// <summary>
/// Cordon's own API, /v1: the runtimes, and one-shot executions answered as one JSON result or, with
/// <c>Accept: text/event-stream</c>, as live output events followed by the result. Thin: parse, check, map, call
/// the engine, map back.
/// </summary>
public static class NativeApi
{
    /// <summary>Most nesting a request body may have; more is refused before anything looks at it.</summary>
    public const int MaxJsonDepth = 32;

    private const string StreamDescription = """
        Answers with the whole result as JSON. With 'Accept: text/event-stream' the answer is a stream of
        server-sent events instead: 'stdout' and 'stderr' events as output arrives, each with data
        {"stage": "compile"|"run", "data": "...", "encoding": "utf8"|"base64"}; then one 'result' event whose data is
        the result as the JSON answer gives it; then the stream ends. A request refused before any output gets the
        same status and problem+json as without streaming; a fault after the stream started is an 'error' event
        with data {"status", "code", "detail"}.
        """;

    /// <summary>Maps the /v1 endpoints.</summary>
    public static IEndpointRouteBuilder MapNativeApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("Native API");
        v1.MapGet("/runtimes", GetRuntimesAsync)
            .WithName("ListRuntimes")
            .WithSummary("The runtimes: name, installed version, aliases, extensions, whether compiled and available.")
            .Produces<List<RuntimeResponse>>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        v1.MapPost("/executions", ExecuteAsync)
            .WithName("Execute")
            .WithSummary("Runs a one-shot execution and returns its result; with Accept: text/event-stream, streams stdout and stderr events, then a result event.")
            .WithDescription(StreamDescription)
            .Accepts<ExecutionRequestBody>("application/json")
            .Produces<ExecutionResponse>(StatusCodes.Status200OK, "application/json", "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<IResult> GetRuntimesAsync(EngineService service, CancellationToken cancellationToken)
    {
        var runtimes = await service.Engine.Catalog.ProbeAllAsync(cancellationToken).ConfigureAwait(false);
        return TypedResults.Json(runtimes.Select(RuntimeResponse.From).ToList(), CordonServer.Json);
    }

    private static async Task ExecuteAsync(HttpContext context, EngineService service, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger("Cordon.Server.NativeApi");
        var aborted = context.RequestAborted;
        if (!context.Request.HasJsonContentType())
        {
            await RefuseAsync(context, logger, StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported media type",
                "Send the request as JSON with 'Content-Type: application/json'.").ConfigureAwait(false);
            return;
        }

        ExecutionRequestBody body;
        try
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = MaxJsonDepth }, aborted).ConfigureAwait(false);
            var shape = JsonShape.Check<ExecutionRequestBody>(document.RootElement, CordonServer.Json);
            if (shape.Count > 0)
            {
                await RefuseAsync(context, logger, StatusCodes.Status400BadRequest, "invalid_request", "Invalid request", "The request does not have the expected shape; 'errors' lists every problem.", shape).ConfigureAwait(false);
                return;
            }
            body = document.Deserialize<ExecutionRequestBody>(CordonServer.Json)!;
        }
        catch (JsonException e)
        {
            await RefuseAsync(context, logger, StatusCodes.Status400BadRequest, "malformed_json", "Malformed JSON",
                "The body is not valid JSON: " + e.Message).ConfigureAwait(false);
            return;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            Problems.NoteRejection(context, "body_too_large");
            await RefuseAsync(context, logger, e.StatusCode, "body_too_large", "Request body too large", e.Message).ConfigureAwait(false);
            return;
        }

        var engine = service.Engine;
        var (request, problems) = await ExecutionRequestMapper.MapAsync(body, engine, aborted).ConfigureAwait(false);
        if (problems is not null)
        {
            await RefuseAsync(context, logger, StatusCodes.Status400BadRequest, problems.Code,
                problems.Code == "unknown_runtime" ? "Unknown runtime" : "Invalid request",
                problems.Errors.Count == 1 ? problems.Errors[0] : "'errors' lists every problem.", problems.Errors).ConfigureAwait(false);
            return;
        }

        var streaming = context.Request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase));
        var started = Stopwatch.GetTimestamp();
        if (streaming)
        {
            await StreamAsync(context, engine, request!, logger, started).ConfigureAwait(false);
            return;
        }

        ExecutionResult result;
        try
        {
            result = await engine.ExecuteAsync(request!, aborted).ConfigureAwait(false);
        }
        catch (CordonException e)
        {
            await RefuseAsync(context, logger, e).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            ServerLog.ClientGone(logger, Problems.RequestId(context), Clients.Of(context));
            return;
        }
        ServerLog.ExecutionServed(logger, result.Id, CordonMetrics.VerdictName(result.Verdict), Clients.Of(context), (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, false);
        await TypedResults.Json(ExecutionResponse.From(result), CordonServer.Json).ExecuteAsync(context).ConfigureAwait(false);
    }

    /// <summary>
    /// Streams an execution as server-sent events. The answer starts with the first event, so a request refused by
    /// the engine (validation, admission) still gets its proper status; a fault after that is an <c>error</c> event.
    /// </summary>
    private static async Task StreamAsync(HttpContext context, CordonEngine engine, ExecutionRequest request, ILogger logger, long started)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        // Unbounded is bounded here: the jail hands on only the bytes it keeps, at most the output limits.
        var chunks = Channel.CreateUnbounded<OutputChunk>(new UnboundedChannelOptions { SingleReader = true });
        var run = engine.ExecuteAsync(request, chunk => chunks.Writer.TryWrite(chunk), stop.Token);
        _ = run.ContinueWith(_ => chunks.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var events = new EventStream(context);
        var splitter = new Utf8ChunkSplitter();
        try
        {
            await foreach (var chunk in chunks.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                if (splitter.Push(chunk) is { } piece) await events.WriteAsync(piece, stop.Token).ConfigureAwait(false);
            }

            if (await events.ResultAsync(run, e => RefuseAsync(context, logger, e), stop.Token).ConfigureAwait(false) is not { } result) return;
            foreach (var piece in splitter.Flush()) await events.WriteAsync(piece, stop.Token).ConfigureAwait(false);
            await events.WriteAsync("result", JsonSerializer.Serialize(ExecutionResponse.From(result), CordonServer.Json), stop.Token).ConfigureAwait(false);
            ServerLog.ExecutionServed(logger, result.Id, CordonMetrics.VerdictName(result.Verdict), Clients.Of(context), (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, true);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            ServerLog.ClientGone(logger, Problems.RequestId(context), Clients.Of(context));
        }
        catch (Exception e) when (events.Started)
        {
            // Too late for a status: say so in the stream, and keep the details for the log.
            ServerLog.StreamFailed(logger, e, Problems.RequestId(context), Clients.Of(context));
            await stop.CancelAsync().ConfigureAwait(false);
            await events.TryWriteAsync("error", JsonSerializer.Serialize(new { status = 500, code = "internal_error", detail = "Cordon failed unexpectedly; the server log has the details." }, CordonServer.Json)).ConfigureAwait(false);
        }
        finally
        {
            // Whatever happened to the answer, the execution is over (or stopped) before the request ends.
            await stop.CancelAsync().ConfigureAwait(false);
            await ((Task)run).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Writes server-sent events, starting the answer with the first (the session cells' stream uses it too).</summary>
    internal sealed class EventStream(HttpContext context)
    {
        public bool Started { get; private set; }

        /// <summary>
        /// The run's result, or null once its fault was answered: by <paramref name="refuse"/> (a problem+json) while
        /// no event was sent, as an <c>error</c> event after.
        /// </summary>
        public async Task<T?> ResultAsync<T>(Task<T> run, Func<CordonException, Task> refuse, CancellationToken cancellationToken) where T : class
        {
            try
            {
                return await run.ConfigureAwait(false);
            }
            catch (CordonException e) when (!Started)
            {
                await refuse(e).ConfigureAwait(false);
            }
            catch (CordonException e)
            {
                await WriteAsync(e, cancellationToken).ConfigureAwait(false);
            }
            return null;
        }

        /// <summary>A <c>stdout</c> or <c>stderr</c> event with text.</summary>
        public Task WriteAsync(OutputStreamKind stream, string text, CancellationToken cancellationToken) =>
            WriteAsync(stream == OutputStreamKind.Stdout ? "stdout" : "stderr", JsonSerializer.Serialize(new OutputEvent("run", text, "utf8"), CordonServer.Json), cancellationToken);

        /// <summary>An <c>error</c> event for a fault of Cordon's after the stream started, when a status can no longer say it.</summary>
        public Task WriteAsync(CordonException e, CancellationToken cancellationToken) =>
            WriteAsync("error", JsonSerializer.Serialize(new { status = CordonServer.StatusOf(e.Code), code = e.CodeName, detail = e.Message, errors = e.Errors }, CordonServer.Json), cancellationToken);

        public Task WriteAsync(Utf8ChunkSplitter.Piece piece, CancellationToken cancellationToken) =>
            WriteAsync(piece.Stream == OutputStreamKind.Stdout ? "stdout" : "stderr",
                JsonSerializer.Serialize(new OutputEvent(piece.Stage == ExecutionStage.Compile ? "compile" : "run", piece.Data, piece.Encoding), CordonServer.Json),
                cancellationToken);

        public async Task WriteAsync(string name, string json, CancellationToken cancellationToken)
        {
            if (!Started)
            {
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "text/event-stream; charset=utf-8";
                context.Response.Headers.CacheControl = "no-cache";
                context.Response.Headers["X-Accel-Buffering"] = "no";
                context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
                Started = true;
            }
            // JSON written by System.Text.Json without indentation holds no newline, so one data line is enough.
            await context.Response.WriteAsync($"event: {name}\ndata: {json}\n\n", Encoding.UTF8, cancellationToken).ConfigureAwait(false);
            await context.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        public async Task TryWriteAsync(string name, string json)
        {
            try
            {
                await WriteAsync(name, json, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
            {
                // The connection is gone; the log already has the fault.
            }
        }
    }

    private static Task RefuseAsync(HttpContext context, ILogger logger, CordonException e)
    {
        if (e.Code == CordonErrorCode.Overloaded) Problems.NoteRejection(context, "overloaded");
        var status = CordonServer.StatusOf(e.Code);
        return RefuseAsync(context, logger, status, e.CodeName, CordonServer.TitleOf(e.Code), e.Message, e.Errors.Count > 0 ? e.Errors : null, e.RetryAfter);
    }

    private static Task RefuseAsync(HttpContext context, ILogger logger, int status, string code, string title, string detail,
        IReadOnlyList<string>? errors = null, TimeSpan? retryAfter = null) =>
        Problems.RefuseAsync(context, logger, status, code, title, detail, errors, retryAfter);
}
