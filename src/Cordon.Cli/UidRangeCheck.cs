using System.Globalization;

namespace Cordon.Cli;

/// <summary>
/// Checks that the host uids handed to jails belong to nobody else: a jail running as an account's uid could
/// signal that account's processes or use up its per-uid quotas, and a subordinate-id range that overlaps could
/// map a rootless container's users onto a jail's.
/// </summary>
internal static class UidRangeCheck
{
    /// <summary>Runs the checks against <c>passwd</c>, <c>group</c>, <c>subuid</c> and <c>subgid</c> in <paramref name="etc"/>.</summary>
    public static IReadOnlyList<CheckResult> Run(uint firstUid, int count, string etc)
    {
        var last = (ulong)firstUid + (ulong)count - 1;
        var range = $"{firstUid}-{last}";
        var problems = new List<string>();
        foreach (var (file, kind) in new[] { ("passwd", "user"), ("group", "group") })
        {
            var clashes = ReadIds(Path.Combine(etc, file), 2)
                .Where(e => e.Id >= firstUid && e.Id <= last)
                .Select(e => $"{kind} {e.Name} ({e.Id})")
                .ToList();
            if (clashes.Count > 0) problems.Add($"{string.Join(", ", clashes)} in /etc/{file}");
        }
        foreach (var file in new[] { "subuid", "subgid" })
        {
            foreach (var (name, start, length) in ReadRanges(Path.Combine(etc, file)))
            {
                if (length == 0) continue;
                var end = start + length - 1;
                if (start <= last && end >= firstUid) problems.Add($"{name}'s range {start}-{end} in /etc/{file}");
            }
        }
        return problems.Count == 0
            ? [CheckResult.Ok($"jail uid range {range} is used by no account and no subordinate id range")]
            : [CheckResult.Fail($"jail uid range {range} overlaps {string.Join("; ", problems)}",
                "move those ids out of the range, or give Cordon another range (JailHostOptions.FirstUid and UidCount)")];
    }

    private static IEnumerable<(string Name, ulong Id)> ReadIds(string path, int field)
    {
        foreach (var parts in ReadFields(path))
        {
            if (parts.Length > field && ulong.TryParse(parts[field], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                yield return (parts[0], id);
        }
    }

    private static IEnumerable<(string Name, ulong Start, ulong Count)> ReadRanges(string path)
    {
        foreach (var parts in ReadFields(path))
        {
            if (parts.Length >= 3
                && ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                && ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var length))
                yield return (parts[0], start, length);
        }
    }

    private static IEnumerable<string[]> ReadFields(string path)
    {
        // A missing file (no subuid on many hosts) has nothing that could overlap.
        if (!File.Exists(path)) return [];
        return File.ReadLines(path)
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(':'))
            .ToList();
    }
}
