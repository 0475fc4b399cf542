using System.Net;
using System.Net.Sockets;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>
/// Policy <c>Discovery</c> of a discovery cluster (<c>ProxyMesh:Defaults:Discovery</c>, overridden by
/// <c>ProxyMesh:Clusters:&lt;cluster&gt;:Discovery</c>): which addresses a discovery answer may point callers at. No
/// service lives on a multicast or unspecified address, and a link-local one (169.254.0.0/16, fe80::/10) is where cloud
/// metadata endpoints answer: hosts there are rejected. Loopback hosts are accepted only where they can be real
/// services: when every traffic listener of this proxy is itself on loopback (a single-machine setup), or when the
/// cluster allows them.
/// </summary>
public sealed class DiscoveredAddressPolicy
{
    public const string PolicyName = "Discovery";

    /// <summary>Accept loopback hosts. Unset: accepted when every traffic listener of this proxy is on loopback.</summary>
    public bool? AllowLoopback { get; set; }

    /// <summary>Accept link-local hosts (169.254.0.0/16, fe80::/10).</summary>
    public bool AllowLinkLocal { get; set; }

    /// <returns>Null when the host is acceptable, otherwise the reason (a stat label) it is rejected.</returns>
    public static string? RejectionReason(IPAddress address, bool allowLoopback, bool allowLinkLocal)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> bytes = stackalloc byte[4];
            address.TryWriteBytes(bytes, out _);
            return bytes[0] switch
            {
                0 => "unspecified",
                127 => allowLoopback ? null : "loopback",
                169 when bytes[1] == 254 => allowLinkLocal ? null : "link_local",
                >= 224 => "multicast", // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved, 255.255.255.255 broadcast
                _ => null,
            };
        }

        if (address.Equals(IPAddress.IPv6Any))
        {
            return "unspecified";
        }

        if (IPAddress.IsLoopback(address))
        {
            return allowLoopback ? null : "loopback";
        }

        if (address.IsIPv6LinkLocal)
        {
            return allowLinkLocal ? null : "link_local";
        }

        return address.IsIPv6Multicast ? "multicast" : null;
    }

    /// <summary>Whether every traffic listener is on loopback: then loopback hosts are real services by default.</summary>
    public static bool ProxyServesLoopbackOnly(IEnumerable<string> listenerUrls)
    {
        foreach (var url in listenerUrls)
        {
            if (!ListenerAddress.TryParse(url, out var address, out _) || !address!.IsLoopback)
            {
                return false;
            }
        }

        return true;
    }
}
