using System.Globalization;
using System.Net;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// A parsed listener URL: <c>http(s)://host:port</c> (or <c>tcp://host:port</c> where TCP listeners are allowed), where
/// host is an IP address, <c>localhost</c>, or <c>*</c>/<c>+</c> for every address.
/// </summary>
public sealed record ListenerAddress(bool IsHttps, string Host, IPAddress? IPAddress, int Port, bool IsTcp = false)
{
    public const string TcpScheme = "tcp://";

    public bool IsLocalhost => IPAddress is null && Host.Equals("localhost", StringComparison.OrdinalIgnoreCase);

    public bool IsAnyAddress => IPAddress is null && !IsLocalhost;

    /// <summary>Reachable only from this machine.</summary>
    public bool IsLoopback => IsLocalhost || (IPAddress is not null && System.Net.IPAddress.IsLoopback(IPAddress));

    /// <param name="allowTcp">Whether <c>tcp://</c> (a TCP proxy listener) is accepted.</param>
    public static bool TryParse(string? url, out ListenerAddress? address, out string problem, bool allowTcp = false)
    {
        address = null;
        if (string.IsNullOrWhiteSpace(url))
        {
            problem = "is empty; expected a URL such as http://127.0.0.1:10000";
            return false;
        }

        var isHttps = url.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        var isTcp = allowTcp && url.StartsWith(TcpScheme, StringComparison.OrdinalIgnoreCase);
        if (!isHttps && !isTcp && !url.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            problem = allowTcp ? $"'{url}' must start with http://, https:// or tcp://" : $"'{url}' must start with http:// or https://";
            return false;
        }

        var rest = url[(isHttps ? 8 : isTcp ? TcpScheme.Length : 7)..].TrimEnd('/');
        var colon = rest.LastIndexOf(':');
        if (colon <= 0 || rest.EndsWith(']'))
        {
            problem = $"'{url}' has no port; expected host:port, e.g. http://127.0.0.1:10000";
            return false;
        }

        var host = rest[..colon];
        if (!int.TryParse(rest.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            problem = $"'{url}' has an invalid port; expected 0-65535";
            return false;
        }

        IPAddress? ip = null;
        var isWildcard = host is "*" or "+";
        if (!isWildcard && !host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            && !IPAddress.TryParse(host.Trim('[', ']'), out ip))
        {
            problem = $"'{url}' has host '{host}'; expected an IP address, localhost, or * for every address";
            return false;
        }

        address = new ListenerAddress(isHttps, host, ip, port, isTcp);
        problem = "";
        return true;
    }
}
