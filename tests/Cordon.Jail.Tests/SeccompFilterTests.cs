using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using static Cordon.Jail.Interop.SeccompNative;

namespace Cordon.Jail.Tests;

/// <summary>
/// Checks the seccomp interop against the C headers, and the filter against the kernel: a small C probe loads the
/// exported program and reports, one line per attack, what each syscall returned.
/// </summary>
public sealed class SeccompFilterTests : IDisposable
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(45);

    private readonly string _dir = Directory.CreateTempSubdirectory("cordon-seccomp-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact(Timeout = 60000)]
    public async Task Struct_layout_and_constants_match_the_C_headers()
    {
        // (name, C expression, C# value): one table drives both the C program and the comparison.
        (string Name, string C, long CSharp)[] checks =
        [
            ("sizeof_scmp_arg_cmp", "sizeof(struct scmp_arg_cmp)", Marshal.SizeOf<scmp_arg_cmp>()),
            ("unsafe_sizeof_scmp_arg_cmp", "sizeof(struct scmp_arg_cmp)", Unsafe.SizeOf<scmp_arg_cmp>()),
            ("sizeof_scmp_compare", "sizeof(enum scmp_compare)", Unsafe.SizeOf<scmp_compare>()),
            ("sizeof_scmp_filter_attr", "sizeof(enum scmp_filter_attr)", Unsafe.SizeOf<scmp_filter_attr>()),
            ("offsetof_arg", "offsetof(struct scmp_arg_cmp, arg)", Offset(nameof(scmp_arg_cmp.arg))),
            ("offsetof_op", "offsetof(struct scmp_arg_cmp, op)", Offset(nameof(scmp_arg_cmp.op))),
            ("offsetof_datum_a", "offsetof(struct scmp_arg_cmp, datum_a)", Offset(nameof(scmp_arg_cmp.datum_a))),
            ("offsetof_datum_b", "offsetof(struct scmp_arg_cmp, datum_b)", Offset(nameof(scmp_arg_cmp.datum_b))),
            ("SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS),
            ("SCMP_ACT_ALLOW", "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW),
            ("SCMP_ACT_ERRNO_EPERM", "SCMP_ACT_ERRNO(EPERM)", SCMP_ACT_ERRNO((int)Errno.EPERM)),
            ("SCMP_ACT_ERRNO_ENOSYS", "SCMP_ACT_ERRNO(ENOSYS)", SCMP_ACT_ERRNO((int)Errno.ENOSYS)),
            ("SCMP_ACT_ERRNO_masked", "SCMP_ACT_ERRNO(0x12345)", SCMP_ACT_ERRNO(0x12345)),
            ("SCMP_ARCH_NATIVE", "SCMP_ARCH_NATIVE", SCMP_ARCH_NATIVE),
            ("SCMP_ARCH_X86", "SCMP_ARCH_X86", SCMP_ARCH_X86),
            ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86_64", SCMP_ARCH_X86_64),
            ("SCMP_ARCH_X32", "SCMP_ARCH_X32", SCMP_ARCH_X32),
            ("AUDIT_ARCH_I386", "AUDIT_ARCH_I386", SCMP_ARCH_X86),
            ("AUDIT_ARCH_X86_64", "AUDIT_ARCH_X86_64", SCMP_ARCH_X86_64),
            ("__NR_SCMP_ERROR", "__NR_SCMP_ERROR", __NR_SCMP_ERROR),
            ("SCMP_FLTATR_ACT_DEFAULT", "SCMP_FLTATR_ACT_DEFAULT", (long)scmp_filter_attr.SCMP_FLTATR_ACT_DEFAULT),
            ("SCMP_FLTATR_ACT_BADARCH", "SCMP_FLTATR_ACT_BADARCH", (long)scmp_filter_attr.SCMP_FLTATR_ACT_BADARCH),
            ("SCMP_FLTATR_CTL_NNP", "SCMP_FLTATR_CTL_NNP", (long)scmp_filter_attr.SCMP_FLTATR_CTL_NNP),
            ("SCMP_FLTATR_CTL_TSYNC", "SCMP_FLTATR_CTL_TSYNC", (long)scmp_filter_attr.SCMP_FLTATR_CTL_TSYNC),
            ("SCMP_FLTATR_API_TSKIP", "SCMP_FLTATR_API_TSKIP", (long)scmp_filter_attr.SCMP_FLTATR_API_TSKIP),
            ("SCMP_FLTATR_CTL_LOG", "SCMP_FLTATR_CTL_LOG", (long)scmp_filter_attr.SCMP_FLTATR_CTL_LOG),
            ("SCMP_FLTATR_CTL_SSB", "SCMP_FLTATR_CTL_SSB", (long)scmp_filter_attr.SCMP_FLTATR_CTL_SSB),
            ("SCMP_FLTATR_CTL_OPTIMIZE", "SCMP_FLTATR_CTL_OPTIMIZE", (long)scmp_filter_attr.SCMP_FLTATR_CTL_OPTIMIZE),
            ("SCMP_FLTATR_API_SYSRAWRC", "SCMP_FLTATR_API_SYSRAWRC", (long)scmp_filter_attr.SCMP_FLTATR_API_SYSRAWRC),
            ("SCMP_CMP_NE", "SCMP_CMP_NE", (long)scmp_compare.SCMP_CMP_NE),
            ("SCMP_CMP_LT", "SCMP_CMP_LT", (long)scmp_compare.SCMP_CMP_LT),
            ("SCMP_CMP_LE", "SCMP_CMP_LE", (long)scmp_compare.SCMP_CMP_LE),
            ("SCMP_CMP_EQ", "SCMP_CMP_EQ", (long)scmp_compare.SCMP_CMP_EQ),
            ("SCMP_CMP_GE", "SCMP_CMP_GE", (long)scmp_compare.SCMP_CMP_GE),
            ("SCMP_CMP_GT", "SCMP_CMP_GT", (long)scmp_compare.SCMP_CMP_GT),
            ("SCMP_CMP_MASKED_EQ", "SCMP_CMP_MASKED_EQ", (long)scmp_compare.SCMP_CMP_MASKED_EQ),
            ("CLONE_NEWTIME", "CLONE_NEWTIME", (long)SeccompFilter.CLONE_NEWTIME),
            ("CLONE_NEWNS", "CLONE_NEWNS", (long)SeccompFilter.CLONE_NEWNS),
            ("CLONE_NEWCGROUP", "CLONE_NEWCGROUP", (long)SeccompFilter.CLONE_NEWCGROUP),
            ("CLONE_NEWUTS", "CLONE_NEWUTS", (long)SeccompFilter.CLONE_NEWUTS),
            ("CLONE_NEWIPC", "CLONE_NEWIPC", (long)SeccompFilter.CLONE_NEWIPC),
            ("CLONE_NEWUSER", "CLONE_NEWUSER", (long)SeccompFilter.CLONE_NEWUSER),
            ("CLONE_NEWPID", "CLONE_NEWPID", (long)SeccompFilter.CLONE_NEWPID),
            ("CLONE_NEWNET", "CLONE_NEWNET", (long)SeccompFilter.CLONE_NEWNET),
            ("TIOCSTI", "TIOCSTI", (long)SeccompFilter.TIOCSTI),
            ("TIOCLINUX", "TIOCLINUX", (long)SeccompFilter.TIOCLINUX),
            ("AF_UNIX", "AF_UNIX", (long)SeccompFilter.AF_UNIX),
            ("AF_INET", "AF_INET", (long)SeccompFilter.AF_INET),
            ("AF_INET6", "AF_INET6", (long)SeccompFilter.AF_INET6),
            ("AF_NETLINK", "AF_NETLINK", (long)SeccompFilter.AF_NETLINK),
            ("AF_PACKET", "AF_PACKET", (long)SeccompFilter.AF_PACKET),
            ("EPERM", "EPERM", (long)Errno.EPERM),
            ("ENOSYS", "ENOSYS", (long)Errno.ENOSYS),
            ("BPF_MAXINSNS", "BPF_MAXINSNS", SeccompFilter.MaxInstructions),
            ("sizeof_sock_filter", "sizeof(struct sock_filter)", SeccompFilter.InstructionSize),
        ];

        var source = new StringBuilder("""
            #include <errno.h>
            #include <stddef.h>
            #include <stdio.h>
            #include <seccomp.h>
            #include <linux/audit.h>
            #include <linux/filter.h>
            #include <linux/sched.h>
            #include <sys/ioctl.h>
            #include <sys/socket.h>
            int main(void) {

            """);
        foreach (var (name, c, _) in checks)
        {
            source.AppendLine(CultureInfo.InvariantCulture, $"    printf(\"{name}=%lld\\n\", (long long)({c}));");
        }

        source.AppendLine("    return 0;\n}");

        var exe = await CompileAsync("constants", source.ToString());
        var values = Parse((await RunAsync(exe)).Stdout);

        Assert.All(checks, check => Assert.Equal((check.Name, check.CSharp), (check.Name, long.Parse(values[check.Name], CultureInfo.InvariantCulture))));

        static long Offset(string field) => Marshal.OffsetOf<scmp_arg_cmp>(field);
    }

    [Fact]
    public void Build_returns_whole_programs_that_differ_by_network_policy()
    {
        var closed = SeccompFilter.Build(allowNetwork: false);
        var open = SeccompFilter.Build(allowNetwork: true);

        foreach (var program in new[] { closed, open })
        {
            Assert.NotEmpty(program);
            Assert.Equal(0, program.Length % SeccompFilter.InstructionSize);
            Assert.InRange(program.Length / SeccompFilter.InstructionSize, 1, SeccompFilter.MaxInstructions);
            Assert.Equal(0x06, program[^SeccompFilter.InstructionSize] & 0x07); // ends with BPF_RET
        }

        Assert.NotEqual(closed, open);
        Assert.True(closed.Length > open.Length, "the network-off filter has the socket rules on top");
    }

    [Fact]
    public void Build_is_cached_and_hands_out_copies()
    {
        var first = SeccompFilter.Build(allowNetwork: false);
        var expected = first.ToArray();
        first.AsSpan().Clear(); // a caller scribbling on its copy must not reach the next jail

        var second = SeccompFilter.Build(allowNetwork: false);

        Assert.Equal(expected, second);
        Assert.NotSame(first, second);
        Assert.Equal(SeccompFilter.Build(allowNetwork: true), SeccompFilter.Build(allowNetwork: true));
    }

    [Fact]
    public void Build_is_thread_safe()
    {
        var results = new byte[16][];
        Parallel.For(0, results.Length, i => results[i] = SeccompFilter.Build(allowNetwork: i % 2 == 0));

        for (var i = 2; i < results.Length; i++)
        {
            Assert.Equal(results[i % 2], results[i]);
        }
    }

    [Fact]
    public void Every_denied_name_is_known_to_libseccomp_on_some_arch()
    {
        foreach (var name in SeccompFilter.DeniedSyscalls.Concat(["clone", "clone3", "ioctl", "socket", "socketcall"]))
        {
            var x8664 = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
            var x86 = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, name);
            Assert.True(x8664 >= 0 || x86 >= 0, $"{name}: x86_64 {x8664}, x86 {x86}");
        }

        Assert.Equal(__NR_SCMP_ERROR, seccomp_syscall_resolve_name("open_tree_attr")); // why it is decided by number
    }

    [Fact]
    public void Libseccomp_cannot_add_an_unnamed_number_for_x86_which_is_why_the_filter_has_a_prefix()
    {
        using var ctx = seccomp_init(SCMP_ACT_ALLOW);
        Assert.False(ctx.IsInvalid);
        Assert.Equal(0, seccomp_arch_add(ctx, SCMP_ARCH_X86));

        // Rule numbers are native numbers, carried to other arches by name; an unnamed one has no way across.
        // If this starts to pass, libseccomp learnt the name and SeccompFilter.NumberedPrefix could go.
        var rc = seccomp_rule_add_array(
            ctx, SCMP_ACT_ERRNO((int)Errno.EPERM), (int)SeccompFilter.NR_open_tree_attr, 0, []);

        Assert.True(rc < 0, $"seccomp_rule_add_array(467) on x86_64+x86 returned {rc}");
    }

    [Fact(Timeout = 60000)]
    public async Task Probe_without_a_filter_sees_the_attacks_succeed()
    {
        // The control run: proves each probe line can tell a blocked call from an allowed one.
        var lines = await ProbeAsync(filter: null);

        Assert.Equal("OK", lines["ptrace"]);
        Assert.Equal("OK", lines["socket_inet"]);
        Assert.Equal("OK", lines["unshare_user"]);
        Assert.Equal("OK", lines["clone_newuser"]);
        Assert.Equal("OK", lines["keyctl"]);
        Assert.NotEqual("EPERM", lines["ioctl_tiocsti"]);
        Assert.NotEqual("EPERM", lines["ioctl_tiocsti_highbits"]);
        Assert.NotEqual("ENOSYS", lines["clone3"]);
        Assert.NotEqual("EPERM", lines["open_tree_attr"]);
        AssertIa32(lines);
        Assert.Equal("OK", lines["i386_ptrace"]);
        Assert.NotEqual("EPERM", lines["i386_open_tree_attr"]);
        Assert.NotEqual("EPERM", lines["i386_socketcall"]);
        Assert.NotEqual("EPERM", lines["i386_socketcall_connect"]);
    }

    [Fact(Timeout = 60000)]
    public async Task Filter_without_network_blocks_every_listed_attack()
    {
        var lines = await ProbeAsync(SeccompFilter.Build(allowNetwork: false));

        Assert.Equal("OK", lines["loaded"]);
        AssertCommon(lines);
        Assert.Equal("EPERM", lines["socket_inet"]);
        Assert.Equal("EPERM", lines["socket_inet_highbits"]);
        Assert.Equal("EPERM", lines["socket_inet6"]);
        Assert.Equal("EPERM", lines["socket_netlink"]);
        Assert.Equal("EPERM", lines["socket_packet"]);
        Assert.Equal("EPERM", lines["socket_vsock"]); // no network namespace isolates vsock
        Assert.Equal("EPERM", lines["i386_socketcall"]);
        Assert.Equal("EPERM", lines["i386_socketcall_connect"]); // all of socketcall, not just the socket() rewrite
        Assert.Equal("EPERM", lines["i386_socket_inet"]);
    }

    [Fact(Timeout = 60000)]
    public async Task Filter_with_network_allows_inet_sockets_and_still_blocks_the_rest()
    {
        var lines = await ProbeAsync(SeccompFilter.Build(allowNetwork: true));

        Assert.Equal("OK", lines["loaded"]);
        AssertCommon(lines);
        Assert.Equal("OK", lines["socket_inet"]);
        Assert.Equal("OK", lines["socket_inet6"]);
        Assert.Equal("OK", lines["socket_netlink"]);
        Assert.Equal("OK", lines["i386_socket_inet"]);
        Assert.Equal("EFAULT", lines["i386_socketcall"]); // reached the kernel, which rejected the NULL args
        Assert.Equal("EFAULT", lines["i386_socketcall_connect"]);
    }

    private static void AssertCommon(Dictionary<string, string> lines)
    {
        string[] eperm =
        [
            "ptrace", "process_vm_readv", "keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd",
            "io_uring_setup", "mount", "umount2", "pivot_root", "unshare_user", "unshare_ns", "setns",
            "open_by_handle_at", "init_module", "kexec_load", "open_tree_attr",
            "clone_newns", "clone_newcgroup", "clone_newuts", "clone_newipc", "clone_newuser", "clone_newpid",
            "clone_newnet", "clone_newtime",
            "ioctl_tiocsti", "ioctl_tiocsti_highbits", "ioctl_tioclinux",
        ];
        Assert.All(eperm, name => Assert.Equal((name, "EPERM"), (name, lines[name])));

        Assert.Equal("ENOSYS", lines["clone3"]);
        Assert.Equal("OK", lines["socket_unix"]);
        Assert.Equal("OK", lines["fork"]);
        Assert.Equal("OK", lines["clone_plain"]);
        Assert.Equal("OK", lines["thread"]); // glibc tries clone3, gets ENOSYS, falls back to clone
        Assert.Equal("OK", lines["ioctl_fionread"]);
        Assert.Equal("OK", lines["personality_query"]);
        Assert.Equal("SIGSYS", lines["x32_getpid"]); // x32 shares x86_64's audit arch: libseccomp kills it

        AssertIa32(lines);
        string[] i386Eperm =
        [
            "i386_ptrace", "i386_unshare_user", "i386_keyctl", "i386_ioctl_tiocsti", "i386_umount", "i386_io_uring_setup",
            "i386_open_tree_attr", "i386_mount",
        ];
        Assert.All(i386Eperm, name => Assert.Equal((name, "EPERM"), (name, lines[name])));
        Assert.Equal("OK", lines["i386_getpid"]);
        Assert.Equal("OK", lines["i386_socket_unix"]);
        Assert.Equal("ENOSYS", lines["i386_clone3"]);
    }

    private static void AssertIa32(Dictionary<string, string> lines) =>
        Assert.True(
            lines["ia32"] == "on",
            "IA32 emulation is off on this host, so the int 0x80 checks could not run; the project's test hosts have it on.");

    /// <summary>Compiles the probe, feeds it <paramref name="filter"/> (or none) and returns its name=result lines.</summary>
    private async Task<Dictionary<string, string>> ProbeAsync(byte[]? filter)
    {
        var exe = await CompileAsync("probe", ProbeSource);
        var filterPath = "-";
        if (filter is not null)
        {
            filterPath = Path.Combine(_dir, "filter.bpf");
            await File.WriteAllBytesAsync(filterPath, filter);
        }

        var (stdout, exitCode) = await RunAsync(exe, filterPath);
        Assert.True(exitCode == 0, $"probe exited {exitCode}:\n{stdout}");
        return Parse(stdout);
    }

    private async Task<string> CompileAsync(string name, string source)
    {
        var sourcePath = Path.Combine(_dir, name + ".c");
        var exePath = Path.Combine(_dir, name);
        await File.WriteAllTextAsync(sourcePath, source);
        var (output, exitCode) = await RunAsync("gcc", "-O0", "-Wall", "-Werror", "-o", exePath, sourcePath);
        Assert.True(exitCode == 0, $"gcc failed for {name}.c:\n{output}");
        return exePath;
    }

    /// <summary>Runs a program with a pipe as stdin (for the ioctl checks) and returns stdout plus stderr.</summary>
    private static async Task<(string Stdout, int ExitCode)> RunAsync(string fileName, params string[] args)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        using var timeout = new CancellationTokenSource(ProcessTimeout);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return ((await stdout) + (await stderr), process.ExitCode);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} did not finish within {ProcessTimeout}.");
        }
    }

    private static Dictionary<string, string> Parse(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .Where(parts => parts.Length == 2)
            .ToDictionary(parts => parts[0], parts => parts[1]);

    /// <summary>
    /// Loads the BPF file in argv[1] ("-" for none) and tries each attack in a forked child, so that a call which
    /// succeeds (in the control run) cannot change the probe itself. Prints name=OK, name=ERRNONAME or name=SIGNAME.
    /// </summary>
    private const string ProbeSource = """
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <pthread.h>
        #include <sched.h>
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>
        #include <linux/filter.h>
        #include <linux/seccomp.h>
        #include <sys/ioctl.h>
        #include <sys/mount.h>
        #include <sys/personality.h>
        #include <sys/prctl.h>
        #include <sys/ptrace.h>
        #include <sys/resource.h>
        #include <sys/socket.h>
        #include <sys/syscall.h>
        #include <sys/uio.h>
        #include <sys/wait.h>

        #define NR_open_tree_attr 467
        #define X32_SYSCALL_BIT 0x40000000L
        /* i386 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl) */
        #define I386_umount 22
        #define I386_getpid 20
        #define I386_mount 21
        #define I386_ptrace 26
        #define I386_ioctl 54
        #define I386_socketcall 102
        #define I386_keyctl 288
        #define I386_unshare 310
        #define I386_socket 359
        #define I386_io_uring_setup 425
        #define I386_clone3 435

        static void report(const char *name, long rc, int err) {
            if (rc >= 0) printf("%s=OK\n", name);
            else printf("%s=%s\n", name, strerrorname_np(err) ? strerrorname_np(err) : "E?");
        }

        static void finish(const char *name, pid_t pid) {
            int status;
            if (pid < 0) { printf("%s=forkfailed:%s\n", name, strerrorname_np(errno)); return; }
            if (waitpid(pid, &status, 0) < 0) { printf("%s=waitfailed\n", name); return; }
            if (WIFSIGNALED(status)) printf("%s=SIG%s\n", name, sigabbrev_np(WTERMSIG(status)));
            else if (WEXITSTATUS(status) != 0) printf("%s=exit%d\n", name, WEXITSTATUS(status));
        }

        /* Runs expr in a child; the child prints the line. */
        #define RUN(name, expr) do { \
            pid_t p_ = fork(); \
            if (p_ == 0) { errno = 0; long rc_ = (long)(expr); report(name, rc_, errno); _exit(0); } \
            finish(name, p_); \
        } while (0)

        /* A 32-bit syscall through int 0x80 from this 64-bit process; returns -errno on failure. */
        static long sys32(long nr, long a, long b, long c) {
            long ret;
            __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c)
                             : "memory", "r8", "r9", "r10", "r11");
            return (int)ret;
        }

        #define RUN32(name, nr, a, b, c) do { \
            pid_t p_ = fork(); \
            if (p_ == 0) { long rc_ = sys32(nr, a, b, c); report(name, rc_ < 0 ? -1 : rc_, (int)-rc_); _exit(0); } \
            finish(name, p_); \
        } while (0)

        /* A clone() that may succeed (the control run): the child leaves at once. */
        static long try_clone(unsigned long flags) {
            long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
            if (pid == 0) _exit(0);
            if (pid > 0) waitpid(pid, NULL, __WALL); /* __WALL: odd exit signals in the control run */
            return pid;
        }

        static long try_fork(void) {
            pid_t pid = fork();
            if (pid == 0) _exit(7);
            int status;
            if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
            return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : (errno = ECHILD, -1);
        }

        static void *thread_main(void *arg) { return arg; }

        static long try_thread(void) {
            pthread_t thread;
            int err = pthread_create(&thread, NULL, thread_main, NULL);
            if (err != 0) { errno = err; return -1; }
            return pthread_join(thread, NULL) == 0 ? 0 : -1;
        }

        static long try_tiocsti(unsigned long request) {
            char c = 'x';
            return syscall(SYS_ioctl, 0, request, &c);
        }

        static long try_fionread(void) {
            int n;
            return ioctl(0, FIONREAD, &n);
        }

        static long try_getpid32(void) {
            long pid = sys32(I386_getpid, 0, 0, 0);
            return pid == getpid() ? 0 : (errno = pid < 0 ? (int)-pid : ESRCH, -1);
        }

        static long try_process_vm_readv(void) {
            char buf[8], src[8] = "secret";
            struct iovec local = { buf, sizeof buf }, remote = { src, sizeof src };
            return process_vm_readv(getppid(), &local, 1, &remote, 1, 0);
        }

        static int load(const char *path) {
            if (strcmp(path, "-") == 0) return 0;
            static unsigned char buf[65536];
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) { perror("open filter"); return -1; }
            ssize_t n = read(fd, buf, sizeof buf);
            close(fd);
            if (n <= 0 || n % sizeof(struct sock_filter) != 0) { fprintf(stderr, "bad filter size %zd\n", n); return -1; }
            struct sock_fprog prog = { (unsigned short)(n / sizeof(struct sock_filter)), (struct sock_filter *)buf };
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("PR_SET_NO_NEW_PRIVS"); return -1; }
            if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) { perror("PR_SET_SECCOMP"); return -1; }
            printf("loaded=OK\n");
            return 0;
        }

        int main(int argc, char **argv) {
            setvbuf(stdout, NULL, _IONBF, 0);
            struct rlimit nocore = { 0, 0 };
            setrlimit(RLIMIT_CORE, &nocore); /* the x32 check dies of SIGSYS */
            if (argc != 2) { fprintf(stderr, "usage: probe FILTER|-\n"); return 2; }
            int ia32 = sys32(I386_getpid, 0, 0, 0) == getpid();
            printf("ia32=%s\n", ia32 ? "on" : "off");
            if (load(argv[1]) != 0) return 1;

            RUN("ptrace", ptrace(PTRACE_TRACEME, 0, 0, 0));
            RUN("process_vm_readv", try_process_vm_readv());
            RUN("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
            RUN("add_key", syscall(SYS_add_key, "user", "cordon", "x", 1, -1 /* thread keyring: gone with the child */));
            RUN("bpf", syscall(SYS_bpf, 0, NULL, 0));
            RUN("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
            RUN("userfaultfd", syscall(SYS_userfaultfd, 0));
            RUN("io_uring_setup", syscall(425, 1, NULL));
            RUN("mount", mount("none", "/nonexistent-cordon", "tmpfs", 0, NULL));
            RUN("umount2", umount2("/nonexistent-cordon", 0));
            RUN("pivot_root", syscall(SYS_pivot_root, "/nonexistent-cordon", "/nonexistent-cordon"));
            RUN("unshare_user", unshare(CLONE_NEWUSER));
            RUN("unshare_ns", unshare(CLONE_NEWNS));
            RUN("setns", setns(-1, 0));
            RUN("open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
            RUN("init_module", syscall(SYS_init_module, NULL, 0, ""));
            RUN("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0x7fff0000 /* bogus arch: never unloads a kexec image */));
            RUN("open_tree_attr", syscall(NR_open_tree_attr, -1, NULL, 0, NULL, 0));
            RUN("clone3", syscall(SYS_clone3, NULL, 0));
            RUN("clone_newns", try_clone(CLONE_NEWNS));
            RUN("clone_newcgroup", try_clone(CLONE_NEWCGROUP));
            RUN("clone_newuts", try_clone(CLONE_NEWUTS));
            RUN("clone_newipc", try_clone(CLONE_NEWIPC));
            RUN("clone_newuser", try_clone(CLONE_NEWUSER));
            RUN("clone_newpid", try_clone(CLONE_NEWPID));
            RUN("clone_newnet", try_clone(CLONE_NEWNET));
            RUN("clone_newtime", try_clone(CLONE_NEWTIME));
            RUN("clone_plain", try_clone(0));
            RUN("fork", try_fork());
            RUN("thread", try_thread());
            RUN("ioctl_tiocsti", try_tiocsti(TIOCSTI));
            RUN("ioctl_tiocsti_highbits", try_tiocsti((0x123UL << 32) | TIOCSTI));
            RUN("ioctl_tioclinux", try_tiocsti(TIOCLINUX));
            RUN("ioctl_fionread", try_fionread());
            RUN("personality_query", personality(0xffffffff));
            RUN("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
            RUN("socket_inet_highbits", syscall(SYS_socket, (1UL << 32) | AF_INET, SOCK_STREAM, 0));
            RUN("socket_inet6", socket(AF_INET6, SOCK_DGRAM, 0));
            RUN("socket_netlink", socket(AF_NETLINK, SOCK_RAW, 0));
            RUN("socket_packet", socket(AF_PACKET, SOCK_RAW, 0));
            RUN("socket_unix", socket(AF_UNIX, SOCK_STREAM, 0));
            RUN("socket_vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
            RUN("x32_getpid", syscall(X32_SYSCALL_BIT | SYS_getpid));
            if (ia32) {
                RUN32("i386_ptrace", I386_ptrace, PTRACE_TRACEME, 0, 0);
                RUN32("i386_unshare_user", I386_unshare, CLONE_NEWUSER, 0, 0);
                RUN32("i386_keyctl", I386_keyctl, 0, -3, 0);
                RUN32("i386_ioctl_tiocsti", I386_ioctl, 0, TIOCSTI, 0);
                RUN32("i386_umount", I386_umount, 0, 0, 0);
                RUN32("i386_mount", I386_mount, 0, 0, 0);
                RUN32("i386_io_uring_setup", I386_io_uring_setup, 1, 0, 0);
                RUN32("i386_open_tree_attr", NR_open_tree_attr, -1, 0, 0);
                RUN32("i386_clone3", I386_clone3, 0, 0, 0);
                RUN32("i386_socketcall", I386_socketcall, 1 /* SYS_SOCKET */, 0, 0);
                RUN32("i386_socketcall_connect", I386_socketcall, 3 /* SYS_CONNECT */, 0, 0);
                RUN32("i386_socket_inet", I386_socket, AF_INET, SOCK_STREAM, 0);
                RUN32("i386_socket_unix", I386_socket, AF_UNIX, SOCK_STREAM, 0);
                RUN("i386_getpid", try_getpid32());
            }
            return 0;
        }
        """;
}
