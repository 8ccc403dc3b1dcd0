using System.Globalization;
using Cordon.Jail.Interop;
using Microsoft.Win32.SafeHandles;

namespace Cordon.Jail;

/// <summary>
/// Hands out unprivileged host uids, one per live jail, across every Cordon process on the host: a uid is taken by
/// holding an flock on its lock file, which the kernel releases when the holder dies, so a crashed server never
/// leaks uids.
/// </summary>
internal sealed class UidPool
{
    private readonly string _lockDirectory;
    private readonly uint _first;
    private readonly int _count;
    private readonly Lock _gate = new();
    private readonly HashSet<uint> _held = [];
    private int _cursor;

    public UidPool(string lockDirectory, uint first, int count)
    {
        _lockDirectory = lockDirectory;
        _first = first;
        _count = count;
        Directory.CreateDirectory(lockDirectory);
    }

    public uint First => _first;

    public int Count => _count;

    public int InUse
    {
        get
        {
            lock (_gate) return _held.Count;
        }
    }

    /// <summary>Takes a free uid; dispose the lease to give it back once every process of that uid is dead.</summary>
    public UidLease Rent()
    {
        lock (_gate)
        {
            for (var tried = 0; tried < _count; tried++)
            {
                var uid = _first + (uint)((_cursor + tried) % _count);
                if (_held.Contains(uid)) continue;
                var path = Path.Combine(_lockDirectory, uid.ToString(CultureInfo.InvariantCulture));
                var handle = Libc.OpenAt(null, path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_NOFOLLOW, 0x180 /* 0600 */, out var errno)
                    ?? throw new CordonException(CordonErrorCode.SystemCallFailed, $"Cannot open uid lock '{path}': {errno}.", errno);
                if (!Libc.TryLockExclusive(handle))
                {
                    handle.Dispose();
                    continue;
                }
                _held.Add(uid);
                _cursor = (_cursor + tried + 1) % _count;
                return new UidLease(this, uid, handle);
            }
        }
        throw new CordonException(CordonErrorCode.UidPoolExhausted,
            $"All {_count} jail uids from {_first} are in use; raise the uid count or lower the concurrency.");
    }

    private void Return(uint uid, SafeFileHandle handle)
    {
        lock (_gate)
        {
            handle.Dispose();
            _held.Remove(uid);
        }
    }

    /// <summary>One rented uid.</summary>
    internal sealed class UidLease(UidPool pool, uint uid, SafeFileHandle handle) : IDisposable
    {
        private int _disposed;

        public uint Uid { get; } = uid;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) pool.Return(Uid, handle);
        }
    }
}
