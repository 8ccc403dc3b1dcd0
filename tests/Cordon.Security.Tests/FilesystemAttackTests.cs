using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>Attacks on the host's filesystem from inside a jail: reading secrets, writing anywhere, /proc/sys.</summary>
public sealed class FilesystemAttackTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    [Fact(Timeout = 60000)]
    public async Task Host_secrets_and_host_directories_are_not_visible()
    {
        var result = await fixture.Run("python", """
            import os
            for path in ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/etc/ssh', '/etc/machine-id', '/etc/hostname',
                         '/etc/resolv.conf', '/etc/pam.d', '/root', '/home', '/run', '/run/cordon', '/var', '/sys', '/boot',
                         '/srv', '/mnt', '/media', '/proc/1/root/etc/shadow', '/proc/self/root/root']:
                print(path, 'present' if os.path.lexists(path) else 'missing')
            # /opt holds only Cordon's own launchers, read-only; nothing of the host's /opt.
            print('opt', os.listdir('/opt'), os.listdir('/opt/cordon'), os.access('/opt/cordon/kernels', os.W_OK))
            print(open('/etc/passwd').read(), end='')
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var lines = SecurityFixture.Lines(result);
        var checks = lines.TakeWhile(l => l.StartsWith('/')).ToList();
        Assert.Equal(20, checks.Count);
        Assert.All(checks, line => Assert.EndsWith(" missing", line, StringComparison.Ordinal));
        Assert.Equal("opt ['cordon'] ['kernels'] False", lines[checks.Count]);
        // /etc/passwd is Cordon's three-line file, not the host's.
        Assert.Equal(
            ["root:x:0:0:root:/root:/usr/sbin/nologin", "sandbox:x:1000:1000:sandbox:/tmp:/bin/sh", "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"],
            lines.Skip(checks.Count + 1).ToArray());
    }

    [Fact(Timeout = 60000)]
    public async Task Proc_sys_writes_fail_and_leave_the_host_unchanged()
    {
        string[] targets =
        [
            "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/panic", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/hostname",
            "/proc/sys/user/max_user_namespaces", "/proc/sys/kernel/io_uring_disabled", "/proc/sys/kernel/perf_event_paranoid",
        ];
        // drop_caches is write-only; every other target's host value must survive the attack.
        var before = targets.Where(t => t.StartsWith("/proc/sys/", StringComparison.Ordinal) && !t.EndsWith("drop_caches", StringComparison.Ordinal))
            .ToDictionary(t => t, File.ReadAllText);
        var result = await fixture.RunC($$"""
            int main(void)
            {
                const char *targets[] = { {{string.Join(", ", targets.Select(t => $"\"{t}\""))}}, NULL };
                for (int i = 0; targets[i]; i++) {
                    int fd = open(targets[i], O_WRONLY);
                    if (fd < 0) { report(targets[i], -1); continue; }
                    report(targets[i], write(fd, "|/tmp/pwn\n", 10));
                }
                return 0;
            }
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        // Host root is not mapped in the jail's user namespace, so the files are not the jail's to write.
        Assert.Equal(targets.Select(t => t + "=EACCES").ToArray(), SecurityFixture.Lines(result));
        foreach (var (path, content) in before) Assert.Equal(content, File.ReadAllText(path));
    }

    [Fact(Timeout = 60000)]
    public async Task Root_dev_and_runtime_paths_are_read_only_and_writes_outside_work_and_tmp_do_not_reach_the_host()
    {
        var escape = "cordon-escape-" + Guid.NewGuid().ToString("N");
        var result = await fixture.Run("python", $$"""
            import errno
            for path in ['/x', '/usr/x', '/usr/bin/python3', '/etc/x', '/etc/passwd', '/bin/x', '/lib/x', '/dev/x',
                         '/work/../x', '/proc/x', '/tmp/{{escape}}', '/work/{{escape}}', '/dev/shm/{{escape}}']:
                try:
                    with open(path, 'a') as f:
                        f.write('escaped')
                    print(path, 'OK')
                except OSError as e:
                    print(path, errno.errorcode[e.errno])
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal(
            [
                // New names meet the read-only mount; existing host files (owned by the unmapped host root) are
                // refused by permission first.
                "/x EROFS", "/usr/x EROFS", "/usr/bin/python3 EACCES", "/etc/x EROFS", "/etc/passwd EACCES", "/bin/x EROFS",
                "/lib/x EROFS", "/dev/x EROFS", "/work/../x EROFS", "/proc/x ENOENT",
                // The jail's own size-limited tmpfs mounts are writable...
                $"/tmp/{escape} OK", $"/work/{escape} OK", $"/dev/shm/{escape} OK",
            ],
            SecurityFixture.Lines(result));
        // ...and none of them is the host's.
        Assert.False(File.Exists("/tmp/" + escape));
        Assert.False(File.Exists("/dev/shm/" + escape));
        Assert.False(File.Exists("/" + escape));
        Assert.False(File.Exists("/x"));
    }
}
