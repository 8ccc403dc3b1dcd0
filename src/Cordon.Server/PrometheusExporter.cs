using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Cordon.Engine;

namespace Cordon.Server;

/// <summary>
/// Renders System.Diagnostics.Metrics instruments in the Prometheus text format (version 0.0.4), written by hand
/// because no Prometheus exporter package is available here. It listens to every instrument of the engine's meter
/// (<see cref="CordonMetrics.MeterName"/>) made by this application's meter factory, so another engine in the same
/// process (tests run several) is never read, and to this application's <see cref="ServerMetrics"/>. Counters become <c>_total</c>, histograms <c>_bucket</c>,
/// <c>_sum</c> and <c>_count</c>, gauges and up-down counters gauges; a unit of seconds or bytes becomes a
/// suffix, as Prometheus names go.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>The content type of the text format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static readonly double[] DefaultBounds = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly MeterListener _listener = new();
    // Concurrent, and never behind _gate: instruments are published under the runtime's own instrument lock.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Family> _families = new(StringComparer.Ordinal);
    // Monitor, not Lock: collection runs the observable callbacks, which re-enter on the same thread.
    private readonly object _gate = new();

    /// <summary>Starts listening to the engine meter <paramref name="meterFactory"/> makes and to <paramref name="serverMetrics"/>.</summary>
    public PrometheusExporter(ServerMetrics serverMetrics, IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(serverMetrics);
        ArgumentNullException.ThrowIfNull(meterFactory);
        var serverMeter = serverMetrics.Meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            var engineMeter = instrument.Meter.Name == CordonMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory);
            if (!engineMeter && instrument.Meter != serverMeter) return;
            if (FamilyOf(instrument) is { } family) listener.EnableMeasurementEvents(instrument, family);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, s) => Record((Family)s!, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, s) => Record((Family)s!, v, t));
        _listener.SetMeasurementEventCallback<short>((i, v, t, s) => Record((Family)s!, v, t));
        _listener.SetMeasurementEventCallback<byte>((i, v, t, s) => Record((Family)s!, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, s) => Record((Family)s!, v, t));
        _listener.SetMeasurementEventCallback<float>((i, v, t, s) => Record((Family)s!, v, t));
        _listener.SetMeasurementEventCallback<decimal>((i, v, t, s) => Record((Family)s!, (double)v, t));
        _listener.Start();
    }

    private enum Kind
    {
        Counter,
        Gauge,
        Histogram,
    }

    private sealed class Family(string name, Kind kind, string help, double[] bounds, bool observed)
    {
        public string Name { get; } = name;
        public Kind Kind { get; } = kind;
        public string Help { get; } = help;
        public double[] Bounds { get; } = bounds;

        /// <summary>Observable instruments report their current value at each collection, not increments.</summary>
        public bool Observed { get; } = observed;

        public Dictionary<string, Series> Series { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Series(int buckets)
    {
        public double Value { get; set; }
        public long[] Buckets { get; } = new long[buckets];
        public double Sum { get; set; }
        public long Count { get; set; }
    }

    private Family? FamilyOf(Instrument instrument)
    {
        var type = instrument.GetType();
        if (!type.IsGenericType) return null;
        var definition = type.GetGenericTypeDefinition();
        (Kind kind, bool observed)? shape = definition switch
        {
            _ when definition == typeof(Counter<>) => (Kind.Counter, false),
            _ when definition == typeof(ObservableCounter<>) => (Kind.Counter, true),
            _ when definition == typeof(UpDownCounter<>) => (Kind.Gauge, false),
            _ when definition == typeof(ObservableUpDownCounter<>) => (Kind.Gauge, true),
            _ when definition == typeof(ObservableGauge<>) => (Kind.Gauge, true),
            _ when definition == typeof(Gauge<>) => (Kind.Gauge, false),
            _ when definition == typeof(Histogram<>) => (Kind.Histogram, false),
            _ => null,
        };
        if (shape is not { } s) return null;
        var name = MetricName(instrument.Name, instrument.Unit, s.kind);
        var family = _families.GetOrAdd(name, _ => new Family(name, s.kind, instrument.Description ?? instrument.Name,
            s.kind == Kind.Histogram ? BoundsOf(instrument) : [], s.observed));
        // Two instruments of one name must agree on what they are to share a family.
        return family.Kind == s.kind && family.Observed == s.observed ? family : null;
    }

    private static double[] BoundsOf(Instrument instrument) => instrument switch
    {
        Histogram<double> { Advice.HistogramBucketBoundaries: { } b } => [.. b],
        Histogram<long> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        Histogram<int> { Advice.HistogramBucketBoundaries: { } b } => [.. b.Select(x => (double)x)],
        _ => DefaultBounds,
    };

    /// <summary>An instrument's Prometheus name: <c>cordon.stage.duration</c> in seconds is <c>cordon_stage_duration_seconds</c>.</summary>
    private static string MetricName(string name, string? unit, Kind kind)
    {
        var result = Sanitize(name);
        var suffix = unit switch
        {
            "s" => "_seconds",
            "ms" => "_milliseconds",
            "By" => "_bytes",
            _ => "",
        };
        if (!result.EndsWith(suffix, StringComparison.Ordinal)) result += suffix;
        if (kind == Kind.Counter && !result.EndsWith("_total", StringComparison.Ordinal)) result += "_total";
        return result;
    }

    private static string Sanitize(string name)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var c in name) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '_' or ':' ? c : '_');
        if (sb.Length == 0 || char.IsAsciiDigit(sb[0])) sb.Insert(0, '_');
        return sb.ToString();
    }

    private void Record(Family family, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = Labels(tags);
        lock (_gate)
        {
            if (!family.Series.TryGetValue(labels, out var series))
            {
                series = new Series(family.Bounds.Length);
                family.Series.Add(labels, series);
            }
            switch (family.Kind)
            {
                case Kind.Histogram:
                    var bucket = Array.FindIndex(family.Bounds, b => value <= b);
                    if (bucket >= 0) series.Buckets[bucket]++;
                    series.Sum += value;
                    series.Count++;
                    break;
                case Kind.Gauge when !family.Observed:
                    series.Value = value;
                    break;
                default:
                    // Increments of a counter; or, for observed instruments, the current values of each
                    // instrument of that name, which add up (one per engine in a process that has several).
                    series.Value += value;
                    break;
            }
        }
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty) return "";
        var pairs = new List<(string Key, string Value)>(tags.Length);
        foreach (var tag in tags) pairs.Add((Sanitize(tag.Key), Format(tag.Value)));
        pairs.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return string.Join(",", pairs.Select(p => $"{p.Key}=\"{Escape(p.Value)}\""));
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Collects the observable instruments and renders every family.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        lock (_gate)
        {
            foreach (var family in _families.Values.Where(f => f.Observed)) family.Series.Clear();
            _listener.RecordObservableInstruments();
            foreach (var family in _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal))
            {
                text.Append("# HELP ").Append(family.Name).Append(' ').Append(family.Help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
                text.Append("# TYPE ").Append(family.Name).Append(' ').Append(family.Kind.ToString().ToLowerInvariant()).Append('\n');
                foreach (var (labels, series) in family.Series.OrderBy(s => s.Key, StringComparer.Ordinal))
                {
                    if (family.Kind != Kind.Histogram)
                    {
                        Line(text, family.Name, labels, null, series.Value);
                        continue;
                    }
                    long cumulative = 0;
                    for (var i = 0; i < family.Bounds.Length; i++)
                    {
                        cumulative += series.Buckets[i];
                        Line(text, family.Name + "_bucket", labels, Number(family.Bounds[i]), cumulative);
                    }
                    Line(text, family.Name + "_bucket", labels, "+Inf", series.Count);
                    Line(text, family.Name + "_sum", labels, null, series.Sum);
                    Line(text, family.Name + "_count", labels, null, series.Count);
                }
            }
        }
        return text.ToString();
    }

    private static void Line(StringBuilder text, string name, string labels, string? le, double value)
    {
        text.Append(name);
        if (labels.Length > 0 || le is not null)
        {
            text.Append('{').Append(labels);
            if (le is not null) text.Append(labels.Length > 0 ? "," : "").Append("le=\"").Append(le).Append('"');
            text.Append('}');
        }
        text.Append(' ').Append(Number(value)).Append('\n');
    }

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();
}
