using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>Attacks through processes and signals: host pids, the pid namespace, daemons, zombies.</summary>
public sealed class ProcessAttackTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    [Fact(Timeout = 60000)]
    public async Task Signals_to_host_pids_do_not_reach_them_even_with_the_same_uid()
    {
        var jail = await fixture.Host.StartAsync(SecurityFixture.Python("""
            import errno, os, signal, subprocess
            victim, test = map(int, open('victims').read().split())
            for label, pid in (('victim', victim), ('test', test)):
                for sig in (0, signal.SIGKILL):
                    try:
                        os.kill(pid, sig)
                        print(label, int(sig), 'OK')
                    except OSError as e:
                        print(label, int(sig), errno.errorcode[e.errno])
            sibling = subprocess.Popen(['sleep', '30'])
            # kill(-1) reaches every process the caller may signal: in a pid namespace, only its own.
            os.kill(-1, signal.SIGKILL)
            print('kill_all OK')
            print('sibling', sibling.wait())
            os.kill(1, signal.SIGKILL)
            print('survived')
            """));
        Process? victim = null;
        await using (jail)
        {
            // The victim runs as the very host uid the jail got, outside it: only the pid namespace protects it.
            var start = new ProcessStartInfo("/usr/bin/setpriv",
                [$"--reuid={jail.HostUid}", $"--regid={jail.HostUid}", "--clear-groups", "/bin/sleep", "60"]);
            victim = Process.Start(start)!;
            try
            {
                jail.WriteFile("victims", Encoding.ASCII.GetBytes($"{victim.Id} {Environment.ProcessId}"));
                var result = await jail.RunAsync();

                Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
                Assert.Equal(
                    ["victim 0 ESRCH", "victim 9 ESRCH", "test 0 ESRCH", "test 9 ESRCH", "kill_all OK", "sibling -9", "survived"],
                    SecurityFixture.Text(result.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries));
                Assert.False(victim.HasExited, "the host process was killed");
                Assert.Equal(jail.HostUid, HostInspector.ReadStatus(victim.Id)!.Value.Uids[0]);
            }
            finally
            {
                victim.Kill();
                await victim.WaitForExitAsync();
                victim.Dispose();
            }
        }
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Jail_sees_only_its_own_pids_in_new_namespaces_and_its_pid_1_is_as_confined_as_the_program()
    {
        string[] namespaces = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];
        var result = await fixture.Run("python", $$"""
            import os, sys
            print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
            print('host_pid_visible', os.path.exists('/proc/' + sys.argv[1]))
            for ns in {{"['" + string.Join("', '", namespaces) + "']"}}:
                print(ns, os.readlink('/proc/self/ns/' + ns))
            status = dict(line.split(':', 1) for line in open('/proc/1/status').read().splitlines())
            for key in ('Uid', 'CapEff', 'CapBnd', 'NoNewPrivs', 'Seccomp'):
                print('pid1', key, status[key].split())
            print('pid1_root_is_own_root', sorted(os.listdir('/proc/1/root')) == sorted(os.listdir('/')))
            """, args: [Environment.ProcessId.ToString(CultureInfo.InvariantCulture)]);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var lines = SecurityFixture.Lines(result);
        // bwrap's init as pid 1 and the program as pid 2: nothing of the host.
        Assert.Equal("pids [1, 2]", lines[0]);
        Assert.Equal("host_pid_visible False", lines[1]);
        for (var i = 0; i < namespaces.Length; i++)
        {
            var host = new FileInfo($"/proc/self/ns/{namespaces[i]}").LinkTarget;
            var line = lines[2 + i].Split(' ');
            Assert.Equal(namespaces[i], line[0]);
            Assert.StartsWith(namespaces[i] + ":[", line[1], StringComparison.Ordinal);
            Assert.NotEqual(host, line[1]);
        }
        Assert.Equal(
            ["pid1 Uid ['1000', '1000', '1000', '1000']", "pid1 CapEff ['0000000000000000']", "pid1 CapBnd ['0000000000000000']",
             "pid1 NoNewPrivs ['1']", "pid1 Seccomp ['2']", "pid1_root_is_own_root True"],
            lines[(2 + namespaces.Length)..]);
    }

    [Fact(Timeout = 60000)]
    public async Task Leftover_daemons_are_killed_and_the_run_returns_promptly()
    {
        var watch = Stopwatch.StartNew();
        var result = await fixture.Run("bash", """
            setsid sleep 1000 &
            ( setsid sh -c 'sleep 1000' & )
            nohup sleep 1000 >/dev/null 2>&1 &
            ( trap '' HUP TERM INT; exec sleep 1000 ) &
            # The classic daemon: double fork and setsid, keeping stdout open so a naive reader never sees EOF.
            python3 -c 'import os, time
            if os.fork(): os._exit(0)
            os.setsid()
            if os.fork(): os._exit(0)
            time.sleep(1000)' &
            sleep 0.2
            echo started
            """, new Engine.LimitOverrides { WallTimeMs = 20000 });
        watch.Stop();

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal("started\n", SecurityFixture.Text(result.Run!.Stdout));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"the run took {watch.Elapsed}");
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Crashing_programs_dump_no_core_and_cannot_raise_the_core_limit()
    {
        var jail = await fixture.Host.StartAsync(SecurityFixture.Shell("""
            ulimit -c unlimited 2>/dev/null && echo raise=OK || echo raise=refused
            echo "limit=$(ulimit -c)"
            bash -c 'kill -SEGV $$'
            echo "crash=$?"
            """));
        await using (jail)
        {
            var result = await jail.RunAsync();
            Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
            // The hard limit is 0: no core file (however large the crashed process) lands in the work directory.
            Assert.Equal("raise=refused\nlimit=0\ncrash=139\n", SecurityFixture.Text(result.Stdout));
            Assert.Empty(JailFiles.ListRegularFiles(jail.WorkDirectory));
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Zombies_count_against_the_process_limit_and_are_gone_after_the_run()
    {
        var result = await fixture.RunC("""
            #include <dirent.h>
            int main(void)
            {
                int made = 0;
                for (;;) {
                    pid_t pid = fork();
                    if (pid == 0) _exit(0);
                    if (pid < 0) break;
                    made++;
                }
                int failed = errno;
                usleep(100000);
                int zombies = 0;
                DIR *proc = opendir("/proc");
                struct dirent *entry;
                while ((entry = readdir(proc))) {
                    char path[300], state = 0;
                    snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
                    FILE *f = fopen(path, "r");
                    if (f && fscanf(f, "%*d %*s %c", &state) == 1 && state == 'Z') zombies++;
                    if (f) fclose(f);
                }
                printf("made=%d fork=%s zombies=%d\n", made, strerrorname_np(failed), zombies);
                return 0; /* never reaped */
            }
            """, new Engine.LimitOverrides { Processes = 24 });

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var parts = SecurityFixture.Text(result.Run!.Stdout).Trim().Split(' ').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        // Unreaped children keep their pids: the pids cgroup stops the program below its limit.
        Assert.Equal("EAGAIN", parts["fork"]);
        var made = int.Parse(parts["made"], CultureInfo.InvariantCulture);
        Assert.InRange(made, 1, 23);
        Assert.Equal(made, int.Parse(parts["zombies"], CultureInfo.InvariantCulture));
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }
}
