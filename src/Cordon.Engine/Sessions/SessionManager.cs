using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Security.Cryptography;
using Cordon.Jail;
using Microsoft.Extensions.Logging;

namespace Cordon.Engine.Sessions;

/// <summary>
/// The engine's sessions: creates, finds, lists and deletes them, and closes those past their idle timeout or
/// lifetime. Thread-safe; owned and disposed by <see cref="CordonEngine"/>.
/// </summary>
public sealed class SessionManager : IAsyncDisposable
{
    /// <summary>Where the session supervisor (and Python kernel) appears inside its jail (it starts the JavaScript kernel beside it).</summary>
    public const string PythonKernelPath = CordonEngine.KernelsMountPoint + "/python/session_kernel.py";

    private const string MatplotlibRc = "/etc/matplotlibrc";

    private readonly CordonEngine _engine;
    private readonly ILogger _logger;
    private readonly TimeProvider _clock;
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, bool> _closing = new();
    private readonly ITimer _reaper;
    private int _reserved;
    private int _disposed;

    internal SessionManager(CordonEngine engine, SessionOptions options, ILogger logger)
    {
        _engine = engine;
        Options = options;
        _logger = logger;
        _clock = options.TimeProvider ?? engine.Options.Jail.TimeProvider;
        _reaper = _clock.CreateTimer(_ => Reap(), null, options.ReaperInterval, options.ReaperInterval);
    }

    /// <summary>The settings.</summary>
    public SessionOptions Options { get; }

    /// <summary>Sessions alive now.</summary>
    public int Count => _sessions.Count;

    /// <summary>
    /// Creates a session: a new jail running the requested kernels. Throws <see cref="CordonErrorCode.SessionLimitReached"/>
    /// when <see cref="SessionOptions.MaxSessions"/> are alive, <see cref="CordonErrorCode.InvalidRequest"/> for a bad request.
    /// </summary>
    public async Task<Session> CreateAsync(SessionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var errors = request.Validate().ToList();
        if (request.Network && !_engine.Options.AllowNetwork)
            errors.Add("network access is turned off by this Cordon's policy (CordonEngineOptions.AllowNetwork)");
        var limits = request.Limits?.ApplyTo(Options.Limits) ?? Options.Limits;
        errors.AddRange(limits.Validate());
        if (errors.Count > 0) throw new CordonException(CordonErrorCode.InvalidRequest, "Invalid session request", errors);
        var languages = request.Languages.Select(l => SessionLanguages.Canonical(l)!).Distinct().ToList();
        // The supervisor is Python whatever the session's kernels are.
        var runtime = await _engine.ResolveAsync(SessionLanguages.Python, null, cancellationToken).ConfigureAwait(false);
        var environment = runtime.Manifest.Environment;
        if (languages.Contains(SessionLanguages.JavaScript))
        {
            // Refused here, clearly, when this host has no node.
            var node = await _engine.ResolveAsync(SessionLanguages.JavaScript, null, cancellationToken).ConfigureAwait(false);
            environment = environment.SetItems(node.Manifest.Environment);
        }

        // Reserved before the jail starts, so concurrent creations cannot overshoot the maximum.
        if (Interlocked.Increment(ref _reserved) > Options.MaxSessions)
        {
            Interlocked.Decrement(ref _reserved);
            throw new CordonException(CordonErrorCode.SessionLimitReached,
                $"{Options.MaxSessions} sessions are alive, the most this Cordon allows; delete one or retry later.");
        }
        try
        {
            var id = "s" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
            var staged = _engine.StageSpec(runtime.Manifest with { Environment = environment }, ["python3", PythonKernelPath, id, string.Join(',', languages)], limits with { WallTime = null, CpuTime = null },
                request.Network, ReadOnlyMemory<byte>.Empty, "session/" + id);
            var spec = staged with
            {
                CaptureOutput = false,
                // Plots render off-screen; matplotlib's font cache goes to the session's own /tmp, the only place
                // it may write besides the workspace.
                Environment = staged.Environment.SetItem("MPLBACKEND", "Agg").SetItem("MPLCONFIGDIR", "/tmp/.cordon-matplotlib"),
                // Debian's matplotlib reads its defaults from /etc, which a jail does not see unless named.
                ReadOnlyPaths = File.Exists(MatplotlibRc) ? (staged.ReadOnlyPaths.IsDefault ? [] : staged.ReadOnlyPaths).Add(MatplotlibRc) : staged.ReadOnlyPaths,
                ExtraPipes = SessionKernel.ExtraPipesFor(languages),
            };
            var session = await Session.StartAsync(id, _engine.Host, spec, request, Options, _clock, _engine.Metrics, _logger, cancellationToken).ConfigureAwait(false);
            _sessions[id] = session;
            Log.SessionCreated(_logger, id, session.HostUid);
            return session;
        }
        catch
        {
            Interlocked.Decrement(ref _reserved);
            throw;
        }
    }

    /// <summary>
    /// The live session with this id of <paramref name="owner"/> (null: an unowned one); <see cref="CordonErrorCode.SessionNotFound"/>
    /// otherwise: another owner's session is not found, exactly like a missing one.
    /// </summary>
    public Session Get(string id, string? owner = null)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (_sessions.TryGetValue(id, out var session) && Owns(session, owner) && !session.IsClosed && !IsExpired(session, _clock.GetUtcNow())) return session;
        throw NotFound(id);
    }

    /// <summary>Snapshots of the live sessions of <paramref name="owner"/> (null: the unowned ones), oldest first.</summary>
    public IReadOnlyList<SessionInfo> List(string? owner = null) =>
        [.. _sessions.Values.Where(s => !s.IsClosed && Owns(s, owner)).Select(s => s.Describe()).OrderBy(s => s.CreatedAt)];

    /// <summary>
    /// Deletes a session of <paramref name="owner"/> (null: an unowned one): returns when nothing of it is left.
    /// <see cref="CordonErrorCode.SessionNotFound"/> for an unknown id or another owner's session.
    /// </summary>
    public async Task DeleteAsync(string id, string? owner = null)
    {
        ArgumentNullException.ThrowIfNull(id);
        // Removed only if it is still the owner's session found here, so a lookup and a removal cannot race apart.
        if (!_sessions.TryGetValue(id, out var session) || !Owns(session, owner) || !_sessions.TryRemove(new KeyValuePair<string, Session>(id, session))) throw NotFound(id);
        Log.SessionDeleted(_logger, id);
        await CloseAsync(session).ConfigureAwait(false);
    }

    private static bool Owns(Session session, string? owner) => string.Equals(session.Owner, owner, StringComparison.Ordinal);

    internal static CordonException NotFound(string id) =>
        new(CordonErrorCode.SessionNotFound, $"Session '{JailFiles.Printable(id)}': session not found or expired.");

    private static bool IsExpired(Session session, DateTimeOffset now) =>
        now - session.CreatedAt >= session.MaxLifetime || (IsIdleTooLong(session, now) && !session.IsBusy);

    private static bool IsIdleTooLong(Session session, DateTimeOffset now) => now - session.LastUsedAt >= session.IdleTimeout;

    private void Reap()
    {
        var now = _clock.GetUtcNow();
        foreach (var (id, session) in _sessions)
        {
            if (!session.IsClosed && !IsExpired(session, now))
            {
                // Idle but for background commands: find out (now and then) whether they have ended meanwhile.
                if (IsIdleTooLong(session, now)) session.CheckBackgroundCommands(Options.ReaperInterval * 5);
                continue;
            }
            if (!_sessions.TryRemove(id, out _)) continue;
            Log.SessionExpired(_logger, id);
            var task = CloseAsync(session);
            _closing[task] = true;
            _ = task.ContinueWith(t => _closing.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task CloseAsync(Session session)
    {
        try
        {
            await session.CloseAsync().ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _reserved);
        }
    }

    /// <summary>Stops the reaper and closes every session.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _reaper.DisposeAsync().ConfigureAwait(false);
        var closing = _sessions.Keys.Select(id => _sessions.TryRemove(id, out var s) ? CloseAsync(s) : Task.CompletedTask).ToList();
        closing.AddRange(_closing.Keys);
        await Task.WhenAll(closing).ConfigureAwait(false);
    }
}
