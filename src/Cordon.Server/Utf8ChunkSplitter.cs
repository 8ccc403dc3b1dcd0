using System.Text.Unicode;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Server;

/// <summary>
/// Turns output chunks into text pieces for streaming. A pipe splits output anywhere, also inside a UTF-8
/// character; an incomplete character at the end of a chunk (at most 3 bytes) is held back until the next chunk of
/// the same stream, so text stays text. A piece that is not valid UTF-8 goes out as base64, bytes exact.
/// </summary>
internal sealed class Utf8ChunkSplitter
{
    private readonly Dictionary<(ExecutionStage, OutputStreamKind), byte[]> _pending = [];

    /// <summary>A piece of one stream, ready to send.</summary>
    public sealed record Piece(ExecutionStage Stage, OutputStreamKind Stream, string Data, string Encoding);

    /// <summary>The piece to send for <paramref name="chunk"/>; null when it is all held back.</summary>
    public Piece? Push(OutputChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var key = (chunk.Stage, chunk.Stream);
        var bytes = _pending.Remove(key, out var pending) ? [.. pending, .. chunk.Data.Span] : chunk.Data.ToArray();
        var tail = IncompleteTail(bytes);
        var head = bytes.AsSpan(0, bytes.Length - tail);
        if (!Utf8.IsValid(head)) return new Piece(chunk.Stage, chunk.Stream, Convert.ToBase64String(bytes), "base64");
        if (tail > 0) _pending[key] = bytes[^tail..];
        return head.IsEmpty ? null : new Piece(chunk.Stage, chunk.Stream, System.Text.Encoding.UTF8.GetString(head), "utf8");
    }

    /// <summary>What is still held back: bytes that never became a whole character, as base64.</summary>
    public IEnumerable<Piece> Flush()
    {
        foreach (var ((stage, stream), bytes) in _pending) yield return new Piece(stage, stream, Convert.ToBase64String(bytes), "base64");
        _pending.Clear();
    }

    /// <summary>How many bytes at the end start a UTF-8 sequence that the bytes do not complete.</summary>
    internal static int IncompleteTail(ReadOnlySpan<byte> bytes)
    {
        for (var back = 1; back <= Math.Min(3, bytes.Length); back++)
        {
            var b = bytes[^back];
            if ((b & 0xC0) == 0x80) continue; // a continuation byte: the lead is further back
            if (b < 0xC0) return 0; // ASCII (or a stray byte): nothing is waiting
            var length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
            return length > back ? back : 0;
        }
        return 0;
    }
}
