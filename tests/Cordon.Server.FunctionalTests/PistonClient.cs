using System.Text.Json;

namespace Cordon.Server.FunctionalTests;

/// <summary>Runs js/piston.mjs, which drives a server with the real piston-client package from npm.</summary>
public static class PistonClient
{
    /// <summary>The js folder in the source tree (node_modules lives there, ignored by git).</summary>
    public static string JsDirectory { get; } = NodeScripts.JsDirectory(typeof(PistonClient));

    /// <summary>Runs one scenario of piston.mjs against <paramref name="server"/> and parses what it printed.</summary>
    public static async Task<JsonElement> RunAsync(Uri server, string scenario)
    {
        await NodeScripts.EnsureInstalledAsync(JsDirectory, "piston-client");
        var (exit, stdout, stderr) = await NodeScripts.RunAsync("node", JsDirectory, TimeSpan.FromSeconds(60),
            ["piston.mjs", server.ToString().TrimEnd('/'), scenario]);
        Assert.True(exit == 0, $"node piston.mjs {scenario} exited {exit}:\n{stderr}\n{stdout}");
        using var document = JsonDocument.Parse(stdout);
        return document.RootElement.Clone();
    }
}
