namespace Cordon.Jail;

/// <summary>Stable codes for Cordon's own faults. A user program's failure is never one of these.</summary>
public enum CordonErrorCode
{
    /// <summary>The host lacks something Cordon needs (bubblewrap, cgroups, libseccomp, a runtime).</summary>
    HostUnsupported,
    /// <summary>The seccomp filter could not be built or exported; no jail runs without one.</summary>
    SeccompFailed,
    /// <summary>A cgroup could not be created, configured, joined or removed.</summary>
    CgroupFailed,
    /// <summary>The jail process could not be started.</summary>
    SpawnFailed,
    /// <summary>Every unprivileged uid in the configured range is in use.</summary>
    UidPoolExhausted,
    /// <summary>A file crossing the jail boundary was refused (bad name, link, not a regular file, too large).</summary>
    UnsafePath,
    /// <summary>The request is invalid; the message lists every problem.</summary>
    InvalidRequest,
    /// <summary>The language asked for is not known or not installed.</summary>
    UnknownRuntime,
    /// <summary>A system call failed unexpectedly.</summary>
    SystemCallFailed,
    /// <summary>Admission control refused the work: too many running and queued; retry later.</summary>
    Overloaded,
    /// <summary>The session does not exist (any more): deleted, expired, or never created.</summary>
    SessionNotFound,
    /// <summary>As many sessions as this Cordon allows are alive; delete one or retry later.</summary>
    SessionLimitReached,
    /// <summary>The session has no command with this id (never started there, or a malformed id).</summary>
    CommandNotFound,
}

/// <summary>The one exception type Cordon throws for its own faults, with a stable <see cref="Code"/>.</summary>
public sealed class CordonException : Exception
{
    /// <summary>Creates an exception with a stable code and a message that says what to do.</summary>
    public CordonException(CordonErrorCode code, string message, Exception? inner = null)
        : base(message, inner) => Code = code;

    /// <summary>Creates an exception for a failed system call, keeping its errno.</summary>
    public CordonException(CordonErrorCode code, string message, Errno errno)
        : base(message)
    {
        Code = code;
        Errno = errno;
    }

    /// <summary>Creates an exception for an invalid request, listing every problem found.</summary>
    public CordonException(CordonErrorCode code, string summary, IReadOnlyList<string> errors)
        : base(errors.Count == 0 ? summary : summary + ": " + string.Join("; ", errors) + ".")
    {
        Code = code;
        Errors = errors;
    }

    /// <summary>Every problem found, for requests rejected by validation; empty otherwise.</summary>
    public IReadOnlyList<string> Errors { get; } = [];

    /// <summary>For <see cref="CordonErrorCode.Overloaded"/>: when a retry may succeed.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>The errno of the failed system call, when one caused this.</summary>
    public Errno? Errno { get; }

    /// <summary>The stable error code.</summary>
    public CordonErrorCode Code { get; }

    /// <summary>The code as the snake_case string used in APIs and JSON.</summary>
    public string CodeName => ToSnakeCase(Code.ToString());

    /// <summary>Turns a PascalCase name into snake_case (<c>MemoryLimit</c> to <c>memory_limit</c>).</summary>
    public static string ToSnakeCase(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var sb = new System.Text.StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0) sb.Append('_');
                sb.Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }
}
