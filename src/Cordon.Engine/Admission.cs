using Cordon.Jail;

namespace Cordon.Engine;

/// <summary>How many executions may run at once and how many may wait.</summary>
public sealed record AdmissionOptions
{
    /// <summary>Executions running at once (each holds one jail at a time); by default twice the core count.</summary>
    public int MaxConcurrent { get; init; } = Environment.ProcessorCount * 2;

    /// <summary>Executions waiting for a slot; one more is refused at once.</summary>
    public int MaxQueued { get; init; } = Environment.ProcessorCount * 32;

    /// <summary>How long an execution may wait for a slot before it is refused.</summary>
    public TimeSpan QueueTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Every problem with these options.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxConcurrent < 1) errors.Add("admission: MaxConcurrent must be at least 1");
        if (MaxQueued < 0) errors.Add("admission: MaxQueued must not be negative");
        if (QueueTimeout < TimeSpan.Zero) errors.Add("admission: QueueTimeout must not be negative");
        return errors;
    }
}

/// <summary>
/// Bounds concurrent executions and the queue in front of them. Beyond the queue, or after waiting the queue
/// timeout, a caller gets <see cref="CordonErrorCode.Overloaded"/> with a retry hint instead of an unbounded wait.
/// </summary>
public sealed class AdmissionController : IDisposable
{
    private readonly SemaphoreSlim _slots;
    private int _queued;
    private int _running;

    /// <summary>Creates a controller.</summary>
    public AdmissionController(AdmissionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        _slots = new SemaphoreSlim(options.MaxConcurrent, options.MaxConcurrent);
    }

    /// <summary>The limits in force.</summary>
    public AdmissionOptions Options { get; }

    /// <summary>Executions waiting now.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Executions running now.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Waits for a slot; dispose the lease to give it back.</summary>
    public async ValueTask<IDisposable> EnterAsync(CancellationToken cancellationToken = default)
    {
        if (!_slots.Wait(0, CancellationToken.None))
        {
            if (Interlocked.Increment(ref _queued) > Options.MaxQueued)
            {
                Interlocked.Decrement(ref _queued);
                throw Overloaded($"the queue is full ({Options.MaxQueued} waiting, {Options.MaxConcurrent} running)");
            }
            try
            {
                if (!await _slots.WaitAsync(Options.QueueTimeout, cancellationToken).ConfigureAwait(false))
                    throw Overloaded($"no slot became free within {Options.QueueTimeout.TotalSeconds:0.#} s");
            }
            finally
            {
                Interlocked.Decrement(ref _queued);
            }
        }
        Interlocked.Increment(ref _running);
        return new Lease(this);
    }

    private static CordonException Overloaded(string why) =>
        new(CordonErrorCode.Overloaded, $"Cordon is at capacity: {why}. Retry after a moment.") { RetryAfter = TimeSpan.FromSeconds(1) };

    private void Leave()
    {
        Interlocked.Decrement(ref _running);
        _slots.Release();
    }

    /// <inheritdoc />
    public void Dispose() => _slots.Dispose();

    private sealed class Lease(AdmissionController owner) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) owner.Leave();
        }
    }
}
