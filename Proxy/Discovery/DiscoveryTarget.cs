using System.Text.RegularExpressions;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>A cluster whose destinations come from discovery, as its configuration declares it.</summary>
internal sealed partial record DiscoveryTarget(string ClusterId, string Service, string Scheme)
{
    /// <summary>This sidecar's own service (<see cref="DiscoveredLocalService"/>), not a cluster.</summary>
    public bool IsLocalService { get; init; }

    /// <summary>
    /// The local service, keyed apart from clusters: a configured cluster id never contains <c>:</c> (it separates
    /// configuration paths).
    /// </summary>
    public static DiscoveryTarget LocalService(string service) => new($"local:{service}", service, Uri.UriSchemeHttp) { IsLocalService = true };

    public static bool IsDiscoveryCluster(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.ContainsKey(DiscoveryMetadata.Service);

    /// <summary>Reads the discovery clusters from a <c>ReverseProxy</c> section.</summary>
    public static List<DiscoveryTarget> FromConfiguration(IConfiguration reverseProxy)
    {
        var targets = new List<DiscoveryTarget>();
        foreach (var cluster in reverseProxy.GetSection("Clusters").GetChildren())
        {
            var metadata = cluster.GetSection("Metadata");
            if (metadata[DiscoveryMetadata.Service] is { } service)
            {
                targets.Add(new DiscoveryTarget(cluster.Key, service, metadata[DiscoveryMetadata.Scheme] ?? Uri.UriSchemeHttp));
            }
        }

        return targets;
    }

    /// <summary>Service names as lyft's discovery accepts them: they become a URL path segment.</summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    public static partial Regex ServiceName();
}
