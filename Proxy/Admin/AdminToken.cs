using System.Security.Cryptography;
using System.Text;

namespace ProxyMesh.Proxy.Admin;

/// <summary>The admin bearer token: from <see cref="AdminOptions.Token"/> or the file <see cref="AdminOptions.TokenFile"/> names.</summary>
internal static class AdminToken
{
    /// <returns>The SHA-256 of the token, or null when no token is configured (or the file cannot be read: the validator says why).</returns>
    public static byte[]? Resolve(AdminOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.Token))
        {
            return SHA256.HashData(Encoding.UTF8.GetBytes(options.Token.Trim()));
        }

        return options.TokenFile is not null && TryRead(options.TokenFile, out var token) is null ? token : null;
    }

    /// <returns>A problem, or null when <paramref name="token"/> holds the SHA-256 of the file's token.</returns>
    public static string? TryRead(string path, out byte[]? token)
    {
        token = null;
        string text;
        try
        {
            text = File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"cannot read '{path}': {e.Message}";
        }

        if (text.Length == 0)
        {
            return $"'{path}' is empty";
        }

        token = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        return null;
    }

    /// <summary>
    /// Whether an <c>Authorization</c> header carries the bearer token whose SHA-256 is <paramref name="tokenHash"/>;
    /// hashes are compared in constant time, so neither the token's contents nor its length leak through timing.
    /// </summary>
    public static bool Matches(string? authorization, byte[] tokenHash)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, tokenHash);
    }
}
