using System.Text.Json;
using Cordon.Jail;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cordon.Server;

/// <summary>Builds and runs Cordon's HTTP server (Kestrel, minimal APIs) over one engine.</summary>
public static class CordonServer
{
    /// <summary>JSON as the API speaks it: snake_case, strict about unknown fields.</summary>
    public static readonly JsonSerializerOptions Json = CreateJson();

    private static JsonSerializerOptions CreateJson()
    {
        var json = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            MaxDepth = 32,
        };
        json.MakeReadOnly(populateMissingResolver: true);
        return json;
    }

    /// <summary>
    /// Creates the application: configuration from <paramref name="configFile"/> (if given) and CORDON_ environment
    /// variables, the engine, and every endpoint. <paramref name="configure"/> may change the builder (tests).
    /// </summary>
    public static WebApplication Build(string[] args, string? configFile = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
        var file = configFile ?? (File.Exists("/etc/cordon/cordon.json") ? "/etc/cordon/cordon.json" : null);
        if (file is not null) builder.Configuration.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        builder.Configuration.AddEnvironmentVariables("CORDON_");
        builder.Services.Configure<CordonServerOptions>(builder.Configuration);
        var options = builder.Configuration.Get<CordonServerOptions>() ?? new CordonServerOptions();
        var problems = options.Validate();
        if (problems.Count > 0)
            throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid server configuration", problems);

        CordonServerOptions.TryParseAddress(options.Address, out var host, out var port);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            if (host is "localhost") kestrel.ListenLocalhost(port);
            else kestrel.Listen(System.Net.IPAddress.Parse(host), port);
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));
        builder.Services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = Json.PropertyNamingPolicy;
            o.SerializerOptions.UnmappedMemberHandling = Json.UnmappedMemberHandling;
            o.SerializerOptions.MaxDepth = Json.MaxDepth;
        });
        builder.Logging.AddSimpleConsole(c => c.SingleLine = true);
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton<EngineService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EngineService>());
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseExceptionHandler(errors => errors.Run(WriteFaultAsync));
        MapHealth(app);
        return app;
    }

    /// <summary>Runs the server until SIGINT/SIGTERM, draining running executions before it exits.</summary>
    public static async Task RunAsync(string[] args, string? configFile = null, CancellationToken cancellationToken = default)
    {
        var app = Build(args, configFile);
        await using (app.ConfigureAwait(false))
        {
            await HostingAbstractionsHostExtensions.RunAsync(app, cancellationToken).ConfigureAwait(false);
        }
    }

    private static void MapHealth(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (IOptions<CordonServerOptions> _) =>
        {
            var problems = JailHost.Check(new JailHostOptions());
            return problems.Count == 0
                ? Results.Text("ready\n")
                : Results.Problem(title: "The jail layer is not usable", detail: string.Join("; ", problems), statusCode: StatusCodes.Status503ServiceUnavailable);
        });
    }

    /// <summary>Maps Cordon's own faults to problem+json with a stable code; anything else is a 500 without internals.</summary>
    private static async Task WriteFaultAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var (status, code, detail, errors) = error switch
        {
            CordonException e => (StatusOf(e.Code), e.CodeName, e.Message, e.Errors),
            BadHttpRequestException e => (e.StatusCode, "invalid_request", e.Message, (IReadOnlyList<string>)[]),
            _ => (StatusCodes.Status500InternalServerError, "internal_error", "Cordon failed unexpectedly; the server log has the details.", (IReadOnlyList<string>)[]),
        };
        if (error is CordonException { RetryAfter: { } retry })
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.StatusCode = status;
        await Results.Problem(new Microsoft.AspNetCore.Mvc.ProblemDetails
        {
            Status = status,
            Title = code,
            Detail = detail,
            Extensions = { ["code"] = code, ["errors"] = errors },
        }).ExecuteAsync(context).ConfigureAwait(false);
    }

    /// <summary>The HTTP status of a Cordon error code.</summary>
    public static int StatusOf(CordonErrorCode code) => code switch
    {
        CordonErrorCode.InvalidRequest or CordonErrorCode.UnsafePath => StatusCodes.Status400BadRequest,
        CordonErrorCode.UnknownRuntime => StatusCodes.Status400BadRequest,
        CordonErrorCode.Overloaded or CordonErrorCode.UidPoolExhausted => StatusCodes.Status429TooManyRequests,
        CordonErrorCode.HostUnsupported => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };
}
