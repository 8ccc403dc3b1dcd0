using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cordon.Server;

/// <summary>
/// Enforces MaxRequestBodyBytes for every request, whatever server runs the app: a declared Content-Length over
/// it gets 413 problem+json at once, unread; a body without one that grows past it fails the read with a 413
/// <see cref="BadHttpRequestException"/>, as Kestrel's own limit does (which is set to the same value).
/// </summary>
internal sealed class RequestBodyLimitMiddleware(RequestDelegate next, IOptions<CordonServerOptions> options, ILogger<RequestBodyLimitMiddleware> logger)
{
    private readonly long _max = options.Value.MaxRequestBodyBytes;

    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.ContentLength > _max)
        {
            ServerLog.BodyTooLarge(logger, Problems.RequestId(context), Clients.Of(context), _max);
            Problems.NoteRejection(context, "body_too_large");
            var detail = $"The body is {context.Request.ContentLength} bytes; this Cordon accepts at most {_max} (setting MaxRequestBodyBytes).";
            // Piston's clients read errors as {"message": ...}; everything else speaks problem+json.
            if (context.Request.Path.StartsWithSegments("/api/v2", StringComparison.Ordinal))
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                return context.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["message"] = detail });
            }
            return Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body_too_large", "Request body too large", detail);
        }
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature) feature.MaxRequestBodySize = _max;
        if (context.Request.ContentLength is null && context.Request.Body != Stream.Null)
            context.Request.Body = new LimitedReadStream(context.Request.Body, _max);
        return next(context);
    }

    /// <summary>Reads through to a body and fails once more than the limit has been read.</summary>
    private sealed class LimitedReadStream(Stream inner, long limit) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Count(int n)
        {
            _read += n;
            if (_read > limit)
                throw new BadHttpRequestException($"The request body is larger than {limit} bytes (setting MaxRequestBodyBytes).", StatusCodes.Status413PayloadTooLarge);
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
