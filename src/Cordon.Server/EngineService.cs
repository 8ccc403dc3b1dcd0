using Cordon.Engine;
using Cordon.Jail;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cordon.Server;

/// <summary>
/// Owns the process's one <see cref="CordonEngine"/>: created when the host starts (which runs the janitor and fails
/// the start if the host cannot run jails) and disposed when it stops, after Kestrel has drained, killing any jail
/// still alive.
/// </summary>
public sealed class EngineService(IOptions<CordonServerOptions> options, ILoggerFactory loggerFactory, System.Diagnostics.Metrics.IMeterFactory? meterFactory = null) : IHostedService, IAsyncDisposable
{
    private CordonEngine? _engine;

    /// <summary>The engine; available once the host has started.</summary>
    public CordonEngine Engine => _engine ?? throw new InvalidOperationException("The engine is not started.");

    /// <summary>The engine, or null before the host started or after it stopped.</summary>
    public CordonEngine? TryGetEngine() => Volatile.Read(ref _engine);

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var engineOptions = new CordonEngineOptions
        {
            AllowNetwork = o.AllowNetwork,
            Admission = o.Admission.ToOptions(),
            WarmPool = o.WarmPool.ToOptions(),
            RuntimesDirectory = string.IsNullOrEmpty(o.Runtimes) ? null : o.Runtimes,
            Sessions = o.Sessions.ToOptions(),
            MeterFactory = meterFactory,
        };
        engineOptions = engineOptions with
        {
            RunLimits = Apply(engineOptions.RunLimits, o.RunLimits),
            CompileLimits = Apply(engineOptions.CompileLimits, o.CompileLimits),
        };
        _engine = CordonEngine.Create(engineOptions, loggerFactory);
        return Task.CompletedTask;
    }

    private static JailLimits Apply(JailLimits limits, StageLimitSettings settings) => limits with
    {
        WallTime = settings.WallTimeMs > 0 ? TimeSpan.FromMilliseconds(settings.WallTimeMs) : limits.WallTime,
        CpuTime = settings.CpuTimeMs > 0 ? TimeSpan.FromMilliseconds(settings.CpuTimeMs) : limits.CpuTime,
        MemoryBytes = settings.MemoryBytes > 0 ? settings.MemoryBytes : limits.MemoryBytes,
        Processes = settings.Processes > 0 ? settings.Processes : limits.Processes,
        OutputBytes = settings.OutputBytes > 0 ? settings.OutputBytes : limits.OutputBytes,
    };

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        var engine = Interlocked.Exchange(ref _engine, null);
        if (engine is not null) await engine.DisposeAsync().ConfigureAwait(false);
    }
}
