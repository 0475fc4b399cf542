using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Where a TCP cluster's destination is: <c>tcp://host:port</c>, or <c>tls://host:port</c> to originate TLS. Discovered
/// hosts (<c>http://ip:port</c>) are plain TCP. Parsed once per destination model.
/// </summary>
internal sealed record TcpUpstreamAddress(string Host, int Port, bool Tls)
{
    public const string TcpScheme = "tcp://";
    public const string TlsScheme = "tls://";

    private static readonly ConditionalWeakTable<DestinationModel, TcpUpstreamAddress> Parsed = [];

    public EndPoint EndPoint { get; } = IPAddress.TryParse(Host, out var ip) ? new IPEndPoint(ip, Port) : new DnsEndPoint(Host, Port);

    /// <summary>For logs: <c>host:port</c>.</summary>
    public string HostAndPort { get; } = Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    public static TcpUpstreamAddress? Of(DestinationModel destination) =>
        Parsed.TryGetValue(destination, out var known) ? known
        : TryParse(destination.Config.Address, out var address) ? Parsed.GetValue(destination, _ => address!)
        : null;

    public static bool TryParse(string? address, out TcpUpstreamAddress? parsed)
    {
        parsed = null;
        if (address is null)
        {
            return false;
        }

        var tls = address.StartsWith(TlsScheme, StringComparison.OrdinalIgnoreCase);
        if (!tls && !address.StartsWith(TcpScheme, StringComparison.OrdinalIgnoreCase)
                 && !address.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Port <= 0 || uri.Host.Length == 0
            || uri.AbsolutePath is not ("/" or ""))
        {
            return false;
        }

        parsed = new TcpUpstreamAddress(uri.IdnHost.Trim('[', ']'), uri.Port, tls);
        return true;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{(Tls ? TlsScheme : TcpScheme)}{HostAndPort}");
}
