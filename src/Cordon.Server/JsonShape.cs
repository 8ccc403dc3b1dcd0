using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Cordon.Server;

/// <summary>
/// Checks a JSON document against the shape of a request record, as System.Text.Json sees it (names after the
/// naming policy, <c>required</c> members, property types, <see cref="AllowedValuesAttribute"/> and
/// <see cref="RangeAttribute"/>), and reports every problem rather than the first: unknown fields, fields given
/// twice, wrong types, missing required fields, values out of range. Objects, lists, string-keyed maps
/// (<c>IReadOnlyDictionary&lt;string, T&gt;</c>: free-form names, each value checked), strings, booleans, whole
/// numbers (<c>int</c>, <c>long</c>) and numbers with fractions (<c>double</c>, <c>decimal</c>) are understood. A
/// document that passes deserializes.
/// </summary>
public static class JsonShape
{
    /// <summary>Most problems reported for one document; a hostile body must not make the answer huge.</summary>
    public const int MaxErrors = 100;

    /// <summary>Every problem of <paramref name="document"/> as a <typeparamref name="T"/>, each prefixed by its path.</summary>
    public static IReadOnlyList<string> Check<T>(JsonElement document, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new Errors();
        CheckValue(document, options.GetTypeInfo(typeof(T)), "", required: true, errors, options);
        return errors.ToList();
    }

    private sealed class Errors
    {
        private readonly List<string> _list = [];
        private int _dropped;

        public void Add(string path, string problem)
        {
            if (_list.Count < MaxErrors) _list.Add($"{(path.Length == 0 ? "request body" : path)}: {problem}");
            else _dropped++;
        }

        public List<string> ToList()
        {
            var list = new List<string>(_list);
            if (_dropped > 0) list.Add($"and {_dropped} more problems");
            return list;
        }
    }

    private enum Kind
    {
        String,
        Integer,
        Number,
        Boolean,
        Map,
        Object,
        Array,
        Other,
    }

    private static Kind KindOf(JsonTypeInfo type)
    {
        var clr = Nullable.GetUnderlyingType(type.Type) ?? type.Type;
        if (clr == typeof(string)) return Kind.String;
        if (clr == typeof(long) || clr == typeof(int)) return Kind.Integer;
        if (clr == typeof(double) || clr == typeof(decimal)) return Kind.Number;
        if (clr == typeof(bool)) return Kind.Boolean;
        return type.Kind switch
        {
            JsonTypeInfoKind.Object => Kind.Object,
            JsonTypeInfoKind.Dictionary when type.KeyType == typeof(string) => Kind.Map,
            JsonTypeInfoKind.Enumerable => Kind.Array,
            _ => Kind.Other,
        };
    }

    private static string Noun(Kind kind) => kind switch
    {
        Kind.String => "string",
        Kind.Integer or Kind.Number => "number",
        Kind.Boolean => "boolean",
        Kind.Object or Kind.Map => "object",
        Kind.Array => "array",
        _ => "value",
    };

    /// <summary>The string's value, or null when it holds invalid UTF-8 or an unpaired surrogate escape.</summary>
    internal static string? TryGetText(JsonElement value)
    {
        try
        {
            return value.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static void CheckValue(JsonElement value, JsonTypeInfo type, string path, bool required, Errors errors, JsonSerializerOptions options, JsonPropertyInfo? property = null)
    {
        var kind = KindOf(type);
        if (value.ValueKind == JsonValueKind.Null)
        {
            // An item of a list is never optional, but "required" reads oddly for one.
            if (required) errors.Add(path, path.EndsWith(']') ? $"expected a {Noun(kind)}, not null" : $"required {Noun(kind)}, not null");
            return;
        }
        switch (kind)
        {
            case Kind.String:
                if (value.ValueKind != JsonValueKind.String) errors.Add(path, "expected a string");
                else if (TryGetText(value) is { } text) CheckAllowed(text, path, errors, property);
                else errors.Add(path, "is not valid text (invalid UTF-8 or a lone surrogate escape)");
                break;
            case Kind.Integer:
                CheckInteger(value, Nullable.GetUnderlyingType(type.Type) ?? type.Type, path, errors, property);
                break;
            case Kind.Number:
                CheckNumber(value, Nullable.GetUnderlyingType(type.Type) ?? type.Type, path, errors, property);
                break;
            case Kind.Boolean:
                if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) errors.Add(path, "expected true or false");
                break;
            case Kind.Array:
                if (value.ValueKind != JsonValueKind.Array)
                {
                    errors.Add(path, "expected an array");
                    break;
                }
                var element = options.GetTypeInfo(type.ElementType!);
                var i = 0;
                foreach (var item in value.EnumerateArray())
                    CheckValue(item, element, $"{path}[{i++}]", required: true, errors, options);
                break;
            case Kind.Object:
                if (value.ValueKind != JsonValueKind.Object)
                {
                    errors.Add(path, "expected an object");
                    break;
                }
                CheckObject(value, type, path, errors, options);
                break;
            case Kind.Map:
                if (value.ValueKind != JsonValueKind.Object)
                {
                    errors.Add(path, "expected an object");
                    break;
                }
                CheckMap(value, options.GetTypeInfo(type.ElementType!), path, errors, options);
                break;
            default:
                throw new NotSupportedException($"JsonShape does not know how to check {type.Type}.");
        }
    }

    private static void CheckObject(JsonElement value, JsonTypeInfo type, string path, Errors errors, JsonSerializerOptions options)
    {
        var properties = type.Properties.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in value.EnumerateObject())
        {
            var memberPath = path.Length == 0 ? member.Name : $"{path}.{member.Name}";
            if (!properties.TryGetValue(member.Name, out var property))
            {
                var loose = Loose(member.Name);
                var guess = type.Properties.FirstOrDefault(p => Loose(p.Name) == loose)
                    ?? (loose.Length >= 4 ? type.Properties.FirstOrDefault(p => Loose(p.Name).StartsWith(loose, StringComparison.Ordinal)) : null);
                errors.Add(memberPath, guess is null ? "unknown field" : $"unknown field (did you mean {guess.Name}?)");
                continue;
            }
            if (!seen.Add(member.Name))
            {
                errors.Add(memberPath, "given more than once");
                continue;
            }
            CheckValue(member.Value, options.GetTypeInfo(property.PropertyType), memberPath, property.IsRequired, errors, options, property);
        }
        foreach (var property in type.Properties)
        {
            if (property.IsRequired && !seen.Contains(property.Name))
                errors.Add(path.Length == 0 ? property.Name : $"{path}.{property.Name}", $"required {Noun(KindOf(options.GetTypeInfo(property.PropertyType)))}");
        }
    }

    /// <summary>A map's names are the client's own: any text is a name, but each once; every value has the map's value type.</summary>
    private static void CheckMap(JsonElement value, JsonTypeInfo element, string path, Errors errors, JsonSerializerOptions options)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in value.EnumerateObject())
        {
            // A name is echoed into the answer: control characters and lone surrogates are shown escaped.
            var memberPath = $"{path}.{Cordon.Jail.JailFiles.Printable(member.Name)}";
            if (!seen.Add(member.Name)) errors.Add(memberPath, "given more than once");
            else if (member.Value.ValueKind == JsonValueKind.Null) errors.Add(memberPath, $"expected a {Noun(KindOf(element))}, not null");
            else CheckValue(member.Value, element, memberPath, required: true, errors, options);
        }
    }

    // stdinEncoding, StdinEncoding and stdin-encoding all mean stdin_encoding to a reader in a hurry, and
    // wall_time is wall_time_ms without its unit.
    private static string Loose(string name) =>
        string.Concat(name.Where(char.IsLetterOrDigit)).ToLowerInvariant();

    private static void CheckInteger(JsonElement value, Type clr, string path, Errors errors, JsonPropertyInfo? property)
    {
        if (value.ValueKind != JsonValueKind.Number)
        {
            errors.Add(path, "expected a number");
            return;
        }
        bool whole;
        long number;
        if (clr == typeof(int))
        {
            whole = value.TryGetInt32(out var n);
            number = n;
        }
        else
        {
            whole = value.TryGetInt64(out number);
        }
        if (!whole)
        {
            var max = clr == typeof(int) ? int.MaxValue : long.MaxValue;
            errors.Add(path, value.TryGetDouble(out var d) && Math.Abs(d) > max
                ? $"must be at most {max.ToString(CultureInfo.InvariantCulture)}"
                : "expected a whole number");
            return;
        }
        if (RangeOf(property) is { } range)
        {
            var min = Convert.ToDouble(range.Minimum, CultureInfo.InvariantCulture);
            var max = Convert.ToDouble(range.Maximum, CultureInfo.InvariantCulture);
            if (number < min || number > max)
            {
                var unbounded = max >= (clr == typeof(int) ? int.MaxValue : long.MaxValue);
                errors.Add(path, unbounded
                    ? $"must be at least {(long)min}"
                    : $"must be between {(long)min} and {(long)max}");
            }
        }
    }

    private static void CheckNumber(JsonElement value, Type clr, string path, Errors errors, JsonPropertyInfo? property)
    {
        if (value.ValueKind != JsonValueKind.Number)
        {
            errors.Add(path, "expected a number");
            return;
        }
        // JSON has no NaN or infinity, but a literal such as 1e999 is beyond a double (and far less fits a decimal):
        // such a number is refused by its field's range when it has one.
        var range = RangeOf(property);
        var fits = value.TryGetDouble(out var number) && double.IsFinite(number) && (clr != typeof(decimal) || value.TryGetDecimal(out _));
        if (!fits && range is null)
        {
            errors.Add(path, "is out of range for a number");
            return;
        }
        if (!fits) number = value.GetRawText().StartsWith('-') ? double.NegativeInfinity : double.PositiveInfinity;
        if (range is not null)
        {
            var min = Convert.ToDouble(range.Minimum, CultureInfo.InvariantCulture);
            var max = Convert.ToDouble(range.Maximum, CultureInfo.InvariantCulture);
            if (number < min || number > max)
            {
                errors.Add(path, max >= double.MaxValue
                    ? $"must be at least {min.ToString(CultureInfo.InvariantCulture)}"
                    : $"must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}");
            }
        }
    }

    private static RangeAttribute? RangeOf(JsonPropertyInfo? property) =>
        property?.AttributeProvider?.GetCustomAttributes(typeof(RangeAttribute), inherit: true).FirstOrDefault() as RangeAttribute;

    private static void CheckAllowed(string? text, string path, Errors errors, JsonPropertyInfo? property)
    {
        if (property?.AttributeProvider?.GetCustomAttributes(typeof(AllowedValuesAttribute), inherit: true).FirstOrDefault() is not AllowedValuesAttribute allowed) return;
        if (allowed.Values.Any(v => string.Equals(v as string, text, StringComparison.Ordinal))) return;
        var names = allowed.Values.Select(v => $"\"{v}\"").ToList();
        errors.Add(path, $"expected {string.Join(", ", names.Take(names.Count - 1))} or {names[^1]}");
    }
}
