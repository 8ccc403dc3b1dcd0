using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>Many jails at once: each correct, none seeing another, and nothing left when they are done.</summary>
public sealed class ConcurrencyTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    [Fact(Timeout = 90000)]
    public async Task Twenty_concurrent_jails_are_correct_isolated_on_distinct_uids_and_leave_nothing()
    {
        const int Count = 20;
        const string Program = """
            import os, re, sys, time
            token = sys.stdin.read()
            for folder in ('/tmp', '/work', '/dev/shm'):
                with open(folder + '/token', 'w') as f:
                    f.write(token)
            time.sleep(0.5)  # overlap with the others
            intact = all(open(folder + '/token').read() == token for folder in ('/tmp', '/work', '/dev/shm'))
            tmp = [line for line in open('/proc/self/mountinfo') if ' /tmp ' in line][0]
            print(token, sys.argv[1], intact, sorted(os.listdir('/tmp')), sorted(os.listdir('/work')),
                  sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), re.search(r'uid=(\d+)', tmp).group(1))
            """;
        var tokens = Enumerable.Range(0, Count).Select(i => $"token-{i:D2}-{Guid.NewGuid():N}").ToArray();
        var watch = Stopwatch.StartNew();

        var results = await Task.WhenAll(tokens.Select((token, i) => fixture.Engine.ExecuteAsync(new ExecutionRequest
        {
            Language = "python",
            Files = [new ExecutionFile("main.py", Encoding.UTF8.GetBytes(Program))],
            Stdin = Encoding.UTF8.GetBytes(token),
            Args = [i.ToString(CultureInfo.InvariantCulture)],
            RunLimits = new LimitOverrides { WallTimeMs = 60000 },
        })));
        watch.Stop();

        var uids = new List<uint>();
        for (var i = 0; i < Count; i++)
        {
            var result = results[i];
            Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
            // Each jail got exactly its own stdin and argv, saw only its own files and pids, and nothing of the others.
            var match = Regex.Match(SecurityFixture.Text(result.Run!.Stdout),
                $@"^{tokens[i]} {i} True \['token'\] \['main.py', 'token'\] \[1, 2\] (\d+)\n$");
            Assert.True(match.Success, SecurityFixture.Describe(result));
            foreach (var other in tokens.Where((_, j) => j != i))
                Assert.DoesNotContain(other, SecurityFixture.Text(result.Run.Output), StringComparison.Ordinal);
            uids.Add(uint.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
        }
        // The uid each jail's tmpfs was created by is its host uid (CrossJailTests checks that equality): 20 distinct.
        Assert.Equal(Count, uids.Distinct().Count());
        Assert.All(uids, uid => Assert.InRange(uid, fixture.Host.Options.FirstUid, fixture.Host.Options.FirstUid + (uint)fixture.Host.Options.UidCount - 1));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"20 jails took {watch.Elapsed}");
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }
}
