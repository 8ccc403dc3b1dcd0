using Cordon.Engine.Sessions;
using Cordon.Jail;

namespace Cordon.Security.Tests;

/// <summary>
/// Invariant 9 for sessions: a session's cells attack another session alive at the same time (its processes, its
/// workspace) and their own jail; each attack fails for the reason the jail gives, and the other session keeps its state.
/// </summary>
public sealed class SessionAttackTests(SecurityFixture fixture) : IClassFixture<SecurityFixture>
{
    private SessionManager Sessions => fixture.Engine.Sessions;

    private static Task<CellResult> Run(Session session, string code) =>
        session.RunCellAsync(new CellRequest { Code = code, Timeout = TimeSpan.FromSeconds(30) });

    private async Task WithTwo(Func<Session, Session, Task> body)
    {
        var attacker = await Sessions.CreateAsync(new SessionRequest());
        var victim = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            await Run(victim, "secret = 'victim-state'");
            victim.WriteFile("secret.txt", "victim-file"u8);
            await body(attacker, victim);
            Assert.Equal("'victim-state'", (await Run(victim, "secret")).Value);
            Assert.Equal("victim-file", System.Text.Encoding.UTF8.GetString(victim.ReadFile("secret.txt")));
        }
        finally
        {
            foreach (var session in new[] { attacker, victim })
            {
                try
                {
                    await Sessions.DeleteAsync(session.Id);
                }
                catch (CordonException e) when (e.Code == CordonErrorCode.SessionNotFound)
                {
                    // The attack ended it already.
                }
            }
        }
    }

    [Fact(Timeout = 60000)]
    public Task A_session_cannot_see_or_signal_another_sessions_kernel() => WithTwo(async (attacker, victim) =>
    {
        var victimPids = HostInspector.ProcessesOf(fixture.Host).Where(p => p.Uid == victim.HostUid).Select(p => p.Pid).ToList();
        Assert.NotEmpty(victimPids);
        var seen = await Run(attacker, "import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit())");
        // Its own pid namespace: bwrap's init, the supervisor, the kernel; none of the host's pids.
        var pids = seen.Value!.Trim('[', ']').Split(", ").Select(int.Parse).ToList();
        Assert.True(pids.Count <= 4, $"the session sees {seen.Value}");
        var kill = await Run(attacker, $$"""
            import os, signal
            errors = set()
            for pid in {{string.Join(", ", victimPids.Append(0).Select(p => p.ToString(System.Globalization.CultureInfo.InvariantCulture)))}}:
                if pid in (0, os.getpid()):
                    continue
                try:
                    os.kill(pid, signal.SIGKILL)
                    errors.add("killed " + str(pid))
                except OSError as e:
                    errors.add(type(e).__name__)
            sorted(errors)
            """);
        // The victim's host pids either do not exist in the attacker's namespace or are its own few.
        Assert.DoesNotContain("killed", kill.Value, StringComparison.Ordinal);
        Assert.Contains("ProcessLookupError", kill.Value, StringComparison.Ordinal);
    });

    [Fact(Timeout = 60000)]
    public Task A_session_cannot_reach_another_sessions_workspace_by_its_host_path() => WithTwo(async (attacker, victim) =>
    {
        var read = await Run(attacker, $"open({System.Text.Json.JsonSerializer.Serialize(Path.Combine(victim.WorkDirectory, "secret.txt"))}).read()");
        Assert.Equal("FileNotFoundError", read.Error?.Type);
        var mine = await Run(attacker, "import os\nos.listdir('/work')");
        Assert.Equal("[]", mine.Value);
    });

    [Fact(Timeout = 60000)]
    public Task A_cell_that_kills_every_process_it_can_ends_only_its_own_session_and_leaves_nothing() => WithTwo(async (attacker, victim) =>
    {
        var processes = HostInspector.ProcessesOf(fixture.Host).Where(p => p.Uid == attacker.HostUid).ToList();
        Assert.NotEmpty(processes);
        var work = attacker.WorkDirectory;
        try
        {
            // kill(-1) spares the caller and the namespace's init: the kernel may still answer before the jail's init,
            // its supervisor gone, takes the rest down.
            await Run(attacker, "import os, signal\nos.kill(-1, signal.SIGKILL)");
        }
        catch (CordonException e)
        {
            Assert.Equal(CordonErrorCode.SessionNotFound, e.Code);
        }

        // The session closed itself: its processes, workspace and registry entry go at once, not at its idle timeout.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((Sessions.List().Any(s => s.Id == attacker.Id) || Directory.Exists(work)) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.DoesNotContain(Sessions.List(), s => s.Id == attacker.Id);
        Assert.False(Directory.Exists(work), $"{work} is left");
        Assert.DoesNotContain(HostInspector.ProcessesOf(fixture.Host), p => processes.Any(q => q.Pid == p.Pid && q.Uid == p.Uid));
        Assert.Equal(CordonErrorCode.SessionNotFound, Assert.Throws<CordonException>(() => Sessions.Get(attacker.Id)).Code);
        Assert.Equal(CordonErrorCode.SessionNotFound, (await Assert.ThrowsAsync<CordonException>(() => Run(attacker, "1"))).Code);
    });
}
