using Cordon.Engine.Sessions;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

/// <summary>Idle timeouts and lifetimes against a clock the test moves by hand (real jails, real reaper timer).</summary>
public sealed class SessionIdleTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromMinutes(1);

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private long _ticks = start.UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    private static CordonEngine NewEngine(ManualClock clock) => CordonEngine.Create(new CordonEngineOptions
    {
        Sessions = new SessionOptions { ReaperInterval = TimeSpan.FromMilliseconds(50), TimeProvider = clock },
    });

    private static async Task<bool> ReapedWithin(SessionManager sessions, string id, TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        while (DateTime.UtcNow < deadline)
        {
            if (!sessions.List().Any(s => s.Id == id)) return true;
            await Task.Delay(20);
        }
        return false;
    }

    [Fact(Timeout = 60000)]
    public async Task A_session_with_a_running_background_command_is_not_idle_until_the_command_ends()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var engine = NewEngine(clock);
        var busy = await engine.Sessions.CreateAsync(new SessionRequest { IdleTimeout = Idle });
        var idle = await engine.Sessions.CreateAsync(new SessionRequest { IdleTimeout = Idle });
        var command = await busy.RunCommandAsync(new CommandRequest { Command = "sleep 60", Background = true });
        Assert.True(command.Running);

        clock.Advance(Idle * 3);
        Assert.True(await ReapedWithin(engine.Sessions, idle.Id, TimeSpan.FromSeconds(10)));
        // Several reaper rounds later the busy one is still there, and usable.
        await Task.Delay(500);
        Assert.Same(busy, engine.Sessions.Get(busy.Id));

        Assert.False((await busy.KillCommandAsync(command.Id)).Running);
        clock.Advance(Idle * 3);
        Assert.True(await ReapedWithin(engine.Sessions, busy.Id, TimeSpan.FromSeconds(10)));
        Assert.Equal(CordonErrorCode.SessionNotFound, Assert.Throws<CordonException>(() => engine.Sessions.Get(busy.Id)).Code);
    }

    [Fact(Timeout = 60000)]
    public async Task A_background_command_that_ends_on_its_own_lets_the_session_go_idle()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var engine = NewEngine(clock);
        var session = await engine.Sessions.CreateAsync(new SessionRequest { IdleTimeout = Idle });
        // It ends by itself: the host hears of it only by asking, which the reaper does for a session otherwise idle.
        await session.RunCommandAsync(new CommandRequest { Command = "sleep 2", Background = true });
        clock.Advance(Idle * 3);
        await Task.Delay(300);
        Assert.Same(session, engine.Sessions.Get(session.Id));

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (engine.Sessions.List().Any(s => s.Id == session.Id) && DateTime.UtcNow < deadline)
        {
            clock.Advance(Idle * 3);
            await Task.Delay(100);
        }
        Assert.DoesNotContain(engine.Sessions.List(), s => s.Id == session.Id);
    }

    [Fact(Timeout = 90000)]
    public async Task A_background_command_the_supervisor_forgot_lets_the_session_go_idle()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var engine = NewEngine(clock);
        var session = await engine.Sessions.CreateAsync(new SessionRequest { IdleTimeout = Idle });
        await session.RunCommandAsync(new CommandRequest { Command = "true", Background = true });
        // The supervisor remembers the newest 64 finished commands; these push the background one out.
        for (var i = 0; i < 70; i++) await session.RunCommandAsync(new CommandRequest { Command = "true" });

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (engine.Sessions.List().Any(s => s.Id == session.Id) && DateTime.UtcNow < deadline)
        {
            clock.Advance(Idle * 3);
            await Task.Delay(100);
        }
        Assert.DoesNotContain(engine.Sessions.List(), s => s.Id == session.Id);
    }

    [Fact(Timeout = 60000)]
    public async Task A_background_command_does_not_outlast_the_session_lifetime()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var engine = NewEngine(clock);
        var session = await engine.Sessions.CreateAsync(new SessionRequest { IdleTimeout = TimeSpan.FromHours(1), MaxLifetime = TimeSpan.FromMinutes(5) });
        await session.RunCommandAsync(new CommandRequest { Command = "sleep 60", Background = true });
        clock.Advance(TimeSpan.FromMinutes(6));
        Assert.True(await ReapedWithin(engine.Sessions, session.Id, TimeSpan.FromSeconds(10)));
    }
}
