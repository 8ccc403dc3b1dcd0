using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading.RateLimiting;
using Cordon.Jail;
using Cordon.Server.Mcp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.RateLimiting;
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

    private static readonly Dictionary<string, string?> LoggingDefaults = new(StringComparer.Ordinal)
    {
        ["Logging:LogLevel:Default"] = "Information",
        // One line per request from the framework is noise next to the server's own events; warnings still show.
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Warning",
    };

    private static JsonSerializerOptions CreateJson()
    {
        var json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Apply(json);
        json.MakeReadOnly(populateMissingResolver: true);
        return json;
    }

    private static void Apply(JsonSerializerOptions json)
    {
        json.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        json.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
        json.RespectNullableAnnotations = true;
        json.RespectRequiredConstructorParameters = true;
        json.MaxDepth = NativeApi.MaxJsonDepth;
        // Program output is returned as written (é, <, &), not as \u escapes: answers are JSON, never HTML.
        json.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
    }

    /// <summary>
    /// Creates the application: configuration from <paramref name="configFile"/> (if given, else
    /// /etc/cordon/cordon.json when present), <c>CORDON_</c> environment variables and <paramref name="settings"/>
    /// (highest precedence; tests), the engine, and every endpoint. <paramref name="configure"/> may change the
    /// builder (tests use a TestServer). Throws <see cref="CordonException"/> with
    /// <see cref="CordonErrorCode.InvalidRequest"/> listing every problem of a bad configuration.
    /// </summary>
    public static WebApplication Build(string[] args, string? configFile = null, Action<WebApplicationBuilder>? configure = null,
        IEnumerable<KeyValuePair<string, string?>>? settings = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
        builder.Configuration.AddInMemoryCollection(LoggingDefaults);
        var file = ConfigFile(configFile);
        var settingList = settings?.ToList();
        var (options, environmentWarnings) = LoadOptions(builder.Configuration, file, settingList);

        if (CordonServerOptions.TryParseAddress(options.Address, out var host, out var port))
        {
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.AddServerHeader = false;
                kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
                // Kestrel cannot pick a free port for "localhost" (two addresses), so port 0 means 127.0.0.1.
                if (host is "localhost" && port != 0) kestrel.ListenLocalhost(port);
                else kestrel.Listen(host is "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.Parse(host), port);
            });
        }
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));
        builder.Services.Configure<JsonOptions>(o => Apply(o.SerializerOptions));
        builder.Logging.AddSimpleConsole(c =>
        {
            c.SingleLine = true;
            c.UseUtcTimestamp = true;
            c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
        // stdout stays free for whatever runs cordon serve; every log line goes to stderr.
        builder.Logging.AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);

        builder.Services.AddSingleton(Options.Create(options));
        builder.Services.AddSingleton(new ApiKeys(options.ApiKeys));
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton<PrometheusExporter>();
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi("v1");
        if (options.RequestsPerMinute > 0) builder.Services.AddRateLimiter(r => ConfigureRateLimits(r, options.RequestsPerMinute));
        builder.Services.AddSingleton<EngineService>();
        builder.Services.AddMcp();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EngineService>());
        configure?.Invoke(builder);

        var app = builder.Build();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Cordon.Server");
        foreach (var key in environmentWarnings) ServerLog.UnknownEnvironmentSetting(logger, key);
        // Created now, so the counts start with the first request.
        _ = app.Services.GetRequiredService<PrometheusExporter>();

        app.UseMiddleware<RequestMetricsMiddleware>();
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = WriteFaultAsync,
            // A refused request is not a server fault; only faults of Cordon get an error with a stack trace in the log.
            SuppressDiagnosticsCallback = c => c.Exception is BadHttpRequestException || (c.Exception is CordonException e && StatusOf(e.Code) < 500),
        });
        app.UseStatusCodePages(c => WriteStatusAsync(c.HttpContext));
        app.UseRouting();
        app.Use(RequestMetricsMiddleware.CaptureRoute);
        app.UseMiddleware<ApiKeyMiddleware>();
        app.UseMiddleware<RequestBodyLimitMiddleware>();
        if (options.RequestsPerMinute > 0) app.UseRateLimiter();

        MapHealth(app);
        app.MapGet("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Render(), PrometheusExporter.ContentType))
            .ExcludeFromDescription();
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapNativeApi();
        app.MapSessionApi();
        app.MapPistonApi();
        app.MapMcp();
        WatchLifetime(app, options, logger);
        return app;
    }

    /// <summary>The addresses the server listens on once started (http://127.0.0.1:2000); empty for a test server.</summary>
    public static IReadOnlyList<string> ListeningAddresses(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
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

    private static string? ConfigFile(string? configFile) =>
        configFile ?? (File.Exists("/etc/cordon/cordon.json") ? "/etc/cordon/cordon.json" : null);

    /// <summary>The settings as <c>cordon serve</c> reads them, for hosts of the engine without HTTP (<c>cordon mcp</c>).</summary>
    internal static CordonServerOptions LoadOptions(string? configFile) => LoadOptions(new ConfigurationManager(), ConfigFile(configFile), null).Options;

    private static (CordonServerOptions Options, IReadOnlyList<string> EnvironmentWarnings) LoadOptions(
        ConfigurationManager configuration, string? file, List<KeyValuePair<string, string?>>? settings)
    {
        var errors = new List<string>();
        var strict = new ConfigurationBuilder();
        if (file is not null)
        {
            var path = Path.GetFullPath(file);
            try
            {
                configuration.AddJsonFile(path, optional: false, reloadOnChange: false);
                strict.AddJsonFile(path, optional: false, reloadOnChange: false);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                // The JSON reader's own words name the line and position of a syntax error.
                throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid server configuration",
                    [e is FileNotFoundException ? $"the configuration file {path} does not exist" : $"{path}: {Innermost(e).Message}"]);
            }
        }
        configuration.AddEnvironmentVariables("CORDON_");
        if (settings is not null)
        {
            configuration.AddInMemoryCollection(settings);
            strict.AddInMemoryCollection(settings);
        }

        // A misspelt key in the file would silently keep a default (no keys, say); one from the environment may
        // belong to something else that shares the prefix, so it is only a warning.
        foreach (var key in UnknownKeys(strict.Build(), typeof(CordonServerOptions), "")) errors.Add($"unknown setting '{key}'{(file is null ? "" : " in " + file)}");
        var environmentWarnings = UnknownKeys(new ConfigurationBuilder().AddEnvironmentVariables("CORDON_").Build(), typeof(CordonServerOptions), "").ToList();

        CordonServerOptions? options = null;
        try
        {
            options = configuration.Get<CordonServerOptions>() ?? new CordonServerOptions();
        }
        catch (InvalidOperationException e)
        {
            errors.Add(e.Message);
        }
        if (options is not null) errors.AddRange(options.Validate());
        if (errors.Count > 0) throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid server configuration", errors);
        return (options!, environmentWarnings);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    private static IEnumerable<string> UnknownKeys(IConfiguration section, Type type, string prefix)
    {
        foreach (var child in section.GetChildren())
        {
            var path = prefix + child.Key;
            if (prefix.Length == 0 && child.Key.Equals("Logging", StringComparison.OrdinalIgnoreCase)) continue;
            var property = type.GetProperty(child.Key, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.IgnoreCase);
            if (property is null)
            {
                yield return path;
                continue;
            }
            var nested = property.PropertyType;
            if (nested.IsClass && nested != typeof(string) && !nested.IsGenericType)
            {
                foreach (var key in UnknownKeys(child, nested, path + ":")) yield return key;
            }
        }
    }

    private static void ConfigureRateLimits(RateLimiterOptions options, int requestsPerMinute)
    {
        options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            // Health probes come from load balancers and orchestrators, often many, from one address.
            context.Request.Path.Equals("/healthz", StringComparison.Ordinal)
                ? RateLimitPartition.GetNoLimiter("healthz")
                : RateLimitPartition.GetFixedWindowLimiter(Clients.Of(context), _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = requestsPerMinute,
                    Window = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
        options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
        options.OnRejected = (rejected, _) =>
        {
            var context = rejected.HttpContext;
            var retry = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromMinutes(1);
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Cordon.Server");
            ServerLog.RateLimited(logger, Problems.RequestId(context), Clients.Of(context), requestsPerMinute);
            Problems.NoteRejection(context, "rate_limited");
            return new ValueTask(Problems.WriteAsync(context, StatusCodes.Status429TooManyRequests, "rate_limited", "Too many requests",
                $"This client may make {requestsPerMinute} requests per minute; retry after the time in Retry-After.", retryAfter: retry));
        };
    }

    private static void WatchLifetime(WebApplication app, CordonServerOptions options, ILogger logger)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var engine = app.Services.GetRequiredService<EngineService>().Engine;
            var address = ListeningAddresses(app) is { Count: > 0 } addresses ? string.Join(", ", addresses) : options.Address;
            ServerLog.Listening(logger, address, options.ApiKeys.Count, options.RequestsPerMinute, engine.Admission.Options.MaxConcurrent, engine.Admission.Options.MaxQueued);
        });
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            var engine = app.Services.GetRequiredService<EngineService>().TryGetEngine();
            ServerLog.Stopping(logger, options.ShutdownTimeoutSeconds, engine?.Admission.Running ?? 0, engine?.Admission.Queued ?? 0);
        });
        app.Lifetime.ApplicationStopped.Register(() => ServerLog.Stopped(logger));
    }

    private static void MapHealth(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"))
            .WithSummary("Alive: answers while the process runs (no API key needed).");
        app.MapGet("/readyz", async (HttpContext context) =>
        {
            var problems = JailHost.Check(new JailHostOptions());
            if (problems.Count == 0) return Results.Text("ready\n");
            await Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "host_unsupported", "The jail layer is not usable",
                string.Join("; ", problems), problems).ConfigureAwait(false);
            return Results.Empty;
        }).WithSummary("Ready: the jail layer (bubblewrap, cgroups, seccomp) is usable.");
    }

    /// <summary>A problem for an answer that has a status and nothing else (no route, wrong method or media type).</summary>
    private static Task WriteStatusAsync(HttpContext context)
    {
        var status = context.Response.StatusCode;
        var (code, detail) = status switch
        {
            StatusCodes.Status404NotFound => ("not_found", "Nothing is here; /openapi/v1.json describes the API."),
            StatusCodes.Status405MethodNotAllowed => ("method_not_allowed", "This endpoint does not take this method."),
            StatusCodes.Status415UnsupportedMediaType => ("unsupported_media_type", "Send the request as JSON with 'Content-Type: application/json'."),
            _ => (CordonException.ToSnakeCase(Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status).Replace(" ", "", StringComparison.Ordinal)), null),
        };
        return Problems.WriteAsync(context, status, code, Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status), detail);
    }

    /// <summary>Maps Cordon's own faults to problem+json with a stable code; anything else is a 500 without internals.</summary>
    private static Task WriteFaultAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        switch (error)
        {
            case CordonException e:
                if (e.Code == CordonErrorCode.Overloaded) Problems.NoteRejection(context, "overloaded");
                return Problems.WriteAsync(context, StatusOf(e.Code), e.CodeName, TitleOf(e.Code), e.Message, e.Errors.Count > 0 ? e.Errors : null, e.RetryAfter);
            case BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } e:
                Problems.NoteRejection(context, "body_too_large");
                return Problems.WriteAsync(context, e.StatusCode, "body_too_large", "Request body too large", e.Message);
            case BadHttpRequestException e:
                return Problems.WriteAsync(context, e.StatusCode, "invalid_request", "Invalid request", e.Message);
            default:
                return Problems.WriteAsync(context, StatusCodes.Status500InternalServerError, "internal_error", "Internal error",
                    "Cordon failed unexpectedly; the server log has the details.");
        }
    }

    /// <summary>The HTTP status of a Cordon error code.</summary>
    public static int StatusOf(CordonErrorCode code) => code switch
    {
        CordonErrorCode.InvalidRequest or CordonErrorCode.UnsafePath => StatusCodes.Status400BadRequest,
        CordonErrorCode.UnknownRuntime => StatusCodes.Status400BadRequest,
        CordonErrorCode.Overloaded or CordonErrorCode.UidPoolExhausted or CordonErrorCode.SessionLimitReached => StatusCodes.Status429TooManyRequests,
        CordonErrorCode.SessionNotFound or CordonErrorCode.CommandNotFound => StatusCodes.Status404NotFound,
        CordonErrorCode.HostUnsupported => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>The problem+json title of a Cordon error code.</summary>
    public static string TitleOf(CordonErrorCode code) => code switch
    {
        CordonErrorCode.InvalidRequest or CordonErrorCode.UnsafePath => "Invalid request",
        CordonErrorCode.UnknownRuntime => "Unknown runtime",
        CordonErrorCode.Overloaded or CordonErrorCode.UidPoolExhausted => "Cordon is at capacity",
        CordonErrorCode.HostUnsupported => "This host cannot run jails",
        CordonErrorCode.SessionNotFound => "Session not found or expired",
        CordonErrorCode.SessionLimitReached => "Too many sessions",
        CordonErrorCode.CommandNotFound => "Command not found",
        _ => "Internal error",
    };
}
