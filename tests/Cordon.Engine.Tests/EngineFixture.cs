using System.Collections.Immutable;
using System.Text;
using Cordon.Engine;

namespace Cordon.Engine.Tests;

/// <summary>One real engine (real jails, real runtimes) shared by a test class.</summary>
public sealed class EngineFixture : IAsyncLifetime
{
    public CordonEngine Engine { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Engine = CordonEngine.Create();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Engine.DisposeAsync();

    public static ExecutionRequest Request(string language, string name, string code, string stdin = "", params string[] args) => new()
    {
        Language = language,
        Files = [new ExecutionFile(name, Encoding.UTF8.GetBytes(code))],
        Stdin = Encoding.UTF8.GetBytes(stdin),
        Args = [.. args],
    };

    public static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}
