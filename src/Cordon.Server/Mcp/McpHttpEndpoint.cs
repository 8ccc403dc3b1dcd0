using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Cordon.Server.Mcp;

/// <summary>
/// MCP over streamable HTTP at /mcp, stateless: every POST gets a fresh MCP server over the process's one engine,
/// answers on its own response (SSE, so progress notifications come before the result), and ends with it. State
/// lives in Cordon sessions named by <c>session_id</c> arguments, not in the transport. API keys and rate limits
/// apply as to every other endpoint; an HTTP disconnect cancels the call.
/// </summary>
public static class McpHttpEndpoint
{
    private static readonly JsonTypeInfo<JsonRpcMessage> MessageType = (JsonTypeInfo<JsonRpcMessage>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcMessage));

    private static readonly JsonTypeInfo<JsonRpcError> ErrorType = (JsonTypeInfo<JsonRpcError>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(JsonRpcError));

    /// <summary>Registers the tools over the server's engine.</summary>
    public static IServiceCollection AddMcp(this IServiceCollection services) =>
        services.AddSingleton<McpCallsInFlight>().AddSingleton(sp => new McpTools(sp.GetRequiredService<EngineService>(), sp.GetRequiredService<IOptions<CordonServerOptions>>().Value.Mcp, sp.GetRequiredService<ILoggerFactory>()));

    /// <summary>Maps POST /mcp; GET and DELETE (the stateful transport's stream and session end) answer 405.</summary>
    public static IEndpointRouteBuilder MapMcp(this IEndpointRouteBuilder app)
    {
        app.MapPost("/mcp", HandlePostAsync).ExcludeFromDescription();
        app.MapMethods("/mcp", ["GET", "DELETE"], (HttpContext context) =>
        {
            // Stateless: there is no standalone stream and no transport session to end.
            context.Response.Headers.Allow = "POST";
            return WriteErrorAsync(context, StatusCodes.Status405MethodNotAllowed, "Method not allowed: this MCP endpoint is stateless; send every message as a POST.");
        }).ExcludeFromDescription();
        return app;
    }

    private static async Task HandlePostAsync(HttpContext context, McpTools tools, McpCallsInFlight inFlight, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger("Cordon.Server.Mcp");
        // Sessions and calls in flight belong to the caller's owner identity (its key, or every caller without keys),
        // as over /v1/sessions; logs name the key's short id or the address.
        var caller = new McpCaller(Clients.Owner(context), Clients.Of(context));
        var client = caller.Name;
        var accept = context.Request.GetTypedHeaders().Accept;
        if (!accept.Any(a => a.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)) || !accept.Any(a => a.MediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase)))
        {
            McpLog.RequestRefused(logger, Problems.RequestId(context), client, "Accept lacks application/json or text/event-stream");
            await WriteErrorAsync(context, StatusCodes.Status406NotAcceptable, "Not acceptable: the client must accept both application/json and text/event-stream.").ConfigureAwait(false);
            return;
        }
        if (!context.Request.HasJsonContentType())
        {
            McpLog.RequestRefused(logger, Problems.RequestId(context), client, "not JSON");
            await WriteErrorAsync(context, StatusCodes.Status415UnsupportedMediaType, "Unsupported media type: send the JSON-RPC message with 'Content-Type: application/json'.").ConfigureAwait(false);
            return;
        }

        JsonRpcMessage? message;
        try
        {
            message = await JsonSerializer.DeserializeAsync(context.Request.Body, MessageType, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            McpLog.RequestRefused(logger, Problems.RequestId(context), client, "malformed JSON-RPC");
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "Parse error: the body is not a JSON-RPC message: " + e.Message, McpErrorCode.ParseError).ConfigureAwait(false);
            return;
        }
        if (message is null)
        {
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, "Invalid request: the body is empty.", McpErrorCode.InvalidRequest).ConfigureAwait(false);
            return;
        }

        if (message is JsonRpcNotification { Method: NotificationMethods.CancelledNotification } cancelled)
        {
            var id = cancelled.Params?["requestId"] is { } node ? (node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString()) : null;
            if (id is not null && inFlight.Cancel(caller.Owner, id)) McpLog.CallCancelled(logger, id, client);
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return;
        }

        using var call = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var key = message is JsonRpcRequest request ? (caller.Owner, request.Id.ToString()) : default;
        // A second call with the same id while the first runs is served, but only a disconnect can cancel it.
        var registered = key != default && inFlight.TryAdd(key, call);
        try
        {
            await ServeAsync(context, message, tools, caller, call.Token, loggerFactory, logger).ConfigureAwait(false);
        }
        finally
        {
            if (registered) inFlight.Remove(key, call);
        }
    }

    private static async Task ServeAsync(HttpContext context, JsonRpcMessage message, McpTools tools, McpCaller caller, CancellationToken cancellationToken,
        ILoggerFactory loggerFactory, ILogger logger)
    {
        var sdkLogging = new SdkLogging(loggerFactory);
        var transport = new StreamableHttpServerTransport(sdkLogging) { Stateless = true };
        await using (transport.ConfigureAwait(false))
        {
            var server = McpServer.Create(transport, tools.ServerOptions(caller), sdkLogging, context.RequestServices);
            await using (server.ConfigureAwait(false))
            {
                var run = server.RunAsync(cancellationToken);
                context.Response.Headers.ContentType = "text/event-stream";
                context.Response.Headers.CacheControl = "no-cache,no-store";
                context.Response.Headers["X-Accel-Buffering"] = "no";
                context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
                try
                {
                    if (!await transport.HandlePostRequestAsync(message, context.Response.Body, cancellationToken).ConfigureAwait(false))
                    {
                        // A notification or a response: nothing to answer.
                        context.Response.Headers.ContentType = (string?)null;
                        context.Response.StatusCode = StatusCodes.Status202Accepted;
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or IOException && cancellationToken.IsCancellationRequested)
                {
                    // Gone, or cancelled by a notification: the protocol forbids answering a cancelled request.
                    if (context.RequestAborted.IsCancellationRequested) ServerLog.ClientGone(logger, Problems.RequestId(context), caller.Name);
                }
                finally
                {
                    await transport.DisposeAsync().ConfigureAwait(false);
                    await run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }
    }

    private static Task WriteErrorAsync(HttpContext context, int status, string message, McpErrorCode code = (McpErrorCode)(-32000)) =>
        Results.Json(new JsonRpcError { Id = default, Error = new JsonRpcErrorDetail { Code = (int)code, Message = message } }, ErrorType, statusCode: status).ExecuteAsync(context);
}

/// <summary>
/// MCP calls in flight over HTTP, by owner identity and JSON-RPC id. Stateless, a notifications/cancelled arrives in
/// a POST of its own, to a server that never saw the call: it finds the call here and cancels the token its request
/// is served with (linked to the request's own abort), as a disconnect would.
/// </summary>
internal sealed class McpCallsInFlight
{
    private readonly ConcurrentDictionary<(string Owner, string Id), CancellationTokenSource> _calls = new();

    /// <summary>Registers a call; false when the owner has a call with this id in flight already.</summary>
    public bool TryAdd((string Owner, string Id) key, CancellationTokenSource call) => _calls.TryAdd(key, call);

    /// <summary>Forgets a call (only the one registered under its key).</summary>
    public void Remove((string Owner, string Id) key, CancellationTokenSource call) =>
        _calls.TryRemove(new KeyValuePair<(string, string), CancellationTokenSource>(key, call));

    /// <summary>Cancels the owner's call with this id; false when there is none.</summary>
    public bool Cancel(string owner, string id)
    {
        if (!_calls.TryGetValue((owner, id), out var call)) return false;
        try
        {
            call.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            // It ended meanwhile.
            return false;
        }
    }
}
