using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ProxyMesh.Proxy.Admin;

/// <summary>
/// Blanks secrets in a configuration dump, by what their names look like: values under secret-looking keys
/// (password, secret, token, api key, credentials, signing and private keys, HMAC keys), values that transforms set
/// for secret-looking headers (auth, token, secret, key, password, signature, cookie, session...) and query
/// parameters, and user info in URLs.
/// </summary>
internal static partial class ConfigRedactor
{
    public const string Redacted = "[redacted]";

    public static void Redact(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                RedactObject(obj);
                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Redact(item);
                }

                break;
        }
    }

    private static void RedactObject(JsonObject obj)
    {
        var setsCredentialHeader = SetsCredentialHeader(obj);
        foreach (var (name, value) in obj.ToArray())
        {
            if (value is null)
            {
                continue;
            }

            if (SecretKey().IsMatch(name) || (setsCredentialHeader && name is "Set" or "Append"))
            {
                obj[name] = Redacted;
            }
            else if (value is JsonValue leaf && leaf.TryGetValue<string>(out var text) && UserInfo().IsMatch(text))
            {
                obj[name] = UserInfo().Replace(text, $"://{Redacted}@");
            }
            else
            {
                Redact(value);
            }
        }
    }

    /// <summary>A header or query parameter transform whose header or parameter name looks secret.</summary>
    private static bool SetsCredentialHeader(JsonObject obj)
    {
        foreach (var kind in (string[])["RequestHeader", "ResponseHeader", "ResponseTrailer", "QueryValueParameter", "QueryRouteParameter"])
        {
            if (obj[kind] is JsonValue header && header.TryGetValue<string>(out var headerName) && SecretName().IsMatch(headerName))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Configuration keys holding secrets; not <c>MaxTokens</c> or <c>TokensPerFill</c> (rate limits).</summary>
    [GeneratedRegex("passw(or)?d|secret|token(?!s)|api[-_.]?key|credential|signing|signature|private[-_.]?key|hmac|^key$|[-_.:]key$", RegexOptions.IgnoreCase)]
    private static partial Regex SecretKey();

    /// <summary>Header and query parameter names whose values are secrets.</summary>
    [GeneratedRegex("auth|token|secret|key|passw(or)?d|signature|sig$|cookie|session|credential|jwt|bearer", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [GeneratedRegex("://[^/@\\s]+@")]
    private static partial Regex UserInfo();
}
