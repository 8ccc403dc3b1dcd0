using System.Collections.Immutable;
using System.Globalization;
using Cordon.Engine;
using Cordon.Jail;

namespace Cordon.Server;

/// <summary>Why a request body cannot become an execution: a stable code and every problem found.</summary>
internal sealed record RequestProblems(string Code, IReadOnlyList<string> Errors);

/// <summary>
/// Maps a shape-checked <see cref="ExecutionRequestBody"/> to the engine's <see cref="ExecutionRequest"/>, finding
/// every problem the shape cannot express: undecodable base64, limits above the server's maxima, network against
/// policy, and the engine's own request checks (file names, sizes).
/// </summary>
internal static class ExecutionRequestMapper
{
    public static async Task<(ExecutionRequest? Request, RequestProblems? Problems)> MapAsync(ExecutionRequestBody body, CordonEngine engine, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        RuntimeManifest? manifest = null;
        string? unknownRuntime = null;
        try
        {
            manifest = (await engine.ResolveAsync(body.Language, body.Version, cancellationToken).ConfigureAwait(false)).Manifest;
        }
        catch (CordonException e) when (e.Code == CordonErrorCode.UnknownRuntime)
        {
            unknownRuntime = e.Message;
        }

        var files = ImmutableArray.CreateBuilder<ExecutionFile>(body.Files.Count);
        for (var i = 0; i < body.Files.Count; i++)
        {
            var file = body.Files[i];
            if (Decode(file.Content, file.Encoding, $"files[{i}].content", errors) is { } content) files.Add(new ExecutionFile(file.Name, content));
        }
        var stdin = body.Stdin is null ? default : Decode(body.Stdin, body.StdinEncoding, "stdin", errors);

        var runLimits = Overrides(body.RunLimits);
        var compileLimits = Overrides(body.CompileLimits);
        if (manifest is not null)
        {
            CheckMaxima(body.RunLimits, "run_limits", engine.Options.RunLimits, engine.RunLimitsFor(manifest, null), errors);
            CheckMaxima(body.CompileLimits, "compile_limits", engine.Options.CompileLimits, engine.CompileLimitsFor(manifest, null), errors);
        }
        if (body.Network == true && !engine.Options.AllowNetwork)
            errors.Add("network: network access is turned off on this server (setting AllowNetwork)");

        var request = new ExecutionRequest
        {
            Language = body.Language,
            Version = body.Version,
            Files = files.ToImmutable(),
            Stdin = stdin,
            Args = body.Args is null ? [] : [.. body.Args],
            RunLimits = runLimits,
            CompileLimits = compileLimits,
            Network = body.Network ?? false,
        };
        // The engine checks these again; asking here puts its problems in the same answer as ours.
        if (files.Count == body.Files.Count) errors.AddRange(request.Validate());

        if (unknownRuntime is not null)
        {
            if (errors.Count == 0) return (null, new RequestProblems("unknown_runtime", [unknownRuntime]));
            errors.Insert(0, "language: " + unknownRuntime);
        }
        return errors.Count > 0 ? (null, new RequestProblems("invalid_request", errors)) : (request, null);
    }

    private static byte[]? Decode(string text, string? encoding, string path, List<string> errors)
    {
        if (encoding is not "base64") return System.Text.Encoding.UTF8.GetBytes(text);
        var bytes = new byte[text.Length / 4 * 3 + 3];
        if (Convert.TryFromBase64String(text, bytes, out var written)) return bytes[..written];
        errors.Add($"{path}: not valid base64");
        return null;
    }

    private static LimitOverrides? Overrides(LimitsBody? body) => body is null ? null : new LimitOverrides
    {
        WallTimeMs = body.WallTimeMs,
        CpuTimeMs = body.CpuTimeMs,
        MemoryBytes = body.MemoryBytes,
        Processes = body.Processes,
        OutputBytes = body.OutputBytes,
    };

    /// <summary>
    /// A request may only lower a limit. The maximum of each is the configured one, or the runtime's own default
    /// where its manifest raises it (Java needs more memory and threads than the configured default): a request
    /// can always ask for what it would get by asking for nothing.
    /// </summary>
    private static void CheckMaxima(LimitsBody? body, string prefix, JailLimits configured, JailLimits runtime, List<string> errors)
    {
        if (body is null) return;
        Check(body.WallTimeMs, Max(configured.WallTime, runtime.WallTime), "wall_time_ms");
        Check(body.CpuTimeMs, Max(configured.CpuTime, runtime.CpuTime), "cpu_time_ms");
        Check(body.MemoryBytes, Math.Max(configured.MemoryBytes, runtime.MemoryBytes), "memory_bytes");
        Check(body.Processes, Math.Max(configured.Processes, runtime.Processes), "processes");
        Check(body.OutputBytes, Math.Max(configured.OutputBytes, runtime.OutputBytes), "output_bytes");

        void Check(long? asked, long? max, string field)
        {
            if (asked is { } value && max is { } limit && value > limit)
                errors.Add($"{prefix}.{field}: {value.ToString(CultureInfo.InvariantCulture)} is above the maximum of {limit.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    // A null time is no limit at all, so it is the larger one.
    private static long? Max(TimeSpan? a, TimeSpan? b) =>
        a is null || b is null ? null : (long)Math.Max(a.Value.TotalMilliseconds, b.Value.TotalMilliseconds);
}
