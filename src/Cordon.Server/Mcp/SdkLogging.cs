using Microsoft.Extensions.Logging;

namespace Cordon.Server.Mcp;

/// <summary>
/// The logger factory given to the MCP SDK: errors only. The SDK logs a warning with a stack trace for every
/// handler that ends in cancellation, which for Cordon is a normal end (the client gave up on a long run); Cordon
/// logs that itself, with the session id.
/// </summary>
internal sealed class SdkLogging(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new ErrorsOnly(inner.CreateLogger(categoryName));

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    // The inner factory belongs to the host.
    public void Dispose()
    {
    }

    private sealed class ErrorsOnly(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error && inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
