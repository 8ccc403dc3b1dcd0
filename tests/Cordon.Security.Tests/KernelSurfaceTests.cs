using System.Globalization;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>
/// Attacks on the kernel's surface: every one is a real C program, compiled in a jail by the engine and run in
/// another, that makes the dangerous call and prints what the kernel answered (<c>name=ERRNO</c>).
/// </summary>
public sealed class KernelSurfaceTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    private static void AssertReports(ExecutionResult result, params string[] expected)
    {
        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        Assert.Equal(expected, SecurityFixture.Lines(result));
    }

    [Fact(Timeout = 60000)]
    public async Task Ptrace_and_cross_process_memory_access_are_refused()
    {
        var result = await fixture.RunC("""
            #include <sys/ptrace.h>
            #include <sys/uio.h>
            int main(int argc, char **argv)
            {
                pid_t host = atoi(argv[1]);
                pid_t sibling = fork();
                if (sibling == 0) { for (;;) pause(); }
                REPORT("traceme", ptrace(PTRACE_TRACEME, 0, 0, 0));
                REPORT("attach_sibling", ptrace(PTRACE_ATTACH, sibling, 0, 0));
                REPORT("seize_sibling", ptrace(PTRACE_SEIZE, sibling, 0, 0));
                REPORT("attach_init", ptrace(PTRACE_ATTACH, 1, 0, 0));
                REPORT("attach_host", ptrace(PTRACE_ATTACH, host, 0, 0));
                char buf[16];
                struct iovec local = { buf, sizeof buf }, remote = { (void *)0x400000, sizeof buf };
                REPORT("vm_readv_sibling", process_vm_readv(sibling, &local, 1, &remote, 1, 0));
                REPORT("vm_writev_sibling", process_vm_writev(sibling, &local, 1, &remote, 1, 0));
                kill(sibling, SIGKILL);
                return 0;
            }
            """, args: [Environment.ProcessId.ToString(CultureInfo.InvariantCulture)]);

        AssertReports(result, "traceme=EPERM", "attach_sibling=EPERM", "seize_sibling=EPERM", "attach_init=EPERM",
            "attach_host=EPERM", "vm_readv_sibling=EPERM", "vm_writev_sibling=EPERM");
    }

    [Fact(Timeout = 60000)]
    public async Task Keyring_syscalls_are_refused()
    {
        var result = await fixture.RunC("""
            #include <linux/keyctl.h>
            int main(void)
            {
                REPORT("keyctl_user_keyring", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 1));
                REPORT("keyctl_join_session", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "cordon"));
                REPORT("add_key", syscall(SYS_add_key, "user", "cordon", "secret", 6, KEY_SPEC_PROCESS_KEYRING));
                REPORT("request_key", syscall(SYS_request_key, "user", "cordon", NULL, 0));
                return 0;
            }
            """);

        AssertReports(result, "keyctl_user_keyring=EPERM", "keyctl_join_session=EPERM", "add_key=EPERM", "request_key=EPERM");
    }

    [Fact(Timeout = 60000)]
    public async Task Io_uring_is_refused()
    {
        var result = await fixture.RunC("""
            #include <linux/io_uring.h>
            int main(void)
            {
                struct io_uring_params params;
                memset(&params, 0, sizeof params);
                REPORT("io_uring_setup", syscall(SYS_io_uring_setup, 8, &params));
                REPORT("io_uring_enter", syscall(SYS_io_uring_enter, 0, 1, 0, 0, NULL, 0));
                REPORT("io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
                return 0;
            }
            """);

        AssertReports(result, "io_uring_setup=EPERM", "io_uring_enter=EPERM", "io_uring_register=EPERM");
    }

    [Fact(Timeout = 60000)]
    public async Task Userfaultfd_is_refused()
    {
        var result = await fixture.RunC("""
            int main(void)
            {
                REPORT("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
                REPORT("userfaultfd_user_only", syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */));
                REPORT("dev_userfaultfd", open("/dev/userfaultfd", O_RDWR));
                return 0;
            }
            """);

        AssertReports(result, "userfaultfd=EPERM", "userfaultfd_user_only=EPERM", "dev_userfaultfd=ENOENT");
    }

    [Fact(Timeout = 60000)]
    public async Task Bpf_is_refused()
    {
        var result = await fixture.RunC("""
            #include <linux/bpf.h>
            int main(void)
            {
                union bpf_attr attr;
                memset(&attr, 0, sizeof attr);
                attr.map_type = BPF_MAP_TYPE_ARRAY;
                attr.key_size = 4;
                attr.value_size = 4;
                attr.max_entries = 1;
                REPORT("bpf_map_create", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
                struct bpf_insn program[] = { { .code = 0xb7, .dst_reg = 0, .imm = 0 }, { .code = 0x95 } };
                memset(&attr, 0, sizeof attr);
                attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
                attr.insns = (unsigned long)program;
                attr.insn_cnt = 2;
                attr.license = (unsigned long)"GPL";
                REPORT("bpf_prog_load", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
                return 0;
            }
            """);

        AssertReports(result, "bpf_map_create=EPERM", "bpf_prog_load=EPERM");
    }

    [Fact(Timeout = 60000)]
    public async Task Perf_event_open_is_refused()
    {
        var result = await fixture.RunC("""
            #include <linux/perf_event.h>
            int main(void)
            {
                struct perf_event_attr attr;
                memset(&attr, 0, sizeof attr);
                attr.size = sizeof attr;
                attr.type = PERF_TYPE_SOFTWARE;
                attr.config = PERF_COUNT_SW_CPU_CLOCK;
                attr.exclude_kernel = 1;
                REPORT("perf_self", syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
                REPORT("perf_all_cpus", syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0));
                return 0;
            }
            """);

        AssertReports(result, "perf_self=EPERM", "perf_all_cpus=EPERM");
    }

    [Fact(Timeout = 60000)]
    public async Task Nested_user_and_other_namespaces_are_refused()
    {
        var result = await fixture.RunC("""
            #include <sched.h>
            #include <linux/sched.h>
            int main(void)
            {
                REPORT("unshare_user", unshare(CLONE_NEWUSER));
                REPORT("unshare_mount", unshare(CLONE_NEWNS));
                REPORT("unshare_net", unshare(CLONE_NEWNET));
                REPORT("unshare_pid", unshare(CLONE_NEWPID));
                REPORT("clone_user", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
                REPORT("clone_pid", syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0));
                REPORT("clone_net", syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
                struct clone_args args;
                memset(&args, 0, sizeof args);
                args.flags = CLONE_NEWUSER;
                args.exit_signal = SIGCHLD;
                REPORT("clone3_user", syscall(SYS_clone3, &args, sizeof args));
                REPORT("setns_user", setns(open("/proc/self/ns/user", O_RDONLY), CLONE_NEWUSER));
                REPORT("setns_mount", setns(open("/proc/self/ns/mnt", O_RDONLY), CLONE_NEWNS));
                /* A plain fork still works: the filter refuses namespace flags, not process creation. */
                pid_t child = fork();
                if (child == 0) _exit(0);
                REPORT("fork", child);
                waitpid(child, NULL, 0);
                fflush(stdout);
                int status = system("unshare --user --map-root-user true 2>/dev/null");
                printf("unshare_command=%s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "OK" : "failed");
                return 0;
            }
            """);

        AssertReports(result, "unshare_user=EPERM", "unshare_mount=EPERM", "unshare_net=EPERM", "unshare_pid=EPERM",
            "clone_user=EPERM", "clone_pid=EPERM", "clone_net=EPERM",
            // clone3 passes its flags in memory the filter cannot read: refused as "not implemented" so libc falls back.
            "clone3_user=ENOSYS", "setns_user=EPERM", "setns_mount=EPERM", "fork=OK", "unshare_command=failed");
    }

    [Fact(Timeout = 60000)]
    public async Task Mount_and_root_changing_syscalls_are_refused()
    {
        var result = await fixture.RunC("""
            #include <sys/mount.h>
            int main(void)
            {
                REPORT("mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
                REPORT("mount_bind", mount("/proc", "/work", NULL, MS_BIND, NULL));
                REPORT("remount_root_rw", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
                REPORT("umount_work", umount2("/work", MNT_DETACH));
                REPORT("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
                REPORT("chroot", chroot("/tmp"));
                REPORT("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/usr", 1 /* OPEN_TREE_CLONE */));
                REPORT("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
                REPORT("fspick", syscall(SYS_fspick, AT_FDCWD, "/", 0));
                REPORT("move_mount", syscall(SYS_move_mount, AT_FDCWD, "/tmp", AT_FDCWD, "/work", 0));
                REPORT("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, NULL, 0));
                return 0;
            }
            """);

        AssertReports(result, "mount_tmpfs=EPERM", "mount_bind=EPERM", "remount_root_rw=EPERM", "umount_work=EPERM",
            "pivot_root=EPERM", "chroot=EPERM", "open_tree=EPERM", "fsopen=EPERM", "fspick=EPERM", "move_mount=EPERM",
            "mount_setattr=EPERM");
    }

    [Fact(Timeout = 60000)]
    public async Task Tiocsti_injection_into_a_controlling_terminal_is_refused_including_the_high_bit_variant()
    {
        // The host allows TIOCSTI (dev.tty.legacy_tiocsti=1) on one's own controlling terminal, so the program makes
        // a pty its controlling terminal first: only the filter stands between it and injected keystrokes.
        var result = await fixture.RunC("""
            #include <sys/mman.h>
            int main(void)
            {
                REPORT("dev_tty", open("/dev/tty", O_RDWR));
                int master = posix_openpt(O_RDWR | O_NOCTTY);
                grantpt(master);
                unlockpt(master);
                char *name = ptsname(master);
                pid_t child = fork();
                if (child == 0) {
                    setsid();
                    int slave = open(name, O_RDWR);
                    REPORT("controlling_tty", ioctl(slave, TIOCSCTTY, 0));
                    char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
                    low[0] = 'X';
                    REPORT("tiocsti", ioctl(slave, TIOCSTI, low));
                    REPORT("tiocsti_high_bit", syscall(SYS_ioctl, slave, (0x123UL << 32) | TIOCSTI, low));
                    report32("tiocsti_int80", sys32(54, slave, TIOCSTI, (long)low, 0, 0));
                    REPORT("tioclinux", ioctl(slave, TIOCLINUX, low));
                    fcntl(slave, F_SETFL, O_NONBLOCK);
                    char buf[16];
                    REPORT("injected_input", read(slave, buf, sizeof buf));
                    /* The terminal itself works: what the master writes, the slave reads. */
                    write(master, "ok\n", 3);
                    usleep(20000);
                    REPORT("typed_input", read(slave, buf, sizeof buf));
                    _exit(0);
                }
                waitpid(child, NULL, 0);
                return 0;
            }
            """);

        AssertReports(result, "dev_tty=ENXIO", "controlling_tty=OK", "tiocsti=EPERM", "tiocsti_high_bit=EPERM",
            "tiocsti_int80=EPERM", "tioclinux=EPERM", "injected_input=EAGAIN", "typed_input=OK");
    }

    [Fact(Timeout = 60000)]
    public async Task The_32_bit_syscall_abi_is_filtered_the_same_way_and_x32_is_killed()
    {
        var result = await fixture.RunC("""
            #include <sys/mman.h>
            int main(void)
            {
                char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
                strcpy(low, "user");
                long p = (long)low;
                report32("getpid", sys32(20, 0, 0, 0, 0, 0));
                report32("ptrace", sys32(26, 0 /* PTRACE_TRACEME */, 0, 0, 0, 0));
                report32("mount", sys32(21, p, p, p, 0, 0));
                report32("umount2", sys32(52, p, 0, 0, 0, 0));
                report32("chroot", sys32(61, p, 0, 0, 0, 0));
                report32("pivot_root", sys32(217, p, p, 0, 0, 0));
                report32("ioctl_tiocsti", sys32(54, 0, TIOCSTI, p, 0, 0));
                report32("socketcall", sys32(102, 1 /* SYS_SOCKET */, p, 0, 0, 0));
                report32("socket_inet", sys32(359, AF_INET, SOCK_STREAM, 0, 0, 0));
                report32("socketpair_inet", sys32(360, AF_INET, SOCK_STREAM, 0, p, 0));
                report32("unshare_user", sys32(310, 0x10000000 /* CLONE_NEWUSER */, 0, 0, 0, 0));
                report32("clone_user", sys32(120, 0x10000000 | SIGCHLD, 0, 0, 0, 0));
                report32("clone3", sys32(435, p, 64, 0, 0, 0));
                report32("setns", sys32(346, 0, 0, 0, 0, 0));
                report32("keyctl", sys32(288, 0, -4, 1, 0, 0));
                report32("add_key", sys32(286, p, p, p, 4, -2));
                report32("request_key", sys32(287, p, p, 0, 0, 0));
                report32("bpf", sys32(357, 0, p, 64, 0, 0));
                report32("perf_event_open", sys32(336, p, 0, -1, -1, 0));
                report32("userfaultfd", sys32(374, 0, 0, 0, 0, 0));
                report32("io_uring_setup", sys32(425, 8, p, 0, 0, 0));
                report32("kexec_load", sys32(283, 0, 0, 0, 0, 0));
                report32("init_module", sys32(128, p, 4, p, 0, 0));
                report32("open_by_handle_at", sys32(342, AT_FDCWD, p, 0, 0, 0));
                report32("process_vm_readv", sys32(347, 1, p, 1, p, 1));
                /* x32 (bit 30 set) has no business here: the filter kills the process outright. */
                pid_t child = fork();
                if (child == 0) { syscall(0x40000000 | SYS_getpid); _exit(0); }
                int status;
                waitpid(child, &status, 0);
                printf("x32=%s\n", WIFSIGNALED(status) ? sigabbrev_np(WTERMSIG(status)) : "survived");
                return 0;
            }
            """);

        AssertReports(result, "getpid=OK", "ptrace=EPERM", "mount=EPERM", "umount2=EPERM", "chroot=EPERM", "pivot_root=EPERM",
            "ioctl_tiocsti=EPERM", "socketcall=EPERM", "socket_inet=EPERM", "socketpair_inet=EPERM", "unshare_user=EPERM",
            "clone_user=EPERM", "clone3=ENOSYS", "setns=EPERM", "keyctl=EPERM", "add_key=EPERM", "request_key=EPERM",
            "bpf=EPERM", "perf_event_open=EPERM", "userfaultfd=EPERM", "io_uring_setup=EPERM", "kexec_load=EPERM",
            "init_module=EPERM", "open_by_handle_at=EPERM", "process_vm_readv=EPERM", "x32=SYS");
    }

    [Fact(Timeout = 60000)]
    public async Task Kernel_module_kexec_handle_and_host_control_syscalls_are_refused()
    {
        var result = await fixture.RunC("""
            #include <time.h>
            int main(void)
            {
                REPORT("init_module", syscall(SYS_init_module, "x", 1, ""));
                REPORT("finit_module", syscall(SYS_finit_module, 0, "", 0));
                REPORT("delete_module", syscall(SYS_delete_module, "ext4", 0));
                REPORT("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
                REPORT("kexec_file_load", syscall(SYS_kexec_file_load, 0, 0, 0, "", 0));
                char handle[128] = {0};
                int mount_id;
                REPORT("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc/passwd", handle, &mount_id, 0));
                REPORT("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, handle, O_RDONLY));
                REPORT("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
                REPORT("swapon", syscall(SYS_swapon, "/work/swap", 0));
                REPORT("acct", syscall(SYS_acct, "/work/acct"));
                REPORT("syslog", syscall(SYS_syslog, 3, handle, sizeof handle));
                REPORT("iopl", syscall(SYS_iopl, 3));
                REPORT("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
                struct timespec now;
                clock_gettime(CLOCK_REALTIME, &now);
                REPORT("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, &now));
                REPORT("fanotify_init", syscall(SYS_fanotify_init, 0, O_RDONLY));
                REPORT("quotactl", syscall(SYS_quotactl, 0, "/work", 0, NULL));
                REPORT("vhangup", syscall(SYS_vhangup));
                return 0;
            }
            """);

        AssertReports(result, "init_module=EPERM", "finit_module=EPERM", "delete_module=EPERM", "kexec_load=EPERM",
            "kexec_file_load=EPERM", "name_to_handle_at=EPERM", "open_by_handle_at=EPERM", "reboot=EPERM", "swapon=EPERM",
            "acct=EPERM", "syslog=EPERM", "iopl=EPERM", "ioperm=EPERM", "clock_settime=EPERM", "fanotify_init=EPERM",
            "quotactl=EPERM", "vhangup=EPERM");
    }

    [Fact(Timeout = 60000)]
    public async Task Setuid_binaries_do_not_grant_privileges()
    {
        // The attacker's code runs inside each setuid-root binary (LD_PRELOAD is honoured only when the kernel
        // did not treat the exec as privileged) and reports the identity and capabilities it got.
        var result = await fixture.Run("bash", """
            cat > /tmp/probe.c <<'EOF'
            #define _GNU_SOURCE
            #include <stdio.h>
            #include <string.h>
            #include <unistd.h>
            __attribute__((constructor)) static void probe(void)
            {
                uid_t r, e, s;
                getresuid(&r, &e, &s);
                char exe[256] = {0}, line[256], caps[64] = "?";
                readlink("/proc/self/exe", exe, sizeof exe - 1);
                FILE *f = fopen("/proc/self/status", "r");
                while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "CapEff:", 7)) sscanf(line + 7, "%63s", caps);
                printf("%s ruid=%u euid=%u suid=%u capeff=%s\n", exe, r, e, s, caps);
                fflush(stdout);
                _exit(0);
            }
            EOF
            gcc -shared -fPIC -o /tmp/probe.so /tmp/probe.c || exit 1
            for binary in /usr/bin/su /usr/bin/passwd /usr/bin/mount /usr/bin/newgrp /usr/bin/chfn /usr/bin/gpasswd; do
                stat -c '%n owner=%u mode=%A' "$binary"
                LD_PRELOAD=/tmp/probe.so "$binary" </dev/null
            done
            grep NoNewPrivs /proc/self/status
            """);

        Assert.True(result.Verdict == Verdict.Ok, SecurityFixture.Describe(result));
        var lines = SecurityFixture.Lines(result);
        string[] binaries = ["/usr/bin/su", "/usr/bin/passwd", "/usr/bin/mount", "/usr/bin/newgrp", "/usr/bin/chfn", "/usr/bin/gpasswd"];
        Assert.Equal(binaries.Length * 2 + 1, lines.Length);
        for (var i = 0; i < binaries.Length; i++)
        {
            // The setuid bit is there, but its owner (host root) is not mapped in the jail (shows as 65534)...
            Assert.Equal($"{binaries[i]} owner=65534 mode=-rwsr-xr-x", lines[2 * i]);
            // ...and the binary ran with the jail's own identity and no capability.
            Assert.Equal($"{binaries[i]} ruid=1000 euid=1000 suid=1000 capeff=0000000000000000", lines[(2 * i) + 1]);
        }
        Assert.Equal("NoNewPrivs:\t1", lines[^1]);
    }
}
