using System.Collections.Immutable;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cordon.Jail;
using Microsoft.Extensions.Logging;

namespace Cordon.Engine.Sessions;

/// <summary>
/// A stateful sandbox: one long-lived jail with its own workspace, cgroup and Python kernel. Cells run one at a
/// time and share the kernel's <c>__main__</c>. Closing it (delete, expiry, engine disposal) kills everything in it
/// and removes its cgroup and workspace. Thread-safe.
/// </summary>
public sealed class Session
{
    private readonly Jail.Jail _jail;
    private readonly KernelChannel _channel;
    private readonly SessionOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _cells = new(1, 1);
    private readonly SemaphoreSlim _control = new(1, 1);
    private readonly StreamReader _controlReplies;
    private readonly Task[] _drains;
    private readonly long _outputLimit;
    private long _nextRequest;
    private int _cellCount;
    private long _lastUsedTicks;
    private int _closed;
    private Task? _closing;

    private Session(string id, Jail.Jail jail, SessionRequest request, SessionOptions options, TimeProvider clock, ILogger logger)
    {
        Id = id;
        _jail = jail;
        _options = options;
        _clock = clock;
        _logger = logger;
        _outputLimit = jail.Spec.Limits.OutputBytes;
        Languages = [.. request.Languages.Select(l => l.ToLowerInvariant())];
        Labels = request.Labels;
        CreatedAt = clock.GetUtcNow();
        _lastUsedTicks = CreatedAt.UtcTicks;
        IdleTimeout = request.IdleTimeout ?? options.IdleTimeout;
        var lifetime = request.MaxLifetime ?? options.MaxLifetime;
        MaxLifetime = lifetime < options.MaxLifetime ? lifetime : options.MaxLifetime;
        _channel = new KernelChannel(jail.ExtraPipes[1]);
        _controlReplies = new StreamReader(jail.ExtraPipes[2], Encoding.UTF8);
        // Output that bypasses the cell's capture (a subprocess writing to descriptor 1 or 2) is not kept, but the
        // pipes are drained so such a program never blocks on a full pipe.
        _drains = [Drain(jail.Stdout), Drain(jail.Stderr)];
    }

    /// <summary>The session's id (random, unguessable).</summary>
    public string Id { get; }

    /// <summary>Its kernels.</summary>
    public ImmutableArray<string> Languages { get; }

    /// <summary>Its labels.</summary>
    public ImmutableDictionary<string, string> Labels { get; }

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

    /// <summary>True while a cell runs: a busy session is never idle.</summary>
    internal bool IsBusy => _cells.CurrentCount == 0;

    /// <summary>A snapshot for listings.</summary>
    public SessionInfo Describe()
    {
        var idleEnd = LastUsedAt + IdleTimeout;
        var lifeEnd = CreatedAt + MaxLifetime;
        return new SessionInfo(Id, Languages, Labels, CreatedAt, LastUsedAt, idleEnd < lifeEnd ? idleEnd : lifeEnd, Volatile.Read(ref _cellCount));
    }

    /// <summary>Starts the jail and its kernel and waits for the kernel's hello.</summary>
    internal static async Task<Session> StartAsync(string id, JailHost host, JailSpec spec, SessionRequest request, SessionOptions options,
        TimeProvider clock, ILogger logger, CancellationToken cancellationToken)
    {
        var jail = await host.StartAsync(spec, cancellationToken).ConfigureAwait(false);
        Session? session = null;
        try
        {
            session = new Session(id, jail, request, options, clock, logger);
            jail.Release();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.KernelStartTimeout);
            try
            {
                (await session._channel.WaitAsync(0, timeout.Token).ConfigureAwait(false)).Dispose();
                session.Touch();
            }
            catch (Exception e) when (e is OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
            {
                throw new CordonException(CordonErrorCode.SpawnFailed, $"The Python kernel of session {id} did not start.", e);
            }
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
    /// Runs a cell. The cell's exception is a normal result. On timeout the cell is interrupted (KeyboardInterrupt);
    /// if it does not stop within the grace, the kernel is replaced and the result says so.
    /// </summary>
    public async Task<CellResult> RunCellAsync(CellRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!string.Equals(request.Language, "python", StringComparison.OrdinalIgnoreCase) || !Languages.Contains("python"))
            throw new CordonException(CordonErrorCode.InvalidRequest, $"Session {Id} has no '{JailFiles.Printable(request.Language)}' kernel.");
        var timeout = request.Timeout ?? _options.CellTimeout;
        if (timeout <= TimeSpan.Zero) throw new CordonException(CordonErrorCode.InvalidRequest, "A cell's timeout must be positive.");
        if (request.MaxImageSide is < 16 or > 10000)
            throw new CordonException(CordonErrorCode.InvalidRequest, "A cell's largest image side must be from 16 to 10000 pixels.");
        ThrowIfClosed();
        await _cells.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            Touch();
            var cell = Interlocked.Increment(ref _cellCount);
            var id = Interlocked.Increment(ref _nextRequest);
            var started = Stopwatch.GetTimestamp();
            Send(new Dictionary<string, object> { ["id"] = id, ["op"] = "exec", ["cell"] = cell, ["code"] = request.Code, ["max_output"] = _outputLimit, ["max_image_side"] = request.MaxImageSide ?? 0 });
            JsonDocument? reply = await WaitAsync(id, timeout, cancellationToken).ConfigureAwait(false);
            var timedOut = reply is null;
            var restarted = false;
            if (reply is null)
            {
                Log.CellInterrupted(_logger, Id, cell);
                await ControlAsync("int", cancellationToken).ConfigureAwait(false);
                reply = await WaitAsync(id, _options.InterruptGrace, cancellationToken).ConfigureAwait(false);
                if (reply is null)
                {
                    await RestartKernelCoreAsync(cancellationToken).ConfigureAwait(false);
                    restarted = true;
                }
            }
            var duration = Stopwatch.GetElapsedTime(started);
            Touch();
            using (reply)
            {
                return reply is null
                    ? new CellResult
                    {
                        Cell = cell,
                        TimedOut = timedOut,
                        KernelRestarted = restarted,
                        Duration = duration,
                        Error = new CellError("KernelRestarted", $"The cell did not stop within {_options.InterruptGrace.TotalSeconds:0.#} s of its interrupt; the kernel was restarted and its state is lost.", ""),
                    }
                    : ToResult(cell, reply.RootElement, timedOut, duration);
            }
        }
        finally
        {
            _cells.Release();
        }
    }

    /// <summary>
    /// Interrupts the cell running now, if any, as its timeout would (KeyboardInterrupt); its caller then gets the
    /// cell's result with what it printed so far. A caller that gives up on a cell uses this so the kernel is free.
    /// </summary>
    public async Task InterruptAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        if (IsBusy) await ControlAsync("int", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Replaces the kernel with a fresh one (an empty namespace); the workspace stays.</summary>
    public async Task RestartKernelAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        await _cells.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            Touch();
            await RestartKernelCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _cells.Release();
        }
    }

    private async Task RestartKernelCoreAsync(CancellationToken cancellationToken)
    {
        var nonce = "\0cordon-sync-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        // Armed before the supervisor can write it, so no byte of the old kernel slips past.
        _channel.SkipUntil(Encoding.ASCII.GetBytes(nonce));
        await ControlAsync("restart " + nonce, cancellationToken).ConfigureAwait(false);
        var hello = await WaitAsync(0, _options.KernelStartTimeout, cancellationToken).ConfigureAwait(false);
        if (hello is null)
        {
            await CloseAsync().ConfigureAwait(false);
            throw new CordonException(CordonErrorCode.SpawnFailed, $"The Python kernel of session {Id} could not be restarted; the session was closed.");
        }
        hello.Dispose();
        Log.KernelRestarted(_logger, Id);
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
            string? answer;
            try
            {
                await _jail.Stdin.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"), cancellationToken).ConfigureAwait(false);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.KernelStartTimeout);
                answer = await _controlReplies.ReadLineAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                throw new CordonException(CordonErrorCode.SessionNotFound, $"Session {Id}: session not found or expired (its supervisor is gone).", e);
            }
            if (answer is null)
                throw new CordonException(CordonErrorCode.SessionNotFound, $"Session {Id}: session not found or expired (its supervisor is gone).");
            if (answer.StartsWith("error ", StringComparison.Ordinal))
                throw new CordonException(failure, $"Session {Id}: {line.Split(' ')[0]} failed: {answer[6..]}.");
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
        if (string.IsNullOrWhiteSpace(request.Command) || request.Command.Contains('\0', StringComparison.Ordinal))
            throw new CordonException(CordonErrorCode.InvalidRequest, "A command must be a non-empty shell line without NUL.");
        var timeout = request.Timeout ?? (request.Background ? null : _options.CellTimeout);
        if (timeout <= TimeSpan.Zero) throw new CordonException(CordonErrorCode.InvalidRequest, "A command's timeout must be positive.");
        ThrowIfClosed();
        Touch();
        var line = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["command"] = request.Command,
            ["timeout"] = timeout?.TotalSeconds,
            ["max_output"] = _outputLimit,
        });
        using (var started = JsonDocument.Parse(await ControlAsync("cmd " + line, cancellationToken, CordonErrorCode.InvalidRequest).ConfigureAwait(false)))
        {
            var id = started.RootElement.GetProperty("id").GetString()!;
            Log.CommandStarted(_logger, Id, id, request.Background);
            if (request.Background) return await GetCommandAsync(id, cancellationToken).ConfigureAwait(false);
            try
            {
                // The supervisor enforces the timeout itself; the host only asks, quickly at first so a short
                // command costs little, then less often.
                var delay = TimeSpan.FromMilliseconds(1);
                while (true)
                {
                    var result = await GetCommandAsync(id, cancellationToken).ConfigureAwait(false);
                    if (!result.Running) return result;
                    await Task.Delay(delay, RealTime, cancellationToken).ConfigureAwait(false);
                    delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 50));
                }
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

    /// <summary>A command's state: its output so far while it runs, its exit code or signal once it ended.</summary>
    public async Task<CommandResult> GetCommandAsync(string commandId, CancellationToken cancellationToken = default)
    {
        CheckCommandId(commandId);
        ThrowIfClosed();
        Touch();
        return ToCommandResult(await ControlAsync("cmdget " + commandId, cancellationToken, CordonErrorCode.InvalidRequest).ConfigureAwait(false));
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
        return ToCommandResult(await ControlAsync($"cmdsig {commandId} {number}", cancellationToken, CordonErrorCode.InvalidRequest).ConfigureAwait(false));
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
            throw new CordonException(CordonErrorCode.InvalidRequest, $"'{JailFiles.Printable(commandId)}': no such command.");
    }

    private static CommandResult ToCommandResult(string answer)
    {
        using var document = JsonDocument.Parse(answer);
        var r = document.RootElement;
        return new CommandResult
        {
            Id = r.GetProperty("id").GetString()!,
            Running = r.GetProperty("running").GetBoolean(),
            ExitCode = r.GetProperty("exit_code").ValueKind == JsonValueKind.Number ? r.GetProperty("exit_code").GetInt32() : null,
            Signal = r.GetProperty("signal").ValueKind == JsonValueKind.Number ? r.GetProperty("signal").GetInt32() : null,
            Stdout = r.GetProperty("stdout").GetString() ?? "",
            Stderr = r.GetProperty("stderr").GetString() ?? "",
            OutputTruncated = r.GetProperty("truncated").GetBoolean(),
            TimedOut = r.GetProperty("timed_out").GetBoolean(),
            Duration = TimeSpan.FromMilliseconds(r.GetProperty("duration_ms").GetDouble()),
        };
    }

    /// <summary>The reply to <paramref name="id"/>, or null after <paramref name="timeout"/>.</summary>
    private async Task<JsonDocument?> WaitAsync(long id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            return await _channel.WaitAsync(id, cts.Token).ConfigureAwait(false);
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

    private void Send(Dictionary<string, object> request)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(request);
        var frame = new byte[4 + body.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        try
        {
            _jail.ExtraPipes[0].Write(frame);
        }
        catch (IOException e)
        {
            throw new CordonException(CordonErrorCode.SessionNotFound, $"Session {Id}: session not found or expired (its kernel is gone).", e);
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
        lock (_cells)
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
        await Task.WhenAll(_drains.Append(_channel.Reader)).ConfigureAwait(false);
        _controlReplies.Dispose();
        Log.SessionClosed(_logger, Id);
    }
}
