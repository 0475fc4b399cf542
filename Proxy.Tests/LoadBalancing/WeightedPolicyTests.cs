using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.LoadBalancing;
using Yarp.ReverseProxy.Model;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.LoadBalancing;

/// <summary>Round robin, random and least request called directly, over 60,000 picks.</summary>
public sealed class WeightedPolicyTests
{
    private const int Picks = 60_000;

    [Fact]
    public void Round_robin_honours_weights_1_2_3_exactly_over_full_cycles()
    {
        var cluster = Destinations.Cluster(Destinations.Weighted(1, 2, 3));
        var counts = Destinations.Count(new RoundRobinPolicy(), cluster, Picks);
        Assert.Equal([Picks / 6, Picks / 3, Picks / 2], counts);
    }

    [Fact]
    public void Round_robin_interleaves_hosts_smoothly_within_each_cycle()
    {
        var destinations = Destinations.Weighted(1, 2, 3);
        var cluster = Destinations.Cluster(destinations);
        var policy = new RoundRobinPolicy();
        var context = new DefaultHttpContext();
        var cycle = new string[6];
        for (var i = 0; i < cycle.Length; i++)
        {
            cycle[i] = policy.PickDestination(context, cluster, destinations)!.DestinationId;
        }

        // nginx's smooth weighted round robin: the heaviest host never runs three in a row.
        Assert.Equal(["h2", "h1", "h0", "h2", "h1", "h2"], cycle);
    }

    [Fact]
    public void Round_robin_without_weights_takes_hosts_in_turn()
    {
        var cluster = Destinations.Cluster(Destinations.Equal(7));
        var counts = Destinations.Count(new RoundRobinPolicy(), cluster, 7 * 1_500);
        Assert.All(counts, count => Assert.Equal(1_500, count));
    }

    [Fact]
    public void Round_robin_follows_a_new_destination_set()
    {
        var first = Destinations.Weighted(1, 1);
        var cluster = Destinations.Cluster(first);
        var policy = new RoundRobinPolicy();
        Destinations.Count(policy, cluster, 10);

        var second = Destinations.Weighted(1, 3);
        cluster.DestinationsState = new ClusterDestinationsState(second, second);
        Assert.Equal([2_500, 7_500], Destinations.Count(policy, cluster, 10_000));
    }

    [Fact]
    public void Random_honours_weights_1_2_3_within_binomial_bounds()
    {
        var cluster = Destinations.Cluster(Destinations.Weighted(1, 2, 3));
        AssertWeights123(Destinations.Count(new RandomPolicy(new Random(1)), cluster, Picks));
    }

    /// <summary>Each host of weights 1:2:3 got its share, weight / 6, within binomial bounds.</summary>
    private static void AssertWeights123(int[] counts)
    {
        for (var i = 0; i < counts.Length; i++)
        {
            Binomial.AssertWithin(counts[i], Picks, (i + 1) / 6.0, $"h{i} (weight {i + 1})");
        }
    }

    [Fact]
    public void Every_point_of_the_weight_line_belongs_to_the_destination_whose_range_holds_it()
    {
        var random = new Random(7);
        for (var hosts = 1; hosts <= 40; hosts++)
        {
            var weights = new DestinationWeights(Destinations.Weighted(Enumerable.Range(0, hosts).Select(_ => (int?)random.Next(1, 6)).ToArray()));
            var owner = 0;
            for (long point = 0; point < weights.Total; point++)
            {
                while (weights.Cumulative[owner] <= point)
                {
                    owner++;
                }

                Assert.Equal(owner, weights.IndexAt(point));
            }
        }
    }

    [Fact]
    public void Invalid_or_missing_weights_count_as_1()
    {
        var destinations = Destinations.Weighted(null, 2);
        var cluster = Destinations.Cluster(destinations);
        Assert.Equal(1, DestinationWeights.WeightOf(destinations[0]));
        var counts = Destinations.Count(new RoundRobinPolicy(), cluster, 3_000);
        Assert.Equal([1_000, 2_000], counts);
    }

    [Fact]
    public void Least_request_steers_away_from_a_host_with_many_active_requests()
    {
        var destinations = Destinations.Equal(5);
        destinations[2].ConcurrentRequestCount = 50;
        var cluster = Destinations.Cluster(destinations);
        var counts = Destinations.Count(new LeastRequestPolicy(new Random(2)), cluster, Picks);

        // The two choices are distinct hosts, so the busy host can never win against an idle one.
        Assert.Equal(0, counts[2]);
        foreach (var i in new[] { 0, 1, 3, 4 })
        {
            Binomial.AssertWithin(counts[i], Picks, 0.25, $"idle h{i}");
        }
    }

    [Fact]
    public void Least_request_compares_active_requests_per_unit_of_weight()
    {
        // h1 carries twice h0's weight and twice its load: a tie, which goes to the first draw.
        var destinations = Destinations.Weighted(1, 2, 1);
        destinations[0].ConcurrentRequestCount = 3;
        destinations[1].ConcurrentRequestCount = 6;
        destinations[2].ConcurrentRequestCount = 7;
        var cluster = Destinations.Cluster(destinations);
        var counts = Destinations.Count(new LeastRequestPolicy(new Random(3)), cluster, Picks);

        Assert.Equal(0, counts[2]);

        // P(h0) = P(h0 first, h1 second) + P(h0 first, h2 second) + P(h2 first, h0 second) = 1/4·2/3 + 1/4·1/3 + 1/4·1/3 = 1/3.
        Binomial.AssertWithin(counts[0], Picks, 1.0 / 3, "h0");
    }

    [Fact]
    public void Least_request_on_an_idle_cluster_honours_weights()
    {
        var cluster = Destinations.Cluster(Destinations.Weighted(1, 2, 3));
        AssertWeights123(Destinations.Count(new LeastRequestPolicy(new Random(4)), cluster, Picks));
    }

    [Fact]
    public void No_destinations_pick_nothing()
    {
        var empty = Array.Empty<DestinationState>();
        var cluster = Destinations.Cluster(empty);
        var context = new DefaultHttpContext();
        Assert.Null(new RoundRobinPolicy().PickDestination(context, cluster, empty));
        Assert.Null(new RandomPolicy(new Random(5)).PickDestination(context, cluster, empty));
        Assert.Null(new LeastRequestPolicy(new Random(5)).PickDestination(context, cluster, empty));
        Assert.Null(new RingHashPolicy(new Random(5)).PickDestination(context, cluster, empty));
    }

    [Fact]
    public void A_retry_narrowed_list_is_picked_from_without_replacing_the_cluster_snapshot()
    {
        var destinations = Destinations.Weighted(1, 2, 3);
        var cluster = Destinations.Cluster(destinations);
        var policy = new RoundRobinPolicy();
        var untried = new[] { destinations[0], destinations[2] };
        var picked = policy.PickDestination(new DefaultHttpContext(), cluster, untried);
        Assert.True(picked == untried[0] || picked == untried[1], picked!.DestinationId);
        Assert.Equal([1_000, 2_000, 3_000], Destinations.Count(policy, cluster, 6_000));
    }

    [Fact]
    public void Picks_allocate_nothing()
    {
        var destinations = Destinations.Weighted(1, 2, 3, 4, 5);
        var cluster = Destinations.Cluster(destinations);
        var context = new DefaultHttpContext();
        context.Request.Headers["x-request-id"] = "4bf92f3577b34da6";
        var random = new Random(6);
        foreach (var policy in new Yarp.ReverseProxy.LoadBalancing.ILoadBalancingPolicy[]
                 {
                     new RoundRobinPolicy(), new RandomPolicy(random), new LeastRequestPolicy(random), new RingHashPolicy(random),
                 })
        {
            policy.PickDestination(context, cluster, destinations);
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 10_000; i++)
            {
                policy.PickDestination(context, cluster, destinations);
            }

            AllocationAssert.NothingPerIteration(GC.GetAllocatedBytesForCurrentThread() - before, 10_000, policy.Name);
        }
    }
}
