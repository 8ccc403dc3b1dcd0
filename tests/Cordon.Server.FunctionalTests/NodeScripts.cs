using System.Diagnostics;
using System.Reflection;

namespace Cordon.Server.FunctionalTests;

/// <summary>
/// Runs the Node.js scripts through which real npm clients drive Cordon. Each test project keeps its scripts in a
/// js folder of its source tree (named by its JsDirectory assembly metadata), where npm keeps node_modules (ignored
/// by git); the packages are installed on first use when <c>build.sh setup</c> has not.
/// </summary>
public static class NodeScripts
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    /// <summary>The js folder of the test project that holds <paramref name="type"/>.</summary>
    public static string JsDirectory(Type type) =>
        type.Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "JsDirectory").Value!;

    /// <summary>Runs <c>npm ci</c> in <paramref name="directory"/> unless <paramref name="package"/> is installed there.</summary>
    public static async Task EnsureInstalledAsync(string directory, string package)
    {
        await InstallGate.WaitAsync();
        try
        {
            if (File.Exists(Path.Combine(directory, "node_modules", package, "package.json"))) return;
            var (exit, stdout, stderr) = await RunAsync("npm", directory, TimeSpan.FromMinutes(5), ["ci", "--no-audit", "--no-fund"]);
            Assert.True(exit == 0, $"npm ci in {directory} failed ({exit}):\n{stdout}\n{stderr}");
        }
        finally
        {
            InstallGate.Release();
        }
    }

    /// <summary>
    /// Runs a program to its end within <paramref name="timeout"/> (else kills it and throws), with no CORDON_
    /// variable of the developer's shell but those in <paramref name="environment"/>.
    /// </summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string program, string directory, TimeSpan timeout,
        IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program, args)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("CORDON_", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        using var deadline = new CancellationTokenSource(timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
