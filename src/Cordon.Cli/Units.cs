using System.Globalization;

namespace Cordon.Cli;

/// <summary>Parses and prints the sizes and durations people type on a command line.</summary>
internal static class Units
{
    /// <summary>What a size looks like, for error messages and help.</summary>
    public const string SizeHint = "a number of bytes with an optional binary unit K, M, G or T (1K = 1024; KB, KiB and k mean the same), e.g. 512k, 256M, 64MiB, 1G";

    /// <summary>What a duration looks like, for error messages and help.</summary>
    public const string SecondsHint = "seconds, decimals allowed (0.5, 2, 1.5s) or with ms / m (500ms, 2m)";

    // Sizes are binary throughout: a "256M" memory limit meaning 256,000,000 bytes would surprise nobody less
    // than it would surprise the kernel's cgroup files, which people compare it with.
    private static readonly (string Suffix, long Factor)[] SizeUnits =
    [
        ("kib", 1L << 10), ("kb", 1L << 10), ("k", 1L << 10),
        ("mib", 1L << 20), ("mb", 1L << 20), ("m", 1L << 20),
        ("gib", 1L << 30), ("gb", 1L << 30), ("g", 1L << 30),
        ("tib", 1L << 40), ("tb", 1L << 40), ("t", 1L << 40),
        ("b", 1),
    ];

    /// <summary>Parses <c>1048576</c>, <c>512k</c>, <c>256M</c>, <c>64MiB</c>, <c>1.5G</c> into bytes; null when malformed.</summary>
    public static long? ParseSize(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var s = text.Trim();
        var end = 0;
        while (end < s.Length && (char.IsAsciiDigit(s[end]) || s[end] == '.')) end++;
        if (end == 0) return null;
        var unit = s[end..].TrimStart().ToLowerInvariant();
        long factor = 1;
        if (unit.Length > 0)
        {
            var match = SizeUnits.FirstOrDefault(u => u.Suffix == unit);
            if (match.Suffix is null) return null;
            factor = match.Factor;
        }
        if (!decimal.TryParse(s.AsSpan(0, end), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)) return null;
        var bytes = number * factor;
        if (bytes > long.MaxValue) return null;
        // A fraction of a byte cannot be allocated; "1.5k" is 1536 and "0.3k" rounds down to 307.
        return (long)decimal.Floor(bytes);
    }

    /// <summary>Parses seconds (<c>2</c>, <c>0.5</c>, <c>1.5s</c>), milliseconds (<c>500ms</c>) or minutes (<c>2m</c>) into whole milliseconds; null when malformed.</summary>
    public static long? ParseMilliseconds(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var s = text.Trim();
        var end = 0;
        while (end < s.Length && (char.IsAsciiDigit(s[end]) || s[end] == '.')) end++;
        if (end == 0) return null;
        decimal factor = s[end..].TrimStart().ToLowerInvariant() switch
        {
            "" or "s" or "sec" => 1000,
            "ms" => 1,
            "m" or "min" => 60_000,
            _ => 0,
        };
        if (factor == 0) return null;
        if (!decimal.TryParse(s.AsSpan(0, end), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)) return null;
        var ms = decimal.Round(number * factor, MidpointRounding.AwayFromZero);
        // Beyond a day is surely a typo, and it keeps TimeSpan arithmetic far from overflow.
        return ms > 86_400_000 ? null : (long)ms;
    }

    /// <summary>Prints bytes the way people type them back: <c>256 MiB</c>, <c>1.5 GiB</c>, <c>1000 bytes</c>.</summary>
    public static string FormatSize(long bytes)
    {
        foreach (var (unit, factor) in new[] { ("TiB", 1L << 40), ("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10) })
        {
            if (bytes >= factor && bytes % (factor / 1024 == 0 ? 1 : factor / 1024) == 0)
                return ((decimal)bytes / factor).ToString("0.###", CultureInfo.InvariantCulture) + " " + unit;
        }
        return bytes.ToString(CultureInfo.InvariantCulture) + (bytes == 1 ? " byte" : " bytes");
    }

    /// <summary>Prints a duration in seconds: <c>2 s</c>, <c>0.5 s</c>.</summary>
    public static string FormatSeconds(TimeSpan time) =>
        time.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
