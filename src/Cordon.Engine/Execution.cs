using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Cordon.Jail;

namespace Cordon.Engine;

/// <summary>A file of a request: a relative name (sub-folders allowed) and its bytes.</summary>
public sealed record ExecutionFile(string Name, ReadOnlyMemory<byte> Content);

/// <summary>A one-shot execution: files, stdin and arguments in; an optional compile stage and a run stage.</summary>
public sealed record ExecutionRequest
{
    /// <summary>Most bytes all files of a request may hold together.</summary>
    public const long MaxFileBytes = 32L * 1024 * 1024;

    /// <summary>Most files a request may hold.</summary>
    public const int MaxFiles = 256;

    /// <summary>Most bytes the arguments may hold together (the kernel caps one argument at 128 KiB).</summary>
    public const int MaxArgBytes = 64 * 1024;

    /// <summary>The language's name or alias.</summary>
    public required string Language { get; init; }

    /// <summary>A version or range ("3.11.2", "3.x", "*"); null for the installed one.</summary>
    public string? Version { get; init; }

    /// <summary>The program's files; the first is the main file.</summary>
    public required ImmutableArray<ExecutionFile> Files { get; init; }

    /// <summary>The program's stdin.</summary>
    public ReadOnlyMemory<byte> Stdin { get; init; }

    /// <summary>Arguments after the program.</summary>
    public ImmutableArray<string> Args { get; init; } = [];

    /// <summary>Limits of the compile stage over the runtime's.</summary>
    public LimitOverrides? CompileLimits { get; init; }

    /// <summary>Limits of the run stage over the runtime's.</summary>
    public LimitOverrides? RunLimits { get; init; }

    /// <summary>Allow network access (off by default).</summary>
    public bool Network { get; init; }

    /// <summary>Every problem with the request's shape (the runtime is checked by the engine).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Language)) errors.Add("language is required");
        if (Files.IsDefaultOrEmpty) errors.Add("at least one file is required");
        else
        {
            if (Files.Length > MaxFiles) errors.Add($"at most {MaxFiles} files are allowed");
            long total = 0;
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < Files.Length; i++)
            {
                var file = Files[i];
                if (JailFiles.Problem(file.Name) is { } problem) errors.Add($"files[{i}] '{JailFiles.Printable(file.Name)}': {problem}");
                else if (!names.Add(file.Name)) errors.Add($"files[{i}] '{JailFiles.Printable(file.Name)}' is given twice");
                total += file.Content.Length;
            }
            if (total > MaxFileBytes) errors.Add($"files hold {total} bytes; at most {MaxFileBytes} are allowed");
        }
        if (!Args.IsDefault)
        {
            if (Args.Any(a => a is null || a.Contains('\0', StringComparison.Ordinal))) errors.Add("arguments must not contain NUL");
            else if (Args.Sum(a => System.Text.Encoding.UTF8.GetByteCount(a) + 1) > MaxArgBytes) errors.Add($"arguments exceed {MaxArgBytes} bytes");
        }
        return errors;
    }
}

/// <summary>The outcome of an execution: the overall verdict and each stage's result.</summary>
public sealed record ExecutionResult
{
    /// <summary>The execution's id (in every log event about it).</summary>
    public required string Id { get; init; }

    /// <summary>The runtime that ran it.</summary>
    public required string Language { get; init; }

    /// <summary>The runtime's version.</summary>
    public required string Version { get; init; }

    /// <summary>The compile stage's verdict when it failed, else the run stage's.</summary>
    public required Verdict Verdict { get; init; }

    /// <summary>The compile stage, for compiled languages.</summary>
    public JailRunResult? Compile { get; init; }

    /// <summary>The run stage; null when compilation failed.</summary>
    public JailRunResult? Run { get; init; }

    /// <summary>The stage that decided the verdict.</summary>
    [JsonIgnore]
    public JailRunResult FinalStage => Run ?? Compile!;
}

/// <summary>The stage of an execution.</summary>
public enum ExecutionStage
{
    /// <summary>The compile stage.</summary>
    Compile,
    /// <summary>The run stage.</summary>
    Run,
}

/// <summary>A piece of a stage's output, as it arrived.</summary>
public sealed record OutputChunk(ExecutionStage Stage, OutputStreamKind Stream, ReadOnlyMemory<byte> Data);
