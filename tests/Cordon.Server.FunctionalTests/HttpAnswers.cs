using System.Text.Json.Nodes;

namespace Cordon.Server.FunctionalTests;

/// <summary>Reading a server's JSON answers.</summary>
public static class HttpAnswers
{
    public static async Task<JsonNode> JsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
}
