using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.LoadBalancing;

/// <summary>
/// Ring hash with unequal weights, over 50,000 keys (the hash is xxHash64, so every run sees the same picks): each host's
/// share of the keys follows its weight, and a host leaving moves only its own keys.
/// </summary>
public sealed class RingHashWeightTests
{
    private const int Keys = 50_000;

    private static DestinationState[] PickAll(ClusterState cluster, IReadOnlyList<DestinationState> available)
    {
        var policy = new RingHashPolicy(new Random(1));
        var picks = new DestinationState[Keys];
        var context = new DefaultHttpContext();
        for (var i = 0; i < Keys; i++)
        {
            context.Request.Headers[LoadBalancingPolicyNames.DefaultHashHeader] = $"session-{i}";
            picks[i] = policy.PickDestination(context, cluster, available)!;
        }

        return picks;
    }

    /// <summary>
    /// A host's share of the ring is the sum of its arcs: with k of n points, Beta(k, n − k) distributed, variance
    /// p(1 − p)/(n + 1), which adds Keys² times that to the binomial variance of its key count.
    /// </summary>
    private static void AssertShare(DestinationState[] picks, DestinationState host, double share, int ringSize)
    {
        var count = picks.Count(pick => pick == host);
        var arcVariance = (double)Keys * Keys * share * (1 - share) / (ringSize + 1);
        Binomial.AssertWithin(count, Keys, share, $"keys of {host.DestinationId}", arcVariance);
    }

    [Fact]
    public void Hosts_weighted_1_2_4_get_a_seventh_two_sevenths_and_four_sevenths_of_the_keys()
    {
        var hosts = Destinations.Weighted(1, 2, 4);
        var cluster = Destinations.Cluster(hosts);
        var ringSize = new RingHashPolicy.Ring(cluster, hosts).Points.Length;
        var picks = PickAll(cluster, hosts);

        AssertShare(picks, hosts[0], 1.0 / 7, ringSize);
        AssertShare(picks, hosts[1], 2.0 / 7, ringSize);
        AssertShare(picks, hosts[2], 4.0 / 7, ringSize);

        // The tolerance is not so wide that equal shares would pass.
        Assert.True(picks.Count(pick => pick == hosts[2]) > picks.Count(pick => pick == hosts[1]) * 1.5, "the weight-4 host has clearly more keys than the weight-2 one");
    }

    /// <summary>Weighted hosts; the weight-2 host leaves: unavailable (unhealthy, ejected) or removed from the cluster.</summary>
    /// <remarks>
    /// Removal is tested on 1:2:4:4:1 (10 units left, 128 points a unit before and after): on a ring at Envoy's minimum
    /// size (1:2:4 → 1:4) the points per unit grow when a host is removed, which moves keys between the survivors too —
    /// as in Envoy, whose ring is built the same way.
    /// </remarks>
    [Theory]
    [InlineData(new[] { 1, 2, 4 }, false)]
    [InlineData(new[] { 1, 2, 4, 4, 1 }, true)]
    public void A_weighted_host_leaving_moves_only_its_own_keys(int[] weights, bool removedFromCluster)
    {
        var hosts = Destinations.Weighted(weights.Select(weight => (int?)weight).ToArray());
        var before = PickAll(Destinations.Cluster(hosts), hosts);
        var leaving = hosts[1];
        var survivors = hosts.Where(host => host != leaving).ToArray();
        var after = PickAll(removedFromCluster ? Destinations.Cluster(survivors) : Destinations.Cluster(hosts, survivors), survivors);

        var moved = 0;
        for (var i = 0; i < Keys; i++)
        {
            if (before[i] == leaving)
            {
                Assert.True(after[i] != leaving, $"session-{i} still goes to the host that left");
                moved++;
            }
            else
            {
                Assert.True(before[i] == after[i], $"session-{i} moved from surviving {before[i].DestinationId} to {after[i].DestinationId}");
            }
        }

        var share = 2.0 / weights.Sum();
        var ringSize = new RingHashPolicy.Ring(Destinations.Cluster(hosts), hosts).Points.Length;
        Binomial.AssertWithin(moved, Keys, share, "keys that moved", (double)Keys * Keys * share * (1 - share) / (ringSize + 1));
    }
}
