using System.Text;
using Cordon.Engine.Sessions;
using Cordon.Jail;

namespace Cordon.Engine.Tests;

public sealed class JavaScriptSessionTests(SessionFixture fixture) : IClassFixture<SessionFixture>
{
    private SessionManager Sessions => fixture.Engine.Sessions;

    private static readonly SessionRequest Js = new() { Languages = ["javascript"] };

    private static Task<CellResult> Run(Session session, string code, double timeoutSeconds = 20, string language = "javascript") =>
        session.RunCellAsync(new CellRequest { Code = code, Language = language, Timeout = TimeSpan.FromSeconds(timeoutSeconds) });

    private static void Write(Session session, string path, string text) => session.WriteFile(path, Encoding.UTF8.GetBytes(text));

    private Task With(SessionRequest request, Func<Session, Task> body) => fixture.With(request, body);

    [Fact(Timeout = 60000)]
    public Task Let_const_functions_and_classes_persist_across_cells_and_the_trailing_value_is_inspected() => With(Js, async session =>
    {
        Assert.Null((await Run(session, "let x = 1\nconst k = 'kay'\nfunction twice(n) { return 2 * n }\nclass Box { constructor(v) { this.v = v } }")).Value);
        Assert.Equal("2", (await Run(session, "x + 1")).Value);
        Assert.Equal("Box { v: 'kay' }", (await Run(session, "new Box(k)")).Value);
        Assert.Equal("6", (await Run(session, "twice(3)")).Value);
        Assert.Equal("{ a: 1, b: [ 1, 2 ] }", (await Run(session, "{ a: 1, b: [1, 2] }")).Value);
        Assert.Equal("null", (await Run(session, "null")).Value);
        Assert.Null((await Run(session, "undefined")).Value);
        Assert.Equal("'text'", (await Run(session, "'text'")).Value);
    });

    [Fact(Timeout = 60000)]
    public Task An_exception_thrown_by_a_timer_does_not_kill_the_kernel_and_shows_in_the_running_cell() => With(Js, async session =>
    {
        await Run(session, "let kept = 1");
        var result = await Run(session, "setTimeout(() => { throw new TypeError('late') }, 0)\nawait new Promise(r => setTimeout(r, 50))\nkept");
        Assert.Null(result.Error);
        Assert.Contains("Uncaught TypeError: late", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("1", result.Value);
        Assert.Equal("2", (await Run(session, "kept + 1")).Value);
    });

    [Fact(Timeout = 60000)]
    public Task Top_level_await_works_and_its_declarations_persist() => With(Js, async session =>
    {
        var first = await Run(session, "const fs = require('fs/promises')\nconst answer = await Promise.resolve(21)\nawait new Promise(r => setTimeout(r, 20))\nanswer * 2");
        Assert.Null(first.Error);
        Assert.Equal("42", first.Value);
        Assert.Equal("22", (await Run(session, "answer + 1")).Value);
        var rejected = await Run(session, "await Promise.reject(new RangeError('too far'))");
        Assert.Equal("RangeError", rejected.Error?.Type);
        Assert.Equal("too far", rejected.Error!.Message);
        Assert.Contains($"<cordon session={session.Id} cell=3>:1:", rejected.Error.Traceback, StringComparison.Ordinal);
        Assert.DoesNotContain("session_kernel", rejected.Error.Traceback, StringComparison.Ordinal);
        Assert.Equal("21", (await Run(session, "answer")).Value);
    });

    [Fact(Timeout = 60000)]
    public Task Console_output_is_captured_per_cell_and_capped() => With(Js, async session =>
    {
        var result = await Run(session, "console.log('out', 1)\nconsole.info('info')\nconsole.warn('warn')\nconsole.error('err', { a: 1 })\nconsole.table([{ n: 1 }])\nprocess.stdout.write('raw')");
        Assert.Null(result.Error);
        Assert.StartsWith("out 1\ninfo\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("│ n │", result.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("raw", result.Stdout, StringComparison.Ordinal);
        Assert.Equal("warn\nerr { a: 1 }\n", result.Stderr);
        Assert.Equal("", (await Run(session, "1")).Stdout);
        var flood = await Run(session, "console.log('y'.repeat(2 * 1024 * 1024))");
        Assert.True(flood.OutputTruncated);
        Assert.True(flood.Stdout.Length <= 2 * 1024 * 1024);
    });

    [Fact(Timeout = 60000)]
    public Task An_error_names_the_session_and_cell_with_lines_into_the_cell_and_no_kernel_frames() => With(Js, async session =>
    {
        await Run(session, "function f() {\n  return null.x\n}");
        var result = await Run(session, "let a = 1\nf()");
        Assert.Equal("TypeError", result.Error?.Type);
        Assert.Contains("Cannot read properties of null", result.Error!.Message, StringComparison.Ordinal);
        Assert.Contains($"at f (<cordon session={session.Id} cell=1>:2:", result.Error.Traceback, StringComparison.Ordinal);
        Assert.Contains($"<cordon session={session.Id} cell=2>:2:", result.Error.Traceback, StringComparison.Ordinal);
        Assert.DoesNotContain("session_kernel", result.Error.Traceback, StringComparison.Ordinal);
        Assert.DoesNotContain("node:vm", result.Error.Traceback, StringComparison.Ordinal);
        Assert.Equal("SyntaxError", (await Run(session, "x = (")).Error?.Type);
        Assert.Equal("2", (await Run(session, "1 + 1")).Value);
    });

    [Fact(Timeout = 90000)]
    public async Task Two_sessions_require_their_own_workspace_modules_of_the_same_names_concurrently()
    {
        var sessions = await Task.WhenAll(Sessions.CreateAsync(Js), Sessions.CreateAsync(Js));
        try
        {
            for (var i = 0; i < 2; i++)
            {
                Write(sessions[i], "helpers.js", $"exports.who = 'helpers-{i}'\n");
                Write(sessions[i], "pkg/index.js", $"exports.name = 'pkg-{i}'\nexports.sub = require('./sub')\n");
                Write(sessions[i], "pkg/sub.js", $"exports.value = {i * 100}\n");
            }
            var results = await Task.WhenAll(sessions.Select(s =>
                Run(s, "const h = require('./helpers'), p = require('./pkg');\n[h.who, p.name, p.sub.value, require.resolve('./helpers'), typeof require('path').join]")));
            Assert.Equal("[ 'helpers-0', 'pkg-0', 0, '/work/helpers.js', 'function' ]", results[0].Value);
            Assert.Equal("[ 'helpers-1', 'pkg-1', 100, '/work/helpers.js', 'function' ]", results[1].Value);
        }
        finally
        {
            await Task.WhenAll(sessions.Select(s => Sessions.DeleteAsync(s.Id)));
        }
    }

    [Fact(Timeout = 60000)]
    public Task A_changed_module_is_reloaded_children_before_parents_and_nothing_else_is_dropped() => With(Js, async session =>
    {
        Write(session, "helpers.js", "exports.value = 1\n");
        Write(session, "pkg/index.js", "exports.name = 'a'\nexports.sub = require('./sub')\n");
        Write(session, "pkg/sub.js", "exports.value = 10\n");
        Write(session, "stable.js", "exports.token = Math.random()\n");
        var first = await Run(session, "const fsBefore = require('fs')\nconst token = require('./stable').token;\n[require('./helpers').value, require('./pkg').sub.value]");
        Assert.Null(first.Error);
        Assert.Equal("[ 1, 10 ]", first.Value);

        Write(session, "helpers.js", "exports.value = 2\n");
        var second = await Run(session, "[require('./helpers').value, require('fs') === fsBefore, require('./stable').token === token]");
        Assert.Equal("[ 2, true, true ]", second.Value);
        Assert.Equal(["helpers.js"], second.Reloaded.ToArray());

        // Only the child changed: it and the workspace module that required it are dropped, child first.
        Write(session, "pkg/sub.js", "exports.value = 20\n");
        var third = await Run(session, "[require('./pkg').name, require('./pkg').sub.value, require('./stable').token === token, require('fs') === fsBefore]");
        Assert.Equal("[ 'a', 20, true, true ]", third.Value);
        Assert.Equal(["pkg/sub.js", "pkg/index.js"], third.Reloaded.ToArray());

        Assert.Empty((await Run(session, "1")).Reloaded);
    });

    [Fact(Timeout = 60000)]
    public Task An_endless_loop_or_a_pending_await_is_interrupted_and_the_state_stays() => With(Js, async session =>
    {
        await Run(session, "let kept = 41");
        var loop = await Run(session, "while (true) {}", timeoutSeconds: 0.5);
        Assert.True(loop.TimedOut);
        Assert.False(loop.KernelRestarted);
        Assert.Equal("Interrupted", loop.Error?.Type);
        var pending = await Run(session, "await new Promise(() => {})", timeoutSeconds: 0.5);
        Assert.True(pending.TimedOut);
        Assert.False(pending.KernelRestarted);
        Assert.Equal("Interrupted", pending.Error?.Type);
        Assert.Equal("42", (await Run(session, "kept + 1")).Value);
    });

    [Fact(Timeout = 60000)]
    public Task A_kernel_that_ignores_the_interrupt_is_restarted_and_the_workspace_stays() => With(Js, async session =>
    {
        Write(session, "data.txt", "kept");
        await Run(session, "var lost = 1");
        // After an await the loop runs outside the script, where SIGINT cannot break in.
        var result = await Run(session, "await null\nwhile (true) {}", timeoutSeconds: 0.5);
        Assert.True(result.TimedOut);
        Assert.True(result.KernelRestarted, result.Error?.Traceback);
        Assert.Equal("ReferenceError", (await Run(session, "lost")).Error?.Type);
        Assert.Equal("'kept'", (await Run(session, "require('fs').readFileSync('data.txt', 'utf8')")).Value);
    });

    [Fact(Timeout = 60000)]
    public Task Python_and_javascript_share_a_session_and_its_workspace_but_not_their_state() =>
        With(new SessionRequest { Languages = ["python", "js"] }, async session =>
        {
            Assert.Equal(["python", "javascript"], session.Languages.ToArray());
            Assert.Null((await Run(session, "open('from_py.txt', 'w').write('hello')\nx = 'py'", language: "python")).Error);
            await Run(session, "var x = 'js'");
            Assert.Equal("'hello'", (await Run(session, "require('fs').readFileSync('from_py.txt', 'utf8')", language: "node")).Value);
            Assert.Equal("'py'", (await Run(session, "x", language: "python")).Value);
            Assert.Equal("'js'", (await Run(session, "x")).Value);

            // Restarting one kernel leaves the other as it was.
            await session.RestartKernelAsync("javascript");
            Assert.Equal("ReferenceError", (await Run(session, "x")).Error?.Type);
            Assert.Equal("'py'", (await Run(session, "x", language: "python")).Value);
        });

    [Fact(Timeout = 60000)]
    public Task The_javascript_kernel_restarts_on_request_and_a_missing_language_is_refused() => With(Js, async session =>
    {
        await Run(session, "globalThis.mark = 'before'");
        await session.RestartKernelAsync();
        Assert.Equal("'undefined'", (await Run(session, "typeof mark")).Value);
        Assert.Equal("2", (await Run(session, "1 + 1")).Value);
        var refused = await Assert.ThrowsAsync<CordonException>(() => Run(session, "1 + 1", language: "python"));
        Assert.Equal(CordonErrorCode.InvalidRequest, refused.Code);
        Assert.Contains("no 'python' kernel", refused.Message, StringComparison.Ordinal);
        Assert.Contains("javascript", refused.Message, StringComparison.Ordinal);
    });

    [Fact(Timeout = 60000)]
    public async Task A_session_language_without_a_kernel_is_refused_and_javascript_aliases_are_accepted()
    {
        var error = await Assert.ThrowsAsync<CordonException>(() => Sessions.CreateAsync(new SessionRequest { Languages = ["ruby", "js"] }));
        Assert.Equal(CordonErrorCode.InvalidRequest, error.Code);
        Assert.Equal("language 'ruby' has no session kernel (python or javascript)", Assert.Single(error.Errors));
        Assert.Empty(new SessionRequest { Languages = ["node", "JavaScript", "py"] }.Validate());
    }
}
