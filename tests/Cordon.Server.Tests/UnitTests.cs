using System.Diagnostics.Metrics;
using System.Text;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Server.Tests;

/// <summary>The pieces that need no server: the UTF-8 splitter, API keys and the exporter.</summary>
public sealed class UnitTests
{
    private static OutputChunk Chunk(params byte[] bytes) => new(ExecutionStage.Run, OutputStreamKind.Stdout, bytes);

    [Fact(Timeout = 10000)]
    public async Task The_splitter_holds_back_an_incomplete_character_until_it_is_complete()
    {
        await Task.Yield();
        var splitter = new Utf8ChunkSplitter();
        var euro = Encoding.UTF8.GetBytes("€"); // 3 bytes
        var first = splitter.Push(Chunk([(byte)'a', euro[0]]));
        Assert.Equal(("a", "utf8"), (first!.Data, first.Encoding));
        Assert.Null(splitter.Push(Chunk(euro[1])));
        var last = splitter.Push(Chunk(euro[2], (byte)'b'));
        Assert.Equal(("€b", "utf8"), (last!.Data, last.Encoding));
        Assert.Empty(splitter.Flush());
    }

    [Fact(Timeout = 10000)]
    public async Task The_splitter_sends_invalid_bytes_as_base64_and_flushes_a_dangling_lead_byte()
    {
        await Task.Yield();
        var splitter = new Utf8ChunkSplitter();
        var bad = splitter.Push(Chunk(0xff, (byte)'x'));
        Assert.Equal("base64", bad!.Encoding);
        Assert.Equal(new byte[] { 0xff, (byte)'x' }, Convert.FromBase64String(bad.Data));
        Assert.Equal("ok", splitter.Push(Chunk((byte)'o', (byte)'k', 0xe2))!.Data);
        var rest = Assert.Single(splitter.Flush());
        Assert.Equal(("4g==", "base64"), (rest.Data, rest.Encoding));
    }

    [Theory(Timeout = 10000)]
    [InlineData(new byte[] { }, 0)]
    [InlineData(new byte[] { 0x61 }, 0)]
    [InlineData(new byte[] { 0xc3 }, 1)]
    [InlineData(new byte[] { 0xc3, 0xa9 }, 0)]
    [InlineData(new byte[] { 0xe2, 0x82 }, 2)]
    [InlineData(new byte[] { 0xf0, 0x9f, 0x98 }, 3)]
    [InlineData(new byte[] { 0xf0, 0x9f, 0x98, 0x80 }, 0)]
    [InlineData(new byte[] { 0x80, 0x80, 0x80 }, 0)]
    public async Task Incomplete_tails_are_measured(byte[] bytes, int tail)
    {
        await Task.Yield();
        Assert.Equal(tail, Utf8ChunkSplitter.IncompleteTail(bytes));
    }

    [Fact(Timeout = 10000)]
    public async Task Api_keys_match_exactly_and_have_short_ids_and_whole_hash_owners()
    {
        await Task.Yield();
        var keys = new ApiKeys(["first-key-0123456789", "second-key-0123456789"]);
        Assert.True(keys.Enabled);
        Assert.Equal(new ApiKeyIdentity(ApiKeys.KeyId("second-key-0123456789"), ApiKeys.Owner("second-key-0123456789")), keys.Match("second-key-0123456789"));
        Assert.Matches("^key:[0-9a-f]{64}$", ApiKeys.Owner("first-key-0123456789"));
        Assert.NotEqual(ApiKeys.Owner("first-key-0123456789"), ApiKeys.Owner("second-key-0123456789"));
        Assert.Null(keys.Match("second-key-012345678"));
        Assert.Null(keys.Match(""));
        Assert.Matches("^[0-9a-f]{8}$", ApiKeys.KeyId("first-key-0123456789"));
        Assert.False(new ApiKeys([]).Enabled);
    }

    [Fact(Timeout = 10000)]
    public async Task The_exporter_renders_every_kind_of_instrument()
    {
        await Task.Yield();
        using var factory = new TestMeterFactory();
        var server = new ServerMetrics(factory);
        using var exporter = new PrometheusExporter(server, factory);
        server.RequestFinished("/v1/x", "GET", 429, TimeSpan.FromMilliseconds(20), "rate_limited");
        server.RequestFinished("/v1/x", "GET", 200, TimeSpan.FromSeconds(100), null);
        var text = exporter.Render();
        Assert.Contains("cordon_http_requests_total{method=\"GET\",route=\"/v1/x\",status=\"429\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("cordon_http_rejected_total{reason=\"rate_limited\",status=\"429\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("cordon_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"0.025\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("cordon_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"60\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("cordon_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"+Inf\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("cordon_http_request_duration_seconds_count{route=\"/v1/x\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("cordon_http_request_duration_seconds_sum{route=\"/v1/x\"} 100.02\n", text, StringComparison.Ordinal);
    }

    [Fact(Timeout = 10000)]
    public async Task The_exporter_escapes_label_values_and_reads_only_its_own_engine_and_server_meters()
    {
        await Task.Yield();
        using var factory = new TestMeterFactory();
        var server = new ServerMetrics(factory);
        using var exporter = new PrometheusExporter(server, factory);
        using var other = new Meter("Somebody.Else");
        other.CreateCounter<long>("cordon.fake").Add(1);
        // Another engine in this process has a meter of the same name, but not from this application's factory.
        using var strayEngine = new Meter(CordonMetrics.MeterName);
        strayEngine.CreateCounter<long>("cordon.stray").Add(1);
        factory.Create(new MeterOptions(CordonMetrics.MeterName)).CreateCounter<long>("cordon.mine").Add(1);
        server.RequestFinished("/a\"b\\c\nd", "GET", 200, TimeSpan.Zero, null);
        var text = exporter.Render();
        Assert.Contains("route=\"/a\\\"b\\\\c\\nd\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("cordon_fake", text, StringComparison.Ordinal);
        Assert.DoesNotContain("cordon_stray", text, StringComparison.Ordinal);
        Assert.Contains("cordon_mine_total 1\n", text, StringComparison.Ordinal);
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in _meters) meter.Dispose();
        }
    }
}
