using System.Text.RegularExpressions;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>Invariant 9 and invariant 1's distinct uids: one jail against another, at the same time and after.</summary>
public sealed class CrossJailTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>Waits until a jail's program has put a file in its work directory (the host sees it directly).</summary>
    private static async Task WaitForFile(Jail.Jail jail, string name)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!File.Exists(Path.Combine(jail.WorkDirectory, name)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the jail never wrote {name}");
            Assert.False(jail.Exited.IsCompleted, $"the jail ended before writing {name}");
            await Task.Delay(10);
        }
    }

    private static void AssertRunsAs(JailHost host, Jail.Jail jail)
    {
        var pids = HostInspector.PidsOfJail(host, jail);
        Assert.NotEmpty(pids);
        foreach (var pid in pids)
        {
            if (HostInspector.ReadStatus(pid) is not { } status) continue;
            Assert.All(status.Uids, uid => Assert.Equal(jail.HostUid, uid));
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Concurrent_jails_cannot_see_each_others_files_tmp_ipc_processes_or_sockets_and_run_as_distinct_uids()
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        var limits = JailLimits.Default with { WallTime = TimeSpan.FromSeconds(30) };
        var a = await fixture.Host.StartAsync(SecurityFixture.Python($$"""
            import ctypes, os, re, socket, time
            secret = 'secret-{{id}}'
            for folder in ('/work', '/tmp', '/dev/shm'):
                with open(folder + '/secret-a', 'w') as f:
                    f.write(secret)
            listening = socket.socket(socket.AF_UNIX)
            listening.bind('/tmp/a.sock')
            listening.listen()
            abstract = socket.socket(socket.AF_UNIX)
            abstract.bind('\0cordon-a-{{id}}')
            abstract.listen()
            libc = ctypes.CDLL(None, use_errno=True)
            print('a_shm', libc.shmget(0x434f5244, 4096, 0o1666) >= 0)
            tmp = [line for line in open('/proc/self/mountinfo') if ' /tmp ' in line][0]
            print('a_host_uid', re.search(r'uid=(\d+)', tmp).group(1), flush=True)
            open('/work/ready', 'w').close()
            while not os.path.exists('/work/go'):
                time.sleep(0.01)
            print('a_files_intact', all(open(f + '/secret-a').read() == secret for f in ('/work', '/tmp', '/dev/shm')))
            for s, label in ((listening, 'path'), (abstract, 'abstract')):
                s.setblocking(False)
                try:
                    s.accept()
                    print('a_connection_from_outside', label)
                except BlockingIOError:
                    print('a_no_connection', label)
            """, limits));
        await using (a)
        {
            var aRun = a.RunAsync();
            await WaitForFile(a, "ready");
            AssertRunsAs(fixture.Host, a);

            var b = await fixture.Host.StartAsync(SecurityFixture.Python($$"""
                import ctypes, errno, os, signal, socket
                for folder in ('/work', '/tmp', '/dev/shm'):
                    print('b_sees', folder, sorted(os.listdir(folder)))
                found = False
                for root, dirs, files in os.walk('/'):
                    if root == '/':
                        dirs[:] = [d for d in dirs if d not in ('proc', 'usr')]
                    found = found or 'secret-a' in files
                print('b_secret_anywhere', found)
                for label, address in (('path', '/tmp/a.sock'), ('abstract', '\0cordon-a-{{id}}')):
                    s = socket.socket(socket.AF_UNIX)
                    try:
                        s.connect(address)
                        print('b_connect', label, 'OK')
                    except OSError as e:
                        print('b_connect', label, errno.errorcode[e.errno])
                libc = ctypes.CDLL(None, use_errno=True)
                print('b_shm', libc.shmget(0x434f5244, 4096, 0o666), errno.errorcode[ctypes.get_errno()])
                print('b_sysvipc_segments', len(open('/proc/sysvipc/shm').readlines()) - 1)
                print('b_pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
                try:
                    os.kill(-1, signal.SIGKILL)
                    print('b_kill_all OK')
                except OSError as e:
                    print('b_kill_all', errno.errorcode[e.errno])
                """, limits));
            await using (b)
            {
                // Gated but set up: B's bwrap processes already run as B's uid, which is not A's.
                AssertRunsAs(fixture.Host, b);
                Assert.NotEqual(a.HostUid, b.HostUid);
                foreach (var uid in new[] { a.HostUid, b.HostUid })
                    Assert.InRange(uid, fixture.Host.Options.FirstUid, fixture.Host.Options.FirstUid + (uint)fixture.Host.Options.UidCount - 1);

                var bResult = await b.RunAsync();
                Assert.True(bResult.Verdict == Verdict.Ok, SecurityFixture.Describe(bResult));
                Assert.Equal(
                    [
                        "b_sees /work []", "b_sees /tmp []", "b_sees /dev/shm []", "b_secret_anywhere False",
                        "b_connect path ENOENT", "b_connect abstract ECONNREFUSED",
                        "b_shm -1 ENOENT", "b_sysvipc_segments 0", "b_pids [1, 2]",
                        // kill(-1) finds no process it may signal: B's namespace holds only B.
                        "b_kill_all ESRCH",
                    ],
                    SecurityFixture.Text(bResult.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }

            Assert.False(a.Exited.IsCompleted, "B's kill(-1) reached A");
            a.WriteFile("go", ""u8);
            var aResult = await aRun;
            Assert.True(aResult.Verdict == Verdict.Ok, SecurityFixture.Describe(aResult));
            Assert.Equal(
                ["a_shm True", $"a_host_uid {a.HostUid}", "a_files_intact True", "a_no_connection path", "a_no_connection abstract"],
                SecurityFixture.Text(aResult.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Nothing_of_a_finished_jail_is_visible_to_the_next()
    {
        var first = await fixture.Run("python", """
            import ctypes, subprocess
            for folder in ('/work', '/tmp', '/dev/shm'):
                open(folder + '/left-behind', 'w').write('x')
            libc = ctypes.CDLL(None, use_errno=True)
            print(libc.shmget(0x434f5245, 4096, 0o1666) >= 0)
            subprocess.Popen(['sleep', '1000'], start_new_session=True)
            """);
        Assert.Equal("True\n", SecurityFixture.Text(first.Run!.Stdout));

        var second = await fixture.Run("python", """
            import os
            print([sorted(os.listdir(f)) for f in ('/work', '/tmp', '/dev/shm')])
            print(len(open('/proc/sysvipc/shm').readlines()) - 1, sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
            """);
        Assert.True(second.Verdict == Verdict.Ok, SecurityFixture.Describe(second));
        Assert.Equal(["[['main.py'], [], []]", "0 [1, 2]"], SecurityFixture.Lines(second));
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }

    [Fact(Timeout = 60000)]
    public async Task Jails_do_not_share_per_uid_kernel_quotas()
    {
        // inotify instances are counted per host uid (fs.inotify.max_user_instances) across user namespaces: a jail
        // that takes them all must not starve the next jail, which it would if both ran as one uid.
        var quota = int.Parse(File.ReadAllText("/proc/sys/fs/inotify/max_user_instances").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var limits = JailLimits.Default with { OpenFiles = quota + 64, WallTime = TimeSpan.FromSeconds(30) };
        const string Take = """
            import ctypes, errno, os, sys, time
            libc = ctypes.CDLL(None, use_errno=True)
            held = []
            while len(held) < int(sys.argv[1]):
                fd = libc.inotify_init1(0)
                if fd < 0:
                    break
                held.append(fd)
            print(len(held), errno.errorcode.get(ctypes.get_errno(), 'none') if len(held) < int(sys.argv[1]) else 'none', flush=True)
            if sys.argv[2] == 'hold':
                open('/work/ready', 'w').close()
                while not os.path.exists('/work/go'):
                    time.sleep(0.01)
            """;
        JailSpec Spec(int count, string mode) => SecurityFixture.Python(Take, limits) with
        {
            Argv = ["/usr/bin/python3", "-c", Take, count.ToString(System.Globalization.CultureInfo.InvariantCulture), mode],
        };

        var hog = await fixture.Host.StartAsync(Spec(quota * 2, "hold"));
        await using (hog)
        {
            var hogRun = hog.RunAsync();
            await WaitForFile(hog, "ready");

            var other = await fixture.Host.StartAsync(Spec(16, "exit"));
            await using (other)
            {
                Assert.NotEqual(hog.HostUid, other.HostUid);
                var otherResult = await other.RunAsync();
                Assert.True(otherResult.Verdict == Verdict.Ok, SecurityFixture.Describe(otherResult));
                Assert.Equal("16 none\n", SecurityFixture.Text(otherResult.Stdout));
            }

            hog.WriteFile("go", ""u8);
            var hogResult = await hogRun;
            Assert.True(hogResult.Verdict == Verdict.Ok, SecurityFixture.Describe(hogResult));
            // The hog really exhausted its uid's quota: EMFILE at (at most) the host's per-uid limit.
            var match = Regex.Match(SecurityFixture.Text(hogResult.Stdout), @"^(\d+) (\w+)\n$");
            Assert.True(match.Success, SecurityFixture.Describe(hogResult));
            Assert.Equal("EMFILE", match.Groups[2].Value);
            Assert.InRange(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), quota - 8, quota);
        }
        await HostInspector.AssertNothingLeftAsync(fixture.Host);
    }
}
