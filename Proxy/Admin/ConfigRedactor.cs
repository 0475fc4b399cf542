using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ProxyMesh.Proxy.Admin;

/// <summary>
/// Blanks secrets in a configuration dump: values under secret-looking keys (password, secret, token, api key,
/// credentials), header values that transforms set for credential headers, and user info in URLs.
/// </summary>
internal static partial class ConfigRedactor
{
    public const string Redacted = "[redacted]";

    private static readonly string[] CredentialHeaders = ["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"];

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

    private static bool SetsCredentialHeader(JsonObject obj)
    {
        foreach (var kind in (string[])["RequestHeader", "ResponseHeader", "ResponseTrailer"])
        {
            if (obj[kind] is JsonValue header && header.TryGetValue<string>(out var headerName)
                && CredentialHeaders.Contains(headerName, StringComparer.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    [GeneratedRegex("password|secret|token|api[-_.]?key|credential", RegexOptions.IgnoreCase)]
    private static partial Regex SecretKey();

    [GeneratedRegex("://[^/@\\s]+@")]
    private static partial Regex UserInfo();
}
