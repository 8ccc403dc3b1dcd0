using System.Text.RegularExpressions;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>Attacks on the host's resources: processes, threads, memory, CPU, time, output, disk, descriptors.</summary>
public sealed class ResourceAttackTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    private const long MiB = 1024 * 1024;

    [Fact(Timeout = 60000)]
    public async Task Fork_bomb_is_stopped_at_the_process_limit_and_leaves_nothing()
    {
        // Every child forks forever too; the parent reports the first failed fork, then joins the bomb.
        var result = await fixture.RunC("""
            int main(void)
            {
                int children = 0;
                for (;;) {
                    pid_t pid = fork();
                    if (pid == 0) for (;;) fork();
                    if (pid < 0) break;
                    children++;
                }
                printf("children=%d fork=%s\n", children, strerrorname_np(errno));
                fflush(stdout);
                for (;;) fork();
            }
            """, new LimitOverrides { Processes = 32, CpuTimeMs = 1000, WallTimeMs = 20000 });

        // The pids cgroup refused the fork (EAGAIN) below the limit, and the bomb's CPU burn ended it.
        var match = Regex.Match(SecurityFixture.Text(result.Run!.Stdout), @"^children=(\d+) fork=(\w+)\n$");
        Assert.True(match.Success, SecurityFixture.Describe(result));
        Assert.Equal("EAGAIN", match.Groups[2].Value);
        Assert.InRange(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 1, 31);
        Assert.Equal(Verdict.CpuLimit, result.Verdict);
        Assert.Equal("CPU time 1 s reached", result.Run.KillReason);
        Assert.Equal(9, result.Run.Signal);
        Assert.True(result.Run.Usage.WallTime < TimeSpan.FromSeconds(10), $"the bomb ran {result.Run.Usage.WallTime}");
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Thread_bomb_is_stopped_at_the_process_limit()
    {
        var result = await fixture.RunC("""
            #include <pthread.h>
            static void *sleeper(void *arg) { for (;;) pause(); return arg; }
            int main(void)
            {
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, 64 * 1024);
                pthread_t thread;
                int threads = 0, rc;
                while ((rc = pthread_create(&thread, &attr, sleeper, NULL)) == 0) threads++;
                printf("threads=%d create=%s\n", threads, strerrorname_np(rc));
                fflush(stdout);
                _exit(0);
            }
            """, new LimitOverrides { Processes = 32 });

        // Threads count against the same pids limit as processes: creation fails with EAGAIN below 32.
        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var match = Regex.Match(SecurityFixture.Text(result.Run!.Stdout), @"^threads=(\d+) create=(\w+)\n$");
        Assert.True(match.Success, SecurityFixture.Describe(result));
        Assert.Equal("EAGAIN", match.Groups[2].Value);
        Assert.InRange(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 1, 31);
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Memory_bomb_in_one_process_gets_the_memory_limit_verdict()
    {
        var result = await fixture.Run("python", """
            import sys
            hoard = []
            while True:
                hoard.append(bytearray(4 << 20))
                print(len(hoard) * 4, flush=True)
            """, new LimitOverrides { MemoryBytes = 64 * MiB });

        // The cgroup OOM killer (not a failed allocation in Python) ended it, below the limit.
        Assert.True(result.Verdict == Verdict.MemoryLimit, SecurityFixture.Describe(result));
        Assert.Equal(9, result.Run!.Signal);
        Assert.Null(result.Run.KillReason); // the kernel's OOM killer, not one of Cordon's own limits
        Assert.DoesNotContain("MemoryError", SecurityFixture.Text(result.Run.Stderr), StringComparison.Ordinal);
        var lastMiB = SecurityFixture.Lines(result).Select(int.Parse).DefaultIfEmpty(0).Max();
        Assert.InRange(lastMiB, 4, 64);
        Assert.InRange(result.Run.Usage.PeakMemoryBytes, 32 * MiB, 64 * MiB);
    }

    [Fact(Timeout = 60000)]
    public async Task Memory_spread_over_many_processes_is_limited_for_the_whole_tree()
    {
        // Eight children of 24 MiB each: every one is under the limit, together they are three times over it.
        var result = await fixture.RunC("""
            int main(void)
            {
                for (int i = 0; i < 8; i++) {
                    if (fork() == 0) {
                        size_t size = 24u << 20;
                        volatile char *block = malloc(size);
                        for (size_t j = 0; j < size; j += 4096) block[j] = 1;
                        sleep(1);
                        _exit(0);
                    }
                }
                int status, killed = 0, finished = 0;
                while (wait(&status) > 0) {
                    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) killed++;
                    else finished++;
                }
                printf("killed=%d finished=%d\n", killed, finished);
                return 0;
            }
            """, new LimitOverrides { MemoryBytes = 64 * MiB });

        Assert.True(result.Verdict == Verdict.MemoryLimit, SecurityFixture.Describe(result));
        var match = Regex.Match(SecurityFixture.Text(result.Run!.Stdout), @"^killed=(\d+) finished=(\d+)\n$");
        Assert.True(match.Success, SecurityFixture.Describe(result));
        // At most two children fit at once; the OOM killer took the rest with SIGKILL.
        Assert.True(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 6, SecurityFixture.Describe(result));
        Assert.InRange(result.Run.Usage.PeakMemoryBytes, 24 * MiB, 64 * MiB);
    }

    [Fact(Timeout = 60000)]
    public async Task Memory_through_tmpfs_is_charged_to_the_jail()
    {
        // /dev/shm is allowed to be far larger than memory: its pages must still count as the jail's memory.
        var result = await fixture.Run("python", """
            chunk = b'x' * (1 << 20)
            with open('/dev/shm/hoard', 'wb', buffering=0) as f:
                for mib in range(1, 1025):
                    f.write(chunk)
                    if mib % 4 == 0:
                        print(mib, flush=True)
            print('wrote 1 GiB')
            """, new LimitOverrides { MemoryBytes = 48 * MiB, TmpBytes = 1024 * MiB });

        Assert.True(result.Verdict == Verdict.MemoryLimit, SecurityFixture.Describe(result));
        Assert.Equal(9, result.Run!.Signal);
        var written = SecurityFixture.Lines(result).Select(int.Parse).DefaultIfEmpty(0).Max();
        Assert.InRange(written, 4, 48);
        Assert.InRange(result.Run.Usage.PeakMemoryBytes, 16 * MiB, 48 * MiB);
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Cpu_spin_in_one_process_gets_the_cpu_limit_verdict()
    {
        var result = await fixture.RunC("""
            int main(void) { volatile unsigned long n = 0; for (;;) n++; }
            """, new LimitOverrides { CpuTimeMs = 500, WallTimeMs = 20000 });

        Assert.True(result.Verdict == Verdict.CpuLimit, SecurityFixture.Describe(result));
        Assert.Equal("CPU time 0.5 s reached", result.Run!.KillReason);
        Assert.Equal(9, result.Run.Signal);
        // Stopped at the limit, give or take the watchdog's polling (20 ms) on a loaded machine.
        Assert.InRange(result.Run.Usage.CpuTime, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(1500));
    }

    [Fact(Timeout = 60000)]
    public async Task Cpu_spin_in_many_processes_is_limited_for_the_whole_tree()
    {
        // Four spinners: a per-process CPU limit (RLIMIT_CPU) would let them burn 4 s in total.
        var result = await fixture.RunC("""
            int main(void)
            {
                for (int i = 0; i < 3; i++) if (fork() == 0) break;
                volatile unsigned long n = 0;
                for (;;) n++;
            }
            """, new LimitOverrides { CpuTimeMs = 1000, WallTimeMs = 20000 });

        Assert.True(result.Verdict == Verdict.CpuLimit, SecurityFixture.Describe(result));
        Assert.Equal("CPU time 1 s reached", result.Run!.KillReason);
        // The kill came from the tree's total: far below the 4 s that four per-process limits would allow.
        Assert.InRange(result.Run!.Usage.CpuTime, TimeSpan.FromMilliseconds(1000), TimeSpan.FromMilliseconds(2000));
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Sleep_past_the_wall_limit_gets_the_timeout_verdict()
    {
        var result = await fixture.Run("bash", "sleep 30 & sleep 30; echo never", new LimitOverrides { WallTimeMs = 700 });

        Assert.True(result.Verdict == Verdict.Timeout, SecurityFixture.Describe(result));
        Assert.Equal("wall time 0.7 s reached", result.Run!.KillReason);
        Assert.Equal(9, result.Run.Signal);
        Assert.InRange(result.Run.Usage.WallTime, TimeSpan.FromMilliseconds(700), TimeSpan.FromMilliseconds(2500));
        Assert.Equal("", SecurityFixture.Text(result.Run.Stdout));
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Theory(Timeout = 60000)]
    [InlineData("stdout")]
    [InlineData("stderr")]
    public async Task Output_flood_is_cut_at_the_limit_and_stopped(string stream)
    {
        var result = await fixture.RunC($$"""
            int main(void)
            {
                static char block[65536];
                memset(block, 'A', sizeof block);
                for (;;) fwrite(block, 1, sizeof block, {{stream}});
            }
            """, new LimitOverrides { OutputBytes = 100_000, WallTimeMs = 20000 });

        var run = result.Run!;
        Assert.True(result.Verdict == Verdict.OutputLimit, SecurityFixture.Describe(result));
        Assert.Equal($"{stream} went past 100000 bytes", run.KillReason);
        Assert.Equal(9, run.Signal);
        var (flooded, quiet) = stream == "stdout" ? (run.Stdout, run.Stderr) : (run.Stderr, run.Stdout);
        var (floodedCut, quietCut) = stream == "stdout" ? (run.StdoutTruncated, run.StderrTruncated) : (run.StderrTruncated, run.StdoutTruncated);
        Assert.True(floodedCut);
        Assert.False(quietCut);
        Assert.Equal(100_000, flooded.Length);
        Assert.True(flooded.Span.IndexOfAnyExcept((byte)'A') < 0);
        Assert.Equal(0, quiet.Length);
        Assert.Equal(100_000, run.Output.Length);
        Assert.True(run.Usage.WallTime < TimeSpan.FromSeconds(5), $"wall {run.Usage.WallTime}");
    }

    [Fact(Timeout = 60000)]
    public async Task Program_that_never_reads_its_stdin_does_not_deadlock_the_host()
    {
        // 10 MiB of stdin fill the pipe at once; the program ignores it and writes 2 MiB, far more than a pipe holds.
        var stdin = new byte[10 * MiB];
        Random.Shared.NextBytes(stdin);
        var result = await fixture.Run("python", """
            import sys
            sys.stdout.write('x' * (2 << 20))
            sys.stdout.write('\ndone\n')
            """, new LimitOverrides { OutputBytes = 4 * MiB, WallTimeMs = 20000 }, stdin: stdin);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal((2 * MiB) + 6, result.Run!.Stdout.Length);
        Assert.EndsWith("\ndone\n", SecurityFixture.Text(result.Run.Stdout), StringComparison.Ordinal);
        Assert.True(result.Run.Usage.WallTime < TimeSpan.FromSeconds(5), $"wall {result.Run.Usage.WallTime}");
    }

    [Fact(Timeout = 60000)]
    public async Task Disk_fill_in_tmp_shm_and_the_work_dir_hits_ENOSPC_and_one_big_file_hits_EFBIG()
    {
        // RLIMIT_FSIZE bounds one file only; many files under it must still stop at each tmpfs's size.
        var result = await fixture.Run("python", """
            import errno, os
            chunk = b'x' * (1 << 20)
            try:
                with open('/work/big', 'wb', buffering=0) as f:
                    for _ in range(12):
                        f.write(chunk)
                print('fsize OK')
            except OSError as e:
                print('fsize', errno.errorcode[e.errno], os.path.getsize('/work/big') >> 20)
            os.remove('/work/big')

            def fill(folder):
                total = n = 0
                try:
                    while True:
                        with open(os.path.join(folder, f'fill{n}'), 'wb', buffering=0) as f:
                            for _ in range(4):
                                total += f.write(chunk)
                        n += 1
                except OSError as e:
                    return errno.errorcode[e.errno], total >> 20

            for folder in ('/tmp', '/work', '/dev/shm'):
                code, mib = fill(folder)
                print(folder, code, mib)
            """, new LimitOverrides { TmpBytes = 16 * MiB, WorkDirBytes = 16 * MiB, FileSizeBytes = 8 * MiB });

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var lines = SecurityFixture.Lines(result);
        Assert.Equal(4, lines.Length);
        Assert.Equal("fsize EFBIG 8", lines[0]);
        foreach (var (line, folder) in lines.Skip(1).Zip(new[] { "/tmp", "/work", "/dev/shm" }))
        {
            var parts = line.Split(' ');
            Assert.Equal(folder, parts[0]);
            Assert.Equal("ENOSPC", parts[1]);
            Assert.InRange(int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), 12, 16);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Inode_exhaustion_in_tmp_is_bounded_by_the_jails_memory()
    {
        // Empty files use no blocks, so the tmpfs size never stops them; their inodes are kernel memory, charged to
        // the jail's cgroup.
        var result = await fixture.RunC("""
            int main(void)
            {
                char name[64];
                for (long n = 0;; n++) {
                    snprintf(name, sizeof name, "/tmp/%ld", n);
                    int fd = open(name, O_CREAT | O_WRONLY, 0600);
                    if (fd < 0) { printf("files=%ld open=%s\n", n, strerrorname_np(errno)); return 0; }
                    close(fd);
                }
            }
            """, new LimitOverrides { MemoryBytes = 48 * MiB, TmpBytes = 16 * MiB, CpuTimeMs = 30000, WallTimeMs = 30000 });

        Assert.True(result.Verdict == Verdict.MemoryLimit, SecurityFixture.Describe(result));
        Assert.InRange(result.Run!.Usage.PeakMemoryBytes, 16 * MiB, 48 * MiB);
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Open_file_exhaustion_hits_EMFILE_at_the_limit_which_cannot_be_raised()
    {
        var result = await fixture.Run("python", """
            import errno, resource
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            print('limit', soft, hard)
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard * 64, hard * 64))
                print('raise OK')
            except (ValueError, OSError):
                print('raise refused')
            files = []
            try:
                while True:
                    files.append(open('/dev/null'))
            except OSError as e:
                print('open', errno.errorcode[e.errno], len(files))
            """, new LimitOverrides { OpenFiles = 64 });

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var lines = SecurityFixture.Lines(result);
        Assert.Equal("limit 64 64", lines[0]);
        Assert.Equal("raise refused", lines[1]);
        var parts = lines[2].Split(' ');
        Assert.Equal("open", parts[0]);
        Assert.Equal("EMFILE", parts[1]);
        Assert.InRange(int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), 50, 61);
    }
}
