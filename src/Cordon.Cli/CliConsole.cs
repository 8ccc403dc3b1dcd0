using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Cordon.Cli;

/// <summary>
/// The command's standard streams. Program output goes through the byte streams untouched (a program's output
/// need not be text); Cordon's own text goes through the writers.
/// </summary>
internal sealed class CliConsole : IDisposable
{
    private readonly Func<Stream> _openInput;

    /// <summary>Wraps the given streams; <paramref name="openInput"/> is called only if stdin is read.</summary>
    public CliConsole(Func<Stream> openInput, Stream output, Stream error)
    {
        _openInput = openInput;
        OutputStream = output;
        ErrorStream = error;
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        Out = new StreamWriter(output, utf8, 4096, leaveOpen: true) { AutoFlush = true, NewLine = "\n" };
        Error = new StreamWriter(error, utf8, 4096, leaveOpen: true) { AutoFlush = true, NewLine = "\n" };
    }

    /// <summary>The process's own stdin, stdout and stderr.</summary>
    public static CliConsole Standard() =>
        new(Console.OpenStandardInput, Console.OpenStandardOutput(), Console.OpenStandardError());

    /// <summary>Raw stdout.</summary>
    public Stream OutputStream { get; }

    /// <summary>Raw stderr.</summary>
    public Stream ErrorStream { get; }

    /// <summary>Text to stdout.</summary>
    public TextWriter Out { get; }

    /// <summary>Text to stderr.</summary>
    public TextWriter Error { get; }

    /// <summary>Opens stdin.</summary>
    public Stream OpenInput() => _openInput();

    /// <summary>Writes one <c>cordon: </c> line to stderr.</summary>
    public void Fail(string message) => Error.WriteLine("cordon: " + Outcome.OneLine(message));

    /// <summary>
    /// Logging for the engine: only to stderr (stdout carries the program's output or JSON), warnings and worse
    /// unless <paramref name="verbose"/>.
    /// </summary>
    public static ILoggerFactory CreateLoggerFactory(bool verbose) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Warning)
        .AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace)
        .AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.ColorBehavior = LoggerColorBehavior.Disabled;
        }));

    /// <summary>Flushes and releases the writers (not the streams).</summary>
    public void Dispose()
    {
        Out.Dispose();
        Error.Dispose();
    }
}
