using System.Text.Json;
using Cordon.Engine;

namespace Cordon.Cli;

/// <summary><c>cordon runtimes</c>: every runtime with its probed version, aliases, and why it is unavailable.</summary>
internal static class RuntimesCommand
{
    public static async Task<int> RunAsync(bool json, CliConsole console, CancellationToken cancellationToken)
    {
        // Probing runs the toolchains' version commands on the host; no jail is needed, so neither is root.
        var catalog = RuntimeCatalog.Load(RuntimeCatalog.LocateDirectory());
        var runtimes = await catalog.ProbeAllAsync(cancellationToken).ConfigureAwait(false);
        if (json)
        {
            var list = runtimes.Select(r => new RuntimeJson(r.Name, r.Version, r.Manifest.Aliases, r.Manifest.Extensions, r.Available, r.Problem, r.Manifest.Install)).ToList();
            await JsonSerializer.SerializeAsync(console.OutputStream, list, CliJsonContext.Output.ListRuntimeJson, cancellationToken).ConfigureAwait(false);
            await console.OutputStream.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            await console.OutputStream.FlushAsync(cancellationToken).ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        string[] header = ["NAME", "VERSION", "ALIASES", "EXTENSIONS"];
        var rows = runtimes.Select(r => new[]
        {
            r.Name,
            r.Version ?? "-",
            r.Manifest.Aliases.IsDefaultOrEmpty ? "-" : string.Join(", ", r.Manifest.Aliases),
            r.Manifest.Extensions.IsDefaultOrEmpty ? "-" : string.Join(" ", r.Manifest.Extensions),
        }).ToList();
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
        await console.Out.WriteLineAsync(Line(header)).ConfigureAwait(false);
        foreach (var (runtime, row) in runtimes.Zip(rows))
        {
            await console.Out.WriteLineAsync(Line(row)).ConfigureAwait(false);
            if (!runtime.Available)
                await console.Out.WriteLineAsync($"  unavailable: {Outcome.OneLine(runtime.Problem ?? "unknown reason")}").ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }
}
