using System.Globalization;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>Validates <c>ProxyMesh:LocalCluster</c> and the zone-aware metadata of clusters.</summary>
internal sealed class ZoneAwareConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        var clusters = candidate.GetSection("ReverseProxy:Clusters");
        var localClusterKey = $"{LocalZoneOptions.SectionName}:{nameof(LocalZoneOptions.LocalCluster)}";
        var localCluster = candidate[localClusterKey];
        if (localCluster is not null && !clusters.GetSection(localCluster).Exists())
        {
            problems.Add($"{localClusterKey}: there is no cluster named '{localCluster}'");
        }

        foreach (var cluster in clusters.GetChildren())
        {
            var inner = cluster[$"Metadata:{ZoneAwareLoadBalancingPolicy.InnerKey}"];
            if (inner is not null && !Enum.GetNames<InnerPolicy>().Contains(inner, StringComparer.OrdinalIgnoreCase))
            {
                problems.Add($"{cluster.Path}:Metadata:{ZoneAwareLoadBalancingPolicy.InnerKey}: '{inner}' must be LeastRequest, Random or RoundRobin");
            }

            var size = cluster[$"Metadata:{ZoneAwareLoadBalancingPolicy.MinClusterSizeKey}"];
            if (size is not null && !int.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                problems.Add($"{cluster.Path}:Metadata:{ZoneAwareLoadBalancingPolicy.MinClusterSizeKey}: '{size}' must be a whole number, 0 or more");
            }
        }
    }
}
