using System.Collections.Immutable;

namespace Cordon.Jail;

/// <summary>Which way an extra pipe carries data, seen from inside the jail.</summary>
public enum JailPipeDirection
{
    /// <summary>The jail reads; the host writes.</summary>
    IntoJail,
    /// <summary>The jail writes; the host reads.</summary>
    OutOfJail,
}

/// <summary>A host path bound read-only at <paramref name="Target"/> inside the jail.</summary>
public sealed record JailBind(string Source, string Target);

/// <summary>
/// Everything a jail is made from. Immutable; <see cref="Validate"/> reports every problem at once.
/// </summary>
public sealed record JailSpec
{
    /// <summary>Program and arguments, run inside the jail (resolved through the jail's PATH).</summary>
    public required ImmutableArray<string> Argv { get; init; }

    /// <summary>The whole environment of the program; nothing of the host's is added.</summary>
    public ImmutableDictionary<string, string> Environment { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>Host paths bound read-only at the same place inside; missing ones are skipped.</summary>
    public ImmutableArray<string> ReadOnlyPaths { get; init; } = [];

    /// <summary>Host paths bound read-only at another place inside (Cordon's own launchers, for example); each must exist.</summary>
    public ImmutableArray<JailBind> ReadOnlyBinds { get; init; } = [];

    /// <summary>Where the writable work directory appears inside the jail; the program starts there.</summary>
    public string WorkDir { get; init; } = "/work";

    /// <summary>Resource limits.</summary>
    public JailLimits Limits { get; init; } = JailLimits.Default;

    /// <summary>Network off (the default) means a private network namespace and no inet, netlink or packet sockets.</summary>
    public bool Network { get; init; }

    /// <summary>Bytes fed to the program's stdin by <see cref="Jail.RunAsync(CancellationToken)"/>; null for an empty stdin.</summary>
    public ReadOnlyMemory<byte>? Stdin { get; init; }

    /// <summary>Extra pipes, inherited by the program as descriptors 3, 4, ... in this order.</summary>
    public ImmutableArray<JailPipeDirection> ExtraPipes { get; init; } = [];

    /// <summary>
    /// True (the default) when stdout and stderr are captured for <see cref="Jail.RunAsync(CancellationToken)"/>, drained
    /// from the moment the jail starts; false leaves <see cref="Jail.Stdout"/> and <see cref="Jail.Stderr"/> to the caller
    /// (a long-lived jail that speaks a protocol on them).
    /// </summary>
    public bool CaptureOutput { get; init; } = true;

    /// <summary>A label for logs (for example the execution id); never shown to the program.</summary>
    public string? Label { get; init; }

    /// <summary>Returns every problem with this spec; empty when it can be launched.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Argv.IsDefaultOrEmpty) errors.Add("argv must name a program");
        else if (Argv.Any(a => a is null || a.Contains('\0', StringComparison.Ordinal))) errors.Add("argv entries must not contain NUL");
        foreach (var (key, value) in Environment)
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal) || key.Contains('\0', StringComparison.Ordinal))
                errors.Add($"environment name '{key}' is invalid");
            if (value.Contains('\0', StringComparison.Ordinal)) errors.Add($"environment value of '{key}' must not contain NUL");
        }
        foreach (var path in ReadOnlyPaths.IsDefault ? [] : ReadOnlyPaths)
        {
            if (!Path.IsPathFullyQualified(path) || path.Contains('\0', StringComparison.Ordinal) || path.Split('/').Contains(".."))
                errors.Add($"read-only path '{path}' must be absolute without '..'");
        }
        foreach (var bind in ReadOnlyBinds.IsDefault ? [] : ReadOnlyBinds)
        {
            if (!Path.IsPathFullyQualified(bind.Source) || !Path.IsPathFullyQualified(bind.Target) || bind.Source.Split('/').Contains("..") || bind.Target.Split('/').Contains(".."))
                errors.Add($"bind '{bind.Source}' -> '{bind.Target}' must join two absolute paths without '..'");
            else if (IsReserved(bind.Target) && !bind.Target.StartsWith("/usr/", StringComparison.Ordinal))
                errors.Add($"bind target '{bind.Target}' must be outside /etc, /proc, /dev and /tmp");
        }
        if (!WorkDir.StartsWith('/') || WorkDir == "/" || WorkDir.Split('/').Contains("..") || IsReserved(WorkDir))
            errors.Add($"work directory '{WorkDir}' must be an absolute path outside /usr, /etc, /proc, /dev and /tmp");
        errors.AddRange(Limits.Validate());
        if (Stdin is { } stdin && stdin.Length > Limits.StdinBytes)
            errors.Add($"stdin is {stdin.Length} bytes; the limit is {Limits.StdinBytes}");
        if (!ExtraPipes.IsDefault && ExtraPipes.Length > 8) errors.Add("at most 8 extra pipes");
        return errors;
    }

    private static bool IsReserved(string path) =>
        new[] { "/usr", "/etc", "/proc", "/dev", "/tmp", "/bin", "/lib", "/lib64", "/sbin" }
            .Any(r => path == r || path.StartsWith(r + "/", StringComparison.Ordinal));
}
