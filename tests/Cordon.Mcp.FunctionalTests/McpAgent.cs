using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace Cordon.Mcp.FunctionalTests;

/// <summary>
/// Runs js/agent.mjs, an agent built on the official MCP TypeScript SDK, against Cordon over stdio (the script
/// spawns <c>dotnet cordon.dll mcp</c>) or streamable HTTP, and parses the JSON it prints. npm installs the SDK on
/// first use when <c>build.sh setup</c> has not.
/// </summary>
public static class McpAgent
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    /// <summary>The js folder in the source tree.</summary>
    public static string JsDirectory { get; } = typeof(McpAgent).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "JsDirectory").Value!;

    /// <summary>cordon.dll beside the tests.</summary>
    public static string CordonDll { get; } = Path.Combine(AppContext.BaseDirectory, "cordon.dll");

    /// <summary>
    /// Plays <paramref name="scenario"/> over stdio (<paramref name="server"/> null) or HTTP. <paramref name="settings"/>
    /// configure the stdio server as CORDON_ variables without the prefix; <paramref name="apiKey"/> is sent over HTTP.
    /// </summary>
    public static async Task<JsonElement> RunAsync(Uri? server, string scenario, string? arg = null, string? apiKey = null,
        IReadOnlyDictionary<string, string>? settings = null)
    {
        await EnsureInstalledAsync();
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = JsDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("agent.mjs");
        start.ArgumentList.Add(server is null ? "stdio" : "http");
        start.ArgumentList.Add(server is null ? CordonDll : new Uri(server, "mcp").ToString());
        start.ArgumentList.Add(scenario);
        if (arg is not null) start.ArgumentList.Add(arg);
        // Only what the test says configures the stdio server; the runtimes beside cordon.dll are the ones under test.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("CORDON_", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) start.Environment["CORDON_" + key] = value;
        if (apiKey is not null) start.Environment["CORDON_MCP_KEY"] = apiKey;

        using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var stdout = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"node agent.mjs {scenario} did not finish within 4 minutes:\n{await stderr}");
        }
        var output = await stdout;
        Assert.True(process.ExitCode == 0, $"node agent.mjs {scenario} exited {process.ExitCode}:\n{await stderr}\n{output}");
        using var document = JsonDocument.Parse(output);
        return document.RootElement.Clone();
    }

    private static async Task EnsureInstalledAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (File.Exists(Path.Combine(JsDirectory, "node_modules", "@modelcontextprotocol", "sdk", "package.json"))) return;
            using var npm = Process.Start(new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund"]) { WorkingDirectory = JsDirectory, UseShellExecute = false })!;
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await npm.WaitForExitAsync(deadline.Token);
            Assert.True(npm.ExitCode == 0, $"npm ci in {JsDirectory} failed ({npm.ExitCode})");
        }
        finally
        {
            InstallGate.Release();
        }
    }
}
