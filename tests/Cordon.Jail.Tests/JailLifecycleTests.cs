using System.Collections.Immutable;
using System.Text;
using Cordon.Jail;

namespace Cordon.Jail.Tests;

public sealed class JailLifecycleTests(JailHostFixture fixture) : IClassFixture<JailHostFixture>
{
    private static JailSpec Spec(string script, JailLimits? limits = null) => JailHostFixture.Shell(script, limits);

    [Fact(Timeout = 30000)]
    public async Task Prestarted_jail_runs_nothing_until_released_and_sees_files_written_meanwhile()
    {
        var jail = await fixture.Host.StartAsync(Spec("cat input.txt; touch ran"));
        await using (jail)
        {
            // Setup is done but the gate is closed: no user code, so no 'ran' marker, however long we wait.
            await Task.Delay(200);
            Assert.False(File.Exists(Path.Combine(jail.WorkDirectory, "ran")));
            Assert.False(jail.Exited.IsCompleted);

            jail.WriteFile("input.txt", "hello"u8);
            var result = await jail.RunAsync();
            Assert.Equal(Verdict.Ok, result.Verdict);
            Assert.Equal("hello", JailHostFixture.Text(result.Stdout));
            Assert.True(File.Exists(Path.Combine(jail.WorkDirectory, "ran")));
        }
    }

    [Fact(Timeout = 30000)]
    public async Task Long_lived_jail_talks_over_extra_pipes_and_keeps_state()
    {
        // A tiny line-oriented "kernel": reads commands on fd 3, answers on fd 4, keeps a counter between calls.
        var spec = Spec("n=0; while read -r line <&3; do n=$((n+1)); echo \"$n:$line\" >&4; done") with
        {
            Limits = JailLimits.Default with { WallTime = null, CpuTime = null },
            ExtraPipes = [JailPipeDirection.IntoJail, JailPipeDirection.OutOfJail],
        };
        var jail = await fixture.Host.StartAsync(spec);
        await using (jail)
        {
            jail.Release();
            using var reader = new StreamReader(jail.ExtraPipes[1]);
            foreach (var (word, expected) in new[] { ("a", "1:a"), ("b", "2:b"), ("c", "3:c") })
            {
                await jail.ExtraPipes[0].WriteAsync(Encoding.UTF8.GetBytes(word + "\n"));
                Assert.Equal(expected, await reader.ReadLineAsync());
            }
            Assert.False(jail.Exited.IsCompleted);
        }
        Assert.True(jail.Exited.IsCompleted);
    }

    [Fact(Timeout = 30000)]
    public async Task Cancellation_kills_the_whole_tree_and_removes_the_jail()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var jail = await fixture.Host.StartAsync(Spec("sleep 100 & sleep 100; wait", JailLimits.Default with { WallTime = null }));
        var work = jail.WorkDirectory;
        await using (jail)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => jail.RunAsync(cts.Token));
            Assert.True(jail.Exited.IsCompleted);
        }
        Assert.False(Directory.Exists(work));
        Assert.DoesNotContain(work, await File.ReadAllTextAsync("/proc/self/mounts"));
    }

    [Fact(Timeout = 30000)]
    public async Task Dispose_of_a_running_jail_leaves_no_process_cgroup_mount_or_directory()
    {
        var jail = await fixture.Host.StartAsync(Spec("sleep 100", JailLimits.Default with { WallTime = null }));
        jail.Release();
        var uid = jail.HostUid;
        var cgroupDirs = fixture.Host.Cgroups.Roots().Select(r => Path.Combine(r, "cordon", fixture.Host.InstanceId, jail.Id)).ToList();
        Assert.All(cgroupDirs, d => Assert.True(Directory.Exists(d), d));
        await jail.DisposeAsync();

        Assert.All(cgroupDirs, d => Assert.False(Directory.Exists(d), d));
        Assert.False(Directory.Exists(jail.WorkDirectory));
        var left = ProcessesOf(uid);
        Assert.True(left.Count == 0, Describe(left));
    }

    [Fact(Timeout = 60000)]
    public async Task Launch_cancelled_before_the_jail_joined_its_cgroup_leaves_no_process()
    {
        // Cancelled right after the spawn, before bwrap's processes are in the cgroup (and perhaps before the
        // sandbox armed --die-with-parent): the kill must reach them without the cgroup.
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var uids = new HashSet<uint>();
        for (var i = 0; i < 20; i++)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fixture.Host.StartAsync(Spec("sleep 100"), cancelled.Token));
        }
        for (var uid = fixture.Host.Options.FirstUid; uid < fixture.Host.Options.FirstUid + 64; uid++) uids.Add(uid);
        var left = uids.SelectMany(ProcessesOf).Where(p => File.ReadAllText($"/proc/{p}/cgroup").Contains("/" + fixture.Host.InstanceId + "/", StringComparison.Ordinal) || !File.ReadAllText($"/proc/{p}/cgroup").Contains("/cordon/", StringComparison.Ordinal)).ToList();
        Assert.True(left.Count == 0, Describe(left));
    }

    [Fact(Timeout = 30000)]
    public async Task Setup_failure_is_an_internal_error_not_the_programs_fault()
    {
        // A program that does not exist makes bwrap's exec fail: the jail, not the user, failed.
        var result = await fixture.Host.RunAsync(Spec("unused") with { Argv = ["/nonexistent/program"] });
        Assert.Equal(Verdict.InternalError, result.Verdict);
        Assert.Contains("/nonexistent/program", result.InternalMessage, StringComparison.Ordinal);
    }

    [Fact(Timeout = 30000)]
    public async Task Program_exiting_1_is_a_runtime_error_not_an_internal_one()
    {
        var result = await fixture.Host.RunAsync(Spec("exit 1"));
        Assert.Equal(Verdict.RuntimeError, result.Verdict);
        Assert.Equal(1, result.ExitCode);
        Assert.Null(result.InternalMessage);
    }

    [Fact(Timeout = 30000)]
    public async Task Invalid_spec_reports_every_problem_at_once()
    {
        var spec = Spec("true") with
        {
            Argv = [],
            WorkDir = "relative",
            Limits = JailLimits.Default with { MemoryBytes = 1, Processes = 0 },
            Environment = ImmutableDictionary<string, string>.Empty.Add("A=B", "x"),
        };
        var e = await Assert.ThrowsAsync<CordonException>(() => fixture.Host.StartAsync(spec));
        Assert.Equal(CordonErrorCode.InvalidRequest, e.Code);
        Assert.Equal(5, e.Errors.Count);
    }

    [Fact(Timeout = 60000)]
    public async Task Janitor_reaps_what_a_host_that_died_left_behind()
    {
        // A second host stands in for a server killed with SIGKILL: its instance lock is dropped without any
        // cleanup while its jail still runs, as the kernel would do for a dead process.
        var doomed = JailHost.Create();
        var jail = await doomed.StartAsync(Spec("sleep 100", JailLimits.Default with { WallTime = null }));
        jail.Release();
        var uid = jail.HostUid;
        var instanceDir = doomed.InstanceDirectory;
        var cgroupDirs = doomed.Cgroups.Roots().Select(r => Path.Combine(r, "cordon", doomed.InstanceId)).ToList();
        doomed.AbandonForTest();

        Assert.NotEmpty(ProcessesOf(uid));
        var reaped = Janitor.Sweep(doomed.Options, doomed.Cgroups, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, fixture.Host.InstanceId);

        Assert.True(reaped >= 1);
        var left = ProcessesOf(uid);
        Assert.True(left.Count == 0, Describe(left) + $" monitor={jail.Pid} child={await jail.ChildPid} exited={jail.Exited.IsCompleted}");
        Assert.False(Directory.Exists(instanceDir));
        Assert.All(cgroupDirs, d => Assert.False(Directory.Exists(d), d));
        Assert.True(Directory.Exists(fixture.Host.InstanceDirectory), "a live instance is never swept");
    }

    internal static string Describe(IEnumerable<int> pids) => string.Join("\n", pids.Select(p =>
    {
        try
        {
            var status = File.ReadAllLines($"/proc/{p}/status");
            return $"pid {p}: {string.Join(" | ", status.Where(l => l.StartsWith("Name:", StringComparison.Ordinal) || l.StartsWith("State:", StringComparison.Ordinal) || l.StartsWith("PPid:", StringComparison.Ordinal)))} cmd={File.ReadAllText($"/proc/{p}/cmdline").Replace('\0', ' ')}";
        }
        catch (IOException)
        {
            return $"pid {p}: gone";
        }
    }));

    /// <summary>Processes (zombies included) of a host uid, after giving the host's init a moment to reap orphans.</summary>
    internal static List<int> ProcessesOf(uint uid)
    {
        var pids = ScanProcessesOf(uid);
        for (var i = 0; i < 100 && pids.Count > 0 && pids.All(IsZombie); i++)
        {
            Thread.Sleep(20);
            pids = ScanProcessesOf(uid);
        }
        return pids;
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            return File.ReadLines($"/proc/{pid}/status").Any(l => l.StartsWith("State:\tZ", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return true;
        }
    }

    private static List<int> ScanProcessesOf(uint uid)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var uidLine = File.ReadLines(Path.Combine(dir, "status")).FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
                if (uidLine is not null && uidLine.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == uid.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    pids.Add(pid);
            }
            catch (IOException)
            {
                // Gone while we looked.
            }
        }
        return pids;
    }
}
