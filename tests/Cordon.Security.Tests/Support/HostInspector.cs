using System.Globalization;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>
/// Looks at the host from outside the jails: which processes run as jail uids, which cgroups and directories of an
/// instance exist. This is the ground truth the "leaves nothing" assertions check against.
/// </summary>
public static class HostInspector
{
    /// <summary>
    /// Warm pools by instance id: their idle jails are alive on purpose, waiting for a request, and are not
    /// leftovers of any run (the fixture registers its engine's pool here).
    /// </summary>
    public static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Cordon.Engine.WarmPool> Pools = new(StringComparer.Ordinal);

    /// <summary>One process seen in /proc.</summary>
    public sealed record HostProcess(int Pid, uint Uid, string State, string Command, string Cgroups)
    {
        public override string ToString() => $"pid {Pid} uid {Uid} state {State} '{Command}' cgroups [{Cgroups}]";
    }

    /// <summary>Every process on the host whose real, effective, saved or fs uid is in the host's jail uid range.</summary>
    public static List<HostProcess> ProcessesInUidRange(JailHostOptions options)
    {
        var first = options.FirstUid;
        var end = (ulong)options.FirstUid + (ulong)options.UidCount;
        var found = new List<HostProcess>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (ReadStatus(pid) is not { } status) continue;
            var uids = status.Uids.Where(u => u >= first && u < end).ToList();
            if (uids.Count == 0) continue;
            found.Add(new HostProcess(pid, uids[0], status.State, status.Name, ReadOr($"/proc/{pid}/cgroup", "").Replace('\n', ' ').Trim()));
        }
        return found;
    }

    /// <summary>The uids (real, effective, saved, fs), state and name of a process, or null if it is gone.</summary>
    public static (uint[] Uids, string State, string Name)? ReadStatus(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/status");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        uint[] uids = [];
        string state = "?", name = "?";
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
                uids = line[4..].Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries).Select(s => uint.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            else if (line.StartsWith("State:", StringComparison.Ordinal)) state = line[6..].Trim();
            else if (line.StartsWith("Name:", StringComparison.Ordinal)) name = line[5..].Trim();
        }
        return (uids, state, name);
    }

    /// <summary>
    /// Processes in the jail uid range that could belong to <paramref name="host"/>: everything except processes
    /// that sit in another Cordon instance's cgroup (other Cordon processes on this machine, such as other test
    /// runs, use the same uid range; a process cannot leave its cgroup, so this exclusion cannot hide ours).
    /// </summary>
    public static List<HostProcess> ProcessesOf(JailHost host)
    {
        var marker = "/" + host.Options.CgroupName + "/";
        var ours = marker + host.InstanceId + "/";
        return ProcessesInUidRange(host.Options)
            .Where(p => !p.Cgroups.Contains(marker, StringComparison.Ordinal) || p.Cgroups.Contains(ours, StringComparison.Ordinal))
            .ToList();
    }

    /// <summary>The pids in a live jail's cgroup, read from the host.</summary>
    public static List<int> PidsOfJail(JailHost host, Jail.Jail jail)
    {
        var root = host.Cgroups.UnifiedRoot ?? host.Cgroups.MemoryRoot!;
        var file = Path.Combine(root, host.Options.CgroupName, host.InstanceId, jail.Id, "cgroup.procs");
        return File.ReadAllLines(file).Where(l => l.Length > 0).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToList();
    }

    /// <summary>The jail cgroups of an instance that exist now, in every hierarchy.</summary>
    public static List<string> JailCgroupsOf(JailHost host) =>
        host.Cgroups.Roots()
            .Select(root => Path.Combine(root, host.Options.CgroupName, host.InstanceId))
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateDirectories)
            .ToList();

    /// <summary>The jail directories of an instance that exist now (/run/cordon/instances/ID/jails/*).</summary>
    public static List<string> JailDirectoriesOf(JailHost host)
    {
        var jails = Path.Combine(host.InstanceDirectory, "jails");
        return Directory.Exists(jails) ? Directory.EnumerateFileSystemEntries(jails).ToList() : [];
    }

    /// <summary>Mounts of the host below the instance's directory (the jails' work tmpfs).</summary>
    public static List<string> MountsOf(JailHost host) =>
        File.ReadAllLines("/proc/self/mounts")
            .Where(l => l.Split(' ') is { Length: > 1 } f && f[1].StartsWith(host.InstanceDirectory + "/", StringComparison.Ordinal))
            .ToList();

    /// <summary>
    /// Asserts that nothing of any jail of <paramref name="host"/> is left: no process of a jail uid (zombies
    /// included), no jail cgroup, no jail directory, no work mount, no live jail. The kernel may take a moment to
    /// remove a process that was just reaped, so this polls for up to <paramref name="patience"/>.
    /// </summary>
    public static async Task AssertNothingLeftAsync(JailHost host, TimeSpan? patience = null)
    {
        var deadline = DateTime.UtcNow + (patience ?? TimeSpan.FromSeconds(2));
        while (true)
        {
            var idle = Pools.TryGetValue(host.InstanceId, out var pool) ? pool.IdleJailIds : [];
            bool Idle(string text) => idle.Any(id => text.Contains(id, StringComparison.Ordinal));
            var processes = ProcessesOf(host).Where(p => !Idle(p.Cgroups)).ToList();
            var cgroups = JailCgroupsOf(host).Where(c => !Idle(c)).ToList();
            var directories = JailDirectoriesOf(host).Where(d => !Idle(d)).ToList();
            var mounts = MountsOf(host).Where(m => !Idle(m)).ToList();
            var live = host.LiveJails - idle.Count;
            if (processes.Count + cgroups.Count + directories.Count + mounts.Count + live == 0) return;
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("Jails left something behind:\n" +
                    $"processes: {string.Join("; ", processes)}\n" +
                    $"cgroups: {string.Join("; ", cgroups)}\n" +
                    $"directories: {string.Join("; ", directories)}\n" +
                    $"mounts: {string.Join("; ", mounts)}\n" +
                    $"live jails: {live}");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>The host uid a jail's tmpfs was created by, as the jail itself reports it from /proc/self/mountinfo.</summary>
    public static uint? HostUidFromMountinfoLine(string line)
    {
        var at = line.IndexOf("uid=", StringComparison.Ordinal);
        if (at < 0) return null;
        var digits = new string(line[(at + 4)..].TakeWhile(char.IsAsciiDigit).ToArray());
        return uint.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var uid) ? uid : null;
    }

    private static string ReadOr(string path, string fallback)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return fallback;
        }
    }
}
