using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace Cordon.Server.Mcp;

/// <summary>
/// The tools Cordon offers over MCP: names, descriptions written for a model choosing among them, JSON schemas of
/// their arguments, and annotations. Nothing runs code outside its jail, so no tool touches the open world.
/// </summary>
internal static class McpToolCatalog
{
    public const string RunCode = "run_code";
    public const string CreateSession = "create_session";
    public const string ListSessions = "list_sessions";
    public const string CloseSession = "close_session";
    public const string Execute = "execute";
    public const string RunCommand = "run_command";
    public const string GetCommandOutput = "get_command_output";
    public const string KillCommand = "kill_command";
    public const string WriteFile = "write_file";
    public const string ReadFile = "read_file";
    public const string ListFiles = "list_files";
    public const string ListRuntimes = "list_runtimes";

    private const string SessionId = """
        "session_id": {"type": "string", "description": "A session id from create_session, list_sessions or an earlier execute."}
        """;

    private const string Timeout = """
        "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "Stop it after this many seconds and return what it printed so far (default: the server's call timeout, 50 s, below the usual 60 s client limit)."}
        """;

    /// <summary>Every tool, in the order a model meets them.</summary>
    public static IReadOnlyList<Tool> Tools { get; } =
    [
        Define(RunCode, "Run code once",
            "Runs a program once in a fresh, isolated sandbox (no network, limited CPU, memory and time) and returns its stdout, stderr, exit code, verdict (ok, runtime_error, timeout, memory_limit, ...) and resource usage. Nothing persists afterwards: use execute to keep variables between calls. Compiled languages (c, cpp, rust, go, java, ...) are compiled first. list_runtimes names the languages.",
            $$"""
            {"type": "object", "properties": {
              "language": {"type": "string", "description": "Language name or alias: python, javascript, typescript, c, cpp, bash, go, rust, java, ruby, ... (see list_runtimes)."},
              "code": {"type": "string", "description": "The program's source; it becomes the main file."},
              "files": {"type": "array", "description": "More files beside the main one (modules, data), by relative name.", "items": {"type": "object", "properties": {"name": {"type": "string"}, "content": {"type": "string"}, "encoding": {"type": "string", "enum": ["utf8", "base64"]} }, "required": ["name", "content"], "additionalProperties": false} },
              "stdin": {"type": "string", "description": "Text given to the program on standard input."},
              {{Timeout}}
            }, "required": ["language", "code"], "additionalProperties": false}
            """,
            readOnly: false, destructive: false, idempotent: true),
        Define(CreateSession, "Create a session",
            "Creates a persistent sandbox session: a kernel that keeps variables, imports and files across execute calls, plus a workspace folder for files and shell commands. Returns its session_id; pass it to execute, run_command and the file tools. A session closes itself after some idle minutes; close it with close_session when done. You usually do not need this: execute without a session_id creates one.",
            """
            {"type": "object", "properties": {
              "languages": {"type": "array", "items": {"type": "string"}, "description": "Kernels the session runs (default [\"python\"])."},
              "idle_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "Close the session after this many seconds unused (default: the server's, 10 minutes)."}
            }, "additionalProperties": false}
            """,
            readOnly: false, destructive: false, idempotent: false),
        Define(ListSessions, "List my sessions",
            "Lists the sessions you created that are still alive: id, languages, when each was created, last used and expires, and how many cells ran.",
            """{"type": "object", "properties": {}, "additionalProperties": false}""",
            readOnly: true, destructive: false, idempotent: true),
        Define(CloseSession, "Close a session",
            "Closes a session: kills everything running in it and deletes its workspace and variables.",
            $$"""{"type": "object", "properties": { {{SessionId}} }, "required": ["session_id"], "additionalProperties": false}""",
            readOnly: false, destructive: true, idempotent: true),
        Define(Execute, "Execute code in a session",
            "Runs a cell of code in a session's persistent kernel, like a notebook: variables, functions and imports stay for the next call. Returns stdout, stderr, the value of the last expression, the error and traceback if the code raised (a normal result, not a tool failure), and each matplotlib figure left open as a PNG image. Without session_id a new session is created and its session_id returned: pass it next time to keep the state. A cell that runs past its timeout is interrupted; the session stays usable.",
            $$"""
            {"type": "object", "properties": {
              {{SessionId}},
              "code": {"type": "string", "description": "The cell's source."},
              "language": {"type": "string", "description": "The session kernel to run it in: python (default) or javascript (node, top-level await allowed). An execute without session_id creates a session with this kernel; an existing session must have been created with it."},
              {{Timeout}}
            }, "required": ["code"], "additionalProperties": false}
            """,
            readOnly: false, destructive: false, idempotent: false),
        Define(RunCommand, "Run a shell command in a session",
            "Runs a shell command line (sh -c) in a session's workspace, e.g. 'ls -la', 'python3 script.py', 'gcc main.c && ./a.out'. In the foreground it returns exit code, stdout and stderr when the command ends or its timeout kills it. With background: true it returns at once with a command_id; read its output later with get_command_output and stop it with kill_command. Use background for anything longer than a minute.",
            $$"""
            {"type": "object", "properties": {
              {{SessionId}},
              "command": {"type": "string", "description": "The shell command line."},
              {{Timeout}},
              "background": {"type": "boolean", "description": "Return at once with a command_id instead of waiting (default false); without timeout_seconds it then runs as long as the session."}
            }, "required": ["session_id", "command"], "additionalProperties": false}
            """,
            readOnly: false, destructive: false, idempotent: false),
        Define(GetCommandOutput, "Get a command's output",
            "Returns a command's state: running or finished, its exit code or signal, and its stdout and stderr so far.",
            $$"""{"type": "object", "properties": { {{SessionId}}, "command_id": {"type": "string", "description": "The command_id run_command returned (c1, c2, ...)."} }, "required": ["session_id", "command_id"], "additionalProperties": false}""",
            readOnly: true, destructive: false, idempotent: true),
        Define(KillCommand, "Kill a command",
            "Kills a running command and everything it started, then returns its final state and output.",
            $$"""{"type": "object", "properties": { {{SessionId}}, "command_id": {"type": "string", "description": "The command_id run_command returned."} }, "required": ["session_id", "command_id"], "additionalProperties": false}""",
            readOnly: false, destructive: true, idempotent: true),
        Define(WriteFile, "Write a file into a session",
            "Writes a file into a session's workspace (replacing it if it exists; folders are created). Code in the session sees it by its relative path, e.g. open('data/input.csv').",
            $$"""
            {"type": "object", "properties": {
              {{SessionId}},
              "path": {"type": "string", "description": "Relative path in the workspace, e.g. 'data/input.csv'."},
              "content": {"type": "string", "description": "The file's content."},
              "encoding": {"type": "string", "enum": ["utf8", "base64"], "description": "How content is encoded (default utf8; base64 for binary files)."}
            }, "required": ["session_id", "path", "content"], "additionalProperties": false}
            """,
            readOnly: false, destructive: true, idempotent: true),
        Define(ReadFile, "Read a file from a session",
            "Reads a file from a session's workspace, e.g. one your code wrote. Text comes back as utf8, anything else as base64; PNG and JPEG files also come back as images.",
            $$"""{"type": "object", "properties": { {{SessionId}}, "path": {"type": "string", "description": "Relative path in the workspace."} }, "required": ["session_id", "path"], "additionalProperties": false}""",
            readOnly: true, destructive: false, idempotent: true),
        Define(ListFiles, "List a session's files",
            "Lists every file in a session's workspace by relative path.",
            $$"""{"type": "object", "properties": { {{SessionId}} }, "required": ["session_id"], "additionalProperties": false}""",
            readOnly: true, destructive: false, idempotent: true),
        Define(ListRuntimes, "List languages",
            "Lists the languages this Cordon can run, with their versions, aliases and whether each is compiled and available.",
            """{"type": "object", "properties": {}, "additionalProperties": false}""",
            readOnly: true, destructive: false, idempotent: true),
    ];

    private static Tool Define(string name, string title, string description, string schema, bool readOnly, bool destructive, bool idempotent) => new()
    {
        Name = name,
        Title = title,
        Description = description,
        InputSchema = JsonSerializer.Deserialize<JsonElement>(schema),
        Annotations = new ToolAnnotations
        {
            Title = title,
            ReadOnlyHint = readOnly,
            DestructiveHint = destructive,
            IdempotentHint = idempotent,
            // Code runs in a jail without network unless the operator allows it: nothing reaches the outside world.
            OpenWorldHint = false,
        },
    };
}
