using System.Diagnostics;
using System.Globalization;

namespace Cordon.Bench;

/// <summary>
/// The outcome of one request or process: its latency, or why it did not give the expected answer; and for Cordon's
/// library and native API the wall time Cordon itself measured for the stages (compile + run), from the result.
/// </summary>
internal readonly record struct Sample(double Ms, string? Error, double? StageMs = null);

/// <summary>A way of running a workload (bare process, bwrap, cordon run, the library, an HTTP API).</summary>
internal interface ITarget
{
    /// <summary>The mode's key in the results.</summary>
    string Mode { get; }

    /// <summary>Runs the workload once and times it from before the request or spawn to the complete answer.</summary>
    Task<Sample> RunAsync(Workload workload, CancellationToken cancellationToken);

    /// <summary>
    /// True when nothing of earlier runs is left working: for Cordon, no jail in use or being cleaned up and the pools
    /// back at their idle size. Called only once the machine's CPU is quiet.
    /// </summary>
    Task<bool> IdleAsync(CancellationToken cancellationToken);

    /// <summary>Warm-pool hits and misses so far, when the mode can tell.</summary>
    Task<(long Hits, long Misses)?> PoolCountsAsync(CancellationToken cancellationToken);
}

/// <summary>Percentiles by linear interpolation between the closest ranks (numpy's default).</summary>
internal static class Stats
{
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) return double.NaN;
        var rank = p / 100 * (sorted.Count - 1);
        var low = (int)Math.Floor(rank);
        var high = Math.Min(low + 1, sorted.Count - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    public static double Round(double value, int digits = 3) => Math.Round(value, digits, MidpointRounding.AwayFromZero);
}

/// <summary>
/// Waits until the machine is quiet: the CPU time of every task on the host (the root cgroup's cpuacct.usage, or
/// cgroup2's cpu.stat, in ns) grew by less than 20% of the cores over two consecutive 5 ms windows.
/// </summary>
internal static class Quiet
{
    private const double Threshold = 0.20;
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(5);

    public static string Source { get; } = File.Exists("/sys/fs/cgroup/cpuacct/cpuacct.usage") ? "/sys/fs/cgroup/cpuacct/cpuacct.usage"
        : File.Exists("/sys/fs/cgroup/cpu.stat") ? "/sys/fs/cgroup/cpu.stat"
        : "/proc/stat";

    /// <summary>CPU time of the whole host so far, in ns.</summary>
    public static long CpuNs()
    {
        var text = File.ReadAllText(Source);
        if (Source.EndsWith("cpuacct.usage", StringComparison.Ordinal)) return long.Parse(text.Trim(), CultureInfo.InvariantCulture);
        if (Source.EndsWith("cpu.stat", StringComparison.Ordinal))
        {
            var line = text.Split('\n').First(l => l.StartsWith("usage_usec ", StringComparison.Ordinal));
            return long.Parse(line.AsSpan(11), CultureInfo.InvariantCulture) * 1000;
        }
        // /proc/stat: user nice system idle iowait irq softirq steal, in clock ticks (10 ms): coarse, but a fallback.
        var cpu = text.Split('\n')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long busy = 0;
        foreach (var i in new[] { 1, 2, 3, 6, 7, 8 }) busy += long.Parse(cpu[i], CultureInfo.InvariantCulture);
        return busy * 10_000_000;
    }

    /// <summary>The host's CPU use over <paramref name="span"/>, in % of all cores (100 = every core busy).</summary>
    public static async Task<double> BusyPercentAsync(TimeSpan span, CancellationToken cancellationToken)
    {
        var cpu = CpuNs();
        var time = Stopwatch.GetTimestamp();
        await Task.Delay(span, cancellationToken).ConfigureAwait(false);
        var wall = Stopwatch.GetElapsedTime(time).TotalMilliseconds * 1e6;
        return Math.Round(100 * (CpuNs() - cpu) / (wall * Environment.ProcessorCount), 1);
    }

    /// <summary>Waits for <paramref name="windows"/> quiet windows in a row and then <paramref name="idle"/>; false on timeout.</summary>
    public static async Task<bool> WaitAsync(Func<CancellationToken, Task<bool>>? idle, TimeSpan timeout, CancellationToken cancellationToken, int windows = 2)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        var quiet = 0;
        var lastCpu = CpuNs();
        var lastTime = Stopwatch.GetTimestamp();
        while (true)
        {
            await Task.Delay(Window, cancellationToken).ConfigureAwait(false);
            var cpu = CpuNs();
            var time = Stopwatch.GetTimestamp();
            var wall = (time - lastTime) * 1e9 / Stopwatch.Frequency;
            var busy = (cpu - lastCpu) / (wall * Environment.ProcessorCount);
            (lastCpu, lastTime) = (cpu, time);
            quiet = busy < Threshold ? quiet + 1 : 0;
            if (quiet >= windows)
            {
                if (idle is null || await idle(cancellationToken).ConfigureAwait(false)) return true;
                quiet = 0;
                // The idle check itself (an HTTP request for /metrics) costs CPU; start the next window after it.
                (lastCpu, lastTime) = (CpuNs(), Stopwatch.GetTimestamp());
            }
            if (time > deadline) return false;
        }
    }
}

/// <summary>Budgets of one run of the harness.</summary>
internal sealed record Budget
{
    /// <summary>Unmeasured runs before each latency cell (JIT, page cache, connections).</summary>
    public int Warmup { get; init; } = 3;

    /// <summary>Fewest samples per latency cell, whatever the time.</summary>
    public int MinSamples { get; init; } = 20;

    /// <summary>Most samples per latency cell.</summary>
    public int MaxSamples { get; init; } = 200;

    /// <summary>A latency cell stops after this long once it has <see cref="MinSamples"/>.</summary>
    public TimeSpan CellTime { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Length of each throughput cell.</summary>
    public TimeSpan ThroughputTime { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Concurrency levels of the throughput cells.</summary>
    public IReadOnlyList<int> Concurrency { get; init; } = [1, 2, 4, 8];

    /// <summary>Longest wait for the machine to be quiet before a sample or cell.</summary>
    public TimeSpan SettleTimeout { get; init; } = TimeSpan.FromSeconds(1);
}

internal sealed record LatencyCell
{
    public required string Mode { get; init; }
    public required string Workload { get; init; }
    public required int N { get; init; }
    public required int Errors { get; init; }
    public string? FirstError { get; init; }
    public double P50Ms { get; init; }
    public double P95Ms { get; init; }
    public double P99Ms { get; init; }
    public double MeanMs { get; init; }
    public double MinMs { get; init; }
    public double MaxMs { get; init; }
    public double SecondsSpent { get; init; }
    /// <summary>Samples whose wait for a quiet machine and an idle Cordon timed out (the sample was still taken).</summary>
    public int SettleTimeouts { get; init; }
    /// <summary>
    /// Median CPU time of the whole host per run, from the run's start until the machine and Cordon were idle again
    /// (so cleanup and pool refill count; so does the harness itself, and any background noise).
    /// </summary>
    public double? CpuMsP50 { get; init; }
    /// <summary>Median wall time of the stages as Cordon reported it (usage.wall_time), where the mode tells it.</summary>
    public double? StageP50Ms { get; init; }
    public double? StageP95Ms { get; init; }
    public double? StageP99Ms { get; init; }
    public long? PoolHits { get; init; }
    public long? PoolMisses { get; init; }
    public required IReadOnlyList<double> SamplesMs { get; init; }
}

internal sealed record ThroughputCell
{
    public required string Mode { get; init; }
    public required string Workload { get; init; }
    public required int Concurrency { get; init; }
    public required int Completed { get; init; }
    public required int Errors { get; init; }
    public string? FirstError { get; init; }
    public double Seconds { get; init; }
    public double Rps { get; init; }
    /// <summary>CPU time of the whole host during the cell per answered request (client, server, jails, refills).</summary>
    public double? CpuMsPerRequest { get; init; }
    /// <summary>How busy the host's cores were during the cell, in % of all of them.</summary>
    public double CpuBusyPercent { get; init; }
    public double P50Ms { get; init; }
    public double P99Ms { get; init; }
    public long? PoolHits { get; init; }
    public long? PoolMisses { get; init; }
}

internal static class Measure
{
    /// <summary>
    /// Sequential samples (concurrency 1). Before each one the harness waits for a quiet machine and an idle target,
    /// so every sample sees an idle Cordon: jails of the previous run cleaned up, warm pools refilled.
    /// </summary>
    public static async Task<LatencyCell> LatencyAsync(ITarget target, Workload workload, Budget budget, CancellationToken cancellationToken)
    {
        string? firstError = null;
        var errors = 0;
        for (var i = 0; i < budget.Warmup; i++)
        {
            await Quiet.WaitAsync(target.IdleAsync, budget.SettleTimeout, cancellationToken).ConfigureAwait(false);
            var warm = await SafeRunAsync(target, workload, cancellationToken).ConfigureAwait(false);
            if (warm.Error is not null)
            {
                // A mode that cannot run the workload at all is reported, not measured for minutes.
                return new LatencyCell { Mode = target.Mode, Workload = workload.Name, N = 0, Errors = 1, FirstError = warm.Error, SamplesMs = [] };
            }
        }
        var pool0 = await target.PoolCountsAsync(cancellationToken).ConfigureAwait(false);
        var samples = new List<double>();
        var stages = new List<double>();
        var cpu = new List<double>();
        var timeouts = 0;
        if (!await Quiet.WaitAsync(target.IdleAsync, budget.SettleTimeout, cancellationToken).ConfigureAwait(false)) timeouts++;
        var started = Stopwatch.GetTimestamp();
        // A cell ends at MaxSamples, or after CellTime once it has MinSamples; on a busy machine (every settle timing
        // out) it ends anyway after 4 x CellTime with at least 3 samples, so the whole run stays bounded.
        while (samples.Count + errors < budget.MaxSamples
               && (samples.Count + errors < budget.MinSamples || Stopwatch.GetElapsedTime(started) < budget.CellTime)
               && (samples.Count + errors < 3 || Stopwatch.GetElapsedTime(started) < budget.CellTime * 4))
        {
            var cpu0 = Quiet.CpuNs();
            var sample = await SafeRunAsync(target, workload, cancellationToken).ConfigureAwait(false);
            // Settle after the sample: the CPU it cost, host-wide, counts everything the run caused up to here,
            // background cleanup and pool refill included (and the harness's own polling).
            var settled = await Quiet.WaitAsync(target.IdleAsync, budget.SettleTimeout, cancellationToken).ConfigureAwait(false);
            if (!settled) timeouts++;
            if (sample.Error is null)
            {
                samples.Add(sample.Ms);
                if (sample.StageMs is { } stage) stages.Add(stage);
                if (settled) cpu.Add((Quiet.CpuNs() - cpu0) / 1e6);
            }
            else
            {
                errors++;
                firstError ??= sample.Error;
                if (errors >= 5 && samples.Count == 0) break;
            }
        }
        var spent = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var pool1 = await target.PoolCountsAsync(cancellationToken).ConfigureAwait(false);
        var sorted = samples.Order().ToList();
        return new LatencyCell
        {
            Mode = target.Mode,
            Workload = workload.Name,
            N = samples.Count,
            Errors = errors,
            FirstError = firstError,
            P50Ms = Stats.Round(Stats.Percentile(sorted, 50)),
            P95Ms = Stats.Round(Stats.Percentile(sorted, 95)),
            P99Ms = Stats.Round(Stats.Percentile(sorted, 99)),
            MeanMs = Stats.Round(sorted.Count > 0 ? sorted.Average() : double.NaN),
            MinMs = Stats.Round(sorted.Count > 0 ? sorted[0] : double.NaN),
            MaxMs = Stats.Round(sorted.Count > 0 ? sorted[^1] : double.NaN),
            SecondsSpent = Stats.Round(spent, 2),
            SettleTimeouts = timeouts,
            StageP50Ms = stages.Count > 0 ? Stats.Round(Stats.Percentile(stages.Order().ToList(), 50)) : null,
            StageP95Ms = stages.Count > 0 ? Stats.Round(Stats.Percentile(stages.Order().ToList(), 95)) : null,
            StageP99Ms = stages.Count > 0 ? Stats.Round(Stats.Percentile(stages.Order().ToList(), 99)) : null,
            CpuMsP50 = cpu.Count > 0 ? Stats.Round(Stats.Percentile(cpu.Order().ToList(), 50), 2) : null,
            PoolHits = pool1 is { } b && pool0 is { } a ? b.Hits - a.Hits : null,
            PoolMisses = pool1 is { } d && pool0 is { } c ? d.Misses - c.Misses : null,
            SamplesMs = [.. samples.Select(s => Stats.Round(s, 2))],
        };
    }

    /// <summary>
    /// Closed loop: <paramref name="concurrency"/> workers each send the next request as soon as the previous one is
    /// answered, for a fixed time, with no pause. Requests/s counts the answers over the time to the last answer.
    /// </summary>
    public static async Task<ThroughputCell> ThroughputAsync(ITarget target, Workload workload, int concurrency, Budget budget, CancellationToken cancellationToken)
    {
        // One unmeasured round opens the connections and warms whatever the concurrency needs.
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => SafeRunAsync(target, workload, cancellationToken))).ConfigureAwait(false);
        await Quiet.WaitAsync(target.IdleAsync, budget.SettleTimeout, cancellationToken).ConfigureAwait(false);
        var pool0 = await target.PoolCountsAsync(cancellationToken).ConfigureAwait(false);
        var cpuStart = Quiet.CpuNs();
        var start = Stopwatch.GetTimestamp();
        var deadline = start + (long)(budget.ThroughputTime.TotalSeconds * Stopwatch.Frequency);
        var latencies = new List<double>[concurrency];
        var errors = new int[concurrency];
        var lastEnd = new long[concurrency];
        string? firstError = null;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            await Task.Yield();
            var mine = latencies[worker] = [];
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var sample = await SafeRunAsync(target, workload, cancellationToken).ConfigureAwait(false);
                lastEnd[worker] = Stopwatch.GetTimestamp();
                if (sample.Error is null) mine.Add(sample.Ms);
                else
                {
                    errors[worker]++;
                    Interlocked.CompareExchange(ref firstError, sample.Error, null);
                }
            }
        })).ConfigureAwait(false);
        var cpuMs = (Quiet.CpuNs() - cpuStart) / 1e6;
        var seconds = (lastEnd.Max() - start) / (double)Stopwatch.Frequency;
        var pool1 = await target.PoolCountsAsync(cancellationToken).ConfigureAwait(false);
        var all = latencies.SelectMany(l => l).Order().ToList();
        return new ThroughputCell
        {
            Mode = target.Mode,
            Workload = workload.Name,
            Concurrency = concurrency,
            Completed = all.Count,
            Errors = errors.Sum(),
            FirstError = firstError,
            Seconds = Stats.Round(seconds),
            Rps = Stats.Round(all.Count / seconds, 2),
            CpuMsPerRequest = all.Count > 0 ? Stats.Round(cpuMs / all.Count, 2) : null,
            CpuBusyPercent = Stats.Round(100 * cpuMs / (seconds * 1000 * Environment.ProcessorCount), 1),
            P50Ms = Stats.Round(Stats.Percentile(all, 50)),
            P99Ms = Stats.Round(Stats.Percentile(all, 99)),
            PoolHits = pool1 is { } b && pool0 is { } a ? b.Hits - a.Hits : null,
            PoolMisses = pool1 is { } d && pool0 is { } c ? d.Misses - c.Misses : null,
        };
    }

    private static async Task<Sample> SafeRunAsync(ITarget target, Workload workload, CancellationToken cancellationToken)
    {
        try
        {
            return await target.RunAsync(workload, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new Sample(0, e.GetType().Name + ": " + e.Message);
        }
    }
}
