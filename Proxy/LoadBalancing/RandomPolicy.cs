using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>Weighted random: a host with probability weight / sum of weights (a binary search over running sums).</summary>
internal sealed class RandomPolicy(Random random) : ILoadBalancingPolicy
{
    private readonly SnapshotCache<DestinationWeights> _weights = DestinationWeights.Cache();

    public string Name => LoadBalancingPolicyNames.Random;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 0)
        {
            return null;
        }

        var weights = _weights.For(cluster, availableDestinations);
        return weights.Destinations[weights.Draw(random)];
    }
}
