using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.LoadBalancing;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.LoadBalancing;

/// <summary>
/// Retries skip tried hosts against the policies' cached state for the full host list: never a tried host while others
/// are left, weights honoured among the rest, and nothing rebuilt.
/// </summary>
public sealed class TriedHostsTests
{
    private const int Picks = 30_000;

    public static TheoryData<string> Policies => [LoadBalancingPolicyNames.RoundRobin, LoadBalancingPolicyNames.Random, LoadBalancingPolicyNames.LeastRequest, LoadBalancingPolicyNames.RingHash];

    private static ILoadBalancingPolicy Policy(string name) => name switch
    {
        LoadBalancingPolicyNames.RoundRobin => new RoundRobinPolicy(),
        LoadBalancingPolicyNames.Random => new RandomPolicy(new Random(11)),
        LoadBalancingPolicyNames.LeastRequest => new LeastRequestPolicy(new Random(12)),
        _ => new RingHashPolicy(new Random(13)),
    };

    private static DefaultHttpContext Retrying(params DestinationState[] tried)
    {
        var context = new DefaultHttpContext();
        context.Features.Set(new TriedHosts([.. tried]));
        return context;
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void A_tried_host_is_never_picked_while_others_are_left(string name)
    {
        var destinations = Destinations.Weighted(1, 2, 3, 4);
        var cluster = Destinations.Cluster(destinations);
        var policy = Policy(name);
        var context = Retrying(destinations[3], destinations[1]);
        for (var i = 0; i < 2_000; i++)
        {
            context.Request.Headers["x-request-id"] = $"request-{i}";
            var picked = policy.PickDestination(context, cluster, destinations);
            Assert.True(picked == destinations[0] || picked == destinations[2], $"{name} picked {picked!.DestinationId}");
        }
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void When_every_host_was_tried_the_exclusion_is_dropped(string name)
    {
        var destinations = Destinations.Equal(3);
        var cluster = Destinations.Cluster(destinations);
        var picked = new HashSet<DestinationState>();
        var policy = Policy(name);
        var context = Retrying(destinations);
        for (var i = 0; i < 300; i++)
        {
            context.Request.Headers["x-request-id"] = $"request-{i}";
            picked.Add(policy.PickDestination(context, cluster, destinations)!);
        }

        Assert.Equal(3, picked.Count);
    }

    [Fact]
    public void Weights_are_honoured_among_the_hosts_not_tried()
    {
        var destinations = Destinations.Weighted(1, 2, 3);
        var cluster = Destinations.Cluster(destinations);
        var context = Retrying(destinations[2]);
        var round = Destinations.Count(new RoundRobinPolicy(), cluster, Picks, context);
        Assert.Equal(0, round[2]);
        Assert.InRange(round[1], (Picks * 2 / 3) - 2, (Picks * 2 / 3) + 2);

        foreach (var policy in new ILoadBalancingPolicy[] { new RandomPolicy(new Random(14)), new LeastRequestPolicy(new Random(15)) })
        {
            var counts = Destinations.Count(policy, cluster, Picks, context);
            Assert.Equal(0, counts[2]);
            Binomial.AssertWithin(counts[0], Picks, 1 / 3.0, $"{policy.Name}: h0 (weight 1 of the 3 left)");
        }
    }

    [Fact]
    public void Ring_hash_walks_on_to_the_next_distinct_host_on_the_same_ring()
    {
        var destinations = Destinations.Equal(5);
        var cluster = Destinations.Cluster(destinations);
        var policy = new RingHashPolicy(new Random(16));
        var context = new DefaultHttpContext();
        context.Request.Headers["x-request-id"] = "sticky-key";
        var first = policy.PickDestination(context, cluster, destinations)!;
        var builds = policy.RingBuilds;

        var tried = new TriedHosts([first]);
        context.Features.Set(tried);
        var second = policy.PickDestination(context, cluster, destinations)!;
        tried.Add(second);
        var third = policy.PickDestination(context, cluster, destinations)!;

        Assert.NotSame(first, second);
        Assert.True(third != first && third != second, $"{third.DestinationId} was tried already");
        Assert.Equal(builds, policy.RingBuilds);

        // The walk is a property of the ring: the same key retried again goes to the same hosts in the same order.
        var again = new DefaultHttpContext();
        again.Request.Headers["x-request-id"] = "sticky-key";
        again.Features.Set(new TriedHosts([first]));
        Assert.Same(second, policy.PickDestination(again, cluster, destinations));
    }

    [Fact]
    public void Retried_picks_rebuild_no_ring()
    {
        var destinations = Destinations.Weighted(1, 2, 3, 4, 5, 6, 7, 8);
        var cluster = Destinations.Cluster(destinations);
        var policy = new RingHashPolicy(new Random(17));
        var context = new DefaultHttpContext();
        policy.PickDestination(context, cluster, destinations);
        Assert.Equal(1, policy.RingBuilds);

        for (var i = 0; i < 100; i++)
        {
            var retry = Retrying(destinations[i % 8], destinations[(i + 3) % 8]);
            retry.Request.Headers["x-request-id"] = $"request-{i}";
            policy.PickDestination(retry, cluster, destinations);
        }

        Assert.Equal(1, policy.RingBuilds);
    }

    [Fact]
    public void Picks_that_skip_tried_hosts_allocate_nothing()
    {
        var destinations = Destinations.Weighted(1, 2, 3, 4, 5);
        var cluster = Destinations.Cluster(destinations);
        var context = Retrying(destinations[0], destinations[4]);
        context.Request.Headers["x-request-id"] = "4bf92f3577b34da6";
        foreach (var name in new[] { LoadBalancingPolicyNames.RoundRobin, LoadBalancingPolicyNames.Random, LoadBalancingPolicyNames.LeastRequest, LoadBalancingPolicyNames.RingHash })
        {
            var policy = Policy(name);
            policy.PickDestination(context, cluster, destinations);
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 10_000; i++)
            {
                policy.PickDestination(context, cluster, destinations);
            }

            AllocationAssert.NothingPerIteration(GC.GetAllocatedBytesForCurrentThread() - before, 10_000, name);
        }
    }
}
