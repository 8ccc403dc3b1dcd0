using System.Diagnostics;

namespace Cordon.Engine;

/// <summary>What a trusted host tool (a version probe, a diagnostic) printed and how it ended.</summary>
/// <param name="ExitCode">Its exit code; null when it could not start or timed out.</param>
/// <param name="Stdout">Its stdout.</param>
/// <param name="Stderr">Its stderr, or why it could not start.</param>
/// <param name="TimedOut">True when it was killed at the timeout.</param>
public sealed record HostToolResult(int? ExitCode, string Stdout, string Stderr, bool TimedOut);

/// <summary>Runs trusted host programs (never user code) with a timeout, killing the whole tree at the deadline.</summary>
public static class HostTool
{
    /// <summary>
    /// Runs <paramref name="program"/> with <paramref name="args"/>, stdin closed; with <paramref name="environment"/>
    /// the child gets exactly that environment, else this process's.
    /// </summary>
    public static async Task<HostToolResult> RunAsync(string program, IEnumerable<string> args, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        if (environment is not null)
        {
            start.Environment.Clear();
            foreach (var (key, value) in environment) start.Environment[key] = value;
        }
        try
        {
            using var process = Process.Start(start)!;
            process.StandardInput.Close();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            var stdout = process.StandardOutput.ReadToEndAsync(deadline.Token);
            var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
            try
            {
                await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                cancellationToken.ThrowIfCancellationRequested();
                return new HostToolResult(null, "", "", TimedOut: true);
            }
            return new HostToolResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false), false);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new HostToolResult(null, "", e.Message, false);
        }
    }
}
