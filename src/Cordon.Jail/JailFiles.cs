using Cordon.Jail.Interop;
using Microsoft.Win32.SafeHandles;

namespace Cordon.Jail;

/// <summary>
/// Files crossing the jail boundary. Names are validated segment by segment, every directory on the way is opened
/// with O_NOFOLLOW relative to its parent, and reads accept regular files only: a link, FIFO or device the jail
/// left behind is refused, never followed.
/// </summary>
public static class JailFiles
{
    /// <summary>Longest relative path accepted, in bytes.</summary>
    public const int MaxPathBytes = 1024;

    /// <summary>Longest single name, in bytes (the kernel's NAME_MAX).</summary>
    public const int MaxNameBytes = 255;

    /// <summary>Deepest nesting of sub-folders accepted.</summary>
    public const int MaxDepth = 16;

    /// <summary>Returns what is wrong with a relative file name, or null when it is safe.</summary>
    public static string? Problem(string? path)
    {
        if (string.IsNullOrEmpty(path)) return "the name is empty";
        if (path.Contains('\0', StringComparison.Ordinal)) return "the name contains a NUL byte";
        if (path.StartsWith('/')) return "the name is an absolute path; give a path relative to the work directory";
        if (System.Text.Encoding.UTF8.GetByteCount(path) > MaxPathBytes) return $"the name is longer than {MaxPathBytes} bytes";
        var segments = path.Split('/');
        if (segments.Length > MaxDepth) return $"the name is nested deeper than {MaxDepth} folders";
        foreach (var segment in segments)
        {
            if (segment.Length == 0) return "the name has an empty segment ('//' or a trailing '/')";
            if (segment is "." or "..") return "the name contains '.' or '..' segments; it must stay inside the work directory";
            if (System.Text.Encoding.UTF8.GetByteCount(segment) > MaxNameBytes) return $"a segment is longer than {MaxNameBytes} bytes";
        }
        return null;
    }

    private static string[] Segments(string path)
    {
        var problem = Problem(path);
        if (problem is not null)
            throw new CordonException(CordonErrorCode.UnsafePath, $"File name '{Printable(path)}' is refused: {problem}.");
        return path.Split('/');
    }

    /// <summary>A name made safe to show in a message: control characters replaced, at most 200 characters.</summary>
    public static string Printable(string? path) =>
        path is null ? "" : new string(path.Select(c => char.IsControl(c) ? '?' : c).Take(200).ToArray());

    private static SafeFileHandle OpenRoot(string root)
    {
        var handle = Libc.OpenAt(null, root, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW, 0, out var errno);
        return handle ?? throw new CordonException(CordonErrorCode.UnsafePath, $"Cannot open directory '{root}': {errno}.", errno);
    }

    private static SafeFileHandle OpenDirectory(SafeFileHandle parent, string name, string path)
    {
        var handle = Libc.OpenAt(parent, name, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW, 0, out var errno);
        return handle ?? throw new CordonException(CordonErrorCode.UnsafePath,
            errno is Errno.ELOOP or Errno.ENOTDIR
                ? $"'{Printable(path)}': '{Printable(name)}' is not a directory (links are never followed)."
                : $"'{Printable(path)}': cannot open '{Printable(name)}': {errno}.", errno);
    }

    /// <summary>
    /// Writes a file under <paramref name="root"/>, creating sub-folders, owned by <paramref name="uid"/>.
    /// An existing regular file is replaced; a link or anything else in the way is refused.
    /// </summary>
    public static void Write(string root, string path, ReadOnlySpan<byte> content, uint uid, bool executable = false)
    {
        var segments = Segments(path);
        var dir = OpenRoot(root);
        try
        {
            for (var i = 0; i < segments.Length - 1; i++)
            {
                var made = Libc.MakeDirectoryAt(dir, segments[i], 0x1ED /* 0755 */);
                if (made is not (Errno.None or Errno.EEXIST))
                    throw new CordonException(CordonErrorCode.UnsafePath, $"'{Printable(path)}': cannot create folder: {made}.", made);
                var next = OpenDirectory(dir, segments[i], path);
                if (made == Errno.None) Libc.ChangeOwner(next, uid, uid);
                dir.Dispose();
                dir = next;
            }
            var mode = executable ? 0x1EDu /* 0755 */ : 0x1A4u /* 0644 */;
            if (executable) SpawnThread.ExecutableWrites.EnterReadLock();
            try
            {
                WriteFile(dir, segments[^1], path, content, uid, mode);
            }
            finally
            {
                if (executable) SpawnThread.ExecutableWrites.ExitReadLock();
            }
        }
        finally
        {
            dir.Dispose();
        }
    }

    private static void WriteFile(SafeFileHandle dir, string name, string path, ReadOnlySpan<byte> content, uint uid, uint mode)
    {
        var file = Libc.OpenAt(dir, name, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_NOFOLLOW | Libc.O_NONBLOCK | Libc.O_NOCTTY, mode, out var errno)
            ?? throw new CordonException(CordonErrorCode.UnsafePath,
                errno is Errno.ELOOP
                    ? $"'{Printable(path)}' is a symbolic link; it is never followed."
                    : $"'{Printable(path)}': cannot create file: {errno}.", errno);
        using (file)
        {
            var st = Libc.FileStatus(file);
            if ((st.Mode & Libc.S_IFMT) != Libc.S_IFREG)
                throw new CordonException(CordonErrorCode.UnsafePath, $"'{Printable(path)}' exists and is not a regular file.");
            RandomAccess.SetLength(file, 0);
            try
            {
                RandomAccess.Write(file, content, 0);
            }
            catch (IOException e) when (e.HResult is (int)Errno.ENOSPC or (int)Errno.EFBIG)
            {
                // The work directory's size is the caller's own limit: a file that does not fit is refused like
                // any other file, not reported as a raw I/O fault of Cordon. No partial file is left behind.
                RandomAccess.SetLength(file, 0);
                throw new CordonException(CordonErrorCode.UnsafePath,
                    $"'{Printable(path)}' ({content.Length} bytes) does not fit in the work directory: {(Errno)e.HResult}.", (Errno)e.HResult);
            }
            Libc.ChangeOwner(file, uid, uid);
        }
    }

    /// <summary>
    /// Reads a regular file under <paramref name="root"/> without following any link; refuses FIFOs, devices,
    /// directories and files larger than <paramref name="maxBytes"/>.
    /// </summary>
    public static byte[] Read(string root, string path, long maxBytes) => Read(root, path, maxBytes, out _);

    /// <summary>As <see cref="Read(string, string, long)"/>, also telling whether the owner may execute the file.</summary>
    public static byte[] Read(string root, string path, long maxBytes, out bool executable)
    {
        var segments = Segments(path);
        var dir = OpenRoot(root);
        try
        {
            for (var i = 0; i < segments.Length - 1; i++)
            {
                var next = OpenDirectory(dir, segments[i], path);
                dir.Dispose();
                dir = next;
            }
            // O_NONBLOCK: opening a FIFO the jail left must not hang the host.
            using var file = Libc.OpenAt(dir, segments[^1], Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_NONBLOCK | Libc.O_NOCTTY, 0, out var errno)
                ?? throw new CordonException(CordonErrorCode.UnsafePath,
                    errno switch
                    {
                        Errno.ELOOP => $"'{Printable(path)}' is a symbolic link; it is never followed.",
                        Errno.ENOENT => $"'{Printable(path)}' does not exist.",
                        _ => $"'{Printable(path)}': cannot open: {errno}.",
                    }, errno);
            var st = Libc.FileStatus(file);
            if ((st.Mode & Libc.S_IFMT) != Libc.S_IFREG)
                throw new CordonException(CordonErrorCode.UnsafePath, $"'{Printable(path)}' is not a regular file.");
            executable = (st.Mode & 0x40 /* S_IXUSR */) != 0;
            if (st.Size > maxBytes)
                throw new CordonException(CordonErrorCode.UnsafePath, $"'{Printable(path)}' is {st.Size} bytes; the limit is {maxBytes}.");
            var buffer = new byte[st.Size];
            var read = 0;
            while (read < buffer.Length)
            {
                var n = RandomAccess.Read(file, buffer.AsSpan(read), read);
                if (n == 0) break;
                read += n;
            }
            return read == buffer.Length ? buffer : buffer[..read];
        }
        finally
        {
            dir.Dispose();
        }
    }

    /// <summary>
    /// Relative paths of every regular file under <paramref name="root"/>; links and special files are skipped and
    /// linked directories are not entered.
    /// </summary>
    public static IReadOnlyList<string> ListRegularFiles(string root)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true, MaxRecursionDepth = MaxDepth };
        var files = new List<string>();
        foreach (var info in new DirectoryInfo(root).EnumerateFileSystemInfos("*", options))
        {
            // FIFOs and devices enumerate as files too; only a real regular file counts.
            if (info is not FileInfo || info.LinkTarget is not null || !IsRegular(info.FullName)) continue;
            files.Add(Path.GetRelativePath(root, info.FullName));
        }
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    private static bool IsRegular(string fullPath)
    {
        using var handle = Libc.OpenAt(null, fullPath, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_NONBLOCK | Libc.O_NOCTTY, 0, out _);
        return handle is not null && (Libc.FileStatus(handle).Mode & Libc.S_IFMT) == Libc.S_IFREG;
    }
}
