using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cordon.Jail;

namespace Cordon.Engine;

/// <summary>A runtime as found on this host: its manifest, the installed version, or why it is unavailable.</summary>
public sealed record RuntimeInfo(RuntimeManifest Manifest, string? Version, string? Problem)
{
    /// <summary>True when the toolchain answered its version probe.</summary>
    public bool Available => Version is not null;

    /// <summary>The runtime's name.</summary>
    public string Name => Manifest.Name;
}

/// <summary>
/// The runtimes declared in the runtimes folder. Versions are probed from the installed toolchains (never written
/// down), once per process and lazily; a runtime whose toolchain is missing is unavailable with a reason and never
/// affects the others.
/// </summary>
public sealed class RuntimeCatalog
{
    /// <summary>The PATH every jail gets unless a manifest says otherwise; version probes search it too.</summary>
    public const string JailPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    internal static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web)
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    private readonly ConcurrentDictionary<string, Lazy<Task<RuntimeInfo>>> _probes = new(StringComparer.Ordinal);

    private RuntimeCatalog(string directory, IReadOnlyList<RuntimeManifest> manifests)
    {
        Directory = directory;
        Manifests = manifests;
    }

    /// <summary>The folder the manifests came from.</summary>
    public string Directory { get; }

    /// <summary>Every manifest, by name.</summary>
    public IReadOnlyList<RuntimeManifest> Manifests { get; }

    /// <summary>Finds the runtimes folder: the given one, $CORDON_RUNTIMES, beside the program, or above it.</summary>
    public static string LocateDirectory(string? configured = null)
    {
        if (!string.IsNullOrEmpty(configured)) return configured;
        if (System.Environment.GetEnvironmentVariable("CORDON_RUNTIMES") is { Length: > 0 } env) return env;
        var beside = Path.Combine(AppContext.BaseDirectory, "runtimes");
        if (System.IO.Directory.Exists(beside)) return beside;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "runtimes");
            if (System.IO.Directory.Exists(candidate) && System.IO.Directory.EnumerateFiles(candidate, "manifest.json", SearchOption.AllDirectories).Any())
                return candidate;
        }
        throw new CordonException(CordonErrorCode.HostUnsupported,
            "No runtimes folder found: set CORDON_RUNTIMES or keep the runtimes folder beside the cordon program.");
    }

    /// <summary>Loads every <c>*/manifest.json</c> under <paramref name="directory"/>; a bad manifest is an error naming it.</summary>
    public static RuntimeCatalog Load(string directory)
    {
        var manifests = new List<RuntimeManifest>();
        var errors = new List<string>();
        foreach (var file in System.IO.Directory.EnumerateFiles(directory, "manifest.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            try
            {
                var manifest = JsonSerializer.Deserialize<RuntimeManifest>(File.ReadAllText(file), ManifestJson)
                    ?? throw new JsonException("empty manifest");
                manifest = manifest with { Directory = Path.GetDirectoryName(file)! };
                var problems = manifest.Validate();
                if (problems.Count > 0) errors.Add($"{file}: {string.Join(", ", problems)}");
                else manifests.Add(manifest);
            }
            catch (JsonException e)
            {
                errors.Add($"{file}: {e.Message}");
            }
        }
        var duplicates = manifests.SelectMany(m => m.Aliases.Prepend(m.Name)).GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0) errors.Add($"names used by more than one runtime: {string.Join(", ", duplicates)}");
        if (errors.Count > 0) throw new CordonException(CordonErrorCode.HostUnsupported, "Runtime manifests are invalid", errors);
        return new RuntimeCatalog(directory, manifests.OrderBy(m => m.Name, StringComparer.Ordinal).ToList());
    }

    /// <summary>The manifest answering to a name or alias (case-insensitive), or null.</summary>
    public RuntimeManifest? Find(string language) =>
        Manifests.FirstOrDefault(m => string.Equals(m.Name, language, StringComparison.OrdinalIgnoreCase)
            || m.Aliases.Any(a => string.Equals(a, language, StringComparison.OrdinalIgnoreCase)));

    /// <summary>The manifest that claims a file extension (<c>.py</c>), or null.</summary>
    public RuntimeManifest? FindByExtension(string extension) =>
        Manifests.FirstOrDefault(m => m.Extensions.Any(e => string.Equals(e, extension, StringComparison.OrdinalIgnoreCase)));

    /// <summary>Probes one runtime (cached for the life of the catalog).</summary>
    public Task<RuntimeInfo> ProbeAsync(RuntimeManifest manifest, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return _probes.GetOrAdd(manifest.Name, _ => new Lazy<Task<RuntimeInfo>>(() => RunProbeAsync(manifest))).Value.WaitAsync(cancellationToken);
    }

    /// <summary>Probes every runtime, concurrently.</summary>
    public async Task<IReadOnlyList<RuntimeInfo>> ProbeAllAsync(CancellationToken cancellationToken = default) =>
        await Task.WhenAll(Manifests.Select(m => ProbeAsync(m, cancellationToken))).ConfigureAwait(false);

    /// <summary>Looks a program up in the jail's PATH on the host, as the jail would.</summary>
    public static string? ResolveProgram(string program)
    {
        if (program.Contains('/', StringComparison.Ordinal)) return File.Exists(program) ? program : null;
        return JailPath.Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
    }

    private static async Task<RuntimeInfo> RunProbeAsync(RuntimeManifest manifest)
    {
        var install = manifest.Install is null ? "" : $"; install it with: {manifest.Install}";
        var program = ResolveProgram(manifest.Version.Command[0]);
        if (program is null)
            return new RuntimeInfo(manifest, null, $"'{manifest.Version.Command[0]}' is not installed{install}");
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = JailPath,
            ["LANG"] = "C.UTF-8",
            ["HOME"] = "/tmp",
        };
        var command = string.Join(' ', manifest.Version.Command);
        var probe = await HostTool.RunAsync(program, manifest.Version.Command.Skip(1), TimeSpan.FromSeconds(20), environment).ConfigureAwait(false);
        if (probe.TimedOut) return new RuntimeInfo(manifest, null, $"'{command}' did not answer within 20 s");
        if (probe.ExitCode is null) return new RuntimeInfo(manifest, null, $"'{program}' could not be started: {probe.Stderr}{install}");
        var match = Regex.Match(probe.Stdout + "\n" + probe.Stderr, manifest.Version.Pattern, RegexOptions.Multiline, TimeSpan.FromSeconds(1));
        if (!match.Success || match.Groups.Count < 2)
            return new RuntimeInfo(manifest, null, $"'{command}' printed no version matching /{manifest.Version.Pattern}/ (exit {probe.ExitCode}){install}");
        return new RuntimeInfo(manifest, match.Groups[1].Value, null);
    }

    /// <summary>
    /// True when <paramref name="version"/> satisfies <paramref name="wanted"/>: null, "" and "*" match anything;
    /// "3", "3.x", "3.11.*" match by leading components; anything else must be equal.
    /// </summary>
    public static bool VersionMatches(string version, string? wanted)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (string.IsNullOrWhiteSpace(wanted) || wanted.Trim() is "*" or "x" or "latest") return true;
        var want = wanted.Trim().TrimStart('v', '=', '^', '~').Split('.');
        var have = version.Split('.');
        for (var i = 0; i < want.Length; i++)
        {
            if (want[i] is "x" or "X" or "*") return true;
            if (i >= have.Length || !string.Equals(want[i], have[i], StringComparison.Ordinal)) return false;
        }
        return true;
    }
}
