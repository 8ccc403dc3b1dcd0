namespace Cordon.Jail;

/// <summary>
/// Resource limits for one jail. Every limit holds for the whole process tree (cgroups and cgroup CPU accounting),
/// except <see cref="FileSizeBytes"/>, <see cref="OpenFiles"/> and <see cref="StackBytes"/>, which are rlimits.
/// </summary>
public sealed record JailLimits
{
    /// <summary>The defaults used when a request sets nothing.</summary>
    public static JailLimits Default { get; } = new();

    /// <summary>Wall-clock time from the start of user code; null for no limit (long-lived jails).</summary>
    public TimeSpan? WallTime { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Total CPU time of every process in the jail; null for no limit.</summary>
    public TimeSpan? CpuTime { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Memory of the whole tree (cgroup), tmpfs pages written by the jail included.</summary>
    public long MemoryBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Processes and threads together (pids cgroup).</summary>
    public int Processes { get; init; } = 64;

    /// <summary>CPU bandwidth in cores (cgroup quota); null for no quota.</summary>
    public double? CpuCores { get; init; }

    /// <summary>Bytes kept of each of stdout and stderr; more kills the jail with <see cref="Verdict.OutputLimit"/>.</summary>
    public long OutputBytes { get; init; } = 1024 * 1024;

    /// <summary>Largest single file a process may write (RLIMIT_FSIZE).</summary>
    public long FileSizeBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Open descriptors per process (RLIMIT_NOFILE).</summary>
    public int OpenFiles { get; init; } = 256;

    /// <summary>Stack size per process (RLIMIT_STACK).</summary>
    public long StackBytes { get; init; } = 8L * 1024 * 1024;

    /// <summary>Size of the writable work directory (tmpfs).</summary>
    public long WorkDirBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Size of the writable /tmp and /dev/shm (each a tmpfs).</summary>
    public long TmpBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Most stdin bytes a run may be given.</summary>
    public long StdinBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>Returns every problem with these limits; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (WallTime is { } wall && wall <= TimeSpan.Zero) errors.Add("wall time must be positive");
        if (CpuTime is { } cpu && cpu <= TimeSpan.Zero) errors.Add("CPU time must be positive");
        if (MemoryBytes < 4 * 1024 * 1024) errors.Add("memory must be at least 4 MiB");
        if (Processes < 1) errors.Add("processes must be at least 1");
        if (CpuCores is { } cores && (cores <= 0 || double.IsNaN(cores))) errors.Add("CPU cores must be positive");
        if (OutputBytes < 0) errors.Add("output size must not be negative");
        if (FileSizeBytes < 0) errors.Add("file size must not be negative");
        if (OpenFiles < 8) errors.Add("open files must be at least 8");
        if (StackBytes < 64 * 1024) errors.Add("stack must be at least 64 KiB");
        if (WorkDirBytes < 64 * 1024) errors.Add("work directory size must be at least 64 KiB");
        if (TmpBytes < 64 * 1024) errors.Add("/tmp size must be at least 64 KiB");
        if (StdinBytes < 0) errors.Add("stdin size must not be negative");
        return errors;
    }
}
