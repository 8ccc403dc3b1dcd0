using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;
using Cordon.Engine;
using Cordon.Engine.Sessions;

namespace Cordon.Engine.Tests;

/// <summary>Many sessions alive at once: each sees only its own modules, state, files and commands, and none leaves anything behind.</summary>
public sealed class SessionConcurrencyTests(ITestOutputHelper output)
{
    private const int Count = 50;

    [Fact(Timeout = 600_000)]
    public async Task Fifty_concurrent_sessions_see_only_their_own_modules_files_and_commands_and_leave_nothing()
    {
        await using var engine = CordonEngine.Create(new CordonEngineOptions
        {
            // 50 kernels starting at once on two cores take a while to say hello.
            Sessions = new SessionOptions { MaxSessions = Count, KernelStartTimeout = TimeSpan.FromMinutes(3), CellTimeout = TimeSpan.FromMinutes(2) },
        });
        var sessions = engine.Sessions;
        var traces = new ConcurrentBag<(uint Uid, string Work, string JailId)>();
        var created = new ConcurrentBag<Session>();
        var processes = new List<(int Pid, string Started)>();
        var clock = Stopwatch.StartNew();
        try
        {
            // All of them alive at the same time, then all used at the same time.
            await Task.WhenAll(Enumerable.Range(0, Count).Select(async _ =>
            {
                var session = await sessions.CreateAsync(new SessionRequest());
                created.Add(session);
                traces.Add((session.HostUid, session.WorkDirectory, Path.GetFileName(Path.GetDirectoryName(session.WorkDirectory)!)));
            }));
            Assert.Equal(Count, sessions.Count);
            Assert.Equal(Count, traces.Select(t => t.Uid).Distinct().Count());
            Assert.Equal(Count, traces.Select(t => t.Work).Distinct().Count());
            var createdIn = clock.Elapsed;
            foreach (var (uid, _, _) in traces) processes.AddRange(SessionTests.Snapshot(uid));
            var rss = processes.Select(p => p.Pid).Sum(ResidentKiB);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Count} sessions created concurrently in {createdIn.TotalSeconds:0.00} s; their processes hold {rss / 1024.0:0} MiB resident ({rss / 1024.0 / Count:0.0} MiB a session)"));
            clock.Restart();

            var numbered = created.Select((session, i) => (session, i)).ToList();
            await Task.WhenAll(numbered.Select(x => Task.Run(() => UseAsync(x.session, x.i))));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"used concurrently in {clock.Elapsed.TotalSeconds:0.00} s"));
        }
        finally
        {
            clock.Restart();
            await Task.WhenAll(created.Select(s => sessions.DeleteAsync(s.Id)));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"deleted concurrently in {clock.Elapsed.TotalSeconds:0.00} s"));
        }

        Assert.Equal(0, sessions.Count);
        Assert.Empty(sessions.List());
        Assert.NotEmpty(processes);
        Assert.Empty(SessionTests.StillAlive(processes));
        foreach (var (_, work, jailId) in traces)
        {
            Assert.False(Directory.Exists(work), $"{work} is left");
            Assert.False(Directory.Exists(Path.GetDirectoryName(work)), $"{Path.GetDirectoryName(work)} is left");
            Assert.Empty(SessionTests.CgroupsNamed(jailId));
        }
    }

    /// <summary>Gives session <paramref name="i"/> modules, state, a command and a file of its own, all with the same names as every other's.</summary>
    private static async Task UseAsync(Session session, int i)
    {
        Write(session, "helpers.py", $"WHO = {i}\ndef tag():\n    return 'helpers-{i}'\n");
        Write(session, "pkg/__init__.py", $"from . import sub\nfrom .deep import leaf\nNAME = 'pkg-{i}'\n");
        Write(session, "pkg/sub.py", $"VALUE = {i} * 7\n");
        Write(session, "pkg/deep/__init__.py", "");
        Write(session, "pkg/deep/leaf.py", $"LEAF = 'leaf-{i}'\n");

        var imported = await Run(session, $"import helpers, pkg\nmine = {i}\nopen('out.txt', 'w').write(f'written-by-{{mine}}')\n"
            + "(helpers.WHO, helpers.tag(), pkg.NAME, pkg.sub.VALUE, pkg.deep.leaf.LEAF, mine)");
        Assert.True(imported.Error is null, $"session {i}: {imported.Error?.Traceback}");
        Assert.Equal($"({i}, 'helpers-{i}', 'pkg-{i}', {i * 7}, 'leaf-{i}', {i})", imported.Value);

        // A later cell still has its own state and modules, whatever the others did meanwhile.
        var again = await Run(session, "import helpers, pkg\n(mine, helpers.WHO, pkg.deep.leaf.LEAF)");
        Assert.Equal($"({i}, {i}, 'leaf-{i}')", again.Value);

        var command = await session.RunCommandAsync(new CommandRequest { Command = "cat out.txt; echo; grep -h . helpers.py pkg/sub.py; ls -R | sort | tr '\\n' ' '" });
        Assert.Equal(0, command.ExitCode);
        var lines = command.Stdout.Split('\n');
        Assert.Equal($"written-by-{i}", lines[0]);
        Assert.Equal($"WHO = {i}", lines[1]);
        Assert.Equal($"VALUE = {i} * 7", lines[4]);
        Assert.DoesNotContain("written-by-", string.Join('\n', lines.Skip(1)), StringComparison.Ordinal);

        Assert.Equal($"written-by-{i}", Encoding.UTF8.GetString(session.ReadFile("out.txt")));
        Assert.Equal(["helpers.py", "out.txt", "pkg/__init__.py", "pkg/deep/__init__.py", "pkg/deep/leaf.py", "pkg/sub.py"],
            session.ListFiles().Where(f => !f.Contains("__pycache__", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    private static long ResidentKiB(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static void Write(Session session, string path, string text) => session.WriteFile(path, Encoding.UTF8.GetBytes(text));

    private static Task<CellResult> Run(Session session, string code) =>
        session.RunCellAsync(new CellRequest { Code = code, Timeout = TimeSpan.FromMinutes(2) });
}
