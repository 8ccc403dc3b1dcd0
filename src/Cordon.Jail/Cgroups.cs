using System.Globalization;

namespace Cordon.Jail;

/// <summary>Which cgroup hierarchy the host offers.</summary>
public enum CgroupVersion
{
    /// <summary>Legacy per-controller hierarchies (possibly with a controller-less cgroup2 mount beside them).</summary>
    V1 = 1,
    /// <summary>The unified hierarchy with every controller.</summary>
    V2 = 2,
}

/// <summary>
/// The cgroup hierarchies found on this host, detected once at start. On v1 every controller Cordon uses has its
/// own mount; a cgroup2 mount beside them (hybrid), when present, is used for <c>cgroup.kill</c>.
/// </summary>
public sealed record CgroupLayout(CgroupVersion Version, string? MemoryRoot, string? PidsRoot, string? CpuRoot,
    string? CpuAcctRoot, string? FreezerRoot, string? UnifiedRoot)
{
    /// <summary>Controllers Cordon needs, for diagnostics.</summary>
    public static readonly string[] RequiredControllers = ["memory", "pids", "cpu"];

    /// <summary>Detects the layout under <paramref name="mountRoot"/> (normally /sys/fs/cgroup).</summary>
    public static CgroupLayout Detect(string mountRoot = "/sys/fs/cgroup")
    {
        if (File.Exists(Path.Combine(mountRoot, "cgroup.controllers")))
            return new CgroupLayout(CgroupVersion.V2, mountRoot, mountRoot, mountRoot, mountRoot, null, mountRoot);

        string? V1(string name)
        {
            var path = Path.Combine(mountRoot, name);
            return File.Exists(Path.Combine(path, "cgroup.procs")) ? path : null;
        }

        // A hybrid host's cgroup2 mount has no controllers, but its child cgroups offer cgroup.kill (the root
        // itself never has that file, so look for the mount, not the file).
        var unified = Path.Combine(mountRoot, "unified");
        return new CgroupLayout(CgroupVersion.V1, V1("memory"), V1("pids"), V1("cpu"), V1("cpuacct"), V1("freezer"),
            File.Exists(Path.Combine(unified, "cgroup.controllers")) ? unified : null);
    }

    /// <summary>The controllers that are missing; empty when Cordon can run.</summary>
    public IReadOnlyList<string> Missing()
    {
        var missing = new List<string>();
        if (MemoryRoot is null) missing.Add("memory");
        if (PidsRoot is null) missing.Add("pids");
        if (CpuRoot is null) missing.Add("cpu");
        if (CpuAcctRoot is null) missing.Add("cpuacct");
        if (Version == CgroupVersion.V2)
        {
            var available = ReadControllers(Path.Combine(MemoryRoot!, "cgroup.controllers"));
            missing.AddRange(RequiredControllers.Where(c => !available.Contains(c)));
        }
        else if (FreezerRoot is null && UnifiedRoot is null)
        {
            missing.Add("freezer (or a cgroup2 mount with cgroup.kill)");
        }
        return missing;
    }

    /// <summary>Every distinct hierarchy root Cordon writes to.</summary>
    public IEnumerable<string> Roots() =>
        new[] { MemoryRoot, PidsRoot, CpuRoot, CpuAcctRoot, FreezerRoot, UnifiedRoot }
            .OfType<string>().Distinct(StringComparer.Ordinal);

    internal static HashSet<string> ReadControllers(string file) =>
        File.Exists(file)
            ? File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal)
            : [];
}

/// <summary>
/// One jail's cgroup in every hierarchy: created before the jail's program runs, removed after every process in it
/// is dead. All writes are plain files under /sys/fs/cgroup.
/// </summary>
internal sealed class JailCgroup
{
    private readonly CgroupLayout _layout;
    private readonly string _relative;

    private JailCgroup(CgroupLayout layout, string relative)
    {
        _layout = layout;
        _relative = relative;
    }

    public string RelativePath => _relative;

    /// <summary>Creates the cgroup <c>{root}/{relative}</c> in every hierarchy and applies the limits.</summary>
    public static JailCgroup Create(CgroupLayout layout, string relative, JailLimits limits)
    {
        var cgroup = new JailCgroup(layout, relative);
        try
        {
            if (layout.Version == CgroupVersion.V2) EnableControllers(layout.MemoryRoot!, relative);
            foreach (var dir in cgroup.Directories()) Directory.CreateDirectory(dir);
            cgroup.Apply(limits);
            return cgroup;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            cgroup.TryRemove();
            throw new CordonException(CordonErrorCode.CgroupFailed,
                $"Could not create cgroup '{relative}': {e.Message}. Run Cordon as root or give it a delegated cgroup subtree; `cordon doctor` checks this.", e);
        }
    }

    private static void EnableControllers(string root, string relative)
    {
        // v2 only distributes a controller to children of a cgroup that lists it in cgroup.subtree_control.
        var parts = relative.Split('/');
        var current = root;
        for (var i = 0; i < parts.Length - 1; i++)
        {
            current = Path.Combine(current, parts[i]);
            Directory.CreateDirectory(current);
            var enabled = CgroupLayout.ReadControllers(Path.Combine(current, "cgroup.subtree_control"));
            if (CgroupLayout.RequiredControllers.All(enabled.Contains)) continue;
            File.WriteAllText(Path.Combine(current, "cgroup.subtree_control"), "+memory +pids +cpu");
        }
    }

    private IEnumerable<string> Directories() => _layout.Roots().Select(r => Path.Combine(r, _relative));

    private string At(string? root, string file) => Path.Combine(root!, _relative, file);

    private JailLimits? _applied;

    private void Apply(JailLimits limits)
    {
        _applied = limits;
        var memory = limits.MemoryBytes.ToString(CultureInfo.InvariantCulture);
        var pids = limits.Processes.ToString(CultureInfo.InvariantCulture);
        const int period = 100_000;
        var quota = limits.CpuCores is { } cores ? ((long)Math.Max(1000, cores * period)).ToString(CultureInfo.InvariantCulture) : null;
        if (_layout.Version == CgroupVersion.V2)
        {
            Write(At(_layout.MemoryRoot, "memory.max"), memory);
            TryWrite(At(_layout.MemoryRoot, "memory.swap.max"), "0");
            Write(At(_layout.PidsRoot, "pids.max"), pids);
            if (quota is not null) Write(At(_layout.CpuRoot, "cpu.max"), $"{quota} {period}");
        }
        else
        {
            Write(At(_layout.MemoryRoot, "memory.limit_in_bytes"), memory);
            // Present only with swap accounting; without it there is no swap to limit.
            TryWrite(At(_layout.MemoryRoot, "memory.memsw.limit_in_bytes"), memory);
            Write(At(_layout.PidsRoot, "pids.max"), pids);
            if (quota is not null)
            {
                Write(At(_layout.CpuRoot, "cpu.cfs_period_us"), period.ToString(CultureInfo.InvariantCulture));
                Write(At(_layout.CpuRoot, "cpu.cfs_quota_us"), quota);
            }
        }
    }

    /// <summary>Changes memory, process and CPU limits of a live cgroup; false when the kernel refuses.</summary>
    public bool TryUpdate(JailLimits limits)
    {
        if (_applied is { } applied && applied.MemoryBytes == limits.MemoryBytes && applied.Processes == limits.Processes && applied.CpuCores == limits.CpuCores)
            return true;
        try
        {
            Apply(limits);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Starts peak-memory accounting afresh (v1 resets on write; v2's reset is per reader, so it is left alone).</summary>
    public void ResetPeakMemory()
    {
        if (_layout.Version == CgroupVersion.V1) TryWrite(At(_layout.MemoryRoot, "memory.max_usage_in_bytes"), "0");
    }

    /// <summary>Moves a process (and all its threads) into the cgroup in every hierarchy.</summary>
    public void Attach(int pid)
    {
        var text = pid.ToString(CultureInfo.InvariantCulture);
        try
        {
            foreach (var dir in Directories()) File.WriteAllText(Path.Combine(dir, "cgroup.procs"), text);
        }
        catch (IOException e)
        {
            throw new CordonException(CordonErrorCode.CgroupFailed, $"Could not move pid {pid} into cgroup '{_relative}': {e.Message}", e);
        }
    }

    /// <summary>Total CPU time of every process that ever ran in the cgroup.</summary>
    public TimeSpan CpuTime()
    {
        if (_layout.Version == CgroupVersion.V2)
        {
            var usec = ReadKeyed(At(_layout.CpuAcctRoot, "cpu.stat"), "usage_usec");
            return TimeSpan.FromMicroseconds(usec);
        }
        var ns = ReadNumber(At(_layout.CpuAcctRoot, "cpuacct.usage"));
        return TimeSpan.FromTicks(ns / 100);
    }

    /// <summary>The highest memory use seen, in bytes.</summary>
    public long PeakMemory() =>
        _layout.Version == CgroupVersion.V2
            ? (File.Exists(At(_layout.MemoryRoot, "memory.peak")) ? ReadNumber(At(_layout.MemoryRoot, "memory.peak")) : ReadNumber(At(_layout.MemoryRoot, "memory.current")))
            : ReadNumber(At(_layout.MemoryRoot, "memory.max_usage_in_bytes"));

    /// <summary>The memory in use now, in bytes.</summary>
    public long CurrentMemory() =>
        ReadNumber(At(_layout.MemoryRoot, _layout.Version == CgroupVersion.V2 ? "memory.current" : "memory.usage_in_bytes"));

    /// <summary>How many processes the kernel's OOM killer killed in this cgroup.</summary>
    public long OomKills() =>
        _layout.Version == CgroupVersion.V2
            ? ReadKeyed(At(_layout.MemoryRoot, "memory.events"), "oom_kill")
            : ReadKeyed(At(_layout.MemoryRoot, "memory.oom_control"), "oom_kill");

    /// <summary>The pids in the cgroup now.</summary>
    public List<int> Pids()
    {
        var file = At(_layout.UnifiedRoot ?? _layout.MemoryRoot, "cgroup.procs");
        try
        {
            return File.ReadAllLines(file)
                .Where(l => l.Length > 0)
                .Select(l => int.Parse(l, CultureInfo.InvariantCulture))
                .ToList();
        }
        catch (Exception e) when (e is DirectoryNotFoundException or FileNotFoundException)
        {
            return [];
        }
    }

    /// <summary>Kills every process in the cgroup, daemons and setsid children included, and waits until it is empty.</summary>
    public async Task KillAllAsync(CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            if (Pids().Count == 0) return;
            if (attempt % 20 == 0) SendKill();
            await Task.Delay(attempt < 20 ? 1 : 10, cancellationToken).ConfigureAwait(false);
        }
        throw new CordonException(CordonErrorCode.CgroupFailed,
            $"Processes in cgroup '{_relative}' survived SIGKILL for 2 s: {string.Join(", ", Pids())}");
    }

    private void SendKill()
    {
        if (_layout.UnifiedRoot is not null && File.Exists(At(_layout.UnifiedRoot, "cgroup.kill")))
        {
            TryWrite(At(_layout.UnifiedRoot, "cgroup.kill"), "1");
            return;
        }
        // No cgroup.kill: freeze so nothing can fork while we kill, then thaw so the kills are delivered.
        var freezer = _layout.FreezerRoot is null ? null : At(_layout.FreezerRoot, "freezer.state");
        if (freezer is not null) TryWrite(freezer, "FROZEN");
        foreach (var pid in Pids()) Interop.Libc.Kill(pid, Interop.Libc.SIGKILL);
        if (freezer is not null) TryWrite(freezer, "THAWED");
    }

    /// <summary>Removes the cgroup from every hierarchy; false if something is still in it.</summary>
    public bool TryRemove()
    {
        var ok = true;
        foreach (var dir in Directories())
        {
            if (!Directory.Exists(dir)) continue;
            var removed = false;
            for (var i = 0; i < 50 && !removed; i++)
            {
                try
                {
                    Directory.Delete(dir);
                    removed = true;
                }
                catch (IOException) when (i < 49)
                {
                    // The kernel frees a cgroup a moment after its last task exits.
                    Thread.Sleep(2);
                }
                catch (IOException)
                {
                    ok = false;
                }
            }
        }
        return ok;
    }

    /// <summary>Opens an existing jail cgroup (for the janitor).</summary>
    public static JailCgroup Open(CgroupLayout layout, string relative) => new(layout, relative);

    private static void Write(string file, string value)
    {
        File.WriteAllText(file, value);
    }

    private static void TryWrite(string file, string value)
    {
        try
        {
            File.WriteAllText(file, value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Optional knob (absent on this kernel or configuration).
        }
    }

    private static long ReadNumber(string file)
    {
        try
        {
            var text = File.ReadAllText(file).Trim();
            return text == "max" ? long.MaxValue : long.Parse(text, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            return 0;
        }
    }

    private static long ReadKeyed(string file, string key)
    {
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                var space = line.IndexOf(' ', StringComparison.Ordinal);
                if (space > 0 && line.AsSpan(0, space).SequenceEqual(key))
                    return long.Parse(line.AsSpan(space + 1), CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            // A cgroup already gone reads as zero.
        }
        return 0;
    }
}
