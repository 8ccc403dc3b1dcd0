using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Cordon.Engine;
using Cordon.Engine.Sessions;
using Cordon.Jail;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Cordon.Server;

/// <summary>
/// The sessions API, /v1/sessions: stateful sandboxes with Python and/or JavaScript kernels and a workspace. Thin like
/// <see cref="NativeApi"/>: parse, shape-check, map, call <see cref="CordonEngine.Sessions"/>, map back; every
/// refusal is problem+json with a stable code.
/// </summary>
public static class SessionApi
{
    private const string CellDescription = """
        Runs a cell in the session's persistent kernel of its language ('python' or 'javascript'; by default the
        session's first) and
        returns what it did. An exception the cell raises is a normal result (error, with a traceback naming
        <cordon session=ID cell=N>). With 'Accept: text/event-stream' the answer is a stream: 'stdout' and 'stderr'
        events as the cell writes (data {"stage":"run","data":TEXT,"encoding":"utf8"}, as in /v1/executions; a line or
        up to about 50 ms of output each), then one 'result' event whose data is the same JSON as the plain answer
        (with the whole output), then the stream ends. A fault of Cordon's after the stream started is an 'error' event.
        """;

    private const string FileDescription = "The path is relative to the workspace, with sub-folders ('pkg/util.py'); '..', absolute names and NUL are refused, links and special files are never followed.";

    /// <summary>Maps the /v1/sessions endpoints.</summary>
    public static IEndpointRouteBuilder MapSessionApi(this IEndpointRouteBuilder app)
    {
        var sessions = app.MapGroup("/v1/sessions").WithTags("Sessions");
        sessions.MapPost("", CreateAsync)
            .WithName("CreateSession")
            .WithSummary("Creates a session: a long-lived jail with a Python and/or JavaScript kernel and a workspace.")
            .Produces<SessionResponse>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        sessions.MapGet("", (HttpContext context, EngineService service) =>
                TypedResults.Json(service.Engine.Sessions.List(Clients.Owner(context)).Select(SessionResponse.From).ToList(), CordonServer.Json))
            .WithName("ListSessions")
            .WithSummary("The caller's live sessions (those created with the same API key), oldest first.")
            .Produces<List<SessionResponse>>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        sessions.MapGet("/{id}", (HttpContext context, EngineService service, string id) =>
                WithSession(context, service, id, session => TypedResults.Json(SessionResponse.From(session.Describe()), CordonServer.Json).ExecuteAsync(context)))
            .WithName("GetSession")
            .WithSummary("One session.")
            .Produces<SessionResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapDelete("/{id}", DeleteAsync)
            .WithName("DeleteSession")
            .WithSummary("Deletes a session: kills everything in it and removes its workspace; returns when nothing of it is left.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapPost("/{id}/cells", RunCellAsync)
            .WithName("RunCell")
            .WithSummary("Runs a cell in the session's kernel; with Accept: text/event-stream, streams stdout and stderr events, then a result event.")
            .WithDescription(CellDescription)
            .Accepts<CellRequestBody>("application/json")
            .Produces<CellResponse>(StatusCodes.Status200OK, "application/json", "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        sessions.MapPost("/{id}/kernel/restart", (HttpContext context, EngineService service, string id) =>
                WithSession(context, service, id, async session =>
                {
                    await session.RestartKernelAsync(context.RequestAborted).ConfigureAwait(false);
                    context.Response.StatusCode = StatusCodes.Status204NoContent;
                }))
            .WithName("RestartKernel")
            .WithSummary("Replaces the session's kernel with a fresh one (an empty namespace); the workspace stays.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapGet("/{id}/files", (HttpContext context, EngineService service, string id) =>
                WithSession(context, service, id, session => TypedResults.Json(session.ListFiles(), CordonServer.Json).ExecuteAsync(context)))
            .WithName("ListSessionFiles")
            .WithSummary("Relative paths of every regular file in the workspace, sorted.")
            .Produces<List<string>>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapPut("/{id}/files/{**path}", PutFileAsync)
            .WithName("PutSessionFile")
            .WithSummary("Writes the raw request body to a workspace file, creating folders; 201 when new, 204 when replaced.")
            .WithDescription(FileDescription)
            .Produces(StatusCodes.Status201Created)
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        sessions.MapGet("/{id}/files/{**path}", (HttpContext context, EngineService service, string id, string path) =>
                WithSession(context, service, id, session => TypedResults.Bytes(session.ReadFile(FilePath(path)), "application/octet-stream").ExecuteAsync(context)))
            .WithName("GetSessionFile")
            .WithSummary("A workspace file's bytes (regular files only).")
            .WithDescription(FileDescription)
            .Produces<byte[]>(StatusCodes.Status200OK, "application/octet-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapDelete("/{id}/files/{**path}", (HttpContext context, EngineService service, string id, string path) =>
                WithSession(context, service, id, async session =>
                {
                    await session.DeleteFileAsync(FilePath(path), context.RequestAborted).ConfigureAwait(false);
                    context.Response.StatusCode = StatusCodes.Status204NoContent;
                }))
            .WithName("DeleteSessionFile")
            .WithSummary("Deletes a workspace file or empty folder.")
            .WithDescription(FileDescription)
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapPost("/{id}/directories/{**path}", (HttpContext context, EngineService service, string id, string path) =>
                WithSession(context, service, id, async session =>
                {
                    await session.MakeDirectoryAsync(FilePath(path), context.RequestAborted).ConfigureAwait(false);
                    context.Response.StatusCode = StatusCodes.Status201Created;
                }))
            .WithName("MakeSessionDirectory")
            .WithSummary("Makes a workspace folder and its parents.")
            .WithDescription(FileDescription)
            .Produces(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        MapCommands(sessions);
        return app;
    }

    private const string CommandDescription = """
        Runs a shell command line (/bin/sh -c) inside the session's jail, in the workspace, in its own process group,
        with the session's limits. In the foreground the answer comes when the command ended or its timeout killed
        it (a non-zero exit is a normal result). With background true the answer is 202 at once, with the command's
        id and a Location header; GET that to read its output so far and learn when it ends. A command dies with its
        session; a kernel restart leaves it running. If the client goes away, a foreground command is killed.
        """;

    private static void MapCommands(RouteGroupBuilder sessions)
    {
        sessions.MapPost("/{id}/commands", RunCommandAsync)
            .WithName("RunCommand")
            .WithSummary("Runs a shell command in the session: waits for its end, or with background true answers 202 at once.")
            .WithDescription(CommandDescription)
            .Accepts<CommandRequestBody>("application/json")
            .Produces<CommandResponse>(StatusCodes.Status200OK)
            .Produces<CommandResponse>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        sessions.MapGet("/{id}/commands/{command}", (HttpContext context, EngineService service, string id, string command) =>
                WithSession(context, service, id, async session =>
                    await CommandAnswerAsync(context, await session.GetCommandAsync(command, context.RequestAborted).ConfigureAwait(false)).ConfigureAwait(false)))
            .WithName("GetCommand")
            .WithSummary("A command's state: its output so far while it runs, its exit code or signal once it ended.")
            .Produces<CommandResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapDelete("/{id}/commands/{command}", (HttpContext context, EngineService service, string id, string command) =>
                WithSession(context, service, id, async session =>
                {
                    var result = await session.KillCommandAsync(command, context.RequestAborted).ConfigureAwait(false);
                    SessionApiLog.CommandKilled(context.RequestServices.GetLogger(), session.Id, command, Clients.Of(context));
                    await CommandAnswerAsync(context, result).ConfigureAwait(false);
                }))
            .WithName("KillCommand")
            .WithSummary("Kills a command's whole process group (SIGKILL) and returns its final state; a command that already ended is returned as it is.")
            .Produces<CommandResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapPost("/{id}/commands/{command}/signal", SignalCommandAsync)
            .WithName("SignalCommand")
            .WithSummary("Sends a signal (TERM, INT, KILL, ...) to a running command's process group; returns its state right after.")
            .Accepts<SignalRequestBody>("application/json")
            .Produces<CommandResponse>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
    }

    private static Task RunCommandAsync(HttpContext context, EngineService service, string id) =>
        WithSession(context, service, id, async session =>
        {
            var logger = context.RequestServices.GetLogger();
            if (await ReadBodyAsync<CommandRequestBody>(context, logger, CheckCommand).ConfigureAwait(false) is not { } body) return;
            var request = new CommandRequest
            {
                Command = body.Command,
                Timeout = body.TimeoutSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                Background = body.Background ?? false,
            };
            var started = Stopwatch.GetTimestamp();
            CommandResult result;
            try
            {
                // A client that goes away cancels a foreground command: the engine then kills it, as nobody waits for it.
                result = await session.RunCommandAsync(request, context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                ServerLog.ClientGone(logger, Problems.RequestId(context), Clients.Of(context));
                return;
            }
            SessionApiLog.CommandServed(logger, session.Id, result.Id, Clients.Of(context), request.Background, result.Running,
                (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (request.Background) context.Response.Headers.Location = $"/v1/sessions/{session.Id}/commands/{result.Id}";
            await CommandAnswerAsync(context, result, request.Background ? StatusCodes.Status202Accepted : StatusCodes.Status200OK).ConfigureAwait(false);
        });

    /// <summary>The body's shape and, in the same list, what the engine would refuse one at a time and without the field's name.</summary>
    private static List<string> CheckCommand(JsonElement root)
    {
        var errors = JsonShape.Check<CommandRequestBody>(root, CordonServer.Json).ToList();
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("command", out var command) && command.ValueKind == JsonValueKind.String
            && JsonShape.TryGetText(command) is { } text)
        {
            if (string.IsNullOrWhiteSpace(text)) errors.Add("command: must not be empty");
            else if (text.Contains('\0', StringComparison.Ordinal)) errors.Add("command: must not contain NUL (\\u0000)");
        }
        return errors;
    }

    private static Task SignalCommandAsync(HttpContext context, EngineService service, string id, string command) =>
        WithSession(context, service, id, async session =>
        {
            var logger = context.RequestServices.GetLogger();
            if (await ReadBodyAsync<SignalRequestBody>(context, logger, e => JsonShape.Check<SignalRequestBody>(e, CordonServer.Json)).ConfigureAwait(false) is not { } body) return;
            var result = await session.SignalCommandAsync(command, body.Signal, context.RequestAborted).ConfigureAwait(false);
            SessionApiLog.CommandSignalled(logger, session.Id, result.Id, JailFiles.Printable(body.Signal), Clients.Of(context));
            await CommandAnswerAsync(context, result).ConfigureAwait(false);
        });

    private static Task CommandAnswerAsync(HttpContext context, CommandResult result, int status = StatusCodes.Status200OK) =>
        TypedResults.Json(CommandResponse.From(result), CordonServer.Json, statusCode: status).ExecuteAsync(context);

    private static async Task CreateAsync(HttpContext context, EngineService service, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger("Cordon.Server.SessionApi");
        // Every field has a default, so an empty body (no content at all) is a request for the defaults.
        SessionRequestBody body;
        if (string.IsNullOrEmpty(context.Request.ContentType) && (context.Request.ContentLength == 0 || (context.Request.ContentLength is null && !context.Request.Headers.TransferEncoding.Any()))) body = new SessionRequestBody();
        else if (await ReadBodyAsync<SessionRequestBody>(context, logger, e => JsonShape.Check<SessionRequestBody>(e, CordonServer.Json)).ConfigureAwait(false) is { } read) body = read;
        else return;

        var engine = service.Engine;
        var errors = new List<string>();
        var limits = SessionRequestShape.Limits(body.Limits, engine.Sessions.Options.Limits, errors);
        if (body.Network == true && !engine.Options.AllowNetwork)
            errors.Add("network: network access is turned off on this server (setting AllowNetwork)");
        var request = new SessionRequest
        {
            Languages = body.Languages is null ? ["python"] : [.. body.Languages],
            Limits = limits,
            IdleTimeout = body.IdleTimeoutSeconds is { } idle ? TimeSpan.FromSeconds(idle) : null,
            MaxLifetime = body.MaxLifetimeSeconds is { } life ? TimeSpan.FromSeconds(life) : null,
            Network = body.Network ?? false,
            Labels = body.Labels?.ToImmutableDictionary(StringComparer.Ordinal) ?? ImmutableDictionary<string, string>.Empty,
            // Only the same key (or, without keys, any caller) finds it again, here and over MCP.
            Owner = Clients.Owner(context),
        };
        // The engine checks these again; asking here puts its problems in the same answer as ours.
        errors.AddRange(request.Validate());
        if (errors.Count > 0)
        {
            await RefuseAsync(context, logger, StatusCodes.Status400BadRequest, "invalid_request", "Invalid request",
                errors.Count == 1 ? errors[0] : "'errors' lists every problem.", errors).ConfigureAwait(false);
            return;
        }

        Session session;
        try
        {
            session = await engine.Sessions.CreateAsync(request, context.RequestAborted).ConfigureAwait(false);
        }
        catch (CordonException e)
        {
            await RefuseAsync(context, logger, e).ConfigureAwait(false);
            return;
        }
        SessionApiLog.Created(logger, session.Id, Clients.Of(context));
        context.Response.Headers.Location = "/v1/sessions/" + session.Id;
        await TypedResults.Json(SessionResponse.From(session.Describe()), CordonServer.Json, statusCode: StatusCodes.Status201Created)
            .ExecuteAsync(context).ConfigureAwait(false);
    }

    private static async Task DeleteAsync(HttpContext context, EngineService service, ILoggerFactory loggerFactory, string id)
    {
        var logger = loggerFactory.CreateLogger("Cordon.Server.SessionApi");
        try
        {
            await service.Engine.Sessions.DeleteAsync(id, Clients.Owner(context)).ConfigureAwait(false);
        }
        catch (CordonException e)
        {
            await RefuseAsync(context, logger, e).ConfigureAwait(false);
            return;
        }
        SessionApiLog.Deleted(logger, id, Clients.Of(context));
        context.Response.StatusCode = StatusCodes.Status204NoContent;
    }

    private static async Task RunCellAsync(HttpContext context, EngineService service, ILoggerFactory loggerFactory, string id)
    {
        var logger = loggerFactory.CreateLogger("Cordon.Server.SessionApi");
        var session = await FindAsync(context, service, logger, id).ConfigureAwait(false);
        if (session is null) return;
        if (await ReadBodyAsync<CellRequestBody>(context, logger, e => JsonShape.Check<CellRequestBody>(e, CordonServer.Json)).ConfigureAwait(false) is not { } body) return;

        var streaming = context.Request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase));
        var request = new CellRequest
        {
            Code = body.Code,
            // A session with one kernel needs no language named.
            Language = body.Language ?? session.Languages[0],
            Timeout = body.TimeoutMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
        };
        var started = Stopwatch.GetTimestamp();
        // Unbounded is bounded here: the kernel streams at most the session's output limit per cell.
        var chunks = streaming ? Channel.CreateUnbounded<CellStreamChunk>(new UnboundedChannelOptions { SingleReader = true }) : null;
        // A client that goes away takes its cell with it: the session interrupts the cell (replacing the kernel only
        // if it will not stop), so the next cell finds the kernel free and, as a rule, its state intact.
        var run = session.RunCellAsync(request, chunks is null ? null : chunk => chunks.Writer.TryWrite(chunk), context.RequestAborted);
        var events = new NativeApi.EventStream(context);
        try
        {
            if (chunks is not null)
            {
                _ = run.ContinueWith(_ => chunks.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                await foreach (var chunk in chunks.Reader.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
                    await events.WriteAsync(chunk.Stream, chunk.Text, context.RequestAborted).ConfigureAwait(false);
            }
            if (await events.ResultAsync(run, e => RefuseAsync(context, logger, e), context.RequestAborted).ConfigureAwait(false) is not { } result) return;
            SessionApiLog.CellServed(logger, session.Id, result.Cell, Clients.Of(context), (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, streaming);
            var response = CellResponse.From(result);
            if (streaming) await events.WriteAsync("result", JsonSerializer.Serialize(response, CordonServer.Json), context.RequestAborted).ConfigureAwait(false);
            else await TypedResults.Json(response, CordonServer.Json).ExecuteAsync(context).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            ServerLog.ClientGone(logger, Problems.RequestId(context), Clients.Of(context));
        }
        finally
        {
            // The request ends only after its cell: the next cell of the session never runs under this one.
            await ((Task)run).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static async Task PutFileAsync(HttpContext context, EngineService service, ILoggerFactory loggerFactory, string id, string path)
    {
        var logger = loggerFactory.CreateLogger("Cordon.Server.SessionApi");
        var session = await FindAsync(context, service, logger, id).ConfigureAwait(false);
        if (session is null) return;
        path = FilePath(path);
        var max = service.Engine.Sessions.Options.MaxFileBytes;
        if (context.Request.ContentLength > max)
        {
            await RefuseAsync(context, logger, StatusCodes.Status413PayloadTooLarge, "file_too_large", "File too large",
                $"The file is {context.Request.ContentLength} bytes; a session file may have at most {max}.").ConfigureAwait(false);
            return;
        }
        byte[] content;
        try
        {
            content = await ReadAtMostAsync(context.Request.Body, max, context.RequestAborted).ConfigureAwait(false) ?? [];
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            Problems.NoteRejection(context, "body_too_large");
            await RefuseAsync(context, logger, e.StatusCode, "body_too_large", "Request body too large", e.Message).ConfigureAwait(false);
            return;
        }
        catch (InvalidDataException)
        {
            await RefuseAsync(context, logger, StatusCodes.Status413PayloadTooLarge, "file_too_large", "File too large",
                $"A session file may have at most {max} bytes.").ConfigureAwait(false);
            return;
        }
        try
        {
            // The listing never follows links, so asking it whether the file is new cannot be led outside the workspace.
            var existed = JailFiles.Problem(path) is null && session.ListFiles().Contains(path, StringComparer.Ordinal);
            session.WriteFile(path, content);
            SessionApiLog.FileWritten(logger, session.Id, JailFiles.Printable(path), content.Length);
            context.Response.StatusCode = existed ? StatusCodes.Status204NoContent : StatusCodes.Status201Created;
        }
        catch (CordonException e)
        {
            await RefuseAsync(context, logger, e).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The workspace path of a route's <c>{**path}</c>. The server decodes every escape of the URL but %2F (it would
    /// change the segments), so a client that escapes a whole path ('..%2Fx') still names '../x', which the engine
    /// then refuses, rather than a file called '..%2Fx'.
    /// </summary>
    private static string FilePath(string path) =>
        path.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    /// <summary>The whole stream, or an <see cref="InvalidDataException"/> once it passes <paramref name="max"/> bytes.</summary>
    private static async Task<byte[]?> ReadAtMostAsync(Stream stream, long max, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > max) throw new InvalidDataException();
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary>Runs <paramref name="action"/> on the session, answering every Cordon refusal as problem+json.</summary>
    private static async Task WithSession(HttpContext context, EngineService service, string id, Func<Session, Task> action)
    {
        var logger = context.RequestServices.GetLogger();
        var session = await FindAsync(context, service, logger, id).ConfigureAwait(false);
        if (session is null) return;
        try
        {
            await action(session).ConfigureAwait(false);
        }
        catch (CordonException e)
        {
            await RefuseAsync(context, logger, e).ConfigureAwait(false);
        }
    }

    private static ILogger GetLogger(this IServiceProvider services) =>
        ((ILoggerFactory)services.GetService(typeof(ILoggerFactory))!).CreateLogger("Cordon.Server.SessionApi");

    private static async Task<Session?> FindAsync(HttpContext context, EngineService service, ILogger logger, string id)
    {
        try
        {
            return service.Engine.Sessions.Get(id, Clients.Owner(context));
        }
        catch (CordonException e)
        {
            await RefuseAsync(context, logger, e).ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>Reads and shape-checks a JSON body; null after answering a refusal.</summary>
    private static async Task<T?> ReadBodyAsync<T>(HttpContext context, ILogger logger, Func<JsonElement, IReadOnlyList<string>> check) where T : class
    {
        if (!context.Request.HasJsonContentType())
        {
            await RefuseAsync(context, logger, StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported media type",
                "Send the request as JSON with 'Content-Type: application/json'.").ConfigureAwait(false);
            return null;
        }
        try
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = NativeApi.MaxJsonDepth }, context.RequestAborted).ConfigureAwait(false);
            var shape = check(document.RootElement);
            if (shape.Count > 0)
            {
                await RefuseAsync(context, logger, StatusCodes.Status400BadRequest, "invalid_request", "Invalid request",
                    "The request does not have the expected shape; 'errors' lists every problem.", shape).ConfigureAwait(false);
                return null;
            }
            return document.Deserialize<T>(CordonServer.Json)!;
        }
        catch (JsonException e)
        {
            await RefuseAsync(context, logger, StatusCodes.Status400BadRequest, "malformed_json", "Malformed JSON", "The body is not valid JSON: " + e.Message).ConfigureAwait(false);
            return null;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            Problems.NoteRejection(context, "body_too_large");
            await RefuseAsync(context, logger, e.StatusCode, "body_too_large", "Request body too large", e.Message).ConfigureAwait(false);
            return null;
        }
    }

    private static Task RefuseAsync(HttpContext context, ILogger logger, CordonException e)
    {
        var (status, code, title, detail) = e switch
        {
            // The engine says "not found or expired"; the client also needs to know what to do about it.
            { Code: CordonErrorCode.SessionNotFound } =>
                (StatusCodes.Status404NotFound, e.CodeName, "Session not found", e.Message + " Create a new session with POST /v1/sessions."),
            { Code: CordonErrorCode.CommandNotFound } =>
                (StatusCodes.Status404NotFound, e.CodeName, "Command not found",
                    e.Message + " Use the 'id' that POST /v1/sessions/{id}/commands answered (c1, c2, ...), in the same session."),
            { Code: CordonErrorCode.SessionLimitReached } =>
                (StatusCodes.Status429TooManyRequests, e.CodeName, "Too many sessions", e.Message),
            // A missing file is reported by the jail layer (ENOENT) or, for deletes, by the session's supervisor.
            { Code: CordonErrorCode.UnsafePath } when e.Errno == Errno.ENOENT || e.Message.EndsWith("No such file or directory.", StringComparison.Ordinal) =>
                (StatusCodes.Status404NotFound, "file_not_found", "File not found", e.Message),
            _ => (CordonServer.StatusOf(e.Code), e.CodeName, CordonServer.TitleOf(e.Code), e.Message),
        };
        return RefuseAsync(context, logger, status, code, title, detail, e.Errors.Count > 0 ? e.Errors : null, e.RetryAfter);
    }

    private static Task RefuseAsync(HttpContext context, ILogger logger, int status, string code, string title, string detail,
        IReadOnlyList<string>? errors = null, TimeSpan? retryAfter = null) =>
        Problems.RefuseAsync(context, logger, status, code, title, detail, errors, retryAfter);
}

/// <summary>The mapping of a session body's limits, with the server's session defaults as maxima.</summary>
internal static class SessionRequestShape
{
    /// <summary>The overrides a body asks for; a value above the server's session default is an error (a request may only lower a limit).</summary>
    public static LimitOverrides? Limits(SessionLimitsBody? body, JailLimits defaults, List<string> errors)
    {
        if (body is null) return null;
        Check(body.MemoryBytes, defaults.MemoryBytes, "memory_bytes");
        if (body.CpuCores is { } cores && defaults.CpuCores is { } most && cores > most)
            errors.Add($"limits.cpu_cores: {cores.ToString(CultureInfo.InvariantCulture)} is above the maximum of {most.ToString(CultureInfo.InvariantCulture)}");
        Check(body.Processes, defaults.Processes, "processes");
        Check(body.WorkDirBytes, defaults.WorkDirBytes, "work_dir_bytes");
        Check(body.TmpBytes, defaults.TmpBytes, "tmp_bytes");
        Check(body.FileSizeBytes, defaults.FileSizeBytes, "file_size_bytes");
        Check(body.OutputBytes, defaults.OutputBytes, "output_bytes");
        return new LimitOverrides
        {
            MemoryBytes = body.MemoryBytes,
            CpuCores = body.CpuCores,
            Processes = body.Processes,
            WorkDirBytes = body.WorkDirBytes,
            TmpBytes = body.TmpBytes,
            FileSizeBytes = body.FileSizeBytes,
            OutputBytes = body.OutputBytes,
        };

        void Check(long? asked, long max, string field)
        {
            if (asked is { } value && value > max)
                errors.Add($"limits.{field}: {value.ToString(CultureInfo.InvariantCulture)} is above the maximum of {max.ToString(CultureInfo.InvariantCulture)}");
        }
    }
}
