using System.Collections.Immutable;

namespace Cordon.Engine;

/// <summary>
/// One language, as declared in <c>runtimes/NAME/manifest.json</c>. Commands are argument lists; the placeholders
/// <c>{main}</c> (the main file), <c>{files}</c> (every file), <c>{files:.ext}</c> (files with that extension) and
/// <c>{args}</c> (the user's arguments, run stage only) expand to zero or more arguments.
/// </summary>
public sealed record RuntimeManifest
{
    /// <summary>The language's name (<c>python</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Other names it answers to (<c>py</c>, <c>python3</c>).</summary>
    public ImmutableArray<string> Aliases { get; init; } = [];

    /// <summary>File extensions that select this runtime when no language is given (<c>.py</c>).</summary>
    public ImmutableArray<string> Extensions { get; init; } = [];

    /// <summary>The name given to the main file when a request leaves it unnamed.</summary>
    public required string MainFile { get; init; }

    /// <summary>How to learn the installed version.</summary>
    public required VersionProbe Version { get; init; }

    /// <summary>How to install the toolchain on Debian, for diagnostics.</summary>
    public string? Install { get; init; }

    /// <summary>The compile stage, for compiled languages.</summary>
    public CompileStage? Compile { get; init; }

    /// <summary>The run stage.</summary>
    public required RunStage Run { get; init; }

    /// <summary>Environment variables added to the jail's base environment.</summary>
    public ImmutableDictionary<string, string> Environment { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>
    /// Host paths outside /usr the toolchain needs, bound read-only; a <c>*</c> in the last segment matches the
    /// installed versions (<c>/etc/java-*-openjdk</c>).
    /// </summary>
    public ImmutableArray<string> ReadOnlyPaths { get; init; } = [];

    /// <summary>Limits of the run stage that differ from the defaults (Java needs more threads, for example).</summary>
    public LimitOverrides? Limits { get; init; }

    /// <summary>The test program's file name beside the manifest; it prints <c>OK</c>.</summary>
    public required string TestProgram { get; init; }

    /// <summary>The folder the manifest was loaded from (set by the catalog).</summary>
    public string Directory { get; init; } = "";

    /// <summary>Every problem with this manifest.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) errors.Add("name is required");
        if (Jail.JailFiles.Problem(MainFile) is { } p) errors.Add($"mainFile: {p}");
        if (Version is null || Version.Command.IsDefaultOrEmpty) errors.Add("version.command is required");
        if (Run is null || Run.Command.IsDefaultOrEmpty) errors.Add("run.command is required");
        if (Compile is not null && Compile.Command.IsDefaultOrEmpty) errors.Add("compile.command must not be empty");
        if (Compile is not null && Compile.Artifacts.IsDefaultOrEmpty) errors.Add("compile.artifacts must name what the run stage gets");
        if (string.IsNullOrWhiteSpace(TestProgram)) errors.Add("testProgram is required");
        return errors;
    }
}

/// <summary>A command whose output holds the version, and a regular expression whose first group is it.</summary>
public sealed record VersionProbe
{
    /// <summary>The command (its program is looked up in the jail's PATH on the host).</summary>
    public required ImmutableArray<string> Command { get; init; }

    /// <summary>A .NET regular expression applied to stdout and stderr together; group 1 is the version.</summary>
    public string Pattern { get; init; } = @"(\d+(?:\.\d+)+)";
}

/// <summary>The compile stage of a runtime.</summary>
public sealed record CompileStage
{
    /// <summary>The compiler command.</summary>
    public required ImmutableArray<string> Command { get; init; }

    /// <summary>Glob patterns (<c>*</c>, <c>**</c>) of the files the run stage receives.</summary>
    public ImmutableArray<string> Artifacts { get; init; } = [];

    /// <summary>Compile-stage limits that differ from the compile defaults.</summary>
    public LimitOverrides? Limits { get; init; }
}

/// <summary>The run stage of a runtime.</summary>
public sealed record RunStage
{
    /// <summary>The command that runs the program.</summary>
    public required ImmutableArray<string> Command { get; init; }

    /// <summary>
    /// A launcher that can start before the program is known and receive it later (warm pools). When it is not
    /// <see cref="RunLauncher.Transparent"/>, cold runs go through it too, so a pooled run and a cold one are the
    /// same process.
    /// </summary>
    public RunLauncher? Launcher { get; init; }
}

/// <summary>
/// A program that waits inside the jail for its program on descriptor 3 (NUL-separated argv) and then runs it.
/// Launchers live in Cordon's kernels folder, bound read-only at <c>/opt/cordon/kernels</c> in every jail.
/// </summary>
public sealed record RunLauncher
{
    /// <summary>The launcher's command (started ahead of the request in a warm pool).</summary>
    public required ImmutableArray<string> Command { get; init; }

    /// <summary>The argv handed to it, with the same placeholders as commands (<c>{main}</c>, <c>{args}</c>).</summary>
    public required ImmutableArray<string> Program { get; init; }

    /// <summary>
    /// True when the launcher execs the program and leaves no trace (same argv, environment and process), so a
    /// cold run may start the program directly with the run command.
    /// </summary>
    public bool Transparent { get; init; }
}
