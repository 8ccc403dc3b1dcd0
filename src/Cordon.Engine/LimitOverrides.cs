using Cordon.Jail;

namespace Cordon.Engine;

/// <summary>
/// Limits a manifest or a request sets on top of the defaults; null fields keep what is below. Used for both the
/// JSON in runtime manifests and requests from every front end.
/// </summary>
public sealed record LimitOverrides
{
    /// <summary>Wall time in milliseconds.</summary>
    public long? WallTimeMs { get; init; }

    /// <summary>Total CPU time of the tree in milliseconds.</summary>
    public long? CpuTimeMs { get; init; }

    /// <summary>Memory of the tree in bytes.</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>Processes and threads.</summary>
    public int? Processes { get; init; }

    /// <summary>Bytes kept per output stream.</summary>
    public long? OutputBytes { get; init; }

    /// <summary>Largest file a process may write.</summary>
    public long? FileSizeBytes { get; init; }

    /// <summary>Open descriptors per process.</summary>
    public int? OpenFiles { get; init; }

    /// <summary>Size of the work directory.</summary>
    public long? WorkDirBytes { get; init; }

    /// <summary>Size of /tmp.</summary>
    public long? TmpBytes { get; init; }

    /// <summary>CPU bandwidth in cores.</summary>
    public double? CpuCores { get; init; }

    /// <summary>Applies these overrides to <paramref name="limits"/>.</summary>
    public JailLimits ApplyTo(JailLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        return limits with
        {
            WallTime = WallTimeMs is { } wall ? TimeSpan.FromMilliseconds(wall) : limits.WallTime,
            CpuTime = CpuTimeMs is { } cpu ? TimeSpan.FromMilliseconds(cpu) : limits.CpuTime,
            MemoryBytes = MemoryBytes ?? limits.MemoryBytes,
            Processes = Processes ?? limits.Processes,
            OutputBytes = OutputBytes ?? limits.OutputBytes,
            FileSizeBytes = FileSizeBytes ?? limits.FileSizeBytes,
            OpenFiles = OpenFiles ?? limits.OpenFiles,
            WorkDirBytes = WorkDirBytes ?? limits.WorkDirBytes,
            TmpBytes = TmpBytes ?? limits.TmpBytes,
            CpuCores = CpuCores ?? limits.CpuCores,
        };
    }
}
