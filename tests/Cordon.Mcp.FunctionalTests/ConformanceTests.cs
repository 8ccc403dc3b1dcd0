using Cordon.Server.FunctionalTests;

namespace Cordon.Mcp.FunctionalTests;

/// <summary>
/// The MCP conformance suite (<c>@modelcontextprotocol/conformance</c>, pinned to 0.1.10, the last that runs on
/// Node 20) checks /mcp. Only the scenarios that hold for any server are run: the rest call the suite's own fixture
/// tools (test_image_content, ...), resources, prompts, completions or sampling, which Cordon does not offer.
/// The suite sends no Authorization header, so it gets a server of its own without API keys.
/// </summary>
[Collection(McpCollection.Name)]
public sealed class ConformanceTests
{
    [Theory(Timeout = 300_000)]
    [InlineData("server-initialize")]
    [InlineData("ping")]
    [InlineData("tools-list")]
    [InlineData("logging-set-level")]
    public async Task The_conformance_suite_passes_the_scenario_over_http(string scenario)
    {
        await NodeScripts.EnsureInstalledAsync(McpAgent.JsDirectory, "@modelcontextprotocol/conformance");
        await using var server = await CordonServe.StartAsync();

        var (exit, stdout, stderr) = await NodeScripts.RunAsync("node", McpAgent.JsDirectory, TimeSpan.FromMinutes(2),
            ["node_modules/@modelcontextprotocol/conformance/dist/index.js", "server", "--url", new Uri(server.BaseAddress, "mcp").ToString(), "--scenario", scenario]);

        Assert.True(exit == 0, $"conformance {scenario} failed ({exit}):\n{stdout}\n{stderr}");
        Assert.Contains("0 failed", stdout, StringComparison.Ordinal);
    }
}
