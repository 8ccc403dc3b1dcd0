using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Globalization;
using System.Runtime.InteropServices;
using Cordon.Engine;
using Cordon.Jail;
using Cordon.Server;
using Cordon.Server.Mcp;
using Microsoft.Extensions.Logging;

namespace Cordon.Cli;

/// <summary>
/// The <c>cordon</c> command line: parses, validates, calls the engine and maps the outcome to output and an exit
/// code. Every failure is one <c>cordon: </c> line on stderr: exit 2 for the user's mistakes, 125 for Cordon's or
/// the host's faults.
/// </summary>
internal static class CordonCli
{
    /// <summary>Runs the command line <paramref name="args"/> and returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(console);
        var root = BuildCommand(console);
        var parsed = root.Parse(args);
        if (parsed.Action is ParseErrorAction)
        {
            var command = parsed.CommandResult.Command;
            var help = command is RootCommand ? "cordon --help" : $"cordon {command.Name} --help";
            console.Fail($"{string.Join("; ", parsed.Errors.Select(e => Sentence(e.Message)))} (see `{help}`)");
            return ExitCodes.Usage;
        }
        var invocation = new InvocationConfiguration
        {
            Output = console.Out,
            Error = console.Error,
            EnableDefaultExceptionHandler = false,
            // Signals are ours (below), so the exit code can say which one stopped us.
            ProcessTerminationTimeout = null,
        };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var received = 0;
        void OnSignal(PosixSignalContext context)
        {
            // The first signal cancels the run, which kills its jail in milliseconds; a second one is obeyed at once.
            if (Interlocked.CompareExchange(ref received, SignalNumber(context.Signal), 0) != 0) return;
            context.Cancel = true;
            stop.Cancel();
        }
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var onHup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
        var exit = await parsed.InvokeAsync(invocation, stop.Token).ConfigureAwait(false);
        return exit == ExitCodes.Interrupted && received != 0 ? ExitCodes.ForSignal(received) : exit;
    }

    private static int SignalNumber(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGHUP => 1,
        PosixSignal.SIGTERM => 15,
        _ => 2,
    };

    internal static RootCommand BuildCommand(CliConsole console)
    {
        var verbose = new Option<bool>("--verbose", "-v")
        {
            Description = "Log what the engine and its jails do (debug level) to stderr.",
            Recursive = true,
        };
        var root = new RootCommand("Cordon runs untrusted code in many languages inside Linux jails (bubblewrap, namespaces, cgroups, seccomp).")
        {
            verbose,
            BuildRun(console, verbose),
            BuildRuntimes(console, verbose),
            BuildDoctor(console, verbose),
            BuildServe(console, verbose),
            BuildMcp(console, verbose),
        };
        // The notes below the options explain what a one-line description cannot; help stays a help action.
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new NotesHelpAction((HelpAction)help.Action!, new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["run"] = RunNotes,
            ["doctor"] = DoctorNotes,
            ["serve"] = ServeNotes,
            ["mcp"] = McpNotes,
        });
        root.SetAction(_ =>
        {
            console.Fail("a command is required: run, serve, mcp, runtimes or doctor (see `cordon --help`)");
            return ExitCodes.Usage;
        });
        return root;
    }

    private static Command BuildRun(CliConsole console, Option<bool> verbose)
    {
        var defaults = new CordonEngineOptions().RunLimits;
        var files = new Argument<string[]>("FILE")
        {
            Description = "The program's files; the first is the main file.",
            Arity = ArgumentArity.OneOrMore,
        };
        var language = new Option<string?>("--language", "-l")
        {
            Description = "Language name or alias (see `cordon runtimes`); default: from the main file's extension.",
            HelpName = "LANGUAGE",
        };
        var stdin = new Option<string?>("--stdin", "-i")
        {
            Description = "Feed FILE to the program's stdin, or '-' for cordon's own stdin (default: an empty stdin).",
            HelpName = "FILE|-",
        };
        var arg = new Option<string[]>("--arg", "-a")
        {
            Description = "An argument for the program; repeat for more (write --arg=-x for one that starts with '-').",
            HelpName = "ARG",
        };
        var time = new Option<string?>("--time", "-t")
        {
            Description = $"Wall-time limit in seconds, decimals allowed: 2, 0.5, 500ms (default {Units.FormatSeconds(defaults.WallTime ?? TimeSpan.Zero)}).",
            HelpName = "SECONDS",
        };
        var cpuTime = new Option<string?>("--cpu-time")
        {
            Description = $"CPU-time limit of all the program's processes together, in seconds (default {Units.FormatSeconds(defaults.CpuTime ?? TimeSpan.Zero)}).",
            HelpName = "SECONDS",
        };
        var memory = new Option<string?>("--memory", "-m")
        {
            Description = $"Memory limit of all the program's processes together: 256M, 64MiB, 1G, 1048576 (default {Units.FormatSize(defaults.MemoryBytes)}).",
            HelpName = "SIZE",
        };
        var processes = new Option<string?>("--processes")
        {
            Description = $"Most processes and threads at once (default {defaults.Processes.ToString(CultureInfo.InvariantCulture)}; some runtimes raise it).",
            HelpName = "N",
        };
        var output = new Option<string?>("--output")
        {
            Description = $"Bytes kept of each of stdout and stderr; more stops the program with output_limit (default {Units.FormatSize(defaults.OutputBytes)}).",
            HelpName = "SIZE",
        };
        var network = new Option<bool>("--network") { Description = "Allow network access (off by default)." };
        var json = new Option<bool>("--json")
        {
            Description = "Print the whole result as JSON on stdout instead of the program's output (snake_case; output as UTF-8 text, or base64 when it is not UTF-8). The exit code is the same.",
        };

        var run = new Command("run", "Run a program in a fresh jail and pass its output and exit code through.")
        {
            files, language, stdin, arg, time, cpuTime, memory, processes, output, network, json,
        };
        run.SetAction((parse, cancellationToken) =>
        {
            var arguments = new RunArguments
            {
                Files = [.. parse.GetValue(files) ?? []],
                Language = parse.GetValue(language),
                Stdin = parse.GetValue(stdin),
                Args = [.. parse.GetValue(arg) ?? []],
                Time = parse.GetValue(time),
                CpuTime = parse.GetValue(cpuTime),
                Memory = parse.GetValue(memory),
                Processes = parse.GetValue(processes),
                Output = parse.GetValue(output),
                Network = parse.GetValue(network),
                Json = parse.GetValue(json),
            };
            return Guarded(console, parse.GetValue(verbose), "run", logging => RunCommand.RunAsync(arguments, console, logging, cancellationToken), cancellationToken);
        });
        return run;
    }

    private static Command BuildRuntimes(CliConsole console, Option<bool> verbose)
    {
        var json = new Option<bool>("--json") { Description = "Print the runtimes as JSON." };
        var runtimes = new Command("runtimes", "List the runtimes: name, installed version ('-' when unavailable, with the reason), aliases and file extensions.")
        {
            json,
        };
        runtimes.SetAction((parse, cancellationToken) =>
            Guarded(console, parse.GetValue(verbose), "runtimes", _ => RuntimesCommand.RunAsync(parse.GetValue(json), console, cancellationToken), cancellationToken));
        return runtimes;
    }

    private static Command BuildDoctor(CliConsole console, Option<bool> verbose)
    {
        var doctor = new Command("doctor", "Check that this host can run Cordon, and say how to fix what is missing.");
        doctor.SetAction((parse, cancellationToken) =>
            Guarded(console, parse.GetValue(verbose), "doctor", logging => DoctorCommand.RunAsync(console, logging, cancellationToken), cancellationToken));
        return doctor;
    }

    /// <summary>The settings file option of the commands that run a server (serve, mcp).</summary>
    private static Option<string?> ConfigOption() => new("--config", "-c")
    {
        Description = "A JSON settings file (default: /etc/cordon/cordon.json when it exists). CORDON_ environment variables override it.",
        HelpName = "FILE",
    };

    private static Command BuildServe(CliConsole console, Option<bool> verbose)
    {
        var config = ConfigOption();
        var serve = new Command("serve", "Run the HTTP API (native /v1 and Piston-compatible /api/v2) until SIGINT or SIGTERM.")
        {
            config,
        };
        serve.SetAction((parse, cancellationToken) =>
            Guarded(console, parse.GetValue(verbose), "serve", _ => ServeCommand.RunAsync(parse.GetValue(config), parse.GetValue(verbose), console, cancellationToken), cancellationToken));
        return serve;
    }

    private static Command BuildMcp(CliConsole console, Option<bool> verbose)
    {
        var config = ConfigOption();
        var mcp = new Command("mcp", "Serve MCP (Model Context Protocol) over stdin and stdout for an AI agent until stdin closes; logs go to stderr.")
        {
            config,
        };
        mcp.SetAction((parse, cancellationToken) =>
            Guarded(console, parse.GetValue(verbose), "mcp", async logging =>
            {
                CordonServerOptions options;
                try
                {
                    options = McpStdioHost.LoadSettings(parse.GetValue(config));
                }
                catch (CordonException e) when (e.Code == CordonErrorCode.InvalidRequest)
                {
                    console.Fail($"invalid configuration: {string.Join("; ", e.Errors)} (see `cordon mcp --help` and the README's MCP section)");
                    return ExitCodes.Usage;
                }
                await McpStdioHost.RunAsync(options, logging, cancellationToken).ConfigureAwait(false);
                return ExitCodes.Ok;
            }, cancellationToken));
        return mcp;
    }

    private const string McpNotes = """
        Tools:
          run_code (one-shot run in any language), create_session, list_sessions, close_session, execute (a cell
          in a session's persistent kernel; without session_id it creates the session), run_command,
          get_command_output, kill_command, write_file, read_file, list_files, list_runtimes.

        Settings (as for `cordon serve`, plus): Mcp.CallTimeoutSeconds (50), Mcp.MaxSessionsPerClient (4),
          Mcp.MaxImageSide (1024); as environment variables CORDON_Mcp__CallTimeoutSeconds and so on.

        Client configuration (Claude Desktop, VS Code, mcp.json):
          {"mcpServers": {"cordon": {"command": "cordon", "args": ["mcp"]}}}
        """;

    private const string ServeNotes = """
        Settings (JSON file keys; as environment variables CORDON_Address, CORDON_ApiKeys__0, CORDON_RunLimits__MemoryBytes):
          Address (127.0.0.1:2000), ApiKeys, RequestsPerMinute (6000 per key or client address, 0 = off),
          MaxRequestBodyBytes (16 MiB), ShutdownTimeoutSeconds (20), AllowNetwork (false), Runtimes,
          Admission.MaxConcurrent (2 x cores), Admission.MaxQueued (32 x cores), Admission.QueueTimeoutSeconds (10),
          RunLimits.* and CompileLimits.* (WallTimeMs, CpuTimeMs, MemoryBytes, Processes, OutputBytes): the
          defaults of every request and the most one may ask for. A non-loopback Address needs at least one API key.

        Endpoints:
          GET /v1/runtimes, POST /v1/executions (JSON, or server-sent events with Accept: text/event-stream),
          /api/v2 (Piston), /mcp (MCP over streamable HTTP, see `cordon mcp --help`), /metrics (Prometheus),
          /healthz, /readyz, /openapi/v1.json.

        Exit status:
          0 after a clean shutdown (SIGINT or SIGTERM: running executions get ShutdownTimeoutSeconds to finish);
          2 for a bad configuration; 125 when the host cannot run jails (`cordon doctor` says why) or the address
          is taken.

        Examples:
          cordon serve
          CORDON_Address=0.0.0.0:2000 CORDON_ApiKeys__0=$(openssl rand -hex 24) cordon serve
          cordon serve --config /etc/cordon/cordon.json
        """;

    private const string RunNotes = """
        Files:
          The first FILE is the main file; its extension picks the language unless --language is given.
          Files are sent by name. A relative path below the current folder keeps its folders (sub/mod.py is
          sent as sub/mod.py, so imports and includes between the files work as they do here); an absolute
          path, or one with '..', is sent under its base name (/tmp/x/hello.py is sent as hello.py).

        Output:
          The program's stdout and stderr are passed through byte for byte; compiler messages go to stderr.
          Without --stdin the program's stdin is empty. Sizes are binary (1K = 1024): 512k, 256M, 64MiB, 1G.

        Exit status:
          the program's own; 128+N when it was killed by signal N, and 137 (SIGKILL) when Cordon stopped it
          at a limit, with a one-line note such as 'cordon: timeout (wall time 2 s reached)' on stderr;
          the compiler's status when compilation failed; 2 for a mistake on the command line;
          125 when Cordon or the host failed (`cordon doctor` says why); 130 when interrupted.

        Examples:
          cordon run hello.py
          cordon run main.c util.c --stdin input.txt --time 0.5 --memory 64M
          echo 5 | cordon run --language js --stdin - square.js --arg=-v
          cordon run --json test.py > result.json
        """;

    private const string DoctorNotes = """
        Checks:
          root; bubblewrap, setpriv and prlimit; user namespaces; cgroups (v1, v2 or hybrid) and cgroup.kill;
          libseccomp; that the jails' uid range belongs to no account or subordinate id range; the runtimes;
          a real jail; and a real run of the python test program. One line per check, each failure followed
          by how to fix it.

        Exit status:
          0 when everything Cordon needs works (a missing optional runtime is only a warning), 1 otherwise.
        """;

    /// <summary>Runs a command's body with logging set up, and turns every exception into one line and an exit code.</summary>
    private static async Task<int> Guarded(CliConsole console, bool verbose, string command, Func<ILoggerFactory, Task<int>> body, CancellationToken cancellationToken)
    {
        using var logging = CliConsole.CreateLoggerFactory(verbose);
        try
        {
            return await body(logging).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            console.Fail($"{string.Join("; ", e.Problems)} (see `cordon {e.Command ?? command} --help`)");
            return ExitCodes.Usage;
        }
        catch (CordonException e) when (e.Code is CordonErrorCode.InvalidRequest or CordonErrorCode.UnknownRuntime or CordonErrorCode.UnsafePath)
        {
            console.Fail(e.Errors.Count > 0 ? "invalid request: " + string.Join("; ", e.Errors) : Sentence(e.Message));
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            console.Fail("interrupted; the run was stopped and its jail removed");
            return ExitCodes.Interrupted;
        }
        catch (CordonException e)
        {
            var hint = e.Message.Contains("cordon doctor", StringComparison.Ordinal) ? "" : " (run `cordon doctor` to check this host)";
            console.Fail($"{e.CodeName}: {Sentence(e.Message)}{hint}");
            if (verbose) await console.Error.WriteLineAsync(e.ToString()).ConfigureAwait(false);
            return ExitCodes.CordonFailed;
        }
#pragma warning disable CA1031 // The command's last line of defence: any fault of Cordon's becomes one line and exit 125, not a crash.
        catch (Exception e)
#pragma warning restore CA1031
        {
            console.Fail($"unexpected error: {e.GetType().Name}: {e.Message} (run `cordon doctor` to check this host; --verbose shows details)");
            if (verbose) await console.Error.WriteLineAsync(e.ToString()).ConfigureAwait(false);
            return ExitCodes.CordonFailed;
        }
    }

    /// <summary>A message as a clause after <c>cordon: </c>: first letter lower-case, no closing full stop.</summary>
    internal static string Sentence(string message)
    {
        var text = Outcome.OneLine(message).TrimEnd('.');
        // Lower-case only a capitalised word, not an acronym or a name such as 'CPU' or 'PATH'.
        if (text.Length > 1 && char.IsUpper(text[0]) && char.IsLower(text[1])) text = char.ToLowerInvariant(text[0]) + text[1..];
        return text;
    }
}

/// <summary>The standard help, followed by a notes section for the commands that have one.</summary>
internal sealed class NotesHelpAction(HelpAction inner, IReadOnlyDictionary<string, string> notes) : SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true;

    public override int Invoke(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var exit = inner.Invoke(parseResult);
        if (notes.TryGetValue(parseResult.CommandResult.Command.Name, out var text))
        {
            var output = parseResult.InvocationConfiguration.Output;
            output.WriteLine(text.TrimEnd());
            output.WriteLine();
        }
        return exit;
    }
}
