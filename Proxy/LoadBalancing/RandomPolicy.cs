using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>Weighted random: a host with probability weight / sum of weights (a binary search over running sums).</summary>
internal sealed class RandomPolicy(Random random) : ILoadBalancingPolicy, IHostPicker
{
    private readonly SnapshotCache<DestinationWeights> _weights = DestinationWeights.Cache();

    public string Name => LoadBalancingPolicyNames.Random;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations) =>
        Pick(cluster, availableDestinations, context.Request, null, TriedHosts.Of(context));

    public DestinationState? Pick(ClusterState cluster, IReadOnlyList<DestinationState> available, HttpRequest? request, string? hashKey, TriedHosts? tried)
    {
        if (available.Count == 0)
        {
            return null;
        }

        var weights = _weights.For(cluster, available);
        return weights.Destinations[IndexIn(weights, random, TriedHosts.Effective(tried, available))];
    }

    /// <summary>The pick over one snapshot, skipping <paramref name="tried"/> (which leaves some host).</summary>
    internal static int IndexIn(DestinationWeights weights, Random random, TriedHosts? tried) =>
        tried is null ? weights.Draw(random) : Fallback(weights.DrawExcluding(random, tried), weights, random);

    private static int Fallback(int index, DestinationWeights weights, Random random) => index >= 0 ? index : weights.Draw(random);
}
