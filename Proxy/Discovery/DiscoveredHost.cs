using System.Globalization;
using System.Net;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>One host as the discovery service reports it; its <see cref="Id"/> is formatted once, when it is built.</summary>
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
    /// <summary>
    /// The destination id: <c>ip:port</c>, stable across polls. Read several times per host and poll (duplicate check,
    /// membership, destination address), so it is kept rather than formatted on each read; a copy with another address
    /// or port (<c>with</c>) formats its own.
    /// </summary>
    public string Id { get; private init; } = Format(Address, Port);

    public IPAddress Address
    {
        get;
        init
        {
            field = value;
            Id = Format(value, Port);
        }
    } = Address;

    public int Port
    {
        get;
        init
        {
            field = value;
            Id = Format(Address, value);
        }
    } = Port;

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

    private static string Format(IPAddress address, int port) => new IPEndPoint(address, port).ToString();

    private static void Add(Dictionary<string, string> metadata, string key, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            metadata[key] = value;
        }
    }
}
