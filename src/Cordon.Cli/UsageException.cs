namespace Cordon.Cli;

/// <summary>
/// A mistake on the command line the user can fix: reported as one <c>cordon: </c> line listing every problem,
/// with exit code 2 and never a stack trace.
/// </summary>
internal sealed class UsageException : Exception
{
    public UsageException()
        : this([], null)
    {
    }

    public UsageException(string message)
        : this([message], null)
    {
    }

    public UsageException(string message, Exception inner)
        : base(message, inner) => Problems = [message];

    public UsageException(IReadOnlyList<string> problems, string? command)
        : base(string.Join("; ", problems))
    {
        Problems = problems;
        Command = command;
    }

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<string> Problems { get; } = [];

    /// <summary>The subcommand whose help explains the usage (<c>run</c>), or null for the root.</summary>
    public string? Command { get; }
}
