using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Cordon.Server;

/// <summary>
/// The configured API keys, kept only as SHA-256 hashes. A presented key is hashed and compared with every
/// configured hash in constant time, so neither its length nor how much of it matches shows in the timing.
/// </summary>
public sealed class ApiKeys
{
    private readonly byte[][] _hashes;
    private readonly string[] _ids;

    /// <summary>Hashes the keys.</summary>
    public ApiKeys(IEnumerable<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _hashes = [.. keys.Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k)))];
        _ids = [.. _hashes.Select(IdOf)];
    }

    /// <summary>Whether any key is configured (then every endpoint but /healthz needs one).</summary>
    public bool Enabled => _hashes.Length > 0;

    /// <summary>How many keys are configured.</summary>
    public int Count => _hashes.Length;

    /// <summary>
    /// A key's id for logs and metrics: the first 8 hex digits of its SHA-256. It tells keys apart and gives
    /// nothing of the key away.
    /// </summary>
    public static string KeyId(string key) => IdOf(SHA256.HashData(Encoding.UTF8.GetBytes(key ?? "")));

    private static string IdOf(byte[] hash) => Convert.ToHexStringLower(hash.AsSpan(0, 4));

    /// <summary>The id of the configured key equal to <paramref name="presented"/>, or null.</summary>
    public string? Match(ReadOnlySpan<char> presented)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var bytes = Encoding.UTF8.GetBytes(presented.ToArray());
        SHA256.HashData(bytes, hash);
        string? id = null;
        // Every hash is compared, whichever matches, so the position of the key among them does not show either.
        for (var i = 0; i < _hashes.Length; i++)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, _hashes[i])) id = _ids[i];
        }
        return id;
    }
}

/// <summary>Who a request comes from, for rate limits and logs: its key's id, else its address.</summary>
internal static class Clients
{
    private const string Item = "cordon.client";

    /// <summary>"key 1a2b3c4d" for an authenticated request, else "address 10.0.0.7".</summary>
    public static string Of(HttpContext context) =>
        context.Items[Item] as string ?? "address " + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown");

    public static void SetKey(HttpContext context, string keyId) => context.Items[Item] = "key " + keyId;
}

/// <summary>
/// With keys configured, refuses every request but /healthz that lacks <c>Authorization: Bearer KEY</c> with a
/// configured key: 401 problem+json with <c>WWW-Authenticate: Bearer</c>. The header is never logged.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, ApiKeys keys, ILogger<ApiKeyMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (!keys.Enabled || context.Request.Path.Equals("/healthz", StringComparison.Ordinal)) return next(context);
        var header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        string reason;
        if (header.Length == 0) reason = "no Authorization header";
        else if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)) reason = "Authorization is not a Bearer token";
        else if (keys.Match(header.AsSpan(Scheme.Length).Trim()) is { } id)
        {
            Clients.SetKey(context, id);
            return next(context);
        }
        else reason = "unknown API key";

        ServerLog.Unauthorized(logger, Problems.RequestId(context), context.Request.Path.ToUriComponent(), context.Connection.RemoteIpAddress?.ToString() ?? "unknown", reason);
        Problems.NoteRejection(context, "unauthorized");
        context.Response.Headers.WWWAuthenticate = header.Length == 0 ? "Bearer realm=\"cordon\"" : "Bearer realm=\"cordon\", error=\"invalid_token\"";
        return Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, "unauthorized", "Unauthorized",
            "This Cordon needs an API key: send it as 'Authorization: Bearer KEY'.");
    }
}
