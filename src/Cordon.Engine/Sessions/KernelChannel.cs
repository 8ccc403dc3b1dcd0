using System.Buffers.Binary;
using System.Text.Json;

namespace Cordon.Engine.Sessions;

/// <summary>
/// The host's end of a kernel's framed replies (4-byte big-endian length, UTF-8 JSON). One reader thread parses the
/// pipe into whole frames; a caller waits for the frame with its request's id. After a restart the stream is skipped up
/// to the supervisor's nonce, so bytes a killed kernel left half-written never desynchronise the framing.
/// </summary>
/// <remarks>
/// Everything on this pipe comes from inside the jail, and a cell can write to it too. So only the frames the host is
/// waiting for right now are kept (its request's id, a kernel's hello, one small death report of the supervisor's),
/// the frames waiting to be read may hold at most <see cref="MaxFrameBytes"/> together (a kernel that writes more
/// blocks on its own pipe), and the read buffer shrinks back after a large frame. Nothing a frame holds can stop the
/// reader thread, and closing the channel frees it whatever it waits for.
/// </remarks>
internal sealed class KernelChannel
{
    /// <summary>A frame longer than this is not a reply (a cell wrote to the pipe itself): framing is lost.</summary>
    public const int MaxFrameBytes = 64 * 1024 * 1024;

    /// <summary>The supervisor's death report is a few dozen bytes; a larger one is forged.</summary>
    private const int MaxDeathBytes = 512;

    private const int ReadBufferBytes = 64 * 1024;

    /// <summary>No request is waiting: every frame but a death report is dropped.</summary>
    private const long NoRequest = -1;

    private readonly Stream _replies;
    private readonly Lock _gate = new();
    // The frames waiting to be read, their bytes and whether a death report is among them; guarded by _queueGate.
    private readonly Queue<Frame> _queue = new();
    private readonly object _queueGate = new();
    private readonly SemaphoreSlim _available = new(0);
    private long _queuedBytes;
    private bool _deathQueued;
    private bool _shutDown;
    private bool _ended;
    private byte[]? _syncMarker;
    private bool _lost;
    private long _expected;
    private int _epoch;

    private sealed record Frame(JsonDocument Document, int Epoch, int Bytes, bool Death);

    public KernelChannel(Stream replies)
    {
        _replies = replies;
        // A dedicated thread: a read on a pipe blocks, and one pool thread per idle session would starve the pool.
        Reader = Session.StartReaderThread("cordon-kernel", ReadLoop);
    }

    /// <summary>Ends when the pipe closes (the jail ended) or the channel is shut down.</summary>
    public Task Reader { get; }

    /// <summary>From now on frames with <paramref name="id"/> are kept (0 for a kernel's hello); call before sending the request.</summary>
    public void Expect(long id) => Volatile.Write(ref _expected, id);

    /// <summary>From now on no frame is kept but a death report (the request was answered or given up).</summary>
    public void ExpectNothing() => Expect(NoRequest);

    /// <summary>
    /// From now on everything up to and including <paramref name="marker"/> is skipped, frames already queued are
    /// dropped, and a kernel's hello is expected.
    /// </summary>
    public void SkipUntil(byte[] marker)
    {
        lock (_gate)
        {
            _syncMarker = marker;
            _lost = false;
            _epoch++;
        }
        Expect(0);
        lock (_queueGate)
        {
            while (_queue.TryDequeue(out var stale)) Forget(stale);
            Monitor.PulseAll(_queueGate);
        }
    }

    /// <summary>Frees the reader thread whatever it waits for and drops what is queued; the jail is being torn down.</summary>
    public void Shutdown()
    {
        lock (_queueGate)
        {
            _shutDown = true;
            while (_queue.TryDequeue(out var frame)) Forget(frame);
            Monitor.PulseAll(_queueGate);
        }
        _available.Release();
    }

    /// <summary>
    /// Waits for the reply with <paramref name="id"/>, or the supervisor's report that the kernel died (a frame with a
    /// <c>died</c> member); throws <see cref="OperationCanceledException"/> on timeout. A streamed cell's output frames
    /// (with a <c>stream</c> member) of that id go to <paramref name="onChunk"/> on the way.
    /// </summary>
    public async Task<JsonDocument> WaitAsync(long id, Action<JsonElement>? onChunk, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
            Frame? frame;
            int epoch;
            lock (_queueGate)
            {
                if (!_queue.TryDequeue(out frame))
                {
                    // Released by the end of the pipe or a shutdown (or for a frame a restart dropped since).
                    if (_ended || _shutDown)
                    {
                        _available.Release();
                        throw new IOException("The session's kernel pipe closed.");
                    }
                    continue;
                }
                _queuedBytes -= frame.Bytes;
                if (frame.Death) _deathQueued = false;
                Monitor.PulseAll(_queueGate);
            }
            lock (_gate) epoch = _epoch;
            var root = frame.Document.RootElement;
            if (frame.Epoch == epoch && frame.Death) return frame.Document;
            if (frame.Epoch == epoch && IdOf(root) == id)
            {
                if (!root.TryGetProperty("stream", out _)) return frame.Document;
                try
                {
                    onChunk?.Invoke(root);
                }
                finally
                {
                    frame.Document.Dispose();
                }
                continue;
            }
            frame.Document.Dispose();
        }
    }

    /// <summary>True for the supervisor's report that the kernel died (<c>{"id": -1, "died": {...}}</c>).</summary>
    public static bool IsDeath(JsonElement frame) =>
        frame.ValueKind == JsonValueKind.Object && frame.TryGetProperty("died", out var died) && died.ValueKind == JsonValueKind.Object;

    private static long? IdOf(JsonElement frame) =>
        frame.ValueKind == JsonValueKind.Object && frame.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out var value)
            ? value
            : null;

    private void Forget(Frame frame)
    {
        _queuedBytes -= frame.Bytes;
        if (frame.Death) _deathQueued = false;
        frame.Document.Dispose();
    }

    private void ReadLoop()
    {
        var buffer = new byte[ReadBufferBytes];
        var length = 0;
        try
        {
            while (!Volatile.Read(ref _shutDown))
            {
                if (length == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
                var n = _replies.Read(buffer.AsSpan(length));
                if (n == 0) break;
                length += n;
                List<Frame> kept;
                lock (_gate) (length, kept) = Parse(buffer, length);
                foreach (var frame in kept) Enqueue(frame);
                // A large frame is gone: give its memory back rather than keep it for the session's whole life.
                if (buffer.Length > ReadBufferBytes && length <= ReadBufferBytes)
                {
                    var smaller = new byte[ReadBufferBytes];
                    buffer.AsSpan(0, length).CopyTo(smaller);
                    buffer = smaller;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The jail is being torn down.
        }
        lock (_queueGate) _ended = true;
        _available.Release();
    }

    /// <summary>Queues a frame once there is room for it (or drops it: a second death report, or after a shutdown).</summary>
    private void Enqueue(Frame frame)
    {
        lock (_queueGate)
        {
            if (frame.Death && _deathQueued)
            {
                frame.Document.Dispose();
                return;
            }
            // Blocks this thread, and so the kernel's writes, until the waiter has read enough; never a frame that
            // would be alone in the queue (it is at most MaxFrameBytes).
            while (!_shutDown && _queue.Count > 0 && _queuedBytes + frame.Bytes > MaxFrameBytes) Monitor.Wait(_queueGate);
            if (_shutDown)
            {
                frame.Document.Dispose();
                return;
            }
            _queue.Enqueue(frame);
            _queuedBytes += frame.Bytes;
            _deathQueued |= frame.Death;
        }
        _available.Release();
    }

    /// <summary>Takes every whole frame out of the buffer; returns how many bytes are left in it and the frames worth keeping.</summary>
    private (int Left, List<Frame> Kept) Parse(byte[] buffer, int length)
    {
        var kept = new List<Frame>();
        var start = 0;
        if (_syncMarker is { } marker)
        {
            var at = buffer.AsSpan(0, length).IndexOf(marker);
            if (at < 0)
            {
                // Keep a tail that could be the marker's beginning.
                var keep = Math.Min(length, marker.Length - 1);
                Buffer.BlockCopy(buffer, length - keep, buffer, 0, keep);
                return (keep, kept);
            }
            start = at + marker.Length;
            _syncMarker = null;
        }
        var expected = Volatile.Read(ref _expected);
        while (!_lost && length - start >= 4)
        {
            var size = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(start));
            if (size is < 0 or > MaxFrameBytes)
            {
                // Only a restart (with its marker) recovers; the waiting cell times out and asks for one.
                _lost = true;
                break;
            }
            if (length - start - 4 < size) break;
            JsonDocument? document = null;
            try
            {
                // A copy: a document keeps using the memory it was parsed from, and this buffer is reused at once.
                document = JsonDocument.Parse(buffer.AsMemory(start + 4, size).ToArray());
                var root = document.RootElement;
                var death = size <= MaxDeathBytes && IsDeath(root);
                if (death || (expected != NoRequest && IdOf(root) == expected))
                {
                    kept.Add(new Frame(document, _epoch, size, death));
                    document = null;
                }
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
            {
                // Not a reply; the waiting cell times out.
            }
            finally
            {
                document?.Dispose();
            }
            start += 4 + size;
        }
        if (_lost) return (0, kept);
        Buffer.BlockCopy(buffer, start, buffer, 0, length - start);
        return (length - start, kept);
    }
}
