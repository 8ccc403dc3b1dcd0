using System.Text;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

public sealed class ExecutionTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    [Theory(Timeout = 60000)]
    [InlineData("python")]
    [InlineData("javascript")]
    [InlineData("bash")]
    [InlineData("c")]
    public async Task Each_runtime_test_program_prints_OK(string language)
    {
        var manifest = fixture.Engine.Catalog.Find(language)!;
        var code = await File.ReadAllTextAsync(Path.Combine(manifest.Directory, manifest.TestProgram));
        var result = await fixture.Engine.ExecuteAsync(EngineFixture.Request(language, manifest.TestProgram, code));
        Assert.True(result.Verdict == Verdict.Ok, $"{result.Verdict}: {result.FinalStage.InternalMessage} {EngineFixture.Text(result.FinalStage.Stderr)}");
        Assert.Equal("OK\n", EngineFixture.Text(result.Run!.Stdout));
    }
}
