using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Cordon.Engine;

namespace Cordon.Bench;

/// <summary>
/// One program measured in every mode. <see cref="Source"/> is the file in bench/workloads; Cordon's modes send it as
/// <see cref="MainFile"/>; the bare and bwrap modes run <see cref="BareArgv"/> in a directory holding the file (and, for
/// C, the binary compiled beforehand).
/// </summary>
internal sealed record Workload(
    string Name,
    string Label,
    string Language,
    string Source,
    string MainFile,
    string Expected,
    ImmutableArray<string> BareArgv)
{
    /// <summary>The host file the bwrap jail binds for <see cref="BareArgv"/>'s program (the source, or the C binary).</summary>
    public string JailFile => Language == "c" ? "hello" : Source;

    /// <summary>The file's bytes (loaded once).</summary>
    public byte[] Content { get; private init; } = [];

    /// <summary>Whether Cordon compiles it first (its Cordon figures include the compile stage).</summary>
    public bool Compiled => Language == "c";

    public static ImmutableArray<Workload> All(string directory)
    {
        Workload[] all =
        [
            new("python", "Python hello", "python", "hello.py", "main.py", "hello", ["/usr/bin/python3", "hello.py"]),
            new("javascript", "JavaScript hello", "javascript", "hello.js", "main.js", "hello", ["/usr/bin/node", "hello.js"]),
            new("bash", "bash hello", "bash", "hello.sh", "main.sh", "hello", ["/usr/bin/bash", "hello.sh"]),
            new("c", "C hello", "c", "hello.c", "main.c", "hello", ["./hello"]),
            new("cpu", "CPU: Python loop, 5e6 additions", "python", "cpu.py", "main.py", "12499997500000", ["/usr/bin/python3", "cpu.py"]),
            new("io", "I/O: 20 MiB + 1000 files, Python", "python", "io.py", "main.py", "20971520 1024000", ["/usr/bin/python3", "io.py"]),
        ];
        return [.. all.Select(w => w with { Content = File.ReadAllBytes(Path.Combine(directory, w.Source)) })];
    }

    /// <summary>The library request.</summary>
    public ExecutionRequest Request() => new()
    {
        Language = Language,
        Files = [new ExecutionFile(MainFile, Content)],
    };

    /// <summary>The body of POST /v1/executions.</summary>
    public byte[] NativeBody() => Json(false);

    /// <summary>The body of POST /api/v2/execute (Piston needs a version; "*" is the installed one).</summary>
    public byte[] PistonBody() => Json(true);

    private byte[] Json(bool piston)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("language", Language);
            if (piston) json.WriteString("version", "*");
            json.WriteStartArray("files");
            json.WriteStartObject();
            json.WriteString("name", MainFile);
            json.WriteString("content", Encoding.UTF8.GetString(Content));
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
