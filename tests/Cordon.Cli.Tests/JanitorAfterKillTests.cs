using System.Globalization;

namespace Cordon.Cli.Tests;

/// <summary>A cordon killed with SIGKILL mid-run leaves its cgroup, mount and directory; the next start reaps them.</summary>
[Collection(CordonProcessCollection.Name)]
public sealed class JanitorAfterKillTests
{
    [Fact(Timeout = 90000)]
    public async Task Cordon_killed_with_sigkill_leaves_nothing_once_the_next_start_ran_its_janitor()
    {
        using var dir = new TempDir();
        var sleeper = dir.Write("sleeper.sh", "sleep 60\n");
        string? jailCgroup = null;
        string? instanceDir = null;

        var killed = await CordonProcess.RunAsync(dir.Path, null, async pid =>
        {
            // Wait until the jail runs: bwrap (the monitor) is cordon's child and sits in the jail's cgroup.
            for (var i = 0; i < 400 && jailCgroup is null; i++)
            {
                await Task.Delay(25);
                jailCgroup = FindJailCgroup(pid);
            }
            Assert.NotNull(jailCgroup);
            var parts = jailCgroup!.Split('/'); // /cordon/<instance>/<jail>
            instanceDir = Path.Combine("/run/cordon/instances", parts[^2]);
            Assert.True(Directory.Exists(instanceDir));
            await Signal.SendAsync(pid, "KILL");
        }, "run", sleeper, "--time", "120");

        Assert.Equal(137, killed.ExitCode);
        // Dead without cleaning up: the instance directory and cgroup are still there.
        Assert.True(Directory.Exists(instanceDir), "the killed cordon left its instance directory");
        Assert.True(Directory.Exists("/sys/fs/cgroup/memory" + jailCgroup), "the killed cordon left its cgroup");

        var next = await CordonProcess.RunAsync(dir.Path, null, "run", dir.Write("ok.py", "print('ok')\n"));
        Assert.Equal(0, next.ExitCode);

        Assert.False(Directory.Exists(instanceDir), "the janitor removed the instance directory");
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
            Assert.False(Directory.Exists(hierarchy + jailCgroup), $"the janitor removed {hierarchy}{jailCgroup}");
        Assert.DoesNotContain(instanceDir!, await File.ReadAllTextAsync("/proc/self/mounts"), StringComparison.Ordinal);
    }

    /// <summary>The memory cgroup path of a bwrap child of <paramref name="cordonPid"/>, once it is in a jail cgroup.</summary>
    private static string? FindJailCgroup(int cordonPid)
    {
        var parent = cordonPid.ToString(CultureInfo.InvariantCulture);
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var status = File.ReadAllLines(Path.Combine(proc, "status"));
                if (!status.Any(l => l == "PPid:\t" + parent) || !status.Any(l => l == "Name:\tbwrap")) continue;
                var memory = File.ReadAllLines(Path.Combine(proc, "cgroup")).FirstOrDefault(l => l.Contains(":memory:", StringComparison.Ordinal));
                var path = memory?[(memory.IndexOf(":memory:", StringComparison.Ordinal) + 8)..];
                if (path is not null && path.StartsWith("/cordon/", StringComparison.Ordinal) && path.Split('/').Length == 4) return path;
            }
            catch (IOException)
            {
                // Gone while we looked.
            }
        }
        return null;
    }
}
