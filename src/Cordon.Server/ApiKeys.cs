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
    private readonly ApiKeyIdentity[] _identities;

    /// <summary>Hashes the keys.</summary>
    public ApiKeys(IEnumerable<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _hashes = [.. keys.Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k)))];
        _identities = [.. _hashes.Select(h => new ApiKeyIdentity(IdOf(h), OwnerOf(h)))];
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

    /// <summary>
    /// A key's owner identity, which its sessions belong to: "key:" and the whole SHA-256 in hex, so two keys never
    /// share sessions (the short id of logs could collide). Kept out of logs, which show <see cref="KeyId"/>.
    /// </summary>
    public static string Owner(string key) => OwnerOf(SHA256.HashData(Encoding.UTF8.GetBytes(key ?? "")));

    private static string IdOf(byte[] hash) => Convert.ToHexStringLower(hash.AsSpan(0, 4));

    private static string OwnerOf(byte[] hash) => "key:" + Convert.ToHexStringLower(hash);

    /// <summary>The identity of the configured key equal to <paramref name="presented"/>, or null.</summary>
    public ApiKeyIdentity? Match(ReadOnlySpan<char> presented)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        var bytes = Encoding.UTF8.GetBytes(presented.ToArray());
        SHA256.HashData(bytes, hash);
        ApiKeyIdentity? identity = null;
        // Every hash is compared, whichever matches, so the position of the key among them does not show either.
        for (var i = 0; i < _hashes.Length; i++)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, _hashes[i])) identity = _identities[i];
        }
        return identity;
    }
}

/// <summary>Who a configured key is: its short id for logs and metrics, and the owner its sessions belong to.</summary>
/// <param name="Id">The first 8 hex digits of its SHA-256 (<see cref="ApiKeys.KeyId"/>).</param>
/// <param name="Owner">"key:" and its whole SHA-256 in hex (<see cref="ApiKeys.Owner"/>).</param>
public sealed record ApiKeyIdentity(string Id, string Owner);

/// <summary>
/// Who a request comes from: for rate limits and logs its key's id, else its address; for the sessions it may use,
/// its owner identity.
/// </summary>
internal static class Clients
{
    /// <summary>The owner of every caller when no keys are configured (the server then listens on loopback only).</summary>
    public const string Anonymous = "anonymous";

    private const string Item = "cordon.client";
    private const string OwnerItem = "cordon.owner";

    /// <summary>"key 1a2b3c4d" for an authenticated request, else "address 10.0.0.7".</summary>
    public static string Of(HttpContext context) =>
        context.Items[Item] as string ?? "address " + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown");

    /// <summary>The sessions' owner: the key's <see cref="ApiKeyIdentity.Owner"/>, or <see cref="Anonymous"/> without keys.</summary>
    public static string Owner(HttpContext context) => context.Items[OwnerItem] as string ?? Anonymous;

    public static void SetKey(HttpContext context, ApiKeyIdentity key)
    {
        context.Items[Item] = "key " + key.Id;
        context.Items[OwnerItem] = key.Owner;
    }
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
        else if (keys.Match(header.AsSpan(Scheme.Length).Trim()) is { } identity)
        {
            Clients.SetKey(context, identity);
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
