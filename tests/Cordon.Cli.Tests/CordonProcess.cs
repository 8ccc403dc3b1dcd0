using System.Diagnostics;
using System.Text;

namespace Cordon.Cli.Tests;

/// <summary>What a finished cordon process left: exit code and the raw bytes of stdout and stderr.</summary>
public sealed record CordonRun(int ExitCode, byte[] StdoutBytes, byte[] StderrBytes)
{
    public string Stdout => Encoding.UTF8.GetString(StdoutBytes);

    public string Stderr => Encoding.UTF8.GetString(StderrBytes);

    /// <summary>The stderr lines that Cordon itself wrote.</summary>
    public IReadOnlyList<string> CordonLines => Stderr.Split('\n').Where(l => l.StartsWith("cordon: ", StringComparison.Ordinal)).ToList();

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>
/// Runs the built cordon.dll (copied beside the tests by the project reference) as a real process, in a folder
/// of its own. A process still running when the deadline passes is killed with its whole tree.
/// </summary>
public static class CordonProcess
{
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "cordon.dll");

    public static Task<CordonRun> RunAsync(string workingDirectory, byte[]? stdin, params string[] args) =>
        RunAsync(workingDirectory, stdin, null, args);

    /// <summary>Runs cordon; <paramref name="whileRunning"/> gets its pid once it started (to signal it, say).</summary>
    public static async Task<CordonRun> RunAsync(string workingDirectory, byte[]? stdin, Func<int, Task>? whileRunning, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        // The runtimes beside cordon.dll are the ones under test, whatever the environment says.
        start.Environment.Remove("CORDON_RUNTIMES");

        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(50));
        var stdout = CopyAsync(process.StandardOutput.BaseStream, deadline.Token);
        var stderr = CopyAsync(process.StandardError.BaseStream, deadline.Token);
        try
        {
            try
            {
                if (stdin is not null) await process.StandardInput.BaseStream.WriteAsync(stdin, deadline.Token);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // cordon ended without reading its stdin; its exit code tells the rest.
            }
            if (whileRunning is not null) await whileRunning(process.Id);
            await process.WaitForExitAsync(deadline.Token);
            return new CordonRun(process.ExitCode, await stdout, await stderr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"cordon {string.Join(' ', args)} did not finish within 50 s and was killed");
        }
    }

    private static async Task<byte[]> CopyAsync(Stream stream, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }
}

/// <summary>Sends a signal with kill(1), as a terminal or a service manager would.</summary>
public static class Signal
{
    public static async Task SendAsync(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-s", signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}

/// <summary>A temporary folder for a test's files, deleted afterwards.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("cordon-cli-test-").FullName;
    }

    public string Path { get; }

    public string Write(string name, string content)
    {
        var full = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return full;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder must not fail a test.
        }
    }
}
