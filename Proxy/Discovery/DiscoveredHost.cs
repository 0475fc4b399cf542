using System.Globalization;
using System.Net;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>One host as the discovery service reports it.</summary>
public sealed record DiscoveredHost(
    IPAddress Address,
    int Port,
    string? Zone = null,
    string? Region = null,
    string? InstanceId = null,
    bool Canary = false,
    int? Weight = null,
    string? Revision = null)
{
    /// <summary>The destination id: <c>ip:port</c>, stable across polls.</summary>
    public string Id => new IPEndPoint(Address, Port).ToString();

    public DestinationConfig ToDestination(string scheme)
    {
        var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        Add(metadata, DiscoveryMetadata.Zone, Zone);
        Add(metadata, DiscoveryMetadata.Region, Region);
        Add(metadata, DiscoveryMetadata.InstanceId, InstanceId);
        Add(metadata, DiscoveryMetadata.Revision, Revision);
        Add(metadata, DiscoveryMetadata.Weight, Weight?.ToString(CultureInfo.InvariantCulture));
        if (Canary)
        {
            metadata[DiscoveryMetadata.Canary] = "true";
        }

        return new DestinationConfig { Address = $"{scheme}://{Id}", Metadata = metadata };
    }

    private static void Add(Dictionary<string, string> metadata, string key, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            metadata[key] = value;
        }
    }
}
