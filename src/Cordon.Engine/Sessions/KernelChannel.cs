using System.Buffers.Binary;
using System.Text.Json;
using System.Threading.Channels;

namespace Cordon.Engine.Sessions;

/// <summary>
/// The host's end of a kernel's framed replies (4-byte big-endian length, UTF-8 JSON). One reader task parses the
/// pipe into whole frames; a caller waits for the frame with its request's id and skips stale ones (the late answer
/// of an interrupted cell). After a restart the stream is skipped up to the supervisor's nonce, so bytes a killed
/// kernel left half-written never desynchronise the framing.
/// </summary>
internal sealed class KernelChannel
{
    /// <summary>A frame longer than this is not a reply (a cell wrote to the pipe itself): framing is lost.</summary>
    private const int MaxFrameBytes = 64 * 1024 * 1024;

    private readonly Stream _replies;
    private readonly Channel<JsonDocument> _frames = Channel.CreateUnbounded<JsonDocument>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Lock _gate = new();
    private byte[]? _syncMarker;
    private bool _lost;

    public KernelChannel(Stream replies)
    {
        _replies = replies;
        // A dedicated thread: a read on a pipe blocks, and one pool thread per idle session would starve the pool.
        Reader = Session.StartReaderThread("cordon-kernel", ReadLoop);
    }

    /// <summary>Ends when the pipe closes (the jail ended).</summary>
    public Task Reader { get; }

    /// <summary>From now on everything up to and including <paramref name="marker"/> is skipped.</summary>
    public void SkipUntil(byte[] marker)
    {
        lock (_gate)
        {
            _syncMarker = marker;
            _lost = false;
        }
    }

    /// <summary>
    /// Waits for the reply with <paramref name="id"/>, or the supervisor's report that the kernel died (a frame with a
    /// <c>died</c> member); throws <see cref="OperationCanceledException"/> on timeout. A
    /// streamed cell's output frames (with a <c>stream</c> member) of that id go to <paramref name="onChunk"/> on the way.
    /// </summary>
    public async Task<JsonDocument> WaitAsync(long id, Action<JsonElement>? onChunk, CancellationToken cancellationToken)
    {
        while (true)
        {
            JsonDocument frame;
            try
            {
                frame = await _frames.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException e)
            {
                throw new IOException("The session's kernel pipe closed.", e);
            }
            var root = frame.RootElement;
            // The supervisor's word that the kernel died answers whatever was asked of it.
            if (root.TryGetProperty("died", out _)) return frame;
            if (root.TryGetProperty("id", out var got) && got.TryGetInt64(out var value) && value == id)
            {
                if (!root.TryGetProperty("stream", out _)) return frame;
                try
                {
                    onChunk?.Invoke(root);
                }
                finally
                {
                    frame.Dispose();
                }
                continue;
            }
            frame.Dispose();
        }
    }

    private void ReadLoop()
    {
        var buffer = new byte[64 * 1024];
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
                var n = _replies.Read(buffer.AsSpan(length));
                if (n == 0) break;
                length += n;
                lock (_gate) length = Parse(buffer, length);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The jail is being torn down.
        }
        _frames.Writer.TryComplete();
    }

    /// <summary>Takes every whole frame out of the buffer and returns how many bytes are left in it.</summary>
    private int Parse(byte[] buffer, int length)
    {
        var start = 0;
        if (_syncMarker is { } marker)
        {
            var at = buffer.AsSpan(0, length).IndexOf(marker);
            if (at < 0)
            {
                // Keep a tail that could be the marker's beginning.
                var keep = Math.Min(length, marker.Length - 1);
                Buffer.BlockCopy(buffer, length - keep, buffer, 0, keep);
                return keep;
            }
            start = at + marker.Length;
            _syncMarker = null;
        }
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
            try
            {
                // A copy: a document keeps using the memory it was parsed from, and this buffer is reused at once.
                _frames.Writer.TryWrite(JsonDocument.Parse(buffer.AsMemory(start + 4, size).ToArray()));
            }
            catch (JsonException)
            {
                // Not a reply; the waiting cell times out.
            }
            start += 4 + size;
        }
        if (_lost) return 0;
        Buffer.BlockCopy(buffer, start, buffer, 0, length - start);
        return length - start;
    }
}
