using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>Proves which mode the suite ran in, so a warm pass cannot silently run cold.</summary>
public sealed class WarmModeTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    [Fact(Timeout = 60000)]
    public async Task Runs_come_from_the_warm_pool_exactly_when_the_suite_runs_warm()
    {
        var before = fixture.Engine.Pool.Counts.Hits;
        foreach (var language in new[] { "python", "javascript" })
        {
            var result = await fixture.Run(language, language == "python" ? "print('x')" : "console.log('x')");
            Assert.Equal(Verdict.Ok, result.Verdict);
        }
        var c = await fixture.RunC("int main(void) { puts(\"x\"); return 0; }");
        Assert.Equal(Verdict.Ok, c.Verdict);
        Assert.Equal(SecurityFixture.Warm ? 3 : 0, fixture.Engine.Pool.Counts.Hits - before);
    }
}
