using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>
/// Least request as power of two choices among weighted choices (Envoy's default choice count, 2): two distinct hosts
/// are drawn in proportion to weight, and the one with fewer active requests per unit of weight wins
/// (<c>active_a × weight_b &lt; active_b × weight_a</c>); a tie goes to the first draw, so an idle cluster gets exactly
/// weight-proportional traffic. With equal weights this is Envoy's unweighted least request (P2C on active requests).
/// Active requests are YARP's per-destination concurrent request count.
/// </summary>
internal sealed class LeastRequestPolicy(Random random) : ILoadBalancingPolicy
{
    private readonly SnapshotCache<DestinationWeights> _weights = DestinationWeights.Cache();

    public string Name => LoadBalancingPolicyNames.LeastRequest;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        switch (availableDestinations.Count)
        {
            case 0:
                return null;
            case 1:
                return availableDestinations[0];
        }

        var weights = _weights.For(cluster, availableDestinations);
        var first = weights.Draw(random);
        var second = weights.DrawOther(random, first);
        var a = weights.Destinations[first];
        var b = weights.Destinations[second];
        var loadA = (long)a.ConcurrentRequestCount * weights.Weights[second];
        var loadB = (long)b.ConcurrentRequestCount * weights.Weights[first];
        return loadB < loadA ? b : a;
    }
}
