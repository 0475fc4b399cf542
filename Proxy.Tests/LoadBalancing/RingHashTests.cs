using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.LoadBalancing;

/// <summary>Ring hash over 10,000 keys: keys stick, and a host leaving moves only its own keys, about 1/N of them.</summary>
public sealed class RingHashTests
{
    private const int Keys = 10_000;
    private const int Hosts = 10;

    private static string KeyOf(int i) => $"user-{i}";

    /// <summary>Destination ids (a <see cref="DestinationState"/> is a list of itself, which xunit's collection comparison never finishes).</summary>
    private static string[] Ids(IEnumerable<DestinationState> destinations) => destinations.Select(destination => destination.DestinationId).ToArray();

    private static DestinationState[] PickAll(RingHashPolicy policy, ClusterState cluster, IReadOnlyList<DestinationState> available, string header = LoadBalancingPolicyNames.DefaultHashHeader)
    {
        var picks = new DestinationState[Keys];
        var context = new DefaultHttpContext();
        for (var i = 0; i < Keys; i++)
        {
            context.Request.Headers[header] = KeyOf(i);
            picks[i] = policy.PickDestination(context, cluster, available)!;
        }

        return picks;
    }

    [Fact]
    public void The_same_key_always_goes_to_the_same_host_and_keys_spread_over_all_hosts()
    {
        var destinations = Destinations.Equal(Hosts);
        var cluster = Destinations.Cluster(destinations);
        var policy = new RingHashPolicy(new Random(1));
        var first = PickAll(policy, cluster, destinations);
        var again = PickAll(new RingHashPolicy(new Random(2)), Destinations.Cluster(destinations), destinations);
        Assert.Equal(Ids(first), Ids(again));
        Assert.Equal(Ids(destinations).Order(), Ids(first).Distinct().Order());
    }

    [Theory]
    [InlineData(3, false)]
    [InlineData(7, true)]
    public void A_host_leaving_moves_only_its_keys_about_1_in_N(int leaver, bool removedFromCluster)
    {
        var destinations = Destinations.Equal(Hosts);
        var policy = new RingHashPolicy(new Random(1));
        var before = PickAll(policy, Destinations.Cluster(destinations), destinations);

        // Unhealthy or ejected: still one of the cluster's destinations, no longer available. Removed: gone from both.
        var leaving = destinations[leaver];
        var survivors = destinations.Where(destination => destination != leaving).ToArray();
        var afterCluster = removedFromCluster ? Destinations.Cluster(survivors) : Destinations.Cluster(destinations, survivors);
        var after = PickAll(policy, afterCluster, survivors);

        var moved = 0;
        for (var i = 0; i < Keys; i++)
        {
            if (before[i] == leaving)
            {
                Assert.True(after[i] != leaving, $"{KeyOf(i)} still goes to the host that left");
                moved++;
            }
            else
            {
                Assert.True(before[i] == after[i], $"{KeyOf(i)} moved from surviving {before[i].DestinationId} to {after[i].DestinationId}");
            }
        }

        // A key moves if it hashes into the leaver's share s of the ring: binomial(Keys, s). The share is itself random,
        // the sum of PointsPerWeight arcs of mean 1/(N·points): mean 1/N, variance 1/(N²·points), which adds
        // Keys²·Var(s) to the count's variance.
        var arcVariance = (double)Keys * Keys / ((double)Hosts * Hosts * RingHashPolicy.PointsPerWeight);
        Binomial.AssertWithin(moved, Keys, 1.0 / Hosts, "keys that moved", arcVariance);
    }

    [Fact]
    public void The_key_comes_from_the_configured_header_or_cookie()
    {
        var destinations = Destinations.Equal(Hosts);
        var byHeader = Destinations.Cluster(destinations, metadata: new Dictionary<string, string> { [LoadBalancingPolicyNames.HashHeader] = "x-user" });
        var byCookie = Destinations.Cluster(destinations, metadata: new Dictionary<string, string> { [LoadBalancingPolicyNames.HashCookie] = "session" });
        var policy = new RingHashPolicy(new Random(1));

        var headerPicks = PickAll(policy, byHeader, destinations, "x-user");
        var cookiePicks = new DestinationState[Keys];
        for (var i = 0; i < Keys; i++)
        {
            var context = new DefaultHttpContext();
            context.Request.Headers.Cookie = $"other=1; session={KeyOf(i)}";
            cookiePicks[i] = policy.PickDestination(context, byCookie, destinations)!;
        }

        // The same key strings hash to the same hosts, whichever part of the request carries them.
        Assert.Equal(Ids(headerPicks), Ids(cookiePicks));
    }

    [Fact]
    public void Without_a_key_a_request_goes_to_a_random_host()
    {
        var destinations = Destinations.Equal(4);
        var cluster = Destinations.Cluster(destinations);
        var counts = Destinations.Count(new RingHashPolicy(new Random(3)), cluster, Keys);
        foreach (var count in counts)
        {
            Binomial.AssertWithin(count, Keys, 0.25, "keyless picks");
        }
    }

    [Fact]
    public void Hosts_own_points_in_proportion_to_weight_and_the_ring_has_at_least_1024()
    {
        var small = Destinations.Weighted(1, 2, 3);
        var ring = new RingHashPolicy.Ring(Destinations.Cluster(small), small);
        Assert.True(ring.Points.Length >= RingHashPolicy.MinRingSize, $"{ring.Points.Length} points");
        var perHost = small.Select(destination => ring.Owners.Count(owner => owner == destination)).ToArray();
        Assert.Equal([perHost[0], perHost[0] * 2, perHost[0] * 3], perHost);

        var large = Destinations.Equal(300);
        Assert.Equal(300 * RingHashPolicy.PointsPerWeight, new RingHashPolicy.Ring(Destinations.Cluster(large), large).Points.Length);

        // Weights count in units of their greatest common divisor: 10:20:30 is the same ring as 1:2:3.
        var tens = Destinations.Weighted(10, 20, 30);
        Assert.Equal(ring.Points, new RingHashPolicy.Ring(Destinations.Cluster(tens), tens).Points);
    }

    [Fact]
    public void A_hash_goes_to_the_first_point_at_or_after_it_wrapping_around()
    {
        var destinations = Destinations.Weighted(1, 2, 3);
        var ring = new RingHashPolicy.Ring(Destinations.Cluster(destinations), destinations);
        var random = new Random(4);
        var hashes = new List<ulong> { 0, ulong.MaxValue, ring.Points[0], ring.Points[^1], ring.Points[^1] + 1, ring.Points[17], ring.Points[17] - 1 };
        for (var i = 0; i < Keys; i++)
        {
            hashes.Add((ulong)random.NextInt64() * 2);
        }

        foreach (var hash in hashes)
        {
            var expected = Array.BinarySearch(ring.Points, hash);
            expected = expected >= 0 ? expected : ~expected;
            Assert.Equal(expected == ring.Points.Length ? 0 : expected, ring.IndexOf(hash));
        }
    }

    [Fact]
    public void A_ring_that_would_exceed_the_maximum_is_scaled_down_keeping_proportions()
    {
        var heavy = Destinations.Weighted(Enumerable.Range(0, 300).Select(i => (int?)(i % 2 == 0 ? 100 : 99)).ToArray());
        var ring = new RingHashPolicy.Ring(Destinations.Cluster(heavy), heavy);
        Assert.InRange(ring.Points.Length, RingHashPolicy.MaxRingSize - heavy.Length, RingHashPolicy.MaxRingSize + heavy.Length);
        var first = ring.Owners.Count(owner => owner == heavy[0]);
        var second = ring.Owners.Count(owner => owner == heavy[1]);

        // Points are rounded: 100:99 within one point of each.
        Assert.InRange(first * 99.0 / 100, second - 1, second + 1);
    }
}
