using System.Buffers.Binary;
using System.Text.Json;
using Cordon.Jail;

namespace Cordon.Engine.Sessions;

/// <summary>
/// One kernel of a session (Python or JavaScript): the pipe its requests go down and the channel its replies come
/// back on. The supervisor starts, interrupts and restarts it by its language's name.
/// </summary>
internal sealed class SessionKernel
{
    private readonly Stream _requests;

    public SessionKernel(string language, Stream requests, Stream replies)
    {
        Language = language;
        _requests = requests;
        Channel = new KernelChannel(replies);
    }

    /// <summary>The canonical language (<see cref="SessionLanguages"/>), as the supervisor's control lines name it.</summary>
    public string Language { get; }

    /// <summary>For messages: "Python", "JavaScript".</summary>
    public string DisplayName => Language == SessionLanguages.JavaScript ? "JavaScript" : "Python";

    public KernelChannel Channel { get; }

    /// <summary>Where each kernel's pipes are among the jail's extra pipes (request, reply); the supervisor's answers are at 2.</summary>
    public static (int Requests, int Replies) PipesOf(string language) => language == SessionLanguages.JavaScript ? (3, 4) : (0, 1);

    /// <summary>The jail's extra pipes for a session with these kernels (descriptor 3 first).</summary>
    public static System.Collections.Immutable.ImmutableArray<JailPipeDirection> ExtraPipesFor(IEnumerable<string> languages) =>
        languages.Contains(SessionLanguages.JavaScript)
            ? [JailPipeDirection.IntoJail, JailPipeDirection.OutOfJail, JailPipeDirection.OutOfJail, JailPipeDirection.IntoJail, JailPipeDirection.OutOfJail]
            : [JailPipeDirection.IntoJail, JailPipeDirection.OutOfJail, JailPipeDirection.OutOfJail];

    /// <summary>Sends one framed request; false when the kernel's pipe is gone.</summary>
    public bool TrySend(Dictionary<string, object> request)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request);
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        try
        {
            _requests.Write(frame);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
