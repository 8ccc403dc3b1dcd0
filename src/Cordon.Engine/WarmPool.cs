using System.Collections.Concurrent;
using System.Collections.Immutable;
using Cordon.Jail;
using Microsoft.Extensions.Logging;

namespace Cordon.Engine;

/// <summary>Warm pool settings.</summary>
public sealed record WarmPoolOptions
{
    /// <summary>Runtimes that get a pool (their manifest must declare a run launcher).</summary>
    public ImmutableArray<string> Runtimes { get; init; } = [];

    /// <summary>Fewest ready jails kept per runtime.</summary>
    public int MinSize { get; init; } = 1;

    /// <summary>Most ready jails kept per runtime; the pool grows toward it when requests find it empty.</summary>
    public int MaxSize { get; init; } = 4;

    /// <summary>How long the pool keeps more jails than <see cref="MinSize"/> without a request finding it empty.</summary>
    public TimeSpan ShrinkAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Every problem with these settings.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MinSize < 0) errors.Add("warm pool: MinSize must not be negative");
        if (MaxSize < MinSize) errors.Add("warm pool: MaxSize must be at least MinSize");
        return errors;
    }
}

/// <summary>
/// Jails started ahead of requests, one queue per runtime: each runs the runtime's launcher (interpreter loaded)
/// and waits for its program. A jail is taken once, used once and destroyed; the pool refills in the background and
/// grows when requests find it empty, shrinking back after a quiet spell. Pooled jails never count against a
/// caller's limits: the clocks start when the program is handed over, and the cgroup limits are set to the
/// request's at that moment.
/// </summary>
public sealed class WarmPool : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, RuntimePool> _pools = new(StringComparer.Ordinal);
    private readonly JailHost _host;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentBag<Task> _registrations = [];

    internal WarmPool(WarmPoolOptions options, JailHost host, ILogger logger)
    {
        Options = options;
        _host = host;
        _logger = logger;
    }

    /// <summary>The pool's settings.</summary>
    public WarmPoolOptions Options { get; }

    /// <summary>Ready jails per runtime now.</summary>
    public IReadOnlyDictionary<string, int> Ready => _pools.ToDictionary(p => p.Key, p => p.Value.ReadyCount, StringComparer.Ordinal);

    /// <summary>The ids of the jails waiting in the pools now (live jails that are not leftovers).</summary>
    public IReadOnlyCollection<string> IdleJailIds => _pools.Values.SelectMany(p => p.IdleIds).ToList();

    /// <summary>Requests served from the pool, and those that found it empty, since start.</summary>
    public (long Hits, long Misses) Counts => (_pools.Values.Sum(p => p.Hits), _pools.Values.Sum(p => p.Misses));

    internal bool Serves(string runtime) => Options.Runtimes.Contains(runtime, StringComparer.Ordinal);

    /// <summary>Starts filling the pool of a runtime with jails made from <paramref name="spec"/>.</summary>
    internal void Register(string runtime, JailSpec spec)
    {
        var pool = _pools.GetOrAdd(runtime, _ => new RuntimePool(this, runtime, spec));
        pool.Refill();
    }

    /// <summary>Remembers a pending registration (a runtime being probed) so waiting for the pools includes it.</summary>
    internal void Track(Task registration) => _registrations.Add(registration);

    /// <summary>Fills every configured pool to its target and returns when they are full (or failed).</summary>
    public async Task WaitUntilFilledAsync(CancellationToken cancellationToken = default)
    {
        await Task.WhenAll(_registrations).WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var pool in _pools.Values) await pool.FillAsync(cancellationToken, wait: true).ConfigureAwait(false);
    }

    /// <summary>Tops a runtime's pool up after a pooled run ended.</summary>
    internal void Replenish(string runtime)
    {
        // A jail's set-up (tmpfs, cgroups, descriptors) runs synchronously up to the spawn: queue it, so the request
        // that triggered the refill answers without waiting for it.
        if (_pools.TryGetValue(runtime, out var pool)) _ = Task.Run(pool.Refill);
    }

    /// <summary>Takes a ready jail whose spec matches <paramref name="spec"/>, or null (the caller goes cold).</summary>
    internal Jail.Jail? TryTake(string runtime, JailSpec spec)
    {
        if (!_pools.TryGetValue(runtime, out var pool) || !pool.Compatible(spec)) return null;
        return pool.TryTake();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var pool in _pools.Values) await pool.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private sealed class RuntimePool(WarmPool owner, string runtime, JailSpec spec) : IAsyncDisposable
    {
        private readonly ConcurrentQueue<Jail.Jail> _ready = new();
        private readonly SemaphoreSlim _filling = new(1, 1);
        private int _target = owner.Options.MinSize;
        private long _lastMiss = Environment.TickCount64;
        private long _hits;
        private long _misses;
        private int _failures;

        public int ReadyCount => _ready.Count;

        public IEnumerable<string> IdleIds => _ready.Select(j => j.Id);

        public long Hits => Interlocked.Read(ref _hits);

        public long Misses => Interlocked.Read(ref _misses);

        // Only what a cgroup update or the run itself cannot change must match: rlimits, tmpfs sizes, mounts,
        // environment, network.
        public bool Compatible(JailSpec wanted) =>
            wanted.Network == spec.Network
            && wanted.Limits.FileSizeBytes == spec.Limits.FileSizeBytes
            && wanted.Limits.OpenFiles == spec.Limits.OpenFiles
            && wanted.Limits.StackBytes == spec.Limits.StackBytes
            && wanted.Limits.TmpBytes == spec.Limits.TmpBytes
            && wanted.Limits.WorkDirBytes == spec.Limits.WorkDirBytes
            && wanted.Argv.SequenceEqual(spec.Argv)
            && wanted.Environment.Count == spec.Environment.Count
            && wanted.Environment.All(kv => spec.Environment.TryGetValue(kv.Key, out var v) && v == kv.Value)
            && wanted.ReadOnlyPaths.SequenceEqual(spec.ReadOnlyPaths)
            && wanted.ReadOnlyBinds.SequenceEqual(spec.ReadOnlyBinds);

        public Jail.Jail? TryTake()
        {
            while (_ready.TryDequeue(out var jail))
            {
                if (!jail.Exited.IsCompleted)
                {
                    Interlocked.Increment(ref _hits);
                    return jail;
                }
                _ = jail.DisposeAsync().AsTask();
            }
            Interlocked.Increment(ref _misses);
            Interlocked.Exchange(ref _lastMiss, Environment.TickCount64);
            // Demand outran the pool: keep one more ready next time, up to the maximum.
            InterlockedMax(ref _target, Math.Min(owner.Options.MaxSize, Volatile.Read(ref _target) + 1));
            Refill();
            return null;
        }

        public void Refill() => _ = FillAsync(owner._stopping.Token);

        public async Task FillAsync(CancellationToken cancellationToken, bool wait = false)
        {
            // One filler per runtime; a refill request while one runs is covered by it (it loops to the target).
            if (!await _filling.WaitAsync(wait ? Timeout.Infinite : 0, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
            try
            {
                Shrink();
                while (!cancellationToken.IsCancellationRequested && _ready.Count < Volatile.Read(ref _target) && _failures < 3)
                {
                    Jail.Jail? jail = null;
                    try
                    {
                        jail = await owner._host.StartAsync(spec, cancellationToken).ConfigureAwait(false);
                        // The launcher starts now and loads the interpreter while no request waits.
                        jail.Release();
                        _ready.Enqueue(jail);
                        _failures = 0;
                    }
                    catch (OperationCanceledException)
                    {
                        if (jail is not null) await jail.DisposeAsync().ConfigureAwait(false);
                        return;
                    }
                    catch (CordonException e)
                    {
                        _failures++;
                        if (jail is not null) await jail.DisposeAsync().ConfigureAwait(false);
                        Log.PoolFillFailed(owner._logger, runtime, e.Message);
                    }
                }
            }
            finally
            {
                _filling.Release();
            }
        }

        private void Shrink()
        {
            var quiet = TimeSpan.FromMilliseconds(Environment.TickCount64 - Interlocked.Read(ref _lastMiss));
            if (quiet < owner.Options.ShrinkAfter || Volatile.Read(ref _target) <= owner.Options.MinSize) return;
            Interlocked.Decrement(ref _target);
            Interlocked.Exchange(ref _lastMiss, Environment.TickCount64);
            while (_ready.Count > Volatile.Read(ref _target) && _ready.TryDequeue(out var extra)) _ = extra.DisposeAsync().AsTask();
        }

        private static void InterlockedMax(ref int location, int value)
        {
            int current;
            while ((current = Volatile.Read(ref location)) < value && Interlocked.CompareExchange(ref location, value, current) != current)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _filling.WaitAsync().ConfigureAwait(false);
            while (_ready.TryDequeue(out var jail)) await jail.DisposeAsync().ConfigureAwait(false);
            _filling.Dispose();
        }
    }
}
