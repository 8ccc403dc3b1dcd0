using System.Runtime.InteropServices;

namespace Cordon.Jail.Interop;

/// <summary>
/// libseccomp 2.5 (libseccomp.so.2) through source-generated P/Invoke. Names mirror seccomp.h so the code reads
/// against the man pages; SeccompFilterTests checks every constant and the struct layout against the header.
/// Functions returning <c>int</c> give 0 or a negative errno. Syscall numbers passed to the rule functions are
/// always the native (x86_64) number or a libseccomp pseudo number, never another arch's number: libseccomp
/// translates them per arch by name.
/// </summary>
internal static partial class SeccompNative
{
    private const string LibName = "libseccomp.so.2";

    // Actions (seccomp.h).
    public const uint SCMP_ACT_KILL_PROCESS = 0x80000000;
    public const uint SCMP_ACT_ALLOW = 0x7fff0000;

    /// <summary>The action that fails the call with <paramref name="errno"/> (only its low 16 bits count).</summary>
    public static uint SCMP_ACT_ERRNO(int errno) => 0x00050000u | ((uint)errno & 0x0000ffffu);

    // Architecture tokens; they equal the kernel's AUDIT_ARCH_* values found in seccomp_data.arch.
    public const uint SCMP_ARCH_NATIVE = 0;
    public const uint SCMP_ARCH_X86 = 0x40000003;
    public const uint SCMP_ARCH_X86_64 = 0xc000003e;
    public const uint SCMP_ARCH_X32 = 0x4000003e;

    /// <summary>What the resolve functions return for a name libseccomp does not know.</summary>
    public const int __NR_SCMP_ERROR = -1;

    /// <summary>Filter attributes (<c>enum scmp_filter_attr</c>).</summary>
    public enum scmp_filter_attr
    {
        _SCMP_FLTATR_MIN = 0,
        SCMP_FLTATR_ACT_DEFAULT = 1,
        SCMP_FLTATR_ACT_BADARCH = 2,
        SCMP_FLTATR_CTL_NNP = 3,
        SCMP_FLTATR_CTL_TSYNC = 4,
        SCMP_FLTATR_API_TSKIP = 5,
        SCMP_FLTATR_CTL_LOG = 6,
        SCMP_FLTATR_CTL_SSB = 7,
        SCMP_FLTATR_CTL_OPTIMIZE = 8,
        SCMP_FLTATR_API_SYSRAWRC = 9,
    }

    /// <summary>Argument comparison operators (<c>enum scmp_compare</c>).</summary>
    public enum scmp_compare
    {
        _SCMP_CMP_MIN = 0,
        SCMP_CMP_NE = 1,
        SCMP_CMP_LT = 2,
        SCMP_CMP_LE = 3,
        SCMP_CMP_EQ = 4,
        SCMP_CMP_GE = 5,
        SCMP_CMP_GT = 6,
        /// <summary>(arg &amp; datum_a) == datum_b.</summary>
        SCMP_CMP_MASKED_EQ = 7,
    }

    /// <summary>
    /// <c>struct scmp_arg_cmp</c>: argument <c>arg</c> (0 to 5) compared by <c>op</c> with <c>datum_a</c>
    /// (and <c>datum_b</c> for <see cref="scmp_compare.SCMP_CMP_MASKED_EQ"/>).
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public readonly struct scmp_arg_cmp(uint arg, scmp_compare op, ulong datum_a, ulong datum_b)
    {
        public readonly uint arg = arg;
        public readonly scmp_compare op = op;
        public readonly ulong datum_a = datum_a;
        public readonly ulong datum_b = datum_b;
    }

    /// <summary>Owns a <c>scmp_filter_ctx</c> and releases it with <c>seccomp_release</c>.</summary>
    public sealed class FilterHandle : SafeHandle
    {
        public FilterHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        protected override bool ReleaseHandle()
        {
            seccomp_release(handle);
            return true;
        }
    }

    /// <summary>Returns a new filter (native arch only) with <paramref name="def_action"/>; invalid on failure.</summary>
    [LibraryImport(LibName)]
    public static partial FilterHandle seccomp_init(uint def_action);

    [LibraryImport(LibName)]
    private static partial void seccomp_release(IntPtr ctx);

    [LibraryImport(LibName)]
    public static partial uint seccomp_arch_native();

    /// <summary>Adds an arch; -EEXIST if present.</summary>
    [LibraryImport(LibName)]
    public static partial int seccomp_arch_add(FilterHandle ctx, uint arch_token);

    [LibraryImport(LibName)]
    public static partial int seccomp_attr_set(FilterHandle ctx, scmp_filter_attr attr, uint value);

    /// <summary>
    /// Adds a rule to every arch in the filter, translating <paramref name="syscall"/> by name and applying the
    /// x86 socketcall/ipc rewrites; a pseudo number is dropped on arches that lack the syscall.
    /// </summary>
    [LibraryImport(LibName)]
    public static partial int seccomp_rule_add_array(
        FilterHandle ctx, uint action, int syscall, uint arg_cnt, ReadOnlySpan<scmp_arg_cmp> arg_array);

    /// <summary>The native number, a negative pseudo number, or <see cref="__NR_SCMP_ERROR"/>.</summary>
    [LibraryImport(LibName, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int seccomp_syscall_resolve_name(string name);

    /// <summary>The number on <paramref name="arch_token"/>, a negative pseudo number, or <see cref="__NR_SCMP_ERROR"/>.</summary>
    [LibraryImport(LibName, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int seccomp_syscall_resolve_name_arch(uint arch_token, string name);

    /// <summary>Writes the raw BPF program (an array of <c>struct sock_filter</c>) to <paramref name="fd"/>.</summary>
    [LibraryImport(LibName)]
    public static partial int seccomp_export_bpf(FilterHandle ctx, int fd);
}
