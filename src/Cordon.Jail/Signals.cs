namespace Cordon.Jail;

/// <summary>Linux signal names for results (x86_64 numbering).</summary>
public static class Signals
{
    private static readonly string[] Names =
    [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
        "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];

    /// <summary>The name of a signal ("SIGKILL"), or "SIGRTMIN+n" / "SIG{n}" for others; null for null.</summary>
    public static string? Name(int? signal) => signal switch
    {
        null => null,
        > 0 and < 32 => Names[signal.Value],
        >= 34 and <= 64 => $"SIGRTMIN+{signal.Value - 34}",
        _ => $"SIG{signal.Value}",
    };
}
