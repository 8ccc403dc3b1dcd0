using System.Collections.Immutable;
using System.Globalization;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Cli;

/// <summary>What <c>cordon run</c> was given, as typed (limits still text, so every mistake can be reported at once).</summary>
internal sealed record RunArguments
{
    public ImmutableArray<string> Files { get; init; } = [];
    public string? Language { get; init; }
    public string? Stdin { get; init; }
    public ImmutableArray<string> Args { get; init; } = [];
    public string? Time { get; init; }
    public string? CpuTime { get; init; }
    public string? Memory { get; init; }
    public string? Processes { get; init; }
    public string? Output { get; init; }
    public bool Network { get; init; }
    public bool Json { get; init; }
}

/// <summary>A request ready for the engine, with the manifest it was resolved against.</summary>
internal sealed record RunPlan(ExecutionRequest Request, RuntimeManifest Manifest);

/// <summary>
/// Turns <see cref="RunArguments"/> into an <see cref="ExecutionRequest"/>: reads the files and stdin, picks the
/// language, parses the limits. Every problem found is collected so the user fixes them in one go.
/// </summary>
internal static class RunRequestBuilder
{
    /// <summary>Maps the arguments; on any problem returns null and fills <paramref name="errors"/>.</summary>
    public static RunPlan? Build(RunArguments args, RuntimeCatalog catalog, Func<Stream> stdin, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(catalog);
        var limits = ParseLimits(args, errors);
        var manifest = ResolveLanguage(args, catalog, errors);
        var files = ReadFiles(args.Files, errors);
        var input = ReadStdin(args.Stdin, stdin, errors);
        if (errors.Count > 0 || manifest is null) return null;
        var request = new ExecutionRequest
        {
            Language = manifest.Name,
            Files = files,
            Stdin = input,
            Args = args.Args.IsDefault ? [] : args.Args,
            RunLimits = limits,
            Network = args.Network,
        };
        return new RunPlan(request, manifest);
    }

    /// <summary>The run-stage limit overrides; null when none was given.</summary>
    public static LimitOverrides? ParseLimits(RunArguments args, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(errors);
        long? Milliseconds(string option, string? text)
        {
            if (text is null) return null;
            var ms = Units.ParseMilliseconds(text);
            if (ms is null) errors.Add($"{option} '{text}' is not a duration; give {Units.SecondsHint}");
            else if (ms <= 0) errors.Add($"{option} '{text}' must be at least 1 ms");
            return ms;
        }
        long? Size(string option, string? text)
        {
            if (text is null) return null;
            var bytes = Units.ParseSize(text);
            if (bytes is null) errors.Add($"{option} '{text}' is not a size; give {Units.SizeHint}");
            return bytes;
        }

        var overrides = new LimitOverrides
        {
            WallTimeMs = Milliseconds("--time", args.Time),
            CpuTimeMs = Milliseconds("--cpu-time", args.CpuTime),
            MemoryBytes = Size("--memory", args.Memory),
            OutputBytes = Size("--output", args.Output),
        };
        if (args.Processes is { } text)
        {
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0)
                overrides = overrides with { Processes = n };
            else
                errors.Add($"--processes '{text}' must be a whole number of at least 1 (processes and threads together)");
        }
        return overrides == new LimitOverrides() ? null : overrides;
    }

    private static RuntimeManifest? ResolveLanguage(RunArguments args, RuntimeCatalog catalog, List<string> errors)
    {
        var known = string.Join(", ", catalog.Manifests.Select(m => m.Aliases.IsDefaultOrEmpty ? m.Name : $"{m.Name} ({string.Join(", ", m.Aliases)})"));
        if (args.Language is { } language)
        {
            var manifest = catalog.Find(language);
            if (manifest is null) errors.Add($"unknown language '{Printable(language)}'; known languages: {known}");
            return manifest;
        }
        if (args.Files.IsDefaultOrEmpty) return null;
        var main = args.Files[0];
        var extension = Path.GetExtension(main);
        var byExtension = extension.Length > 0 ? catalog.FindByExtension(extension) : null;
        if (byExtension is null)
        {
            var extensions = string.Join(" ", catalog.Manifests.SelectMany(m => m.Extensions));
            errors.Add(extension.Length == 0
                ? $"cannot tell the language of '{Printable(main)}' (it has no extension); give --language, one of: {known}"
                : $"no runtime runs '{Printable(extension)}' files (known: {extensions}); give --language, one of: {known}");
        }
        return byExtension;
    }

    private static ImmutableArray<ExecutionFile> ReadFiles(ImmutableArray<string> paths, List<string> errors)
    {
        var files = ImmutableArray.CreateBuilder<ExecutionFile>();
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        if (paths.IsDefaultOrEmpty)
        {
            errors.Add("no FILE given; name the main file first, e.g. cordon run hello.py");
            return [];
        }
        long total = 0;
        foreach (var path in paths)
        {
            // The FILE list takes any word the parser did not know, so a mistyped option lands here.
            if (path.StartsWith('-'))
            {
                errors.Add(path == "-"
                    ? "'-' is not a FILE; use --stdin - to pass cordon's stdin to the program"
                    : $"unknown option '{Printable(path)}' (a file whose name starts with '-' is given as ./{Printable(path)})");
                continue;
            }
            if (Directory.Exists(path))
            {
                errors.Add($"'{Printable(path)}' is a directory; name the files in it instead");
                continue;
            }
            var name = JailName(path);
            if (name is null || JailFiles.Problem(name) is not null)
            {
                errors.Add($"'{Printable(path)}' cannot be sent: {(name is null ? "it names no file" : JailFiles.Problem(name))}");
                continue;
            }
            if (names.TryGetValue(name, out var first))
            {
                errors.Add($"'{Printable(path)}' and '{Printable(first)}' would both be sent as '{Printable(name)}'; rename one or give them as relative paths from a common folder");
                continue;
            }
            names[name] = path;
            var content = ReadCapped(path, ExecutionRequest.MaxFileBytes - total, "file", errors);
            if (content is null) continue;
            total += content.Length;
            files.Add(new ExecutionFile(name, content));
        }
        return files.ToImmutable();
    }

    private static ReadOnlyMemory<byte> ReadStdin(string? source, Func<Stream> stdin, List<string> errors)
    {
        if (source is null) return ReadOnlyMemory<byte>.Empty;
        if (source == "-")
        {
            using var stream = stdin();
            var bytes = ReadCapped(stream, MaxStdinBytes, out var over);
            if (!over) return bytes;
            errors.Add($"stdin is larger than {Units.FormatSize(MaxStdinBytes)}; give the program less input");
            return ReadOnlyMemory<byte>.Empty;
        }
        return ReadCapped(source, MaxStdinBytes, "--stdin file", errors) ?? ReadOnlyMemory<byte>.Empty;
    }

    // The jail's default stdin limit; the engine checks the real one, this only stops reading an endless source.
    private static readonly long MaxStdinBytes = JailLimits.Default.StdinBytes;

    /// <summary>
    /// The name a file is sent under. A relative path that stays below the current folder keeps its folders
    /// (<c>sub/mod.py</c>), so imports and includes between the files work as they do here; any other path
    /// (absolute, or climbing with <c>..</c>) is sent under its base name. Null when no file name is left.
    /// </summary>
    public static string? JailName(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var baseName = Path.GetFileName(path.TrimEnd('/'));
        if (path.EndsWith('/') || baseName.Length == 0 || baseName is "." or "..") return null;
        if (Path.IsPathRooted(path)) return baseName;
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(s => s != ".").ToList();
        if (segments.Contains("..")) return baseName;
        return string.Join('/', segments);
    }

    private static byte[]? ReadCapped(string path, long cap, string what, List<string> errors)
    {
        try
        {
            if (Directory.Exists(path))
            {
                errors.Add($"{what} '{Printable(path)}' is a directory");
                return null;
            }
            // Not File.ReadAllBytes: a device or FIFO (/dev/zero, <(cmd)) has no length and may never end.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
            var bytes = ReadCapped(stream, cap, out var over);
            if (!over) return bytes;
            errors.Add($"{what} '{Printable(path)}' is too large: files may hold {Units.FormatSize(ExecutionRequest.MaxFileBytes)} together");
            return null;
        }
        catch (FileNotFoundException)
        {
            errors.Add($"{what} '{Printable(path)}' does not exist");
        }
        catch (DirectoryNotFoundException)
        {
            errors.Add($"{what} '{Printable(path)}' does not exist (no such folder)");
        }
        catch (UnauthorizedAccessException)
        {
            errors.Add($"{what} '{Printable(path)}' cannot be read: permission denied");
        }
        catch (IOException e)
        {
            errors.Add($"{what} '{Printable(path)}' cannot be read: {e.Message}");
        }
        return null;
    }

    private static byte[] ReadCapped(Stream stream, long cap, out bool over)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        over = false;
        while (true)
        {
            var n = stream.Read(chunk, 0, chunk.Length);
            if (n == 0) break;
            if (buffer.Length + n > cap)
            {
                over = true;
                return [];
            }
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary>A user-typed value made safe for a one-line message.</summary>
    public static string Printable(string text) => JailFiles.Printable(text);
}
