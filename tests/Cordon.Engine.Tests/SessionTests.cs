using System.Text;
using Cordon.Engine;
using Cordon.Engine.Sessions;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

/// <summary>One engine with short session timeouts, shared by the session tests.</summary>
public sealed class SessionFixture : IAsyncLifetime
{
    public CordonEngine Engine { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Engine = CordonEngine.Create(new CordonEngineOptions
        {
            Sessions = new SessionOptions { MaxSessions = 40, ReaperInterval = TimeSpan.FromMilliseconds(100), InterruptGrace = TimeSpan.FromSeconds(1) },
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await Engine.DisposeAsync();

    /// <summary>Runs <paramref name="body"/> with a new session, which is deleted after it whatever happens.</summary>
    public async Task With(SessionRequest request, Func<Session, Task> body)
    {
        var session = await Engine.Sessions.CreateAsync(request);
        try
        {
            await body(session);
        }
        finally
        {
            await Engine.Sessions.DeleteAsync(session.Id);
        }
    }
}

public sealed class SessionTests(SessionFixture fixture) : IClassFixture<SessionFixture>
{
    private SessionManager Sessions => fixture.Engine.Sessions;

    private static Task<CellResult> Run(Session session, string code, double timeoutSeconds = 20) =>
        session.RunCellAsync(new CellRequest { Code = code, Timeout = TimeSpan.FromSeconds(timeoutSeconds) });

    private static void Write(Session session, string path, string text) => session.WriteFile(path, Encoding.UTF8.GetBytes(text));

    [Fact(Timeout = 60000)]
    public async Task State_persists_and_each_cell_reports_its_own_output_and_value()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            var first = await Run(session, "x = 1\nprint('out', x)\nimport sys\nprint('err', file=sys.stderr)");
            Assert.Null(first.Error);
            Assert.Equal("out 1\n", first.Stdout);
            Assert.Equal("err\n", first.Stderr);
            Assert.Null(first.Value);
            var second = await Run(session, "print('again')\nx + 1");
            Assert.Equal("2", second.Value);
            Assert.Equal("again\n", second.Stdout);
            Assert.Equal("", second.Stderr);
            Assert.Equal("'text'", (await Run(session, "'text'")).Value);
            Assert.Null((await Run(session, "None")).Value);
            Assert.Equal(5, (await Run(session, "_")).Cell);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_traceback_names_the_session_and_cell_and_points_into_it()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            await Run(session, "def f():\n    return 1 / 0");
            var result = await Run(session, "a = 1\nf()");
            Assert.NotNull(result.Error);
            Assert.Equal("ZeroDivisionError", result.Error.Type);
            Assert.Contains($"File \"<cordon session={session.Id} cell=2>\", line 2", result.Error.Traceback, StringComparison.Ordinal);
            Assert.Contains($"File \"<cordon session={session.Id} cell=1>\", line 2, in f", result.Error.Traceback, StringComparison.Ordinal);
            Assert.Contains("return 1 / 0", result.Error.Traceback, StringComparison.Ordinal);
            Assert.DoesNotContain("session_kernel", result.Error.Traceback, StringComparison.Ordinal);
            var syntax = await Run(session, "x = (");
            Assert.Equal("SyntaxError", syntax.Error!.Type);
            Assert.Equal("2", (await Run(session, "1 + 1")).Value);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 90000)]
    public async Task Two_sessions_import_their_own_modules_of_the_same_names_concurrently()
    {
        var sessions = await Task.WhenAll(Sessions.CreateAsync(new SessionRequest()), Sessions.CreateAsync(new SessionRequest()));
        try
        {
            for (var i = 0; i < 2; i++)
            {
                Write(sessions[i], "helpers.py", $"WHO = 'helpers-{i}'\n");
                Write(sessions[i], "pkg/__init__.py", $"NAME = 'pkg-{i}'\n");
                Write(sessions[i], "pkg/sub.py", $"VALUE = {i * 100}\n");
            }
            var results = await Task.WhenAll(sessions.Select(s =>
                Run(s, "import helpers, pkg.sub\n(helpers.WHO, pkg.NAME, pkg.sub.VALUE, helpers.__file__)")));
            Assert.Equal("('helpers-0', 'pkg-0', 0, '/work/helpers.py')", results[0].Value);
            Assert.Equal("('helpers-1', 'pkg-1', 100, '/work/helpers.py')", results[1].Value);
        }
        finally
        {
            await Task.WhenAll(sessions.Select(s => Sessions.DeleteAsync(s.Id)));
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_changed_workspace_module_is_reloaded_and_nothing_else_is_touched()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            Write(session, "helpers.py", "VALUE = 1\n");
            Write(session, "pkg/__init__.py", "NAME = 'a'\n");
            Write(session, "pkg/sub.py", "VALUE = 10\n");
            Write(session, "stable.py", "import random\nTOKEN = random.random()\n");
            var first = await Run(session, "import json, helpers, pkg.sub, stable\nids = (id(json), id(stable))\n(helpers.VALUE, pkg.sub.VALUE)");
            Assert.Null(first.Error);
            Assert.Equal("(1, 10)", first.Value);

            Write(session, "helpers.py", "VALUE = 2\n");
            var second = await Run(session, "import json, helpers, stable\n(helpers.VALUE, (id(json), id(stable)) == ids)");
            Assert.Equal("(2, True)", second.Value);
            Assert.Equal(new[] { "helpers" }, second.Reloaded.ToArray());

            Write(session, "pkg/sub.py", "VALUE = 20\n");
            Write(session, "pkg/__init__.py", "NAME = 'b'\n");
            var third = await Run(session, "from pkg import sub\nimport pkg\n(pkg.NAME, sub.VALUE, id(stable) == ids[1])");
            Assert.Equal("('b', 20, True)", third.Value);
            Assert.Equal(new[] { "pkg.sub", "pkg" }, third.Reloaded.ToArray());

            // Only the child changed: the parent stays, and `from pkg import sub` still sees the new child.
            Write(session, "pkg/sub.py", "VALUE = 30\n");
            var fourth = await Run(session, "parent = id(pkg)\nfrom pkg import sub\nimport pkg\n(sub.VALUE, id(pkg) == parent)");
            Assert.Equal("(30, True)", fourth.Value);
            Assert.Equal(new[] { "pkg.sub" }, fourth.Reloaded.ToArray());

            Assert.Empty((await Run(session, "1")).Reloaded);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_cell_past_its_timeout_is_interrupted_and_the_session_lives_on()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            await Run(session, "kept = 41");
            var result = await Run(session, "while True: pass", timeoutSeconds: 0.5);
            Assert.True(result.TimedOut);
            Assert.False(result.KernelRestarted);
            Assert.Equal("KeyboardInterrupt", result.Error?.Type);
            Assert.Contains($"<cordon session={session.Id} cell=2>", result.Error!.Traceback, StringComparison.Ordinal);
            Assert.Equal("42", (await Run(session, "kept + 1")).Value);
            Assert.Equal("2", (await Run(session, "1+1")).Value);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_cell_that_ignores_the_interrupt_gets_a_new_kernel_and_the_workspace_stays()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            Write(session, "data.txt", "kept");
            await Run(session, "lost = 1");
            var result = await Run(session, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", timeoutSeconds: 0.5);
            Assert.True(result.TimedOut);
            Assert.True(result.KernelRestarted, result.Error?.Traceback);
            Assert.Equal("NameError", (await Run(session, "lost")).Error?.Type);
            Assert.Equal("'kept'", (await Run(session, "open('data.txt').read()")).Value);
            await session.RestartKernelAsync();
            Assert.Equal("2", (await Run(session, "1+1")).Value);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_plot_comes_back_as_a_png_and_plain_cells_have_no_outputs()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            Assert.Empty((await Run(session, "1+1")).Outputs);
            var plot = await Run(session, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nNone", timeoutSeconds: 40);
            Assert.Null(plot.Error);
            var output = Assert.Single(plot.Outputs);
            Assert.Equal("image/png", output.MimeType);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, output.Data[..8].ToArray());
            // The figure was closed: the next cell starts with none.
            Assert.Empty((await Run(session, "x = 1")).Outputs);
            Assert.Equal("[]", (await Run(session, "plt.get_fignums()")).Value);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_large_figure_is_drawn_to_fit_the_largest_image_side_asked_for()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            const string Code = "import matplotlib.pyplot as plt\nplt.figure(figsize=(20, 10), dpi=100)\nplt.plot([1, 2])\nNone";
            var full = Assert.Single((await Run(session, Code, timeoutSeconds: 40)).Outputs);
            Assert.Equal((2000, 1000), PngSize(full.Data));
            var small = Assert.Single((await session.RunCellAsync(new CellRequest { Code = Code, MaxImageSide = 500, Timeout = TimeSpan.FromSeconds(40) })).Outputs);
            var (width, height) = PngSize(small.Data);
            Assert.InRange(width, 490, 500);
            Assert.InRange(height, 240, 250);
            var error = await Assert.ThrowsAsync<CordonException>(() => session.RunCellAsync(new CellRequest { Code = "1", MaxImageSide = 3 }));
            Assert.Equal(CordonErrorCode.InvalidRequest, error.Code);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_cell_reports_its_verdict_the_cpu_time_it_used_and_the_sessions_memory() => await fixture.With(new SessionRequest(), async session =>
    {
        var idle = await Run(session, "x = 1");
        Assert.Equal(CellVerdict.Ok, idle.Verdict);
        Assert.True(idle.MemoryBytes > 1024 * 1024, $"a live kernel uses memory; reported {idle.MemoryBytes}");
        // About 50 MB held and CPU burnt by the cell itself: both must show.
        var busy = await Run(session, "held = bytearray(50 * 1024 * 1024)\nfor i in range(len(held) // 4096): held[i * 4096] = 1\nsum(i * i for i in range(2_000_000))");
        Assert.Equal(CellVerdict.Ok, busy.Verdict);
        Assert.True(busy.CpuTime > idle.CpuTime, $"busy {busy.CpuTime} vs idle {idle.CpuTime}");
        Assert.True(busy.MemoryBytes >= idle.MemoryBytes + 45L * 1024 * 1024, $"busy {busy.MemoryBytes} vs idle {idle.MemoryBytes}");
        Assert.Equal(CellVerdict.Error, (await Run(session, "1 / 0")).Verdict);
        Assert.Equal(CellVerdict.Timeout, (await Run(session, "import time\ntime.sleep(30)", timeoutSeconds: 0.5)).Verdict);
    });

    // The IHDR chunk follows the 8-byte signature: length, type, then width and height, big-endian.
    private static (int Width, int Height) PngSize(ReadOnlyMemory<byte> png) =>
        (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.Span[16..]), System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.Span[20..]));

    private static Task<CommandResult> Command(Session session, string command, double? timeoutSeconds = 20, bool background = false) =>
        session.RunCommandAsync(new CommandRequest
        {
            Command = command,
            Timeout = timeoutSeconds is { } t ? TimeSpan.FromSeconds(t) : null,
            Background = background,
        });

    /// <summary>Processes in the session's jail whose command line contains <paramref name="marker"/>, from a cell's view.</summary>
    private static async Task<string?> Processes(Session session, string marker) =>
        (await Run(session, $"import os\nsorted(p for p in os.listdir('/proc') if p.isdigit() and '{marker}' in open('/proc/' + p + '/cmdline', 'rb').read().replace(b'\\0', b' ').decode())")).Value;

    [Fact(Timeout = 60000)]
    public async Task A_foreground_command_reports_its_output_and_exit_code_and_a_timeout_kills_it()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            var done = await Command(session, "echo hi; echo oops >&2; pwd; exit 3");
            Assert.False(done.Running);
            Assert.Equal(3, done.ExitCode);
            Assert.Null(done.Signal);
            Assert.Equal("hi\n/work\n", done.Stdout);
            Assert.Equal("oops\n", done.Stderr);
            Assert.False(done.TimedOut);

            var slow = await Command(session, "sleep 30", timeoutSeconds: 0.5);
            Assert.True(slow.TimedOut);
            Assert.False(slow.Running);
            Assert.Equal(9, slow.Signal);
            Assert.True(slow.Duration < TimeSpan.FromSeconds(5), slow.Duration.ToString());
            Assert.Equal("[]", await Processes(session, "sleep 30"));
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task A_background_command_runs_on_and_can_be_read_and_killed()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            var counting = await Command(session, "for i in 1 2 3; do echo $i; sleep 0.2; done", timeoutSeconds: null, background: true);
            Assert.True(counting.Running);
            var result = counting;
            for (var i = 0; result.Running && i < 100; i++)
            {
                await Task.Delay(50);
                result = await session.GetCommandAsync(counting.Id);
            }
            Assert.False(result.Running);
            Assert.Equal(0, result.ExitCode);
            Assert.Equal("1\n2\n3\n", result.Stdout);

            var sleeper = await Command(session, "sleep 100", timeoutSeconds: null, background: true);
            Assert.True(sleeper.Running);
            // Right after the fork the child may not have exec'd the shell yet: wait until it shows.
            var seen = await Processes(session, "sleep 100");
            for (var i = 0; seen == "[]" && i < 100; i++)
            {
                await Task.Delay(20);
                seen = await Processes(session, "sleep 100");
            }
            Assert.NotEqual("[]", seen);
            var killed = await session.KillCommandAsync(sleeper.Id);
            Assert.False(killed.Running);
            Assert.Equal(9, killed.Signal);
            Assert.Equal("[]", await Processes(session, "sleep 100"));

            var termed = await Command(session, "sleep 100", timeoutSeconds: null, background: true);
            await session.SignalCommandAsync(termed.Id, "SIGTERM");
            for (var i = 0; i < 100 && (await session.GetCommandAsync(termed.Id)).Running; i++) await Task.Delay(20);
            Assert.Equal(15, (await session.GetCommandAsync(termed.Id)).Signal);

            var unknown = await Assert.ThrowsAsync<CordonException>(() => session.GetCommandAsync("c999"));
            Assert.Equal(CordonErrorCode.CommandNotFound, unknown.Code);
            await Assert.ThrowsAsync<CordonException>(() => session.GetCommandAsync("c1\nrm x"));
            await Assert.ThrowsAsync<CordonException>(() => session.SignalCommandAsync(counting.Id, "BOGUS"));
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task Files_can_be_written_read_listed_made_and_deleted()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        try
        {
            session.WriteFile("a/b.bin", new byte[] { 0, 1, 2, 255 });
            Assert.Equal(new byte[] { 0, 1, 2, 255 }, session.ReadFile("a/b.bin"));
            await session.MakeDirectoryAsync("made/deep");
            await Run(session, "import os\nos.symlink('/etc/passwd', 'link')\nopen('made/deep/x.txt', 'w').write('hi')");
            Assert.Equal(["a/b.bin", "made/deep/x.txt"], session.ListFiles());
            Assert.Equal(CordonErrorCode.UnsafePath, Assert.Throws<CordonException>(() => session.ReadFile("link")).Code);
            await session.DeleteFileAsync("a/b.bin");
            await session.DeleteFileAsync("link");
            Assert.Equal(["made/deep/x.txt"], session.ListFiles());
            Assert.Equal(CordonErrorCode.UnsafePath, (await Assert.ThrowsAsync<CordonException>(() => session.DeleteFileAsync("../x"))).Code);
            Assert.Equal(CordonErrorCode.UnsafePath, (await Assert.ThrowsAsync<CordonException>(() => session.DeleteFileAsync("missing"))).Code);
        }
        finally
        {
            await Sessions.DeleteAsync(session.Id);
        }
    }

    [Fact(Timeout = 60000)]
    public async Task After_delete_nothing_is_left_and_the_id_is_not_found()
    {
        var session = await Sessions.CreateAsync(new SessionRequest());
        // A child process hung in an endless loop must go too.
        await Run(session, "import subprocess\np = subprocess.Popen(['python3', '-c', 'while True: pass'])");
        var uid = session.HostUid;
        var work = session.WorkDirectory;
        Assert.True(Directory.Exists(work));
        var processes = Snapshot(uid);
        Assert.NotEmpty(processes);
        await Sessions.DeleteAsync(session.Id);

        Assert.Empty(StillAlive(processes));
        Assert.False(Directory.Exists(work));
        Assert.False(Directory.Exists(Path.GetDirectoryName(work)));
        Assert.Empty(CgroupsNamed(Path.GetFileName(Path.GetDirectoryName(work)!)));
        Assert.DoesNotContain(Sessions.List(), s => s.Id == session.Id);
        Assert.Equal(CordonErrorCode.SessionNotFound, Assert.Throws<CordonException>(() => Sessions.Get(session.Id)).Code);
        Assert.Equal(CordonErrorCode.SessionNotFound, (await Assert.ThrowsAsync<CordonException>(() => Sessions.DeleteAsync(session.Id))).Code);
        var late = await Assert.ThrowsAsync<CordonException>(() => Run(session, "1"));
        Assert.Equal(CordonErrorCode.SessionNotFound, late.Code);
        Assert.Contains("session not found or expired", late.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = 60000)]
    public async Task An_idle_session_is_reaped()
    {
        var session = await Sessions.CreateAsync(new SessionRequest { IdleTimeout = TimeSpan.FromMilliseconds(1500), Labels = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("who", "idle-test") });
        Assert.Equal("2", (await Run(session, "1+1")).Value);
        Assert.Contains(Sessions.List(), s => s.Id == session.Id && s.Labels["who"] == "idle-test");
        var processes = Snapshot(session.HostUid);
        var work = session.WorkDirectory;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Sessions.List().Any(s => s.Id == session.Id) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(CordonErrorCode.SessionNotFound, Assert.Throws<CordonException>(() => Sessions.Get(session.Id)).Code);
        while ((Directory.Exists(work) || StillAlive(processes).Count > 0) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.False(Directory.Exists(work));
        Assert.Empty(StillAlive(processes));
    }

    [Fact(Timeout = 60000)]
    public async Task More_than_the_maximum_is_refused_clearly()
    {
        await using var engine = CordonEngine.Create(new CordonEngineOptions { Sessions = new SessionOptions { MaxSessions = 2 } });
        var a = await engine.Sessions.CreateAsync(new SessionRequest());
        await engine.Sessions.CreateAsync(new SessionRequest());
        var error = await Assert.ThrowsAsync<CordonException>(() => engine.Sessions.CreateAsync(new SessionRequest()));
        Assert.Equal(CordonErrorCode.SessionLimitReached, error.Code);
        Assert.Contains("2 sessions", error.Message, StringComparison.Ordinal);
        await engine.Sessions.DeleteAsync(a.Id);
        var c = await engine.Sessions.CreateAsync(new SessionRequest());
        Assert.Equal("2", (await Run(c, "1+1")).Value);
    }

    [Fact(Timeout = 60000)]
    public async Task Invalid_requests_are_refused_with_every_problem()
    {
        var error = await Assert.ThrowsAsync<CordonException>(() => Sessions.CreateAsync(new SessionRequest
        {
            Languages = ["cobol"],
            Limits = new LimitOverrides { WallTimeMs = 10 },
            Network = true,
        }));
        Assert.Equal(CordonErrorCode.InvalidRequest, error.Code);
        Assert.Equal(3, error.Errors.Count);
    }

    [Fact(Timeout = 120000)]
    public async Task Twenty_sessions_run_concurrently_without_cross_talk()
    {
        await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            var session = await Sessions.CreateAsync(new SessionRequest());
            try
            {
                Write(session, "mine.py", $"N = {i}\n");
                await Run(session, "import mine\nacc = mine.N");
                Write(session, "mine.py", $"N = {i * 1000}\n");
                var result = await Run(session, "import mine\n(acc, mine.N)");
                Assert.Equal($"({i}, {i * 1000})", result.Value);
            }
            finally
            {
                await Sessions.DeleteAsync(session.Id);
            }
        }));
    }

    /// <summary>
    /// The processes running as <paramref name="uid"/> now, by pid and start time: once a session is gone its uid goes
    /// back to the pool and a jail of another test (another engine in this process) may run as it.
    /// </summary>
    internal static List<(int Pid, string Started)> Snapshot(uint uid) =>
        [.. ProcessesOf(uid).Select(pid => (pid, StartTime(pid))).Where(p => p.Item2 is not null).Select(p => (p.pid, p.Item2!))];

    /// <summary>Those of <paramref name="snapshot"/> still alive (the same pid with the same start time).</summary>
    internal static List<int> StillAlive(IEnumerable<(int Pid, string Started)> snapshot) =>
        [.. snapshot.Where(p => StartTime(p.Pid) == p.Started).Select(p => p.Pid)];

    /// <summary>A process's start time (field 22 of /proc/PID/stat), or null when it is gone.</summary>
    private static string? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
        }
        catch (IOException)
        {
            return null;
        }
    }

    internal static List<int> ProcessesOf(uint uid)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var line = File.ReadLines(Path.Combine(dir, "status")).FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
                if (line is not null && uint.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]) == uid) found.Add(pid);
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }
        return found;
    }

    internal static List<string> CgroupsNamed(string jailId)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, MaxRecursionDepth = 8 };
        return [.. Directory.EnumerateDirectories("/sys/fs/cgroup", "*" + jailId + "*", options)];
    }
}
