using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using static Cordon.Jail.Interop.SeccompNative;

namespace Cordon.Jail;

/// <summary>
/// Builds the seccomp program every jail runs under (isolation invariant 4): a deny-list on top of namespaces,
/// no capabilities and an unprivileged uid. It covers the x86_64 and the 32-bit x86 (<c>int 0x80</c>) ABIs alike
/// and kills the process on any other ABI, x32 included.
/// </summary>
internal static class SeccompFilter
{
    // Kernel ABI values used in rules; SeccompFilterTests checks them against the C headers.
    internal const ulong CLONE_NEWTIME = 0x00000080;
    internal const ulong CLONE_NEWNS = 0x00020000;
    internal const ulong CLONE_NEWCGROUP = 0x02000000;
    internal const ulong CLONE_NEWUTS = 0x04000000;
    internal const ulong CLONE_NEWIPC = 0x08000000;
    internal const ulong CLONE_NEWUSER = 0x10000000;
    internal const ulong CLONE_NEWPID = 0x20000000;
    internal const ulong CLONE_NEWNET = 0x40000000;
    internal const ulong TIOCSTI = 0x5412;
    internal const ulong TIOCLINUX = 0x541C;
    internal const ulong AF_UNIX = 1;
    internal const ulong AF_INET = 2;
    internal const ulong AF_INET6 = 10;
    internal const ulong AF_NETLINK = 16;
    internal const ulong AF_PACKET = 17;

    /// <summary>BPF_MAXINSNS: the kernel refuses longer programs.</summary>
    internal const int MaxInstructions = 4096;

    /// <summary>Size of <c>struct sock_filter</c>.</summary>
    internal const int InstructionSize = 8;

    /// <summary>open_tree_attr, Linux 6.15: too new for libseccomp 2.5.4 to name. Same number on x86_64 and x86.</summary>
    internal const uint NR_open_tree_attr = 467;

    /// <summary>Denied outright with EPERM on every arch that has them.</summary>
    internal static readonly IReadOnlyList<string> DeniedSyscalls =
    [
        "ptrace", "process_vm_readv", "process_vm_writev",
        "keyctl", "add_key", "request_key",
        "bpf", "perf_event_open", "userfaultfd",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
        "mount", "umount", "umount2", "pivot_root", "chroot",
        "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        "unshare", "setns",
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
        "open_by_handle_at", "name_to_handle_at",
        "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog", "lookup_dcookie", "uselib",
        "iopl", "ioperm", "vhangup",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
        "nfsservctl", "fanotify_init",
    ];

    private static readonly ulong[] NamespaceFlags =
    [
        CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
        // For clone() this bit lies in the exit-signal byte (a time namespace needs clone3 or unshare, both
        // refused); denying it costs nothing because no valid signal has bit 7 set.
        CLONE_NEWTIME,
    ];


    /// <summary>Syscalls libseccomp cannot name, decided by number (identical on x86_64 and x86 since 424).</summary>
    private static readonly (uint Number, Errno Errno)[] NumberedDenies = [(NR_open_tree_attr, Errno.EPERM)];

    // PublicationOnly: a failure (say, a full /tmp) is not cached, so the next jail tries again. The gate keeps
    // libseccomp, whose lazily probed kernel support lives in unlocked globals, on one thread at a time.
    private static readonly Lock Gate = new();
    private static readonly Lazy<byte[]> WithNetwork = new(() => Create(allowNetwork: true), LazyThreadSafetyMode.PublicationOnly);
    private static readonly Lazy<byte[]> WithoutNetwork = new(() => Create(allowNetwork: false), LazyThreadSafetyMode.PublicationOnly);

    /// <summary>
    /// Returns the raw BPF program (<c>struct sock_filter[]</c>) for bwrap's <c>--seccomp FD</c>, built once per
    /// <paramref name="allowNetwork"/> value. Each call returns a fresh copy, so callers cannot alter the cached one.
    /// </summary>
    /// <param name="allowNetwork">False also refuses inet, inet6, netlink and packet sockets (and x86 socketcall).</param>
    /// <exception cref="CordonException">
    /// <see cref="CordonErrorCode.SeccompFailed"/> when the filter cannot be built or exported, or
    /// <see cref="CordonErrorCode.HostUnsupported"/> when libseccomp is missing or the host is not x86_64.
    /// No jail may run then.
    /// </exception>
    public static byte[] Build(bool allowNetwork) =>
        (allowNetwork ? WithNetwork : WithoutNetwork).Value.AsSpan().ToArray();

    private static byte[] Create(bool allowNetwork)
    {
        try
        {
            lock (Gate)
            {
                return Compile(allowNetwork);
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new CordonException(
                CordonErrorCode.HostUnsupported,
                "libseccomp.so.2 (2.5 or later) could not be loaded; install libseccomp2.",
                ex);
        }
    }

    private static byte[] Compile(bool allowNetwork)
    {
        var native = seccomp_arch_native();
        if (native != SCMP_ARCH_X86_64)
        {
            // The policy (x86 int 0x80, x32, syscall numbers) is written for x86_64 hosts only.
            throw new CordonException(
                CordonErrorCode.HostUnsupported,
                $"The seccomp policy supports x86_64 hosts only; libseccomp reports native arch 0x{native:x8}.");
        }

        using var ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (ctx.IsInvalid)
        {
            throw Failed("seccomp_init(SCMP_ACT_ALLOW) returned NULL.");
        }

        Check(seccomp_arch_add(ctx, SCMP_ARCH_X86), "seccomp_arch_add(SCMP_ARCH_X86)");
        // x32 shares x86_64's audit arch; libseccomp sends its numbers (bit 30 set) to the bad-arch action too.
        Check(
            seccomp_attr_set(ctx, scmp_filter_attr.SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
            "seccomp_attr_set(SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)");

        foreach (var name in DeniedSyscalls)
        {
            Deny(ctx, name, Errno.EPERM);
        }

        // clone3's flags live in memory, out of the filter's reach; glibc falls back to clone on ENOSYS.
        Deny(ctx, "clone3", Errno.ENOSYS);

        foreach (var flag in NamespaceFlags)
        {
            // One rule per flag: a single MASKED_EQ(all flags, 0) rule would refuse every ordinary clone.
            Deny(ctx, "clone", Errno.EPERM, new scmp_arg_cmp(0, scmp_compare.SCMP_CMP_MASKED_EQ, flag, flag));
        }

        foreach (var request in (ReadOnlySpan<ulong>)[TIOCSTI, TIOCLINUX])
        {
            // The kernel truncates the request to 32 bits, so (0x123UL << 32) | TIOCSTI (CVE-2019-10063)
            // must match too: compare the low half only.
            Deny(ctx, "ioctl", Errno.EPERM, LowHalfEquals(1, request));
        }

        if (!allowNetwork)
        {
            // On x86 socket() may go through socketcall, whose arguments are in memory: refuse it entirely.
            Deny(ctx, "socketcall", Errno.EPERM);
            // Only unix sockets are left: inet, netlink and packet, and also vsock (which no network namespace
            // isolates) and every other family. A domain with high bits set is refused too, which is stricter than
            // the kernel (it truncates the int) and so safe.
            Deny(ctx, "socket", Errno.EPERM, new scmp_arg_cmp(0, scmp_compare.SCMP_CMP_NE, AF_UNIX, 0));
            // socketpair() creates its two sockets through the same per-family code as socket(), loading the
            // family's module on demand (TIPC, for one, then hands out a working pair): it gets the same rule.
            Deny(ctx, "socketpair", Errno.EPERM, new scmp_arg_cmp(0, scmp_compare.SCMP_CMP_NE, AF_UNIX, 0));
        }

        var program = Export(ctx);
        return [.. NumberedPrefix(), .. program];
    }

    private static scmp_arg_cmp LowHalfEquals(uint arg, ulong value) =>
        new(arg, scmp_compare.SCMP_CMP_MASKED_EQ, 0xffffffffUL, value);

    private static void Deny(FilterHandle ctx, string name, Errno errno, params ReadOnlySpan<scmp_arg_cmp> args)
    {
        var syscall = seccomp_syscall_resolve_name(name);
        if (syscall == __NR_SCMP_ERROR)
        {
            throw Failed($"libseccomp does not know the syscall '{name}'.");
        }

        // The native number or a pseudo number; libseccomp maps it to each arch by name and drops it on an
        // arch without that syscall (umount on x86_64, for instance). Absent everywhere means a wrong name.
        if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name) < 0
            && seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86, name) < 0)
        {
            throw Failed($"The syscall '{name}' exists on neither x86_64 nor x86, so no rule would be added.");
        }

        var rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO((int)errno), syscall, (uint)args.Length, args);
        Check(rc, $"seccomp_rule_add_array({name}, ERRNO({errno}), {args.Length} argument condition(s))");
    }

    /// <summary>
    /// Hand-written BPF run before libseccomp's program for <see cref="NumberedDenies"/>: libseccomp 2.5.4 accepts
    /// an unnamed number on the native arch only (on x86 it returns -EFAULT, exact rules included), so
    /// it cannot express these for the 32-bit ABI. x32 numbers never match here and reach libseccomp's kill.
    /// </summary>
    private static byte[] NumberedPrefix()
    {
        const ushort LdAbsW = 0x20;   // BPF_LD | BPF_W | BPF_ABS
        const ushort JeqK = 0x15;     // BPF_JMP | BPF_JEQ | BPF_K
        const ushort RetK = 0x06;     // BPF_RET | BPF_K
        const uint NrOffset = 0;      // offsetof(struct seccomp_data, nr)
        const uint ArchOffset = 4;    // offsetof(struct seccomp_data, arch)

        var instructions = new List<(ushort Code, byte Jt, byte Jf, uint K)>
        {
            (LdAbsW, 0, 0, ArchOffset),
            (JeqK, 1, 0, SCMP_ARCH_X86_64),
            (JeqK, 0, checked((byte)(1 + (2 * NumberedDenies.Length))), SCMP_ARCH_X86),
            (LdAbsW, 0, 0, NrOffset),
        };
        foreach (var (number, errno) in NumberedDenies)
        {
            instructions.Add((JeqK, 0, 1, number));
            instructions.Add((RetK, 0, 0, SCMP_ACT_ERRNO((int)errno)));
        }

        var bytes = new byte[instructions.Count * InstructionSize];
        for (var i = 0; i < instructions.Count; i++)
        {
            var (code, jt, jf, k) = instructions[i];
            var slot = bytes.AsSpan(i * InstructionSize, InstructionSize);
            BinaryPrimitives.WriteUInt16LittleEndian(slot, code);
            slot[2] = jt;
            slot[3] = jf;
            BinaryPrimitives.WriteUInt32LittleEndian(slot[4..], k);
        }

        return bytes;
    }

    /// <summary>Exports through an unlinked 0600 temp file: libseccomp 2.5.4 can only write to a descriptor.</summary>
    private static byte[] Export(FilterHandle ctx)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new CordonException(CordonErrorCode.HostUnsupported, "seccomp filters need Linux.");
        }

        var path = Path.Combine(Path.GetTempPath(), $"cordon-seccomp-{Guid.NewGuid():N}.bpf");
        byte[] program;
        try
        {
            using var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            File.Delete(path);
            program = ExportTo(ctx, file.SafeFileHandle);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CordonException(
                CordonErrorCode.SeccompFailed, $"Could not export the seccomp filter through {path}: {ex.Message}", ex);
        }

        Validate(program);
        return program;
    }

    private static byte[] ExportTo(FilterHandle ctx, SafeFileHandle file)
    {
        var added = false;
        try
        {
            file.DangerousAddRef(ref added);
            Check(seccomp_export_bpf(ctx, (int)file.DangerousGetHandle()), "seccomp_export_bpf");
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }

        var length = RandomAccess.GetLength(file);
        if (length is <= 0 or > MaxInstructions * InstructionSize)
        {
            throw Failed($"seccomp_export_bpf wrote {length} bytes; expected 1 to {MaxInstructions} instructions.");
        }

        var program = new byte[length];
        var read = RandomAccess.Read(file, program, fileOffset: 0);
        return read == length ? program : throw Failed($"Read back {read} of {length} exported filter bytes.");
    }

    /// <summary>
    /// libseccomp 2.5.4 issues one write() and does not check for a short one; a cut program must never be used.
    /// </summary>
    private static void Validate(byte[] program)
    {
        var count = program.Length / InstructionSize;
        if (program.Length % InstructionSize != 0 || count + NumberedPrefixLength > MaxInstructions)
        {
            throw Failed($"The exported filter is {program.Length} bytes, not a whole program of at most {MaxInstructions} instructions.");
        }

        var lastCode = BinaryPrimitives.ReadUInt16LittleEndian(program.AsSpan((count - 1) * InstructionSize));
        if ((lastCode & 0x07) != 0x06)
        {
            throw Failed("The exported filter does not end with a return instruction; it is truncated.");
        }
    }

    private static int NumberedPrefixLength => 4 + (2 * NumberedDenies.Length);

    private static void Check(int rc, string call)
    {
        if (rc < 0)
        {
            throw Failed($"{call} failed with -{-rc} ({Marshal.GetPInvokeErrorMessage(-rc)}).");
        }
    }

    private static CordonException Failed(string message) =>
        new(CordonErrorCode.SeccompFailed, "Could not build the seccomp filter: " + message);
}
