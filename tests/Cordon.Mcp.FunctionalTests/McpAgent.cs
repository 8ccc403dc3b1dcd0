using System.Text.Json;
using Cordon.Server.FunctionalTests;

namespace Cordon.Mcp.FunctionalTests;

/// <summary>
/// Runs js/agent.mjs, an agent built on the official MCP TypeScript SDK, against Cordon over stdio (the script
/// spawns <c>dotnet cordon.dll mcp</c>) or streamable HTTP, and parses the JSON it prints.
/// </summary>
public static class McpAgent
{
    /// <summary>The js folder in the source tree.</summary>
    public static string JsDirectory { get; } = NodeScripts.JsDirectory(typeof(McpAgent));

    /// <summary>cordon.dll beside the tests.</summary>
    public static string CordonDll { get; } = Path.Combine(AppContext.BaseDirectory, "cordon.dll");

    /// <summary>
    /// Plays <paramref name="scenario"/> over stdio (<paramref name="server"/> null) or HTTP. <paramref name="settings"/>
    /// configure the stdio server as CORDON_ variables without the prefix; <paramref name="apiKey"/> is sent over HTTP.
    /// </summary>
    public static async Task<JsonElement> RunAsync(Uri? server, string scenario, string? arg = null, string? apiKey = null,
        IReadOnlyDictionary<string, string>? settings = null)
    {
        await NodeScripts.EnsureInstalledAsync(JsDirectory, "@modelcontextprotocol/sdk");
        List<string> args = ["agent.mjs", server is null ? "stdio" : "http", server is null ? CordonDll : new Uri(server, "mcp").ToString(), scenario];
        if (arg is not null) args.Add(arg);
        var environment = (settings ?? new Dictionary<string, string>()).ToDictionary(s => "CORDON_" + s.Key, s => s.Value);
        if (apiKey is not null) environment["CORDON_MCP_KEY"] = apiKey;
        var (exit, stdout, stderr) = await NodeScripts.RunAsync("node", JsDirectory, TimeSpan.FromMinutes(4), args, environment);
        Assert.True(exit == 0, $"node agent.mjs {scenario} exited {exit}:\n{stderr}\n{stdout}");
        using var document = JsonDocument.Parse(stdout);
        return document.RootElement.Clone();
    }
}
