namespace Cordon.Jail;

/// <summary>Where and how a <see cref="JailHost"/> keeps its jails. The defaults suit a root server on Debian.</summary>
public sealed record JailHostOptions
{
    /// <summary>Runtime state: instance locks, uid locks, jail work directories (a tmpfs such as /run is best).</summary>
    public string StateDirectory { get; init; } = "/run/cordon";

    /// <summary>Name of Cordon's cgroup under each hierarchy's root.</summary>
    public string CgroupName { get; init; } = "cordon";

    /// <summary>Where the cgroup hierarchies are mounted.</summary>
    public string CgroupMountRoot { get; init; } = "/sys/fs/cgroup";

    /// <summary>First unprivileged host uid (and gid) handed to jails.</summary>
    public uint FirstUid { get; init; } = 1_900_000;

    /// <summary>How many uids jails may use; also the most jails alive at once on this host.</summary>
    public int UidCount { get; init; } = 4096;

    /// <summary>The uid and gid the program sees inside its jail.</summary>
    public uint InsideUid { get; init; } = 1000;

    /// <summary>Path of bubblewrap.</summary>
    public string BwrapPath { get; init; } = "/usr/bin/bwrap";

    /// <summary>Path of util-linux setpriv, which drops to the jail's uid before bubblewrap starts.</summary>
    public string SetprivPath { get; init; } = "/usr/bin/setpriv";

    /// <summary>Path of util-linux prlimit, which sets a jail's rlimits before anything else runs.</summary>
    public string PrlimitPath { get; init; } = "/usr/bin/prlimit";

    /// <summary>Clock for limits and timings; tests can replace it.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>How often a running jail's CPU time is checked against its limit.</summary>
    public TimeSpan CpuPollInterval { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Returns every problem with these options.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Path.IsPathFullyQualified(StateDirectory)) errors.Add("state directory must be an absolute path");
        if (string.IsNullOrWhiteSpace(CgroupName) || CgroupName.Contains('/', StringComparison.Ordinal)) errors.Add("cgroup name must be one path segment");
        if (FirstUid < 1000) errors.Add("first uid must be at least 1000 (never a system account)");
        if (UidCount < 1) errors.Add("uid count must be at least 1");
        if ((ulong)FirstUid + (ulong)UidCount >= uint.MaxValue) errors.Add("the uid range must end below 4294967295");
        return errors;
    }
}
