namespace Cordon.Jail;

/// <summary>Keeps the first <see cref="Limit"/> bytes of a stream and notes whether more came.</summary>
internal sealed class OutputCapture(long limit)
{
    private readonly MemoryStream _buffer = new();
    private readonly Lock _gate = new();

    private long _limit = limit;

    /// <summary>Bytes kept at most; set before the program runs (a capture may start before its run's limits are known).</summary>
    public long Limit
    {
        get => Volatile.Read(ref _limit);
        set => Volatile.Write(ref _limit, value);
    }

    public bool Truncated { get; private set; }

    /// <summary>Appends what fits; returns how many bytes were kept.</summary>
    public int Append(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            var room = (int)Math.Max(0, Math.Min(int.MaxValue, Limit - _buffer.Length));
            var kept = Math.Min(room, data.Length);
            _buffer.Write(data[..kept]);
            if (kept < data.Length) Truncated = true;
            return kept;
        }
    }

    public byte[] ToArray()
    {
        lock (_gate) return _buffer.ToArray();
    }

    public string Text() => System.Text.Encoding.UTF8.GetString(ToArray());
}

/// <summary>stdout and stderr interleaved in the order their chunks arrived.</summary>
internal sealed class CombinedOutput
{
    private readonly MemoryStream _buffer = new();
    private readonly Lock _gate = new();

    public void Append(ReadOnlySpan<byte> data)
    {
        lock (_gate) _buffer.Write(data);
    }

    public byte[] ToArray()
    {
        lock (_gate) return _buffer.ToArray();
    }
}
