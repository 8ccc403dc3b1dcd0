using System.Collections.Immutable;
using System.Text;
using Cordon.Jail;

namespace Cordon.Jail.Tests;

/// <summary>One real jail host shared by a test class.</summary>
public sealed class JailHostFixture : IAsyncLifetime
{
    public JailHost Host { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Host = JailHost.Create();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();

    public static JailSpec Shell(string script, JailLimits? limits = null) => new()
    {
        Argv = ["/bin/sh", "-c", script],
        Environment = ImmutableDictionary<string, string>.Empty.Add("PATH", "/usr/bin:/bin"),
        Limits = limits ?? JailLimits.Default,
    };

    public static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}
