using System.Collections.Immutable;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cordon.Jail;
using Microsoft.Extensions.Logging;

namespace Cordon.Engine.Sessions;

/// <summary>
/// A stateful sandbox: one long-lived jail with its own workspace, cgroup and kernels (Python, JavaScript or both).
/// Cells run one at a time; each kernel keeps its own state across cells (Python's <c>__main__</c>, JavaScript's
/// global scope). Closing it (delete, expiry, engine disposal) kills everything in it and removes its cgroup and
/// workspace. Thread-safe.
/// </summary>
public sealed class Session
{
    private readonly Jail.Jail _jail;
    private readonly Dictionary<string, SessionKernel> _kernels;
    // Background commands started and not yet seen ended: while there are any, the session is not idle.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> _background = new(StringComparer.Ordinal);
    private readonly SessionOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly CordonMetrics _metrics;
    private readonly SemaphoreSlim _cells = new(1, 1);
    private readonly SemaphoreSlim _control = new(1, 1);
    private readonly SupervisorChannel _supervisor;
    private readonly Lock _closingGate = new();
    private readonly Task[] _drains;
    private readonly long _outputLimit;
    private long _nextRequest;
    private int _cellCount;
    private long _lastUsedTicks;
    private int _closed;
    private int _checkingCommands;
    private long _commandsCheckedAt;
    private Task? _closing;

    private Session(string id, Jail.Jail jail, SessionRequest request, SessionOptions options, TimeProvider clock, CordonMetrics metrics, ILogger logger)
    {
        _metrics = metrics;
        Id = id;
        _jail = jail;
        _options = options;
        _clock = clock;
        _logger = logger;
        _outputLimit = jail.Spec.Limits.OutputBytes;
        Languages = [.. request.Languages.Select(l => SessionLanguages.Canonical(l)!).Distinct()];
        Labels = request.Labels;
        Owner = request.Owner;
        CreatedAt = clock.GetUtcNow();
        _lastUsedTicks = CreatedAt.UtcTicks;
        IdleTimeout = request.IdleTimeout ?? options.IdleTimeout;
        var lifetime = request.MaxLifetime ?? options.MaxLifetime;
        MaxLifetime = lifetime < options.MaxLifetime ? lifetime : options.MaxLifetime;
        _kernels = Languages.ToDictionary(l => l, l => new SessionKernel(l, jail.ExtraPipes[SessionKernel.PipesOf(l).Requests], jail.ExtraPipes[SessionKernel.PipesOf(l).Replies]), StringComparer.Ordinal);
        // A command's report holds its output JSON-escaped (up to six bytes a byte) for both streams.
        _supervisor = new SupervisorChannel(jail.ExtraPipes[2], (int)Math.Min(256L * 1024 * 1024, _outputLimit * 12 + 64 * 1024));
        // Output that bypasses the cell's capture (a subprocess writing to descriptor 1 or 2) is not kept, but the
        // pipes are drained so such a program never blocks on a full pipe.
        _drains = [Drain(jail.Stdout), Drain(jail.Stderr)];
        // The supervisor's pipe closes only with the jail: if that happens before the session is closed, something
        // inside ended it (kill(-1) from a cell, say). It is then closed at once, and the reaper forgets it.
        _ = _supervisor.Reader.ContinueWith(_ =>
        {
            if (IsClosed) return;
            Log.JailEnded(_logger, Id);
            _ = CloseAsync();
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The session's id (random, unguessable).</summary>
    public string Id { get; }

    /// <summary>Its kernels.</summary>
    public ImmutableArray<string> Languages { get; }

    /// <summary>Its labels.</summary>
    public ImmutableDictionary<string, string> Labels { get; }

    /// <summary>Who it belongs to (<see cref="SessionRequest.Owner"/>); null when nobody.</summary>
    public string? Owner { get; }

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>When it was last used (a cell or a file operation).</summary>
    public DateTimeOffset LastUsedAt => new(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);

    /// <summary>Unused this long, it is closed.</summary>
    public TimeSpan IdleTimeout { get; }

    /// <summary>This long after its creation, it is closed.</summary>
    public TimeSpan MaxLifetime { get; }

    /// <summary>True once closed; every operation then throws <see cref="CordonErrorCode.SessionNotFound"/>.</summary>
    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>The host uid its processes run as (tests check nothing of it is left).</summary>
    public uint HostUid => _jail.HostUid;

    /// <summary>The host path of its workspace (tests check it is gone).</summary>
    public string WorkDirectory => _jail.WorkDirectory;

    /// <summary>True while a cell runs or a background command is (as far as the host knows) running: a busy session is never idle.</summary>
    internal bool IsBusy => _cells.CurrentCount == 0 || !_background.IsEmpty;

    /// <summary>
    /// Asks the supervisor, in the background, whether the background commands the host still counts as running have
    /// ended; at most once per <paramref name="interval"/>. The reaper calls it only for a session it would otherwise
    /// close as idle, so a session with no commands never pays a round trip.
    /// </summary>
    internal void CheckBackgroundCommands(TimeSpan interval)
    {
        if (_background.IsEmpty || IsClosed || Interlocked.CompareExchange(ref _checkingCommands, 1, 0) != 0) return;
        if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _commandsCheckedAt)) < interval)
        {
            Volatile.Write(ref _checkingCommands, 0);
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                foreach (var id in _background.Keys)
                {
                    try
                    {
                        NoteCommand(ToCommandResult(await ControlAsync("cmdget " + id, CancellationToken.None, CordonErrorCode.InvalidRequest).ConfigureAwait(false)));
                    }
                    catch (CordonException e) when (e.Code is CordonErrorCode.CommandNotFound or CordonErrorCode.InvalidRequest)
                    {
                        // The supervisor forgot it (long finished, and more than it keeps came after it).
                        NoteCommand(new CommandResult { Id = id });
                    }
                }
            }
            catch (CordonException)
            {
                // The session is ending.
            }
            finally
            {
                Interlocked.Exchange(ref _commandsCheckedAt, Stopwatch.GetTimestamp());
                Volatile.Write(ref _checkingCommands, 0);
            }
        });
    }

    /// <summary>Keeps the host's count of running background commands up to date from any report on one.</summary>
    private CommandResult NoteCommand(CommandResult result)
    {
        // The idle timeout counts from the end of the last background command: its start plus how long it ran, not
        // when the host happened to learn of it (the reaper asks only once the session otherwise looks idle).
        if (!result.Running && _background.TryRemove(result.Id, out var started)) TouchAt(started + result.Duration);
        return result;
    }

    /// <summary>A snapshot for listings.</summary>
    public SessionInfo Describe()
    {
        var idleEnd = LastUsedAt + IdleTimeout;
        var lifeEnd = CreatedAt + MaxLifetime;
        return new SessionInfo(Id, Languages, Labels, CreatedAt, LastUsedAt, idleEnd < lifeEnd ? idleEnd : lifeEnd, Volatile.Read(ref _cellCount), Owner);
    }

    /// <summary>Starts the jail and its kernel and waits for the kernel's hello.</summary>
    internal static async Task<Session> StartAsync(string id, JailHost host, JailSpec spec, SessionRequest request, SessionOptions options,
        TimeProvider clock, CordonMetrics metrics, ILogger logger, CancellationToken cancellationToken)
    {
        var jail = await host.StartAsync(spec, cancellationToken).ConfigureAwait(false);
        Session? session = null;
        try
        {
            session = new Session(id, jail, request, options, clock, metrics, logger);
            jail.Release();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.KernelStartTimeout);
            // The kernels start side by side; each says hello on its own channel.
            await Task.WhenAll(session._kernels.Values.Select(async kernel =>
            {
                try
                {
                    using var hello = await kernel.Channel.WaitAsync(0, null, timeout.Token).ConfigureAwait(false);
                    kernel.Channel.ExpectNothing();
                    if (KernelChannel.IsDeath(hello.RootElement)) throw new IOException("The kernel exited as it started.");
                }
                catch (Exception e) when (e is OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
                {
                    throw new CordonException(CordonErrorCode.SpawnFailed, $"The {kernel.DisplayName} kernel of session {id} did not start.", e);
                }
            })).ConfigureAwait(false);
            session.Touch();
            return session;
        }
        catch
        {
            if (session is not null) await session.CloseAsync().ConfigureAwait(false);
            else await jail.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs a cell in the kernel of its language. The cell's exception is a normal result. On timeout the cell is
    /// interrupted (KeyboardInterrupt, Interrupted); if it does not stop within the grace, the kernel is replaced and
    /// the result says so.
    /// </summary>
    public Task<CellResult> RunCellAsync(CellRequest request, CancellationToken cancellationToken = default) =>
        RunCellAsync(request, null, cancellationToken);

    /// <summary>
    /// Runs a cell like <see cref="RunCellAsync(CellRequest, CancellationToken)"/>; with <paramref name="onOutput"/>,
    /// the kernel streams the cell's output as it is written (coalesced by line and ~50 ms) and each piece is handed
    /// to it, in order, before the result. The result still carries the whole output.
    /// </summary>
    public async Task<CellResult> RunCellAsync(CellRequest request, Action<CellStreamChunk>? onOutput, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = request.Validate().ToList();
        var language = SessionLanguages.Canonical(request.Language);
        if (language is null || !_kernels.ContainsKey(language))
            errors.Add($"this session has no '{JailFiles.Printable(request.Language)}' kernel; its kernels: {string.Join(", ", Languages)} (create a session with that language to run it)");
        if (errors.Count > 0) throw new CordonException(CordonErrorCode.InvalidRequest, $"Invalid cell for session {Id}: {string.Join("; ", errors)}.", errors);
        var kernel = _kernels[language!];
        var timeout = request.Timeout ?? _options.CellTimeout;
        ThrowIfClosed();
        await _cells.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            Touch();
            var cell = Interlocked.Increment(ref _cellCount);
            var id = Interlocked.Increment(ref _nextRequest);
            var started = Stopwatch.GetTimestamp();
            var message = new Dictionary<string, object> { ["id"] = id, ["op"] = "exec", ["cell"] = cell, ["code"] = request.Code, ["max_output"] = _outputLimit, ["max_image_side"] = request.MaxImageSide ?? 0 };
            // Only a caller who listens makes the kernel stream: a plain cell stays one frame each way.
            if (onOutput is not null) message["stream"] = true;
            // Streamed text comes from inside the jail: never more of it than the cell's own output limit allows.
            var streamed = 0L;
            Action<JsonElement>? onChunk = onOutput is null ? null : frame =>
            {
                if (!frame.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String) return;
                var piece = text.GetString()!;
                if ((streamed += piece.Length) > 2 * _outputLimit) return;
                var stderr = frame.TryGetProperty("stream", out var stream) && stream.ValueKind == JsonValueKind.String && stream.ValueEquals("stderr");
                onOutput(new CellStreamChunk(stderr ? OutputStreamKind.Stderr : OutputStreamKind.Stdout, piece));
            };
            var oomKills = _jail.OomKills;
            var cpuBefore = _jail.CpuTimeSoFar;
            kernel.Channel.Expect(id);
            if (!kernel.TrySend(message))
                throw new CordonException(CordonErrorCode.SessionNotFound, $"Session {Id}: session not found or expired (its kernel is gone).");
            JsonDocument? reply;
            try
            {
                reply = await WaitAsync(kernel, id, onChunk, timeout, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // A caller that stops waiting takes its cell with it: the kernel is free again before the next one.
                Log.CellCancelled(_logger, Id, cell, kernel.Language);
                (await StopCellAsync(kernel, id, onChunk).ConfigureAwait(false))?.Dispose();
                throw;
            }
            var timedOut = reply is null;
            var restarted = false;
            if (reply is null)
            {
                Log.CellInterrupted(_logger, Id, cell, kernel.Language);
                reply = await StopCellAsync(kernel, id, onChunk).ConfigureAwait(false);
                restarted = reply is null || KernelChannel.IsDeath(reply.RootElement);
            }
            else if (KernelChannel.IsDeath(reply.RootElement))
            {
                await RestartKernelCoreAsync(kernel).ConfigureAwait(false);
                restarted = true;
            }
            var duration = Stopwatch.GetElapsedTime(started);
            Touch();
            CellResult? result;
            using (reply)
            {
                CellError? died = null;
                if (reply is not null && KernelChannel.IsDeath(reply.RootElement))
                {
                    died = Died(kernel, reply.RootElement.GetProperty("died"), _jail.OomKills > oomKills);
                    Log.KernelDied(_logger, Id, cell, kernel.Language, died.Message);
                }
                result = reply is null || died is not null
                    ? new CellResult
                    {
                        Cell = cell,
                        Verdict = died is null ? CellVerdict.Timeout : died.Type == MemoryLimitError ? CellVerdict.MemoryLimit : CellVerdict.KernelDied,
                        TimedOut = timedOut,
                        KernelRestarted = restarted,
                        Duration = duration,
                        Error = died ?? new CellError("KernelRestarted", $"The cell did not stop within {_options.InterruptGrace.TotalSeconds:0.#} s of its interrupt; the kernel was restarted and its state is lost.", ""),
                    }
                    : TryToResult(cell, reply.RootElement, timedOut, duration);
            }
            if (result is null)
            {
                // The reply had the cell's id but not a reply's shape: the cell wrote to the kernel's own descriptor.
                await RestartKernelCoreAsync(kernel).ConfigureAwait(false);
                result = new CellResult
                {
                    Cell = cell,
                    Verdict = CellVerdict.KernelDied,
                    TimedOut = timedOut,
                    KernelRestarted = true,
                    Duration = duration,
                    Error = new CellError("KernelProtocolError", $"The {kernel.DisplayName} kernel's reply was malformed (did the cell write to the kernel's own descriptors?). The kernel was restarted and its state is lost.", ""),
                };
            }
            var cpu = _jail.CpuTimeSoFar - cpuBefore;
            _metrics.CellFinished(kernel.Language, result.Verdict);
            return result with { CpuTime = cpu < TimeSpan.Zero ? TimeSpan.Zero : cpu, MemoryBytes = _jail.MemoryInUse };
        }
        finally
        {
            // Whatever ended the cell (a fault, a cancelled caller), nothing more of it is kept.
            kernel.Channel.ExpectNothing();
            _cells.Release();
        }
    }

    /// <summary>
    /// Interrupts a running cell and waits the grace for its reply (returned, or a died report); if none comes, or the
    /// kernel died, the kernel is replaced. Not cancellable: it is bounded by the grace and the kernel's start timeout,
    /// and a kernel left busy would hang the session's next cell.
    /// </summary>
    private async Task<JsonDocument?> StopCellAsync(SessionKernel kernel, long id, Action<JsonElement>? onChunk)
    {
        await ControlAsync("int " + kernel.Language, CancellationToken.None).ConfigureAwait(false);
        var reply = await WaitAsync(kernel, id, onChunk, _options.InterruptGrace, CancellationToken.None).ConfigureAwait(false);
        if (reply is null || KernelChannel.IsDeath(reply.RootElement)) await RestartKernelCoreAsync(kernel).ConfigureAwait(false);
        return reply;
    }

    private const string MemoryLimitError = "MemoryLimitExceeded";

    /// <summary>What a cell reports when its kernel died under it.</summary>
    private CellError Died(SessionKernel kernel, JsonElement death, bool oomKilled)
    {
        var how = death.TryGetProperty("signal", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out var signal)
            ? $"was killed by signal {signal}"
            : death.TryGetProperty("exit_code", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out var code) ? $"exited with code {code}" : "ended";
        return oomKilled
            ? new CellError(MemoryLimitError,
                $"The {kernel.DisplayName} kernel {how}: the session's memory limit ({_jail.Spec.Limits.MemoryBytes / (1024 * 1024)} MiB) was reached. The kernel was restarted and its state is lost; use less memory or create the session with a larger limits.memory_bytes.", "")
            : new CellError("KernelDied",
                $"The {kernel.DisplayName} kernel {how} before the cell could finish (an exit call or a crash). It was restarted and its state is lost.", "");
    }

    /// <summary>Replaces every kernel of the session with a fresh one (empty state); the workspace stays.</summary>
    public Task RestartKernelAsync(CancellationToken cancellationToken = default) => RestartKernelsAsync(Languages, cancellationToken);

    /// <summary>Replaces the kernel of <paramref name="language"/> with a fresh one (empty state); the other kernel and the workspace stay.</summary>
    public Task RestartKernelAsync(string language, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(language);
        var canonical = SessionLanguages.Canonical(language);
        if (canonical is null || !_kernels.ContainsKey(canonical))
            throw new CordonException(CordonErrorCode.InvalidRequest, $"Session {Id} has no '{JailFiles.Printable(language)}' kernel; its kernels: {string.Join(", ", Languages)}.");
        return RestartKernelsAsync([canonical], cancellationToken);
    }

    private async Task RestartKernelsAsync(IEnumerable<string> languages, CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        await _cells.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            Touch();
            foreach (var language in languages) await RestartKernelCoreAsync(_kernels[language]).ConfigureAwait(false);
        }
        finally
        {
            _cells.Release();
        }
    }

    /// <summary>
    /// Replaces a kernel. Not cancellable: once the channel skips to the nonce, only the restart's hello brings it back,
    /// and the wait is bounded by the kernel's start timeout (after which the session is closed).
    /// </summary>
    private async Task RestartKernelCoreAsync(SessionKernel kernel)
    {
        var nonce = "\0cordon-sync-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        // Armed before the supervisor can write it, so no byte of the old kernel slips past.
        kernel.Channel.SkipUntil(Encoding.ASCII.GetBytes(nonce));
        // Read from before the restart is asked for, so a queue full of the old kernel's frames drains and the
        // supervisor's nonce can get through.
        var waiting = WaitAsync(kernel, 0, null, _options.KernelStartTimeout, CancellationToken.None);
        try
        {
            await ControlAsync($"restart {kernel.Language} {nonce}", CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            _ = waiting.ContinueWith(t => t.Result?.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw;
        }
        using var hello = await waiting.ConfigureAwait(false);
        kernel.Channel.ExpectNothing();
        if (hello is null || KernelChannel.IsDeath(hello.RootElement))
        {
            await CloseAsync().ConfigureAwait(false);
            throw new CordonException(CordonErrorCode.SpawnFailed, $"The {kernel.DisplayName} kernel of session {Id} could not be restarted; the session was closed.");
        }
        Log.KernelRestarted(_logger, Id, kernel.Language);
    }

    /// <summary>Writes a file into the workspace (links are never followed; replaced if it exists).</summary>
    public void WriteFile(string path, ReadOnlySpan<byte> content)
    {
        ThrowIfClosed();
        if (content.Length > _options.MaxFileBytes)
            throw new CordonException(CordonErrorCode.UnsafePath, $"'{JailFiles.Printable(path)}' is {content.Length} bytes; the limit is {_options.MaxFileBytes}.");
        Touch();
        _jail.WriteFile(path, content);
    }

    /// <summary>Reads a regular file from the workspace (links, FIFOs and devices are refused).</summary>
    public byte[] ReadFile(string path)
    {
        ThrowIfClosed();
        Touch();
        return _jail.ReadFile(path, _options.MaxFileBytes);
    }

    /// <summary>Relative paths of every regular file in the workspace.</summary>
    public IReadOnlyList<string> ListFiles()
    {
        ThrowIfClosed();
        Touch();
        return JailFiles.ListRegularFiles(_jail.WorkDirectory);
    }

    /// <summary>Deletes a file or an empty folder of the workspace. Done inside the jail, as the jail's user, so a link the session made can only ever point within its own view.</summary>
    public Task DeleteFileAsync(string path, CancellationToken cancellationToken = default) => FileCommandAsync("rm", path, cancellationToken);

    /// <summary>Makes a folder (and its parents) in the workspace, inside the jail as the jail's user.</summary>
    public Task MakeDirectoryAsync(string path, CancellationToken cancellationToken = default) => FileCommandAsync("mkdir", path, cancellationToken);

    private async Task FileCommandAsync(string command, string path, CancellationToken cancellationToken)
    {
        if (JailFiles.Problem(path) is { } problem)
            throw new CordonException(CordonErrorCode.UnsafePath, $"'{JailFiles.Printable(path)}': {problem}.");
        ThrowIfClosed();
        Touch();
        await ControlAsync(command + " " + JsonSerializer.Serialize(path), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends one control line to the supervisor and waits for its answer (what follows "ok ", if anything).</summary>
    private async Task<string> ControlAsync(string line, CancellationToken cancellationToken, CordonErrorCode failure = CordonErrorCode.UnsafePath)
    {
        await _control.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The caller may give up only before the line is sent: once it is, its answer must be read, or every later
            // control line would get the answer of the one before it.
            cancellationToken.ThrowIfCancellationRequested();
            string answer;
            try
            {
                using var timeout = new CancellationTokenSource(_options.KernelStartTimeout);
                // A write to a pipe cannot be cancelled either; a supervisor that stopped reading closes the session,
                // and the jail's end frees the write.
                await _jail.Stdin.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), CancellationToken.None).AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
                answer = await _supervisor.ReadLineAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException e)
            {
                // A supervisor that stops answering (stopped by a signal from inside, say) leaves nothing to talk to.
                Log.SupervisorUnresponsive(_logger, Id, _options.KernelStartTimeout.TotalSeconds);
                _ = CloseAsync();
                throw new CordonException(CordonErrorCode.SessionNotFound, $"Session {Id}: its supervisor stopped answering, so the session was closed.", e);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                throw new CordonException(CordonErrorCode.SessionNotFound, $"Session {Id}: session not found or expired (its supervisor is gone).", e);
            }
            if (answer.StartsWith("error ", StringComparison.Ordinal))
                throw new CordonException(answer == "error no such command" ? CordonErrorCode.CommandNotFound : failure, $"Session {Id}: {line.Split(' ')[0]} failed: {answer[6..]}.");
            return answer.StartsWith("ok ", StringComparison.Ordinal) ? answer[3..] : "";
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>
    /// Runs a shell command (<c>/bin/sh -c</c>, in the workspace, in its own process group). In the foreground it
    /// waits for the end or the timeout, when the process group is killed; in the background it returns at once with
    /// the command's id. Commands die with the session; a kernel restart leaves them running.
    /// </summary>
    public async Task<CommandResult> RunCommandAsync(CommandRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = request.Validate();
        if (errors.Count > 0) throw new CordonException(CordonErrorCode.InvalidRequest, $"Invalid command for session {Id}: {string.Join("; ", errors)}.", errors);
        var timeout = request.Timeout ?? (request.Background ? null : _options.CellTimeout);
        ThrowIfClosed();
        Touch();
        var line = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["command"] = request.Command,
            ["timeout"] = timeout?.TotalSeconds,
            ["max_output"] = _outputLimit,
        });
        var answer = await ControlAsync("cmd " + line, cancellationToken, CordonErrorCode.InvalidRequest).ConfigureAwait(false);
        {
            var id = ReadAnswer(answer, a => a.GetProperty("id").GetString() ?? throw new FormatException("a command without an id"));
            Log.CommandStarted(_logger, Id, id, request.Background);
            if (request.Background) _background[id] = _clock.GetUtcNow();
            if (request.Background) return await GetCommandAsync(id, cancellationToken).ConfigureAwait(false);
            try
            {
                return await WaitForCommandAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !IsClosed)
            {
                // A caller that stops waiting takes its foreground command with it.
                try
                {
                    await ControlAsync($"cmdsig {id} 9", CancellationToken.None, CordonErrorCode.InvalidRequest).ConfigureAwait(false);
                }
                catch (CordonException)
                {
                    // The session ended meanwhile, and the command with it.
                }
                throw;
            }
        }
    }

    /// <summary>
    /// Waits until a command ended and returns its final state. The supervisor enforces the command's timeout itself;
    /// the host only asks, quickly at first so a short command costs little, then less often. Cancelling the wait
    /// leaves the command running.
    /// </summary>
    public async Task<CommandResult> WaitForCommandAsync(string commandId, CancellationToken cancellationToken = default)
    {
        var delay = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            var result = await GetCommandAsync(commandId, cancellationToken).ConfigureAwait(false);
            if (!result.Running) return result;
            await Task.Delay(delay, RealTime, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 50));
        }
    }

    /// <summary>A command's state: its output so far while it runs, its exit code or signal once it ended.</summary>
    public async Task<CommandResult> GetCommandAsync(string commandId, CancellationToken cancellationToken = default)
    {
        CheckCommandId(commandId);
        ThrowIfClosed();
        Touch();
        return NoteCommand(ToCommandResult(await ControlAsync("cmdget " + commandId, cancellationToken, CordonErrorCode.InvalidRequest).ConfigureAwait(false)));
    }

    /// <summary>Sends a signal (<c>TERM</c>, <c>SIGINT</c>, <c>9</c>, ...) to a running command's process group; returns its state right after.</summary>
    public async Task<CommandResult> SignalCommandAsync(string commandId, string signal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(signal);
        CheckCommandId(commandId);
        var number = SignalNumber(signal)
            ?? throw new CordonException(CordonErrorCode.InvalidRequest, $"'{JailFiles.Printable(signal)}' is not a signal a command can be sent.");
        ThrowIfClosed();
        Touch();
        Log.CommandSignalled(_logger, Id, commandId, number);
        return NoteCommand(ToCommandResult(await ControlAsync($"cmdsig {commandId} {number}", cancellationToken, CordonErrorCode.InvalidRequest).ConfigureAwait(false)));
    }

    /// <summary>Kills a command's whole process group (SIGKILL) and returns once it has been reaped.</summary>
    public async Task<CommandResult> KillCommandAsync(string commandId, CancellationToken cancellationToken = default)
    {
        var result = await SignalCommandAsync(commandId, "KILL", cancellationToken).ConfigureAwait(false);
        // SIGKILL cannot be ignored; the supervisor only has to notice the exit.
        for (var i = 0; result.Running && i < 200; i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), RealTime, cancellationToken).ConfigureAwait(false);
            result = await GetCommandAsync(commandId, cancellationToken).ConfigureAwait(false);
        }
        return result;
    }

    // Polling waits on real time even when tests give the session a fake clock for its expiry.
    private static readonly TimeProvider RealTime = TimeProvider.System;

    private static readonly Dictionary<string, int> Signals = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["KILL"] = 9, ["USR1"] = 10, ["USR2"] = 12, ["TERM"] = 15, ["CONT"] = 18, ["STOP"] = 19,
    };

    private static int? SignalNumber(string signal)
    {
        var name = signal.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? signal[3..] : signal;
        if (Signals.TryGetValue(name, out var number)) return number;
        return int.TryParse(signal, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out number) && Signals.ContainsValue(number) ? number : null;
    }

    private static void CheckCommandId(string commandId)
    {
        ArgumentNullException.ThrowIfNull(commandId);
        // It goes into a control line: only the supervisor's own shape (c1, c2, ...) is passed on.
        if (commandId.Length is < 2 or > 12 || commandId[0] != 'c' || commandId.AsSpan(1).ContainsAnyExceptInRange('0', '9'))
            throw new CordonException(CordonErrorCode.CommandNotFound, $"'{JailFiles.Printable(commandId)}': no such command.");
    }

    private CommandResult ToCommandResult(string answer) => ReadAnswer(answer, CommandFrom);

    /// <summary>
    /// Reads one of the supervisor's JSON answers. One without the expected shape means something inside the jail
    /// wrote to the supervisor's pipe: the protocol cannot be trusted any more, so the session is closed.
    /// </summary>
    private T ReadAnswer<T>(string answer, Func<JsonElement, T> read)
    {
        try
        {
            using var document = JsonDocument.Parse(answer);
            return read(document.RootElement);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            _ = CloseAsync();
            throw new CordonException(CordonErrorCode.SessionNotFound, $"Session {Id}: its supervisor's answer was malformed, so the session was closed.", e);
        }
    }

    private static CommandResult CommandFrom(JsonElement r) =>
        new()
        {
            Id = r.GetProperty("id").GetString() ?? throw new FormatException("a command without an id"),
            Running = r.GetProperty("running").GetBoolean(),
            ExitCode = r.GetProperty("exit_code").ValueKind == JsonValueKind.Number ? r.GetProperty("exit_code").GetInt32() : null,
            Signal = r.GetProperty("signal").ValueKind == JsonValueKind.Number ? r.GetProperty("signal").GetInt32() : null,
            Stdout = r.GetProperty("stdout").GetString() ?? "",
            Stderr = r.GetProperty("stderr").GetString() ?? "",
            OutputTruncated = r.GetProperty("truncated").GetBoolean(),
            TimedOut = r.GetProperty("timed_out").GetBoolean(),
            Duration = TimeSpan.FromMilliseconds(r.GetProperty("duration_ms").GetDouble()),
        };

    /// <summary>The kernel's reply to <paramref name="id"/>, or null after <paramref name="timeout"/>.</summary>
    private async Task<JsonDocument?> WaitAsync(SessionKernel kernel, long id, Action<JsonElement>? onChunk, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            return await kernel.Channel.WaitAsync(id, onChunk, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (IOException e)
        {
            throw new CordonException(CordonErrorCode.SessionNotFound, $"Session {Id}: session not found or expired (its jail ended).", e);
        }
    }

    /// <summary>The cell's result from the kernel's reply; null when the reply does not have a reply's shape.</summary>
    private static CellResult? TryToResult(int cell, JsonElement reply, bool timedOut, TimeSpan duration)
    {
        try
        {
            return ToResult(cell, reply, timedOut, duration);
        }
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return null;
        }
    }

    private static CellResult ToResult(int cell, JsonElement reply, bool timedOut, TimeSpan duration)
    {
        CellError? error = null;
        if (reply.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object)
            error = new CellError(e.GetProperty("type").GetString() ?? "", e.GetProperty("message").GetString() ?? "", e.GetProperty("traceback").GetString() ?? "");
        return new CellResult
        {
            Cell = cell,
            Verdict = timedOut ? CellVerdict.Timeout : error is null ? CellVerdict.Ok : CellVerdict.Error,
            Stdout = reply.GetProperty("stdout").GetString() ?? "",
            Stderr = reply.GetProperty("stderr").GetString() ?? "",
            OutputTruncated = reply.TryGetProperty("truncated", out var t) && t.ValueKind == JsonValueKind.True,
            Value = reply.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null,
            Error = error,
            TimedOut = timedOut,
            Reloaded = reply.TryGetProperty("reloaded", out var r) ? [.. r.EnumerateArray().Select(x => x.GetString() ?? "")] : [],
            Duration = duration,
            Outputs = reply.TryGetProperty("outputs", out var o) && o.ValueKind == JsonValueKind.Array
                ? [.. o.EnumerateArray().Select(x => new CellOutput(x.GetProperty("mime").GetString() ?? "", x.GetProperty("data").GetBytesFromBase64()))]
                : [],
        };
    }

    private void ThrowIfClosed()
    {
        if (IsClosed) throw SessionManager.NotFound(Id);
    }

    private void Touch() => Interlocked.Exchange(ref _lastUsedTicks, _clock.GetUtcNow().UtcTicks);

    /// <summary>Marks the session used at <paramref name="at"/>, unless it was used later already.</summary>
    private void TouchAt(DateTimeOffset at)
    {
        var ticks = Math.Min(at.UtcTicks, _clock.GetUtcNow().UtcTicks);
        long seen;
        while ((seen = Interlocked.Read(ref _lastUsedTicks)) < ticks && Interlocked.CompareExchange(ref _lastUsedTicks, ticks, seen) != seen)
        {
        }
    }

    private static Task Drain(Stream stream) => StartReaderThread("cordon-drain", () =>
    {
        var buffer = new byte[4096];
        try
        {
            while (stream.Read(buffer) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The jail is being torn down.
        }
    });

    /// <summary>Runs a blocking pipe reader on its own small background thread; the task ends with it.</summary>
    internal static Task StartReaderThread(string name, Action body)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
#pragma warning disable CA1031 // Whatever a jail writes, a reader's fault must never end the host's process.
            catch (Exception)
            {
            }
#pragma warning restore CA1031
            finally
            {
                done.TrySetResult();
            }
        }, maxStackSize: 256 * 1024) { IsBackground = true, Name = name };
        thread.Start();
        return done.Task;
    }

    /// <summary>Kills everything in the session and removes its cgroup and workspace. Idempotent; returns when all is gone.</summary>
    internal Task CloseAsync()
    {
        lock (_closingGate)
        {
            if (_closing is null)
            {
                Volatile.Write(ref _closed, 1);
                _closing = CloseCoreAsync();
            }
            return _closing;
        }
    }

    private async Task CloseCoreAsync()
    {
        await _jail.DisposeAsync().ConfigureAwait(false);
        // A reader blocked on a full queue is not in a read, so the closed pipes alone would not free it.
        foreach (var kernel in _kernels.Values) kernel.Channel.Shutdown();
        _supervisor.Shutdown();
        await Task.WhenAll(_drains.Concat(_kernels.Values.Select(k => k.Channel.Reader)).Append(_supervisor.Reader)).ConfigureAwait(false);
        Log.SessionClosed(_logger, Id);
    }
}
