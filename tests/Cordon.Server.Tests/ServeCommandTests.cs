using System.Text;
using System.Text.RegularExpressions;
using Cordon.Cli;

namespace Cordon.Server.Tests;

/// <summary><c>cordon serve</c> through the command line's own entry, in process.</summary>
public sealed class ServeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cordon-serve-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Config(string json)
    {
        var path = Path.Combine(_dir, $"cordon-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> ServeAsync(string[] args, CancellationToken cancellationToken = default, SharedStream? error = null)
    {
        var output = new SharedStream();
        error ??= new SharedStream();
        int exit;
        using (var console = new CliConsole(() => Stream.Null, output, error))
        {
            exit = await CordonCli.RunAsync(["serve", .. args], console, cancellationToken);
        }
        return (exit, output.Text, error.Text);
    }

    [Fact(Timeout = 30000)]
    public async Task Serve_refuses_a_non_loopback_address_without_keys()
    {
        var (exit, stdout, stderr) = await ServeAsync(["--config", Config("""{"Address": "0.0.0.0:2000"}""")]);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("cordon: invalid configuration: Address '0.0.0.0:2000' is not a loopback address: configure at least one API key", line, StringComparison.Ordinal);
    }

    [Theory(Timeout = 30000)]
    [InlineData("""{"Adress": "127.0.0.1:2000"}""", "unknown setting 'Adress'")]
    [InlineData("""{"RunLimits": {"WallTime": 5}}""", "unknown setting 'RunLimits:WallTime'")]
    [InlineData("""{"RequestsPerMinute": "many"}""", "RequestsPerMinute")]
    [InlineData("""{"Address": "127.0.0.1"}""", "Address '127.0.0.1' must be host:port")]
    [InlineData("""{"Address": "example.com:80"}""", "Address 'example.com:80' must be host:port")]
    [InlineData("""{"ApiKeys": ["short"]}""", "every API key must be at least 16 characters")]
    [InlineData("""{"Admission": {"MaxConcurrent": -1}, "RunLimits": {"MemoryBytes": 5}}""", "Admission.MaxConcurrent must not be negative (0 means twice the core count); RunLimits.MemoryBytes must be at least 4194304")]
    [InlineData("""{"Admission": {"QueueTimeoutSeconds": "NaN", "MaxQueued": -1}}""", "Admission.MaxQueued must not be negative; Admission.QueueTimeoutSeconds must be between 0 and 86400")]
    [InlineData("""{"Address": """, "cordon-")]
    public async Task A_bad_configuration_is_one_readable_line_and_exit_2(string json, string expected)
    {
        var (exit, _, stderr) = await ServeAsync(["--config", Config(json)]);
        Assert.Equal(2, exit);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("cordon: invalid configuration: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30000)]
    public async Task A_missing_configuration_file_is_named()
    {
        var (exit, _, stderr) = await ServeAsync(["--config", Path.Combine(_dir, "missing.json")]);
        Assert.Equal(2, exit);
        Assert.Contains("missing.json does not exist", stderr, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task Serve_prints_its_address_serves_and_stops_cleanly_when_told_to()
    {
        using var stop = new CancellationTokenSource();
        var error = new SharedStream();
        var serving = ServeAsync(["--config", Config("""{"Address": "127.0.0.1:0", "ApiKeys": ["serve-test-key-0123456789"]}""")], stop.Token, error);

        Match started = Match.Empty;
        for (var i = 0; i < 400 && !(started = Regex.Match(error.Text, @"cordon: serving on (http://127\.0\.0\.1:\d+) \(1 API key;")).Success; i++)
        {
            Assert.False(serving.IsCompleted, error.Text);
            await Task.Delay(25);
        }
        Assert.True(started.Success, error.Text);
        using var client = new HttpClient { BaseAddress = new Uri(started.Groups[1].Value) };
        Assert.Equal("ok\n", await client.GetStringAsync("/healthz"));
        Assert.Equal(401, (int)(await client.GetAsync("/v1/runtimes")).StatusCode);

        await stop.CancelAsync();
        var (exit, _, stderr) = await serving;
        Assert.Equal(0, exit);
        Assert.Contains("cordon: stopped; every jail is gone", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("serve-test-key-0123456789", stderr, StringComparison.Ordinal);
    }

    /// <summary>A memory stream that may be read while another thread writes to it.</summary>
    public sealed class SharedStream : Stream
    {
        private readonly MemoryStream _inner = new();
        private readonly Lock _gate = new();

        public string Text
        {
            get
            {
                lock (_gate) return Encoding.UTF8.GetString(_inner.ToArray());
            }
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_gate) _inner.Write(buffer, offset, count);
        }

        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
