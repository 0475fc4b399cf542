using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>
/// Least request as power of two choices among weighted choices (Envoy's default choice count, 2): two distinct hosts
/// are drawn in proportion to weight, and the one with fewer active requests per unit of weight wins
/// (<c>active_a × weight_b &lt; active_b × weight_a</c>); a tie goes to the first draw, so an idle cluster gets exactly
/// weight-proportional traffic. With equal weights this is Envoy's unweighted least request (P2C on active requests).
/// Active requests are YARP's per-destination concurrent request count. Tried hosts are never drawn while others are left.
/// </summary>
internal sealed class LeastRequestPolicy(Random random) : ILoadBalancingPolicy, IHostPicker
{
    private readonly SnapshotCache<DestinationWeights> _weights = DestinationWeights.Cache();

    public string Name => LoadBalancingPolicyNames.LeastRequest;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations) =>
        Pick(cluster, availableDestinations, context.Request, null, TriedHosts.Of(context));

    public DestinationState? Pick(ClusterState cluster, IReadOnlyList<DestinationState> available, HttpRequest? request, string? hashKey, TriedHosts? tried)
    {
        switch (available.Count)
        {
            case 0:
                return null;
            case 1:
                return available[0];
        }

        var weights = _weights.For(cluster, available);
        return weights.Destinations[IndexIn(weights, random, TriedHosts.Effective(tried, available))];
    }

    /// <summary>The pick over one snapshot, skipping <paramref name="tried"/> (which leaves some host).</summary>
    internal static int IndexIn(DestinationWeights weights, Random random, TriedHosts? tried)
    {
        if (weights.Destinations.Length == 1)
        {
            return 0;
        }

        int first, second;
        if (tried is null)
        {
            first = weights.Draw(random);
            second = weights.DrawOther(random, first);
        }
        else
        {
            first = weights.DrawExcluding(random, tried);
            if (first < 0)
            {
                return IndexIn(weights, random, null);
            }

            second = weights.DrawExcluding(random, tried, first);
            if (second < 0)
            {
                return first;
            }
        }

        var loadA = (long)weights.Destinations[first].ConcurrentRequestCount * weights.Weights[second];
        var loadB = (long)weights.Destinations[second].ConcurrentRequestCount * weights.Weights[first];
        return loadB < loadA ? second : first;
    }
}
