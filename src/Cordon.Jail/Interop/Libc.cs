using System.Runtime.InteropServices;
using System.Runtime.InteropServices.Marshalling;
using Microsoft.Win32.SafeHandles;

namespace Cordon.Jail.Interop;

/// <summary>
/// glibc calls for descriptors, processes, limits and mounts. Every wrapper turns a failure into a
/// <see cref="CordonException"/> carrying the errno, so callers never look at raw return codes.
/// </summary>
internal static unsafe partial class Libc
{
    private const string LibcName = "libc";

    // fcntl.h / unistd.h (x86_64 glibc); LibcConstantsTests checks them against the headers.
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_TRUNC = 0x200;
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;
    public const int AT_FDCWD = -100;
    public const int F_DUPFD_CLOEXEC = 1030;
    public const int F_GETFL = 3;
    public const int F_SETFL = 4;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const uint MFD_CLOEXEC = 1;
    public const int WNOHANG = 1;
    public const int SIGKILL = 9;
    public const int POSIX_SPAWN_SETSIGDEF = 0x04;
    public const int POSIX_SPAWN_SETSIGMASK = 0x08;
    public const int RLIMIT_FSIZE = 1;
    public const int RLIMIT_STACK = 3;
    public const int RLIMIT_CORE = 4;
    public const int RLIMIT_NOFILE = 7;
    public const int MNT_DETACH = 2;
    public const ulong MS_NOSUID = 2;
    public const ulong MS_NODEV = 4;
    public const uint S_IFMT = 0xF000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFDIR = 0x4000;

    /// <summary>Size of glibc's opaque spawn structures; allocated generously so a glibc change cannot overrun them.</summary>
    private const int SpawnStructBytes = 1024;

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    /// <summary>The fields of x86_64 <c>struct stat</c> that Cordon reads; offsets are checked against the header in tests.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 144)]
    public struct Stat
    {
        [FieldOffset(0)] public ulong Device;
        [FieldOffset(8)] public ulong Inode;
        [FieldOffset(16)] public ulong LinkCount;
        [FieldOffset(24)] public uint Mode;
        [FieldOffset(28)] public uint Uid;
        [FieldOffset(32)] public uint Gid;
        [FieldOffset(48)] public long Size;
    }

    [LibraryImport(LibcName, EntryPoint = "pipe2", SetLastError = true)]
    private static partial int pipe2_raw(int* fds, int flags);

    [LibraryImport(LibcName, EntryPoint = "close", SetLastError = true)]
    private static partial int close_raw(int fd);

    [LibraryImport(LibcName, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int fcntl_raw(int fd, int cmd, int arg);

    [LibraryImport(LibcName, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int memfd_create_raw(string name, uint flags);

    [LibraryImport(LibcName, EntryPoint = "write", SetLastError = true)]
    private static partial nint write_raw(int fd, byte* buffer, nint count);

    [LibraryImport(LibcName, EntryPoint = "read", SetLastError = true)]
    private static partial nint read_raw(int fd, byte* buffer, nint count);

    [LibraryImport(LibcName, EntryPoint = "lseek", SetLastError = true)]
    private static partial long lseek_raw(int fd, long offset, int whence);

    [LibraryImport(LibcName, EntryPoint = "posix_spawn", SetLastError = true)]
    private static partial int posix_spawn_raw(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);

    [LibraryImport(LibcName, EntryPoint = "posix_spawn_file_actions_init")]
    private static partial int posix_spawn_file_actions_init(void* actions);

    [LibraryImport(LibcName, EntryPoint = "posix_spawn_file_actions_destroy")]
    private static partial int posix_spawn_file_actions_destroy(void* actions);

    [LibraryImport(LibcName, EntryPoint = "posix_spawn_file_actions_adddup2")]
    private static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newFd);

    [LibraryImport(LibcName, EntryPoint = "posix_spawn_file_actions_addclose")]
    private static partial int posix_spawn_file_actions_addclose(void* actions, int fd);

    // glibc 2.34 and later (Debian 12 has 2.36): close_range() in the child.
    [LibraryImport(LibcName, EntryPoint = "posix_spawn_file_actions_addclosefrom_np")]
    private static partial int posix_spawn_file_actions_addclosefrom_np(void* actions, int from);

    [LibraryImport(LibcName, EntryPoint = "posix_spawnattr_init")]
    private static partial int posix_spawnattr_init(void* attr);

    [LibraryImport(LibcName, EntryPoint = "posix_spawnattr_destroy")]
    private static partial int posix_spawnattr_destroy(void* attr);

    [LibraryImport(LibcName, EntryPoint = "posix_spawnattr_setflags")]
    private static partial int posix_spawnattr_setflags(void* attr, short flags);

    [LibraryImport(LibcName, EntryPoint = "posix_spawnattr_setsigdefault")]
    private static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);

    [LibraryImport(LibcName, EntryPoint = "posix_spawnattr_setsigmask")]
    private static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);

    [LibraryImport(LibcName, EntryPoint = "sigfillset")]
    private static partial int sigfillset(void* set);

    [LibraryImport(LibcName, EntryPoint = "sigemptyset")]
    private static partial int sigemptyset(void* set);

    [LibraryImport(LibcName, EntryPoint = "waitpid", SetLastError = true)]
    private static partial int waitpid_raw(int pid, int* status, int options);

    [LibraryImport(LibcName, EntryPoint = "kill", SetLastError = true)]
    private static partial int kill_raw(int pid, int signal);

    [LibraryImport(LibcName, EntryPoint = "prlimit", SetLastError = true)]
    private static partial int prlimit_raw(int pid, int resource, RLimit* newLimit, RLimit* oldLimit);

    [LibraryImport(LibcName, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount_raw(string source, string target, string fsType, ulong flags, string data);

    [LibraryImport(LibcName, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2_raw(string target, int flags);

    [LibraryImport(LibcName, EntryPoint = "flock", SetLastError = true)]
    private static partial int flock_raw(int fd, int operation);

    [LibraryImport(LibcName, EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat_raw(int dirFd, string path, int flags, uint mode);

    [LibraryImport(LibcName, EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdirat_raw(int dirFd, string path, uint mode);

    [LibraryImport(LibcName, EntryPoint = "fchown", SetLastError = true)]
    private static partial int fchown_raw(int fd, uint uid, uint gid);

    [LibraryImport(LibcName, EntryPoint = "fstat", SetLastError = true)]
    private static partial int fstat_raw(int fd, Stat* stat);

    [LibraryImport(LibcName, EntryPoint = "prctl", SetLastError = true)]
    private static partial int prctl_raw(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    public const int PR_SET_CHILD_SUBREAPER = 36;

    /// <summary>
    /// Makes this process the reaper of its orphaned descendants, so a jail's sandbox init, orphaned when its
    /// bwrap monitor is killed, is reaped by Cordon at once rather than whenever the host's init gets to it.
    /// </summary>
    public static void BecomeChildSubreaper()
    {
        if (prctl_raw(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) throw Fail("prctl", "PR_SET_CHILD_SUBREAPER");
    }

    [LibraryImport(LibcName, EntryPoint = "getuid")]
    public static partial uint GetUid();

    private static CordonException Fail(string call, string? detail = null)
    {
        var errno = (Errno)Marshal.GetLastPInvokeError();
        return Fail(call, errno, detail);
    }

    private static CordonException Fail(string call, Errno errno, string? detail = null) =>
        new(CordonErrorCode.SystemCallFailed,
            $"{call}{(detail is null ? "" : $"({detail})")} failed: {errno} ({Marshal.GetPInvokeErrorMessage((int)errno)})",
            errno);

    /// <summary>Creates a close-on-exec pipe; returns (read end, write end).</summary>
    public static (SafeFileHandle Read, SafeFileHandle Write) Pipe()
    {
        int* fds = stackalloc int[2];
        if (pipe2_raw(fds, O_CLOEXEC) != 0) throw Fail("pipe2");
        return (new SafeFileHandle(fds[0], ownsHandle: true), new SafeFileHandle(fds[1], ownsHandle: true));
    }

    /// <summary>Duplicates a descriptor to the lowest free number at or above <paramref name="minimum"/>, close-on-exec.</summary>
    public static SafeFileHandle DuplicateAbove(SafeFileHandle handle, int minimum)
    {
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            var fd = fcntl_raw((int)handle.DangerousGetHandle(), F_DUPFD_CLOEXEC, minimum);
            if (fd < 0) throw Fail("fcntl", "F_DUPFD_CLOEXEC");
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>Creates an anonymous memory file holding <paramref name="content"/>, positioned at its start.</summary>
    public static SafeFileHandle MemoryFile(string name, ReadOnlySpan<byte> content)
    {
        var fd = memfd_create_raw(name, MFD_CLOEXEC);
        if (fd < 0) throw Fail("memfd_create", name);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        WriteAll(handle, content);
        if (lseek_raw(fd, 0, 0) < 0) throw Fail("lseek", name);
        return handle;
    }

    /// <summary>Writes every byte, retrying on EINTR. Throws with EPIPE when the reader has gone.</summary>
    public static void WriteAll(SafeFileHandle handle, ReadOnlySpan<byte> content)
    {
        var fd = (int)handle.DangerousGetHandle();
        fixed (byte* start = content)
        {
            var done = 0;
            while (done < content.Length)
            {
                var n = write_raw(fd, start + done, content.Length - done);
                if (n < 0)
                {
                    var errno = (Errno)Marshal.GetLastPInvokeError();
                    if (errno == Errno.EINTR) continue;
                    throw Fail("write", errno);
                }
                done += (int)n;
            }
        }
    }

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes; 0 means end of file. Retries on EINTR.</summary>
    public static int Read(SafeFileHandle handle, Span<byte> buffer)
    {
        var fd = (int)handle.DangerousGetHandle();
        fixed (byte* start = buffer)
        {
            while (true)
            {
                var n = read_raw(fd, start, buffer.Length);
                if (n >= 0) return (int)n;
                var errno = (Errno)Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR) throw Fail("read", errno);
            }
        }
    }

    /// <summary>
    /// Spawns <paramref name="path"/> with exactly the given environment (none by default), every signal reset to
    /// its default and unblocked (the .NET runtime ignores SIGPIPE, which children would otherwise inherit), and
    /// the given descriptors mapped to the given numbers; every other descriptor is closed in the child.
    /// </summary>
    public static int Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp,
        IReadOnlyList<(SafeFileHandle Source, int Target)> descriptors)
    {
        using var nativeArgv = new NativeStringArray(argv);
        using var nativeEnvp = new NativeStringArray(envp);
        using var nativePath = new NativeStringArray([path]);
        var actions = NativeMemory.AllocZeroed(SpawnStructBytes);
        var attr = NativeMemory.AllocZeroed(SpawnStructBytes);
        var sigset = NativeMemory.AllocZeroed(SpawnStructBytes);
        var refs = new List<SafeFileHandle>(descriptors.Count);
        try
        {
            Check(posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
            Check(posix_spawnattr_init(attr), "posix_spawnattr_init");
            foreach (var (source, target) in descriptors)
            {
                var added = false;
                source.DangerousAddRef(ref added);
                if (added) refs.Add(source);
                var fd = (int)source.DangerousGetHandle();
                // Sources sit above every target (see DuplicateAbove), so no dup2 can clobber a later source.
                Check(posix_spawn_file_actions_adddup2(actions, fd, target), "posix_spawn_file_actions_adddup2");
            }
            // Only the mapped descriptors may reach the child. Cordon's own are close-on-exec, but one this process
            // inherited from its parent (systemd socket activation, a shell, a test runner) is not, and bwrap hands
            // every open descriptor on to the sandbox: a jail could read a host file or accept on a host socket
            // through it. So close everything else (glibc ignores EBADF for numbers that are not open).
            var targets = descriptors.Select(d => d.Target).ToHashSet();
            var highest = Math.Max(2, targets.Count == 0 ? 0 : targets.Max());
            for (var fd = 3; fd < highest; fd++)
            {
                if (!targets.Contains(fd)) Check(posix_spawn_file_actions_addclose(actions, fd), "posix_spawn_file_actions_addclose");
            }
            Check(posix_spawn_file_actions_addclosefrom_np(actions, highest + 1), "posix_spawn_file_actions_addclosefrom_np");
            Check(posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), "posix_spawnattr_setflags");
            sigfillset(sigset);
            Check(posix_spawnattr_setsigdefault(attr, sigset), "posix_spawnattr_setsigdefault");
            sigemptyset(sigset);
            Check(posix_spawnattr_setsigmask(attr, sigset), "posix_spawnattr_setsigmask");

            int pid;
            var rc = posix_spawn_raw(&pid, nativePath.Pointers[0], actions, attr, nativeArgv.Pointers, nativeEnvp.Pointers);
            if (rc != 0) throw Fail("posix_spawn", (Errno)rc, path);
            return pid;
        }
        finally
        {
            foreach (var r in refs) r.DangerousRelease();
            posix_spawn_file_actions_destroy(actions);
            posix_spawnattr_destroy(attr);
            NativeMemory.Free(actions);
            NativeMemory.Free(attr);
            NativeMemory.Free(sigset);
        }

        static void Check(int rc, string call)
        {
            if (rc != 0) throw Fail(call, (Errno)rc);
        }
    }

    /// <summary>Waits for a child; returns its raw wait status, or null with WNOHANG when it still runs.</summary>
    public static int? WaitPid(int pid, bool noHang)
    {
        int status;
        while (true)
        {
            var rc = waitpid_raw(pid, &status, noHang ? WNOHANG : 0);
            if (rc == pid) return status;
            if (rc == 0) return null;
            var errno = (Errno)Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR) throw Fail("waitpid", errno, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Sends a signal; a process that is already gone is not an error.</summary>
    public static bool Kill(int pid, int signal)
    {
        if (kill_raw(pid, signal) == 0) return true;
        var errno = (Errno)Marshal.GetLastPInvokeError();
        if (errno == Errno.ESRCH) return false;
        throw Fail("kill", errno);
    }

    /// <summary>Sets a resource limit of another process (both soft and hard).</summary>
    public static void SetLimit(int pid, int resource, ulong value)
    {
        var limit = new RLimit { Current = value, Maximum = value };
        if (prlimit_raw(pid, resource, &limit, null) != 0)
            throw Fail("prlimit", $"{pid}, {resource}");
    }

    /// <summary>Mounts a filesystem.</summary>
    public static void Mount(string source, string target, string fsType, ulong flags, string data)
    {
        if (mount_raw(source, target, fsType, flags, data) != 0) throw Fail("mount", target);
    }

    /// <summary>Detaches a mount; returns false when nothing was mounted there.</summary>
    public static bool Unmount(string target)
    {
        if (umount2_raw(target, MNT_DETACH) == 0) return true;
        var errno = (Errno)Marshal.GetLastPInvokeError();
        if (errno is Errno.EINVAL or Errno.ENOENT) return false;
        throw Fail("umount2", errno, target);
    }

    /// <summary>Takes an exclusive advisory lock without waiting; false when another holder has it.</summary>
    public static bool TryLockExclusive(SafeFileHandle handle)
    {
        if (flock_raw((int)handle.DangerousGetHandle(), LOCK_EX | LOCK_NB) == 0) return true;
        var errno = (Errno)Marshal.GetLastPInvokeError();
        if (errno is Errno.EAGAIN) return false;
        throw Fail("flock", errno);
    }

    /// <summary>openat(2); returns the errno instead of throwing so callers can tell links and missing files apart.</summary>
    public static SafeFileHandle? OpenAt(SafeFileHandle? directory, string path, int flags, uint mode, out Errno errno)
    {
        var added = false;
        directory?.DangerousAddRef(ref added);
        try
        {
            var dirFd = directory is null ? AT_FDCWD : (int)directory.DangerousGetHandle();
            var fd = openat_raw(dirFd, path, flags | O_CLOEXEC, mode);
            if (fd < 0)
            {
                errno = (Errno)Marshal.GetLastPInvokeError();
                return null;
            }
            errno = Errno.None;
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        finally
        {
            if (added) directory!.DangerousRelease();
        }
    }

    /// <summary>mkdirat(2); returns the errno (EEXIST included) instead of throwing.</summary>
    public static Errno MakeDirectoryAt(SafeFileHandle directory, string name, uint mode) =>
        mkdirat_raw((int)directory.DangerousGetHandle(), name, mode) == 0
            ? Errno.None
            : (Errno)Marshal.GetLastPInvokeError();

    /// <summary>Changes the owner of an open file.</summary>
    public static void ChangeOwner(SafeFileHandle handle, uint uid, uint gid)
    {
        if (fchown_raw((int)handle.DangerousGetHandle(), uid, gid) != 0) throw Fail("fchown");
    }

    /// <summary>fstat(2) of an open file.</summary>
    public static Stat FileStatus(SafeFileHandle handle)
    {
        Stat st;
        if (fstat_raw((int)handle.DangerousGetHandle(), &st) != 0) throw Fail("fstat");
        return st;
    }

    /// <summary>NUL-terminated UTF-8 strings and a NULL-terminated pointer array in native memory.</summary>
    private sealed class NativeStringArray : IDisposable
    {
        private readonly byte*[] _strings;

        public NativeStringArray(IReadOnlyList<string> values)
        {
            _strings = new byte*[values.Count];
            Pointers = (byte**)NativeMemory.AllocZeroed((nuint)(values.Count + 1), (nuint)sizeof(byte*));
            for (var i = 0; i < values.Count; i++)
            {
                _strings[i] = Utf8StringMarshaller.ConvertToUnmanaged(values[i]);
                Pointers[i] = _strings[i];
            }
        }

        public byte** Pointers { get; }

        public void Dispose()
        {
            foreach (var s in _strings) Utf8StringMarshaller.Free(s);
            NativeMemory.Free(Pointers);
        }
    }
}
