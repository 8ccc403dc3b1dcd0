using System.Globalization;
using Cordon.Jail;
using Cordon.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cordon.Cli;

/// <summary>
/// <c>cordon serve</c>: runs the HTTP server until SIGINT or SIGTERM, then drains it: no new requests, running
/// executions get up to ShutdownTimeoutSeconds to finish, and whatever still runs is killed before exit.
/// </summary>
internal static class ServeCommand
{
    public static async Task<int> RunAsync(string? configFile, bool verbose, CliConsole console, CancellationToken cancellationToken)
    {
        WebApplication app;
        try
        {
            // A failed start is reported below as one line, so the host's own error event (with a stack trace) is noise.
            List<KeyValuePair<string, string?>> settings = [new("Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host", "Critical")];
            if (verbose) settings.Add(new("Logging:LogLevel:Default", "Debug"));
            app = CordonServer.Build([], configFile, settings: settings);
        }
        catch (CordonException e) when (e.Code == CordonErrorCode.InvalidRequest)
        {
            console.Fail($"invalid configuration: {string.Join("; ", e.Errors)} (see `cordon serve --help` and the README's Server section)");
            return ExitCodes.Usage;
        }

        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                // Kestrel's words already name the address (and say "address already in use").
                console.Fail($"cannot listen: {CordonCli.Sentence(e.Message)}");
                return ExitCodes.CordonFailed;
            }

            var options = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CordonServerOptions>>().Value;
            var admission = app.Services.GetRequiredService<EngineService>().Engine.Admission.Options;
            var keys = options.ApiKeys.Count == 0
                ? "no API keys"
                : options.ApiKeys.Count.ToString(CultureInfo.InvariantCulture) + (options.ApiKeys.Count == 1 ? " API key" : " API keys");
            await console.Error.WriteLineAsync(
                $"cordon: serving on {string.Join(", ", CordonServer.ListeningAddresses(app))} ({keys}; {admission.MaxConcurrent} executions at once, {admission.MaxQueued} queued; stop with Ctrl-C or SIGTERM)").ConfigureAwait(false);

            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            await console.Error.WriteLineAsync("cordon: stopped; every jail is gone").ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }
}
