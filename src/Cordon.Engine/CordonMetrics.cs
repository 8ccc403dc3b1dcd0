using System.Diagnostics.Metrics;
using Cordon.Jail;

namespace Cordon.Engine;

/// <summary>
/// The engine's instruments (System.Diagnostics.Metrics, meter <c>Cordon</c>): executions by runtime and verdict,
/// stage durations, rejections, queue depth, running executions, live jails and sessions, and session cells by
/// language and verdict.
/// </summary>
public sealed class CordonMetrics : IDisposable
{
    /// <summary>The meter's name, for listeners and exporters.</summary>
    public const string MeterName = "Cordon";

    private readonly Meter _meter;
    private readonly Counter<long> _executions;
    private readonly Histogram<double> _stageDuration;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _cells;

    internal CordonMetrics(IMeterFactory? meterFactory, Func<int> queued, Func<int> running, Func<int> jails, Func<int> sessions)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _executions = _meter.CreateCounter<long>("cordon.executions", "{execution}", "Executions finished, by runtime and verdict.");
        _stageDuration = _meter.CreateHistogram<double>("cordon.stage.duration", "s", "Wall time of each stage, by runtime and stage.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _rejected = _meter.CreateCounter<long>("cordon.rejected", "{request}", "Executions refused by admission control, by reason.");
        _meter.CreateObservableGauge("cordon.queue.depth", queued, "{execution}", "Executions waiting for a slot.");
        _meter.CreateObservableGauge("cordon.executions.running", running, "{execution}", "Executions running now.");
        _meter.CreateObservableGauge("cordon.jails.live", jails, "{jail}", "Jails alive now.");
        _meter.CreateObservableGauge("cordon.sessions.live", sessions, "{session}", "Sessions alive now.");
        _cells = _meter.CreateCounter<long>("cordon.cells", "{cell}", "Session cells finished, by language and verdict.");
    }

    internal void ExecutionFinished(string runtime, Verdict verdict) =>
        _executions.Add(1, new KeyValuePair<string, object?>("runtime", runtime), new KeyValuePair<string, object?>("verdict", VerdictName(verdict)));

    internal void StageFinished(string runtime, string stage, TimeSpan wall) =>
        _stageDuration.Record(wall.TotalSeconds, new KeyValuePair<string, object?>("runtime", runtime), new KeyValuePair<string, object?>("stage", stage));

    internal void CellFinished(string language, Sessions.CellVerdict verdict) =>
        _cells.Add(1, new KeyValuePair<string, object?>("language", language), new KeyValuePair<string, object?>("verdict", CordonException.ToSnakeCase(verdict.ToString())));

    internal void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>The snake_case name of a verdict, as in results.</summary>
    public static string VerdictName(Verdict verdict) => CordonException.ToSnakeCase(verdict.ToString());

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
