using System.Globalization;
using System.Text.Json;

namespace Cordon.Server.Mcp;

/// <summary>
/// Reads a tool call's arguments, collecting every problem (a missing argument, a wrong type, an unknown name) so a
/// bad call is answered once with all of them.
/// </summary>
internal sealed class McpArguments
{
    private readonly IDictionary<string, JsonElement> _values;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public McpArguments(IDictionary<string, JsonElement>? values) => _values = values ?? new Dictionary<string, JsonElement>();

    /// <summary>Every problem found so far.</summary>
    public List<string> Errors { get; } = [];

    public string? String(string name, bool required = false)
    {
        if (!TryGet(name, required, out var value)) return null;
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        Errors.Add($"{name}: expected a string");
        return null;
    }

    public bool? Bool(string name)
    {
        if (!TryGet(name, false, out var value)) return null;
        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False) return value.GetBoolean();
        Errors.Add($"{name}: expected true or false");
        return null;
    }

    /// <summary>A number of seconds from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public TimeSpan? Seconds(string name, double min, double max)
    {
        if (!TryGet(name, false, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var seconds) || seconds < min || seconds > max)
        {
            Errors.Add(string.Create(CultureInfo.InvariantCulture, $"{name}: expected a number of seconds from {min} to {max}"));
            return null;
        }
        return TimeSpan.FromSeconds(seconds);
    }

    public IReadOnlyList<string>? Strings(string name)
    {
        if (!TryGet(name, false, out var value)) return null;
        if (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            return [.. value.EnumerateArray().Select(e => e.GetString()!)];
        Errors.Add($"{name}: expected an array of strings");
        return null;
    }

    /// <summary>An array of objects with string members, e.g. files: [{"name": ..., "content": ...}].</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, string>>? Objects(string name, IReadOnlyCollection<string> requiredMembers, IReadOnlyCollection<string> optionalMembers)
    {
        if (!TryGet(name, false, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Array)
        {
            Errors.Add($"{name}: expected an array");
            return null;
        }
        var list = new List<IReadOnlyDictionary<string, string>>();
        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"{name}[{i++}]");
            if (item.ValueKind != JsonValueKind.Object)
            {
                Errors.Add(path + ": expected an object");
                continue;
            }
            var members = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var member in item.EnumerateObject())
            {
                if (!requiredMembers.Contains(member.Name) && !optionalMembers.Contains(member.Name)) Errors.Add($"{path}.{member.Name}: unknown member");
                else if (member.Value.ValueKind != JsonValueKind.String) Errors.Add($"{path}.{member.Name}: expected a string");
                else members[member.Name] = member.Value.GetString()!;
            }
            foreach (var missing in requiredMembers.Where(m => !members.ContainsKey(m) && !item.TryGetProperty(m, out _))) Errors.Add($"{path}.{missing}: required");
            list.Add(members);
        }
        return list;
    }

    /// <summary>Adds an error for every argument the tool does not take; call after reading them all.</summary>
    public void RejectUnknown()
    {
        foreach (var name in _values.Keys.Where(k => !_read.Contains(k))) Errors.Add($"{name}: this tool has no such argument");
    }

    private bool TryGet(string name, bool required, out JsonElement value)
    {
        _read.Add(name);
        if (_values.TryGetValue(name, out value) && value.ValueKind != JsonValueKind.Null) return true;
        if (required) Errors.Add($"{name}: required");
        return false;
    }
}
