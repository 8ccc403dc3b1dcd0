using System.Text.Json;
using Cordon.Engine;
using Microsoft.Extensions.Logging;

namespace Cordon.Cli;

/// <summary><c>cordon run</c>: one execution through the engine, its output and exit code passed through.</summary>
internal static class RunCommand
{
    public static async Task<int> RunAsync(RunArguments args, CliConsole console, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        // The request is checked against a catalog of our own first, so mistakes are reported even on a host
        // where jails cannot start yet.
        var catalog = RuntimeCatalog.Load(RuntimeCatalog.LocateDirectory());
        var errors = new List<string>();
        var plan = RunRequestBuilder.Build(args, catalog, console.OpenInput, errors);
        if (plan is null) throw new UsageException(errors, "run");

        // The person at the command line is the operator, so --network is theirs to ask for.
        var engine = CordonEngine.Create(new CordonEngineOptions { AllowNetwork = true }, loggerFactory);
        await using (engine.ConfigureAwait(false))
        {
            var result = await engine.ExecuteAsync(plan.Request, cancellationToken).ConfigureAwait(false);
            var exitCode = Outcome.ExitCode(result);
            if (args.Json)
            {
                await JsonSerializer.SerializeAsync(console.OutputStream, ExecutionJson.From(result, exitCode), CliJsonContext.Output.ExecutionJson, cancellationToken).ConfigureAwait(false);
                await console.OutputStream.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                await console.OutputStream.FlushAsync(cancellationToken).ConfigureAwait(false);
                return exitCode;
            }

            // Compiler output (errors, and warnings on success) goes where a compiler's would: stderr, first.
            if (result.Compile is { } compile && !compile.Output.IsEmpty)
            {
                await console.ErrorStream.WriteAsync(compile.Output, cancellationToken).ConfigureAwait(false);
                await console.ErrorStream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            if (result.Run is { } run)
            {
                await console.OutputStream.WriteAsync(run.Stdout, cancellationToken).ConfigureAwait(false);
                await console.OutputStream.FlushAsync(cancellationToken).ConfigureAwait(false);
                await console.ErrorStream.WriteAsync(run.Stderr, cancellationToken).ConfigureAwait(false);
                await console.ErrorStream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            var note = Outcome.Note(result, engine.RunLimitsFor(plan.Manifest, plan.Request.RunLimits), engine.CompileLimitsFor(plan.Manifest, plan.Request.CompileLimits));
            if (note is not null)
            {
                // The program's output may not end with a newline; the note must still be a line of its own.
                if (EndsWithoutNewline(result)) await console.Error.WriteLineAsync().ConfigureAwait(false);
                await console.Error.WriteLineAsync(note).ConfigureAwait(false);
            }
            return exitCode;
        }
    }

    private static bool EndsWithoutNewline(ExecutionResult result)
    {
        // On a terminal stdout and stderr share the screen, so whichever was written last decides.
        var last = result.Run is { } run ? (run.Stderr.IsEmpty ? run.Stdout : run.Stderr) : result.Compile?.Output ?? default;
        return !last.IsEmpty && last.Span[^1] != (byte)'\n';
    }
}
