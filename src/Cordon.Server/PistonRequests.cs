using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Server;

/// <summary>A Piston execute request mapped onto the engine, with what the response mapping needs to know.</summary>
/// <param name="Request">The engine's request.</param>
/// <param name="Runtime">The runtime it resolved to.</param>
/// <param name="RunMemoryLimit">The run stage's memory limit in force, bytes (named in a memory verdict's message).</param>
/// <param name="CompileMemoryLimit">The compile stage's memory limit in force, bytes.</param>
internal sealed record PistonExecution(ExecutionRequest Request, RuntimeInfo Runtime, long RunMemoryLimit, long CompileMemoryLimit);

/// <summary>
/// Parses and validates <c>POST /api/v2/execute</c> bodies the way Piston (piston-api 3.1.1) does: the same checks in
/// the same order with the same messages, so a client sees the error Piston would give. Where Piston crashes or
/// silently does something odd (a non-string stdin, an escaping file name, invalid base64), Cordon answers 400 with
/// a message of its own, checked after every check Piston makes.
/// </summary>
internal static class PistonRequests
{
    private static readonly string[] Constraints = ["memory_limit", "timeout", "cpu_time"];
    private static readonly string[] Stages = ["compile", "run"];

    /// <summary>Maps a parsed body onto an execution, or returns the first problem as Piston would word it.</summary>
    public static async Task<(PistonExecution? Execution, string? Error)> ParseAsync(JsonElement body, CordonEngine engine, CancellationToken cancellationToken)
    {
        if (body.ValueKind != JsonValueKind.Object) return Fail("the request body must be a JSON object");
        if (!HasValidText(body)) return Fail("the request body is not valid JSON: a string is not valid UTF-8 (or holds a lone surrogate escape)");

        // Piston's own checks, in its order.
        if (!IsNonEmptyString(body, "language", out var language)) return Fail("language is required as a string");
        if (!IsNonEmptyString(body, "version", out var version)) return Fail("version is required as a string");
        if (!body.TryGetProperty("files", out var filesElement) || filesElement.ValueKind != JsonValueKind.Array)
            return Fail("files is required as an array");
        var files = filesElement.EnumerateArray().ToList();
        for (var i = 0; i < files.Count; i++)
        {
            if (files[i].ValueKind != JsonValueKind.Object || !files[i].TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                return Fail($"files[{i}].content is required as a string");
        }

        var runtime = await FindAsync(engine, language, version, cancellationToken).ConfigureAwait(false);
        if (runtime is null) return Fail($"{language}-{version} runtime is unknown");
        var manifest = runtime.Manifest;

        var main = files.FindIndex(IsUtf8);
        if (main < 0) return Fail("files must include at least one utf8 encoded file");

        var configuredRun = engine.RunLimitsFor(manifest, null);
        var configuredCompile = engine.CompileLimitsFor(manifest, null);
        var requested = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var constraint in Constraints)
        {
            foreach (var stage in Stages)
            {
                var name = $"{stage}_{constraint}";
                var configured = Configured(stage == "run" ? configuredRun : configuredCompile, constraint);
                if (CheckLimit(body, name, constraint, configured, out var value) is { } problem) return Fail(problem);
                if (value is { } v) requested[name] = v;
            }
        }

        // Cordon's own checks: what Piston would crash on or get wrong.
        var staged = new ExecutionFile[files.Count];
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            string name;
            if (!file.TryGetProperty("name", out var nameElement) || IsFalsy(nameElement))
                // An unnamed main file takes the runtime's own name (main.c), so compilers that pick sources by
                // extension find it; Piston's "file0.code" works only because its compile scripts take every file.
                name = i == main ? manifest.MainFile : $"file{i}.code";
            else if (nameElement.ValueKind != JsonValueKind.String) return Fail($"files[{i}].name must be a string");
            else name = nameElement.GetString()!;
            if (JailFiles.Problem(name) is { } problem) return Fail($"files[{i}].name '{JailFiles.Printable(name)}' is refused: {problem}");
            if (!names.Add(name)) return Fail($"files[{i}].name '{JailFiles.Printable(name)}' is given twice");

            var encoding = EncodingOf(file);
            if (encoding is null) return Fail($"files[{i}].encoding must be one of utf8, base64 or hex");
            var text = file.GetProperty("content").GetString()!;
            var bytes = Decode(text, encoding);
            if (bytes is null) return Fail($"files[{i}].content is not valid {encoding}");
            staged[i] = new ExecutionFile(name, bytes);
        }

        var stdin = "";
        if (body.TryGetProperty("stdin", out var stdinElement) && stdinElement.ValueKind != JsonValueKind.Null)
        {
            if (stdinElement.ValueKind != JsonValueKind.String) return Fail("stdin must be a string");
            stdin = stdinElement.GetString()!;
        }
        // Piston appends a newline when stdin lacks one (an empty stdin becomes "\n"); programs reading lines rely on it.
        if (!stdin.EndsWith('\n')) stdin += "\n";

        var args = ImmutableArray<string>.Empty;
        if (body.TryGetProperty("args", out var argsElement) && argsElement.ValueKind != JsonValueKind.Null)
        {
            if (argsElement.ValueKind != JsonValueKind.Array || argsElement.EnumerateArray().Any(a => a.ValueKind != JsonValueKind.String))
                return Fail("args must be an array of strings");
            args = [.. argsElement.EnumerateArray().Select(a => a.GetString()!)];
        }

        // The engine's main file is the first; Piston's is the first utf8 file, wherever it stands.
        var ordered = staged.Skip(main).Take(1).Concat(staged.Take(main)).Concat(staged.Skip(main + 1)).ToImmutableArray();
        var runOverrides = Overrides(requested, "run");
        var compileOverrides = Overrides(requested, "compile");
        var request = new ExecutionRequest
        {
            Language = manifest.Name,
            Version = runtime.Version,
            Files = ordered,
            Stdin = System.Text.Encoding.UTF8.GetBytes(stdin),
            Args = args,
            RunLimits = runOverrides,
            CompileLimits = compileOverrides,
        };
        return (new PistonExecution(request, runtime,
            engine.RunLimitsFor(manifest, runOverrides).MemoryBytes,
            engine.CompileLimitsFor(manifest, compileOverrides).MemoryBytes), null);
    }

    /// <summary>
    /// The runtime Piston would pick: the language's name or an alias, matched exactly (Piston compares with
    /// <c>==</c>, so "Python" is unknown), available on this host, and satisfying the version range.
    /// </summary>
    public static async Task<RuntimeInfo?> FindAsync(CordonEngine engine, string language, string version, CancellationToken cancellationToken)
    {
        var manifest = engine.Catalog.Manifests.FirstOrDefault(m =>
            string.Equals(m.Name, language, StringComparison.Ordinal) || m.Aliases.Contains(language, StringComparer.Ordinal));
        if (manifest is null) return null;
        var info = await engine.Catalog.ProbeAsync(manifest, cancellationToken).ConfigureAwait(false);
        return info.Available && RuntimeCatalog.VersionMatches(info.Version!, version) ? info : null;
    }

    /// <summary>The toolchain that provides several languages, as Piston's <c>runtime</c> field names it.</summary>
    public static string? ToolchainOf(RuntimeManifest manifest) => manifest.Name switch
    {
        // Piston's gcc package provides c, c++ and fortran (and d); Cordon's manifests for them all run the GNU
        // Compiler Collection from Debian. No other Cordon runtime shares a toolchain with another.
        "c" or "cpp" or "fortran" => "gcc",
        _ => null,
    };

    /// <summary>
    /// Piston's limit rules: a falsy value (absent, null, false, 0, "") keeps the configured limit; anything else
    /// must be a number, at most the configured limit, and non-negative. -1 for a memory limit means the configured
    /// limit (piston-client sends it by default).
    /// </summary>
    private static string? CheckLimit(JsonElement body, string name, string constraint, long? configured, out long? value)
    {
        value = null;
        if (!body.TryGetProperty(name, out var element) || IsFalsy(element)) return null;
        if (element.ValueKind != JsonValueKind.Number) return $"If specified, {name} must be a number";
        // Past double's range (1e400) there is no sensible limit: it exceeds any configured one.
        var number = element.TryGetDouble(out var parsed) ? parsed
            : element.GetRawText().StartsWith('-') ? double.NegativeInfinity : double.PositiveInfinity;
        if (constraint == "memory_limit" && number == -1) return null;
        if (configured is { } limit && number > limit)
            return $"{name} cannot exceed the configured limit of {limit.ToString(CultureInfo.InvariantCulture)}";
        if (number < 0) return $"{name} must be non-negative";
        // Only reachable when nothing is configured: keep the value representable.
        if (number >= long.MaxValue / 2) return $"{name} is too large";
        value = constraint == "memory_limit" ? (long)Math.Floor(number) : (long)Math.Ceiling(number);
        return null;
    }

    private static long? Configured(JailLimits limits, string constraint) => constraint switch
    {
        "memory_limit" => limits.MemoryBytes,
        "timeout" => limits.WallTime is { } wall ? (long)wall.TotalMilliseconds : null,
        _ => limits.CpuTime is { } cpu ? (long)cpu.TotalMilliseconds : null,
    };

    private static LimitOverrides? Overrides(Dictionary<string, long> requested, string stage)
    {
        long? Get(string constraint) => requested.TryGetValue($"{stage}_{constraint}", out var v) ? v : null;
        var (memory, wall, cpu) = (Get("memory_limit"), Get("timeout"), Get("cpu_time"));
        return memory is null && wall is null && cpu is null ? null : new LimitOverrides { MemoryBytes = memory, WallTimeMs = wall, CpuTimeMs = cpu };
    }

    // Piston's `!file.encoding || file.encoding === 'utf8'`.
    private static bool IsUtf8(JsonElement file) =>
        !file.TryGetProperty("encoding", out var encoding) || IsFalsy(encoding) || encoding.GetStringOrNull() == "utf8";

    private static string? EncodingOf(JsonElement file)
    {
        if (IsUtf8(file)) return "utf8";
        return file.GetProperty("encoding").GetStringOrNull() is "base64" or "hex" ? file.GetProperty("encoding").GetString() : null;
    }

    private static byte[]? Decode(string text, string encoding)
    {
        switch (encoding)
        {
            case "utf8":
                return System.Text.Encoding.UTF8.GetBytes(text);
            case "hex":
                try
                {
                    return Convert.FromHexString(text);
                }
                catch (FormatException)
                {
                    return null;
                }
            default:
                // Node's decoder (Piston's) takes the URL-safe alphabet and missing padding too.
                var normal = new StringBuilder(text.Length + 3).Append(text).Replace('-', '+').Replace('_', '/');
                if (normal.Length % 4 != 0 && !text.Contains('=', StringComparison.Ordinal)) normal.Append('=', 4 - (normal.Length % 4));
                try
                {
                    return Convert.FromBase64String(normal.ToString());
                }
                catch (FormatException)
                {
                    return null;
                }
        }
    }

    // JavaScript truthiness of a JSON value, which Piston's `!value` checks use.
    private static bool IsFalsy(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.False or JsonValueKind.Undefined => true,
        JsonValueKind.Number => element.TryGetDouble(out var number) && number == 0,
        JsonValueKind.String => element.GetString()!.Length == 0,
        _ => false,
    };

    /// <summary>
    /// True when every string and property name decodes: the parser accepts invalid UTF-8 and lone surrogate
    /// escapes inside strings and only reading them fails, which must be a 400 here, not a fault later.
    /// </summary>
    private static bool HasValidText(JsonElement element)
    {
        try
        {
            return Walk(element);
        }
        catch (InvalidOperationException)
        {
            return false;
        }

        static bool Walk(JsonElement element)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    _ = element.GetString();
                    return true;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        if (!Walk(property.Value)) return false;
                    }
                    return true;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                        if (!Walk(item)) return false;
                    return true;
                default:
                    return true;
            }
        }
    }

    private static bool IsNonEmptyString(JsonElement body, string name, out string value)
    {
        value = body.TryGetProperty(name, out var element) ? element.GetStringOrNull() ?? "" : "";
        return value.Length > 0;
    }

    private static string? GetStringOrNull(this JsonElement element) =>
        element.ValueKind == JsonValueKind.String ? element.GetString() : null;

    private static (PistonExecution?, string?) Fail(string message) => (null, message);
}
