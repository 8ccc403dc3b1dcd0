using System.ComponentModel.DataAnnotations;
using System.Text.Json;

namespace Cordon.Server.Tests;

/// <summary>Shapes the JsonShape tests check documents against.</summary>
public sealed record ShapeWithMaps
{
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    public Dictionary<string, int>? Counts { get; init; }

    [Range(0.5, 8)]
    public double? Cores { get; init; }

    public decimal? Price { get; init; }

    [Range(0.0, double.MaxValue)]
    public double? Weight { get; init; }
}

/// <summary>JsonShape's string-keyed maps and numbers with fractions, and what it says about them.</summary>
public sealed class JsonShapeTests
{
    private static IReadOnlyList<string> Check(string json)
    {
        using var document = JsonDocument.Parse(json);
        return JsonShape.Check<ShapeWithMaps>(document.RootElement, CordonServer.Json);
    }

    [Fact(Timeout = 10000)]
    public async Task A_valid_document_with_maps_and_fractions_passes_and_deserializes()
    {
        await Task.Yield();
        const string json = """{"labels": {"owner": "me", "Any Name!": "", "ünï": "x"}, "counts": {"a": 1}, "cores": 1.5, "price": 19.99, "weight": 0}""";
        Assert.Empty(Check(json));
        var value = JsonSerializer.Deserialize<ShapeWithMaps>(json, CordonServer.Json)!;
        Assert.Equal("me", value.Labels!["owner"]);
        Assert.Equal("", value.Labels["Any Name!"]);
        Assert.Equal(1.5, value.Cores);
        Assert.Equal(19.99m, value.Price);
        Assert.Empty(Check("""{"labels": {}, "counts": null, "cores": 8, "price": -3}"""));
    }

    [Fact(Timeout = 10000)]
    public async Task Every_bad_map_entry_is_named_by_its_path()
    {
        await Task.Yield();
        Assert.Equal([
            "labels.a: expected a string",
            "labels.b: expected a string, not null",
            "labels.a: given more than once",
            "counts.x: expected a whole number",
            "counts.y: expected a number",
        ], Check("""{"labels": {"a": 1, "b": null, "a": "again"}, "counts": {"x": 1.5, "y": "2"}}"""));
        Assert.Equal(["labels: expected an object", "counts: expected an object"], Check("""{"labels": ["a"], "counts": 3}"""));
    }

    [Fact(Timeout = 10000)]
    public async Task A_map_name_with_control_characters_is_shown_escaped()
    {
        await Task.Yield();
        var error = Assert.Single(Check("""{"labels": {"a\nb": 1}}"""));
        Assert.DoesNotContain('\n', error);
        Assert.EndsWith(": expected a string", error, StringComparison.Ordinal);
    }

    [Fact(Timeout = 10000)]
    public async Task Numbers_with_fractions_are_checked_for_type_and_range()
    {
        await Task.Yield();
        Assert.Equal([
            "cores: must be between 0.5 and 8",
            "price: expected a number",
            "weight: must be at least 0",
        ], Check("""{"cores": 0.25, "price": "1", "weight": -0.1}"""));
        Assert.Equal(["cores: must be between 0.5 and 8"], Check("""{"cores": 1e999}"""));
        Assert.Equal(["weight: must be at least 0"], Check("""{"weight": -1e999}"""));
        Assert.Equal(["price: is out of range for a number"], Check("""{"price": 1e40}"""));
        Assert.Equal(["cores: expected a number"], Check("""{"cores": true}"""));
    }
}
