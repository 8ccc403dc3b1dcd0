using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Cordon.Engine;
using Cordon.Engine.Sessions;
using Cordon.Jail;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Cordon.Server.Mcp;

/// <summary>
/// Cordon's MCP tools over one engine, for any transport: the HTTP endpoint creates a server per request with the
/// caller, the stdio host one server for its process. Sessions travel as <c>session_id</c> arguments; each belongs
/// to its caller's owner identity (the engine's <see cref="SessionRequest.Owner"/>, the same as over /v1/sessions),
/// and other owners see it as not found.
/// </summary>
public sealed class McpTools
{
    /// <summary>How often a long call reports progress to a client that asked for it.</summary>
    internal static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(2);

    // How long a cancelled call waits for its cell or run to stop before it returns without it.
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private static readonly Implementation ServerInfo = new()
    {
        Name = "cordon",
        Title = "Cordon code sandbox",
        Version = typeof(McpTools).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
    };

    private readonly EngineService _engine;
    private readonly McpSettings _settings;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _creating = new(StringComparer.Ordinal);

    /// <summary>Tools over <paramref name="engine"/> with these settings.</summary>
    public McpTools(EngineService engine, McpSettings settings, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _engine = engine;
        _settings = settings;
        _logger = loggerFactory.CreateLogger("Cordon.Server.Mcp");
    }

    /// <summary>Server options whose tools act for <paramref name="client"/>.</summary>
    public McpServerOptions ServerOptions(McpCaller client) => new()
    {
        ServerInfo = ServerInfo,
        ServerInstructions = "Cordon runs code in isolated sandboxes. run_code runs a program once; execute keeps state across calls in a session (its session_id comes back from the first call). Plots come back as images. A program's own error is a normal result; an isError result is Cordon's and says what to do next.",
        Capabilities = new ServerCapabilities { Tools = new ToolsCapability() },
        Handlers = new McpServerHandlers
        {
            ListToolsHandler = (_, _) => ValueTask.FromResult(new ListToolsResult { Tools = [.. McpToolCatalog.Tools] }),
            CallToolHandler = (context, cancellationToken) => CallAsync(context, client, cancellationToken),
        },
    };

    private async ValueTask<CallToolResult> CallAsync(RequestContext<CallToolRequestParams> context, McpCaller client, CancellationToken cancellationToken)
    {
        var name = context.Params?.Name ?? "";
        var args = new McpArguments(context.Params?.Arguments);
        var started = Stopwatch.GetTimestamp();
        CallToolResult result;
        try
        {
            result = name switch
            {
                McpToolCatalog.RunCode => await RunCodeAsync(context, args, cancellationToken).ConfigureAwait(false),
                McpToolCatalog.CreateSession => await CreateSessionAsync(args, client, cancellationToken).ConfigureAwait(false),
                McpToolCatalog.ListSessions => ListSessions(args, client),
                McpToolCatalog.CloseSession => await CloseSessionAsync(args, client).ConfigureAwait(false),
                McpToolCatalog.Execute => await ExecuteAsync(context, args, client, cancellationToken).ConfigureAwait(false),
                McpToolCatalog.RunCommand => await RunCommandAsync(context, args, client, cancellationToken).ConfigureAwait(false),
                McpToolCatalog.GetCommandOutput => await CommandAsync(args, client, (s, id) => s.GetCommandAsync(id, cancellationToken)).ConfigureAwait(false),
                McpToolCatalog.KillCommand => await CommandAsync(args, client, (s, id) => s.KillCommandAsync(id, cancellationToken)).ConfigureAwait(false),
                McpToolCatalog.WriteFile => WriteFile(args, client),
                McpToolCatalog.ReadFile => ReadFile(args, client),
                McpToolCatalog.ListFiles => ListFiles(args, client),
                McpToolCatalog.ListRuntimes => await ListRuntimesAsync(args, cancellationToken).ConfigureAwait(false),
                _ => Failure("unknown_tool", $"There is no tool '{JailFiles.Printable(name)}'; tools/list names the tools."),
            };
        }
        catch (ArgumentsException e)
        {
            result = Failure("invalid_arguments", "Invalid arguments: " + string.Join("; ", e.Errors) + ". Fix them and call again.", e.Errors);
        }
        catch (CordonException e)
        {
            result = Failure(e);
        }
        McpLog.ToolCalled(_logger, name, client.Name, SessionOf(result), (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, result.IsError == true);
        return result;
    }

    private async Task<CallToolResult> RunCodeAsync(RequestContext<CallToolRequestParams> context, McpArguments args, CancellationToken cancellationToken)
    {
        var language = args.String("language", required: true);
        var code = args.String("code", required: true);
        var files = args.Objects("files", ["name", "content"], ["encoding"]);
        var stdin = args.String("stdin");
        var timeout = args.Seconds("timeout_seconds", 0.001, SessionApiLimits.MaxCellTimeoutMs / 1000.0);
        Check(args);

        var engine = _engine.Engine;
        RuntimeManifest? manifest = null;
        try
        {
            manifest = (await engine.ResolveAsync(language!, null, cancellationToken).ConfigureAwait(false)).Manifest;
        }
        catch (CordonException e) when (e.Code == CordonErrorCode.UnknownRuntime)
        {
            // The mapper reports it, with any other problem.
        }
        // The most a run may take: the configured maximum, or the runtime's own default where that is higher.
        var maxWall = manifest is null ? null : Longer(engine.Options.RunLimits.WallTime, engine.RunLimitsFor(manifest, null).WallTime);
        if (timeout > maxWall)
            throw new ArgumentsException([$"timeout_seconds: a one-shot run may take at most {maxWall.Value.TotalSeconds:0.###} s on this server; for longer work use execute or run_command in a session"]);
        var wall = timeout ?? Shorter(TimeSpan.FromSeconds(_settings.CallTimeoutSeconds), maxWall);
        var body = new ExecutionRequestBody
        {
            Language = language!,
            Files = [new FileBody { Name = manifest?.MainFile ?? "main", Content = code! }, .. (files ?? []).Select(f => new FileBody { Name = f.GetValueOrDefault("name", ""), Content = f.GetValueOrDefault("content", ""), Encoding = f.GetValueOrDefault("encoding") })],
            Stdin = stdin,
            RunLimits = new LimitsBody { WallTimeMs = (long)Math.Ceiling(wall.TotalMilliseconds) },
        };
        var (request, problems) = await ExecutionRequestMapper.MapAsync(body, engine, cancellationToken).ConfigureAwait(false);
        if (problems is not null)
        {
            return problems.Code == "unknown_runtime"
                ? Failure("unknown_runtime", problems.Errors[0] + " Call list_runtimes for the languages.", problems.Errors)
                : Failure("invalid_arguments", "Invalid arguments: " + string.Join("; ", problems.Errors) + ". Fix them and call again.", problems.Errors);
        }

        using var stop = new CancellationTokenSource();
        var run = engine.ExecuteAsync(request!, stop.Token);
        var result = await AwaitAsync(run, () => stop.CancelAsync(), context, null, cancellationToken).ConfigureAwait(false);
        var response = ExecutionResponse.From(result);
        return Success(response, RunText(response));
    }

    // A null time is no limit at all.
    private static TimeSpan? Longer(TimeSpan? a, TimeSpan? b) => a is null || b is null ? null : a > b ? a : b;

    private static TimeSpan Shorter(TimeSpan a, TimeSpan? b) => b is { } limit && limit < a ? limit : a;

    private async Task<CallToolResult> CreateSessionAsync(McpArguments args, McpCaller client, CancellationToken cancellationToken)
    {
        var languages = args.Strings("languages");
        var idle = args.Seconds("idle_timeout_seconds", 1, SessionApiLimits.MaxSeconds);
        Check(args);
        var session = await CreateOwnedAsync(client, languages is null ? ["python"] : [.. languages], idle, cancellationToken).ConfigureAwait(false);
        if (cancellationToken.IsCancellationRequested)
        {
            // A cancelled call gets no result, so the client would never learn this session's id.
            await CloseUnclaimedAsync(session, client).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
        var info = SessionResponse.From(session.Describe());
        return Success(new { session_id = session.Id, session = info },
            $"Created session {session.Id} ({string.Join(", ", info.Languages)}); it closes after {session.IdleTimeout.TotalMinutes:0.#} idle minutes. Pass session_id \"{session.Id}\" to execute, run_command and the file tools.");
    }

    private async Task<Session> CreateOwnedAsync(McpCaller client, ImmutableArray<string> languages, TimeSpan? idle, CancellationToken cancellationToken)
    {
        var sessions = _engine.Engine.Sessions;
        // One creation at a time per client, so two concurrent calls cannot both pass the cap.
        var gate = _creating.GetOrAdd(client.Owner, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var owned = Owned(client).Count;
            if (owned >= _settings.MaxSessionsPerClient)
            {
                throw new CordonException(CordonErrorCode.SessionLimitReached,
                    $"You have {owned} sessions open, the most one client may have; close one with close_session (list_sessions shows yours) or reuse one with its session_id.");
            }
            var session = await sessions.CreateAsync(new SessionRequest
            {
                Languages = languages,
                IdleTimeout = idle,
                Owner = client.Owner,
            }, cancellationToken).ConfigureAwait(false);
            McpLog.SessionCreated(_logger, session.Id, client.Name);
            return session;
        }
        finally
        {
            gate.Release();
        }
    }

    // Every session of the owner counts, whichever front end created it.
    private IReadOnlyList<SessionInfo> Owned(McpCaller client) => _engine.Engine.Sessions.List(client.Owner);

    private CallToolResult ListSessions(McpArguments args, McpCaller client)
    {
        Check(args);
        var sessions = Owned(client).Select(SessionResponse.From).ToList();
        var text = sessions.Count == 0
            ? "You have no open sessions."
            : string.Join("\n", sessions.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Id}: {string.Join(", ", s.Languages)}, {s.Cells} cells, last used {s.LastUsedAt:u}, expires {s.ExpiresAt:u}")));
        return Success(new { sessions }, text);
    }

    private async Task<CallToolResult> CloseSessionAsync(McpArguments args, McpCaller client)
    {
        var id = args.String("session_id", required: true);
        Check(args);
        var session = Find(id!, client);
        await _engine.Engine.Sessions.DeleteAsync(session.Id, client.Owner).ConfigureAwait(false);
        McpLog.SessionClosed(_logger, session.Id, client.Name);
        return Success(new { session_id = session.Id, closed = true }, $"Closed session {session.Id}.");
    }

    private async Task<CallToolResult> ExecuteAsync(RequestContext<CallToolRequestParams> context, McpArguments args, McpCaller client, CancellationToken cancellationToken)
    {
        var id = args.String("session_id");
        var code = args.String("code", required: true);
        var language = args.String("language") ?? "python";
        var timeout = args.Seconds("timeout_seconds", 0.001, SessionApiLimits.MaxCellTimeoutMs / 1000.0);
        Check(args);

        var created = id is null;
        var session = created ? await CreateOwnedAsync(client, [language], null, cancellationToken).ConfigureAwait(false) : Find(id!, client);
        CellResult result;
        try
        {
            // A cancelled cell is interrupted by the session itself (restarting the kernel if it will not stop), so
            // nothing more is needed to stop it.
            var cell = session.RunCellAsync(new CellRequest
            {
                Code = code!,
                Language = language,
                Timeout = timeout ?? TimeSpan.FromSeconds(_settings.CallTimeoutSeconds),
                MaxImageSide = _settings.MaxImageSide,
            }, cancellationToken);
            result = await AwaitAsync(cell, () => Task.CompletedTask, context, session.Id, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (created && e is OperationCanceledException or CordonException)
        {
            // The client never learns the id of a session created for a call that ends without a result: nobody
            // could use it, yet it would count against the cap until its idle timeout.
            await CloseUnclaimedAsync(session, client).ConfigureAwait(false);
            throw;
        }

        var response = CellResponse.From(result);
        var structured = new
        {
            session_id = session.Id,
            session_created = created,
            response.Cell,
            response.Verdict,
            response.Stdout,
            response.Stderr,
            response.OutputTruncated,
            response.Value,
            response.Error,
            response.TimedOut,
            response.KernelRestarted,
            response.DurationMs,
            response.CpuTimeMs,
            response.MemoryBytes,
            images = result.Outputs.Count(o => o.MimeType == "image/png"),
        };
        var text = new StringBuilder();
        if (created) text.Append(CultureInfo.InvariantCulture, $"Created session {session.Id}; pass session_id \"{session.Id}\" to keep this state.\n");
        if (result.TimedOut) text.Append(CultureInfo.InvariantCulture, $"The cell timed out after {(timeout ?? TimeSpan.FromSeconds(_settings.CallTimeoutSeconds)).TotalSeconds:0.###} s and was interrupted{(result.KernelRestarted ? "; the kernel was restarted and its state is lost" : "; the session's state is kept")}.\n");
        AppendStreams(text, result.Stdout, result.Stderr, result.OutputTruncated);
        if (result.Value is { } value) text.Append("value: ").Append(value).Append('\n');
        if (result.Error is { } error) text.Append(CultureInfo.InvariantCulture, $"error: {error.Type}: {error.Message}\n{error.Traceback}");
        var images = result.Outputs.Where(o => o.MimeType is "image/png").Select(o => (ContentBlock)ImageContentBlock.FromBytes(o.Data, o.MimeType));
        return Success(structured, text.Length == 0 ? "(no output)" : text.ToString().TrimEnd(), images);
    }

    private async Task CloseUnclaimedAsync(Session session, McpCaller client)
    {
        try
        {
            await _engine.Engine.Sessions.DeleteAsync(session.Id, client.Owner).ConfigureAwait(false);
            McpLog.UnclaimedSessionClosed(_logger, session.Id, client.Name);
        }
        catch (CordonException e) when (e.Code == CordonErrorCode.SessionNotFound)
        {
            // Gone already (closed with its jail, or reaped).
        }
    }

    private async Task<CallToolResult> RunCommandAsync(RequestContext<CallToolRequestParams> context, McpArguments args, McpCaller client, CancellationToken cancellationToken)
    {
        var id = args.String("session_id", required: true);
        var command = args.String("command", required: true);
        var timeout = args.Seconds("timeout_seconds", 0.001, SessionApiLimits.MaxCellTimeoutMs / 1000.0);
        var background = args.Bool("background") ?? false;
        Check(args);
        var session = Find(id!, client);
        // Always started in the background and watched from here: a cancelled call can then kill it and still
        // return what it printed. The start itself is not cancelled, or a cancel could land after the command
        // started but before its id came back, leaving it running unwatched; the watch below sees the cancel.
        var started = await session.RunCommandAsync(new CommandRequest
        {
            Command = command!,
            Background = true,
            Timeout = timeout ?? (background ? null : TimeSpan.FromSeconds(_settings.CallTimeoutSeconds)),
        }, CancellationToken.None).ConfigureAwait(false);
        if (background)
        {
            if (!cancellationToken.IsCancellationRequested) return CommandResult(session, started);
            // Cancelled while it started: the client will never learn its id, so nobody could stop it.
            await session.KillCommandAsync(started.Id, CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
        // Stopping the watch takes the command with it, as a foreground command dies with its terminal.
        using var watching = new CancellationTokenSource();
        var result = await AwaitAsync(session.WaitForCommandAsync(started.Id, watching.Token),
            async () =>
            {
                await session.KillCommandAsync(started.Id, CancellationToken.None).ConfigureAwait(false);
                await watching.CancelAsync().ConfigureAwait(false);
            }, context, session.Id, cancellationToken).ConfigureAwait(false);
        return CommandResult(session, result);
    }

    private async Task<CallToolResult> CommandAsync(McpArguments args, McpCaller client, Func<Session, string, Task<Engine.Sessions.CommandResult>> action)
    {
        var id = args.String("session_id", required: true);
        var command = args.String("command_id", required: true);
        Check(args);
        var session = Find(id!, client);
        return CommandResult(session, await action(session, command!).ConfigureAwait(false));
    }

    private static CallToolResult CommandResult(Session session, Engine.Sessions.CommandResult result)
    {
        var structured = new
        {
            session_id = session.Id,
            command_id = result.Id,
            running = result.Running,
            exit_code = result.ExitCode,
            signal = result.Signal,
            signal_name = Signals.Name(result.Signal),
            stdout = result.Stdout,
            stderr = result.Stderr,
            output_truncated = result.OutputTruncated,
            timed_out = result.TimedOut,
            duration_ms = Math.Round(result.Duration.TotalMilliseconds, 3),
        };
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"command {result.Id}: ");
        text.Append(result.Running ? "still running (get_command_output reads more, kill_command stops it)"
            : result.TimedOut ? "killed at its timeout"
            : result.Signal is { } signal ? $"killed by {Signals.Name(signal) ?? signal.ToString(CultureInfo.InvariantCulture)}"
            : $"exited with code {result.ExitCode}");
        text.Append('\n');
        AppendStreams(text, result.Stdout, result.Stderr, result.OutputTruncated);
        return Success(structured, text.ToString().TrimEnd());
    }

    private CallToolResult WriteFile(McpArguments args, McpCaller client)
    {
        var id = args.String("session_id", required: true);
        var path = args.String("path", required: true);
        var content = args.String("content", required: true);
        var encoding = args.String("encoding") ?? "utf8";
        if (encoding is not ("utf8" or "base64")) args.Errors.Add("encoding: expected utf8 or base64");
        byte[]? bytes = null;
        if (content is not null && encoding == "base64")
        {
            bytes = new byte[content.Length / 4 * 3 + 3];
            if (Convert.TryFromBase64String(content, bytes, out var written)) bytes = bytes[..written];
            else args.Errors.Add("content: not valid base64");
        }
        Check(args);
        var session = Find(id!, client);
        bytes ??= Encoding.UTF8.GetBytes(content!);
        session.WriteFile(path!, bytes);
        return Success(new { session_id = session.Id, path, bytes = bytes.Length }, $"Wrote {bytes.Length} bytes to {path}.");
    }

    private CallToolResult ReadFile(McpArguments args, McpCaller client)
    {
        var id = args.String("session_id", required: true);
        var path = args.String("path", required: true);
        Check(args);
        var session = Find(id!, client);
        var bytes = session.ReadFile(path!);
        var (content, encoding) = StageResponse.Text(bytes);
        var mime = ImageType(bytes);
        ContentBlock[] images = mime is null ? [] : [ImageContentBlock.FromBytes(bytes, mime)];
        var text = encoding == "utf8" ? content : $"{path}: {bytes.Length} bytes of binary data{(mime is null ? "" : $" ({mime}, shown as an image)")}; structuredContent.content has them as base64.";
        return Success(new { session_id = session.Id, path, content, encoding, bytes = bytes.Length }, text, images);
    }

    private static string? ImageType(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith("\x89PNG\r\n\x1a\n"u8) ? "image/png" : bytes.StartsWith("\xff\xd8\xff"u8) ? "image/jpeg" : null;

    private CallToolResult ListFiles(McpArguments args, McpCaller client)
    {
        var id = args.String("session_id", required: true);
        Check(args);
        var session = Find(id!, client);
        var files = session.ListFiles();
        return Success(new { session_id = session.Id, files }, files.Count == 0 ? "The workspace is empty." : string.Join("\n", files));
    }

    private async Task<CallToolResult> ListRuntimesAsync(McpArguments args, CancellationToken cancellationToken)
    {
        Check(args);
        var runtimes = (await _engine.Engine.Catalog.ProbeAllAsync(cancellationToken).ConfigureAwait(false)).Select(RuntimeResponse.From).ToList();
        var text = string.Join("\n", runtimes.Select(r => r.Available
            ? $"{r.Name} {r.Version}{(r.Aliases.Count > 0 ? $" (aliases: {string.Join(", ", r.Aliases)})" : "")}{(r.Compiled ? ", compiled" : "")}"
            : $"{r.Name}: not available ({r.Problem})"));
        return Success(new { runtimes }, text);
    }

    /// <summary>The caller's live session with this id; another owner's session is "not found" like an unknown one.</summary>
    private Session Find(string id, McpCaller client) => _engine.Engine.Sessions.Get(id, client.Owner);

    /// <summary>
    /// Waits for <paramref name="work"/>, reporting progress every few seconds when the client sent a progressToken.
    /// When the call is cancelled (notifications/cancelled, or the HTTP client went away) <paramref name="stop"/>
    /// interrupts the cell or kills the run, and the call ends once it stopped (or after a grace period) without a
    /// result: the protocol forbids answering a cancelled request.
    /// </summary>
    private async Task<T> AwaitAsync<T>(Task<T> work, Func<Task> stop, RequestContext<CallToolRequestParams> context, string? sessionId, CancellationToken cancellationToken)
    {
        var token = context.Params?.ProgressToken;
        var started = Stopwatch.GetTimestamp();
        try
        {
            while (true)
            {
                var tick = Task.Delay(ProgressInterval, cancellationToken);
                if (await Task.WhenAny(work, tick).ConfigureAwait(false) == work) return await work.ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (token is { } progressToken)
                {
                    var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                    await context.Server.NotifyProgressAsync(progressToken,
                        new ProgressNotificationValue { Progress = (float)Math.Round(seconds, 1), Message = $"running for {seconds:0} s" },
                        cancellationToken: cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            McpLog.CallStopped(_logger, context.Params?.Name ?? "", sessionId, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            try
            {
                await stop().ConfigureAwait(false);
                await work.WaitAsync(StopGrace, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException or CordonException)
            {
                // Stopped (a killed run ends in cancellation), or it ended on its own or with its session meanwhile.
            }
            throw;
        }
    }

    private static void Check(McpArguments args)
    {
        args.RejectUnknown();
        if (args.Errors.Count > 0) throw new ArgumentsException(args.Errors);
    }

    private static void AppendStreams(StringBuilder text, string stdout, string stderr, bool truncated)
    {
        if (stdout.Length > 0) text.Append("stdout:\n").Append(stdout).Append(stdout.EndsWith('\n') ? "" : "\n");
        if (stderr.Length > 0) text.Append("stderr:\n").Append(stderr).Append(stderr.EndsWith('\n') ? "" : "\n");
        if (truncated) text.Append("(output was truncated at the output limit)\n");
    }

    private static string RunText(ExecutionResponse response)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"verdict: {JsonSerializer.Serialize(response.Verdict, CordonServer.Json).Trim('"')}");
        if (response.Compile is { Verdict: not Verdict.Ok } compile)
        {
            text.Append(CultureInfo.InvariantCulture, $"\ncompile exit code: {compile.ExitCode}\n");
            AppendStreams(text, compile.Stdout, compile.Stderr, compile.StdoutTruncated || compile.StderrTruncated);
        }
        if (response.Run is { } run)
        {
            text.Append(CultureInfo.InvariantCulture, $", exit code: {(run.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none")}{(run.SignalName is { } signal ? ", signal " + signal : "")}, wall {run.Usage.WallTimeMs} ms, cpu {run.Usage.CpuTimeMs} ms, peak memory {run.Usage.PeakMemoryBytes / 1024} KiB\n");
            if (run.KillReason is { } reason) text.Append("killed: ").Append(reason).Append('\n');
            AppendStreams(text, run.Stdout, run.Stderr, run.StdoutTruncated || run.StderrTruncated);
        }
        return text.ToString().TrimEnd();
    }

    private static CallToolResult Success(object structured, string text, IEnumerable<ContentBlock>? extra = null) => new()
    {
        Content = [new TextContentBlock { Text = text }, .. extra ?? []],
        StructuredContent = JsonSerializer.SerializeToElement(structured, CordonServer.Json),
    };

    private static CallToolResult Failure(CordonException e)
    {
        var detail = e.Errors.Count > 0 ? e.Message.TrimEnd('.') + ": " + string.Join("; ", e.Errors) + "." : e.Message;
        var advice = e.Code switch
        {
            CordonErrorCode.SessionNotFound => " Create a new one with create_session, or call execute without session_id.",
            CordonErrorCode.UnknownRuntime => " Call list_runtimes for the languages.",
            CordonErrorCode.Overloaded or CordonErrorCode.UidPoolExhausted => $" Retry in {(e.RetryAfter ?? TimeSpan.FromSeconds(1)).TotalSeconds:0} s.",
            CordonErrorCode.SessionLimitReached or CordonErrorCode.InvalidRequest or CordonErrorCode.UnsafePath => "",
            _ => " This is Cordon's fault, not your code's; the server log has the details.",
        };
        return Failure(e.CodeName, detail + advice, e.Errors);
    }

    private static CallToolResult Failure(string code, string message, IReadOnlyList<string>? errors = null) => new()
    {
        IsError = true,
        Content = [new TextContentBlock { Text = message }],
        StructuredContent = JsonSerializer.SerializeToElement(new { error = code, message, errors = errors ?? [] }, CordonServer.Json),
    };

    private static string? SessionOf(CallToolResult result) =>
        result.StructuredContent is { ValueKind: JsonValueKind.Object } s && s.TryGetProperty("session_id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;

    /// <summary>A call's arguments are wrong; every problem is listed.</summary>
    private sealed class ArgumentsException(IReadOnlyList<string> errors) : Exception("Invalid arguments")
    {
        public IReadOnlyList<string> Errors { get; } = errors;
    }
}

/// <summary>Who MCP tools act for.</summary>
/// <param name="Owner">The owner identity its sessions belong to, as over /v1/sessions ("key:" and a key's SHA-256, "anonymous", "stdio"); never logged.</param>
/// <param name="Name">How logs name it ("key 1a2b3c4d", "address 127.0.0.1", "stdio").</param>
public sealed record McpCaller(string Owner, string Name);
