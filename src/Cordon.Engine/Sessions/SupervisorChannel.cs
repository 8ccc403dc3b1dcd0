using System.Text;
using System.Threading.Channels;

namespace Cordon.Engine.Sessions;

/// <summary>
/// The host's end of the supervisor's answers (one line per control line, on the jail's descriptor 5), read on a
/// thread of its own so a wait for an answer can really time out (a read of a pipe cannot be cancelled on Unix).
/// </summary>
/// <remarks>
/// The pipe comes from inside the jail: a line is cut at <see cref="MaxLineBytes"/> (the rest up to its newline is
/// dropped) and at most a few lines are queued; a supervisor that writes more blocks on its own pipe.
/// </remarks>
internal sealed class SupervisorChannel
{
    private readonly Stream _answers;
    private readonly Channel<string> _lines = Channel.CreateBounded<string>(new BoundedChannelOptions(8)
    {
        SingleReader = true,
        SingleWriter = true,
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly CancellationTokenSource _stop = new();

    public SupervisorChannel(Stream answers, int maxLineBytes)
    {
        _answers = answers;
        MaxLineBytes = maxLineBytes;
        Reader = Session.StartReaderThread("cordon-supervisor", ReadLoop);
    }

    /// <summary>The longest answer kept (a command's report holds its output, JSON-escaped).</summary>
    public int MaxLineBytes { get; }

    /// <summary>Ends when the pipe closes (the jail ended).</summary>
    public Task Reader { get; }

    /// <summary>Frees the reader thread whatever it waits for; the jail is being torn down.</summary>
    public void Shutdown() => _stop.Cancel();

    /// <summary>The next answer; throws <see cref="IOException"/> once the supervisor is gone.</summary>
    public async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _lines.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e)
        {
            throw new IOException("The session's supervisor pipe closed.", e);
        }
    }

    private void ReadLoop()
    {
        var line = new MemoryStream();
        var dropping = false;
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = _answers.Read(buffer)) > 0)
            {
                var chunk = buffer.AsSpan(0, n);
                while (!chunk.IsEmpty)
                {
                    var end = chunk.IndexOf((byte)'\n');
                    var part = end < 0 ? chunk : chunk[..end];
                    if (!dropping)
                    {
                        if (line.Length + part.Length > MaxLineBytes) dropping = true;
                        else line.Write(part);
                    }
                    if (end < 0) break;
                    var text = dropping ? "error the supervisor's answer was too long" : Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length);
                    _lines.Writer.WriteAsync(text, _stop.Token).AsTask().GetAwaiter().GetResult();
                    line.SetLength(0);
                    if (line.Capacity > buffer.Length) line.Capacity = buffer.Length;
                    dropping = false;
                    chunk = chunk[(end + 1)..];
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or ChannelClosedException or OperationCanceledException)
        {
            // The jail is being torn down.
        }
        _lines.Writer.TryComplete();
    }
}
