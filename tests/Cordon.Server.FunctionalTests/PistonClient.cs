using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace Cordon.Server.FunctionalTests;

/// <summary>
/// Runs js/piston.mjs, which drives a server with the real piston-client package from npm. The packages are
/// installed on first use (npm reaches its registry through its own configuration).
/// </summary>
public static class PistonClient
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    /// <summary>The js folder in the source tree (node_modules lives there, ignored by git).</summary>
    public static string JsDirectory { get; } = typeof(PistonClient).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "JsDirectory").Value!;

    /// <summary>Runs one scenario of piston.mjs against <paramref name="server"/> and parses what it printed.</summary>
    public static async Task<JsonElement> RunAsync(Uri server, string scenario)
    {
        await EnsureInstalledAsync();
        var (exit, stdout, stderr) = await RunProcessAsync("node", JsDirectory, TimeSpan.FromSeconds(60),
            "piston.mjs", server.ToString().TrimEnd('/'), scenario);
        Assert.True(exit == 0, $"node piston.mjs {scenario} exited {exit}:\n{stderr}\n{stdout}");
        using var document = JsonDocument.Parse(stdout);
        return document.RootElement.Clone();
    }

    private static async Task EnsureInstalledAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (File.Exists(Path.Combine(JsDirectory, "node_modules", "piston-client", "package.json"))) return;
            var (exit, stdout, stderr) = await RunProcessAsync("npm", JsDirectory, TimeSpan.FromMinutes(5), "install", "--no-audit", "--no-fund");
            Assert.True(exit == 0, $"npm install failed ({exit}):\n{stdout}\n{stderr}");
        }
        finally
        {
            InstallGate.Release();
        }
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunProcessAsync(string program, string directory, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(program, args)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
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
