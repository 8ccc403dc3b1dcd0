using System.Text;
using System.Text.Json.Nodes;

namespace Cordon.Server.FunctionalTests;

/// <summary>The README's session walk-through, step by step, against a real <c>cordon serve</c> over real HTTP.</summary>
public sealed class SessionWalkthroughTests
{
    [Fact(Timeout = 180_000)]
    public async Task Create_upload_import_change_reimport_plot_command_delete_then_404()
    {
        await using var server = await CordonServe.StartAsync();
        var http = server.Http;

        var created = await http.PostAsync("v1/sessions", Json(new JsonObject { ["labels"] = new JsonObject { ["project"] = "demo" } }));
        var session = await created.JsonAsync();
        Assert.True((int)created.StatusCode == 201, session.ToJsonString());
        var id = (string)session["id"]!;
        Assert.Equal($"/v1/sessions/{id}", created.Headers.Location?.OriginalString);
        Assert.Equal("demo", (string)session["labels"]!["project"]!);

        Assert.Equal(201, (int)(await http.PutAsync($"v1/sessions/{id}/files/stats.py", new StringContent("def mean(xs):\n    return sum(xs) / len(xs)\n"))).StatusCode);
        var first = await CellAsync(http, id, "import stats\ndata = [1, 2, 3, 4]\nstats.mean(data)");
        Assert.Equal("2.5", (string)first["value"]!);
        Assert.Empty(first["reloaded"]!.AsArray());

        // Replaced: 204; the next import sees the new code, and the cell's own state (data) is kept.
        Assert.Equal(204, (int)(await http.PutAsync($"v1/sessions/{id}/files/stats.py", new StringContent("def mean(xs):\n    return round(sum(xs) / len(xs))\n"))).StatusCode);
        var second = await CellAsync(http, id, "import stats\nstats.mean(data)");
        Assert.Equal("2", (string)second["value"]!);
        Assert.Equal(["stats"], second["reloaded"]!.AsArray().Select(r => (string)r!));

        var plot = await CellAsync(http, id, "import matplotlib.pyplot as plt\nplt.plot(data, [x * x for x in data])\nplt.title('squares')\nprint('plotted')");
        Assert.Equal("plotted\n", (string)plot["stdout"]!);
        var image = Assert.Single(plot["outputs"]!.AsArray())!;
        Assert.Equal("image/png", (string)image["mime_type"]!);
        var png = Convert.FromBase64String((string)image["data"]!);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png.Take(4));
        Assert.True(png.Length > 1000, $"a {png.Length}-byte PNG is too small to hold a chart");

        var command = await http.PostAsync($"v1/sessions/{id}/commands", Json(new JsonObject { ["command"] = "ls && python3 -c 'import stats; print(stats.mean([2, 5]))'" }));
        var ran = await command.JsonAsync();
        Assert.True((int)command.StatusCode == 200, ran.ToJsonString());
        Assert.Equal(0, (int)ran["exit_code"]!);
        Assert.Equal("stats.py\n4\n", (string)ran["stdout"]!);

        Assert.Equal(204, (int)(await http.DeleteAsync($"v1/sessions/{id}")).StatusCode);
        foreach (var gone in new[] { await http.GetAsync($"v1/sessions/{id}"), await http.PostAsync($"v1/sessions/{id}/cells", Json(new JsonObject { ["code"] = "1" })) })
        {
            Assert.Equal(404, (int)gone.StatusCode);
            Assert.Equal("application/problem+json", gone.Content.Headers.ContentType?.MediaType);
            var problem = await gone.JsonAsync();
            Assert.Equal("session_not_found", (string)problem["code"]!);
            Assert.Contains("session not found or expired", (string)problem["detail"]!, StringComparison.Ordinal);
        }
        Assert.Equal(0, await server.StopAsync());
    }

    private static async Task<JsonNode> CellAsync(HttpClient http, string id, string code)
    {
        var response = await http.PostAsync($"v1/sessions/{id}/cells", Json(new JsonObject { ["code"] = code }));
        var body = await response.JsonAsync();
        Assert.True((int)response.StatusCode == 200, body.ToJsonString());
        Assert.True(body["error"] is null, body.ToJsonString());
        return body;
    }

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");
}
