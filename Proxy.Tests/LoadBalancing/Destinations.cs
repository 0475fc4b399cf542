using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.LoadBalancing;

/// <summary>YARP destination and cluster states built as the proxy builds them, for calling policies directly.</summary>
internal static class Destinations
{
    /// <summary>Hosts <c>h0…</c> at <c>http://10.0.0.i:80</c>, with the given weights (null: no <c>weight</c> metadata).</summary>
    public static DestinationState[] Weighted(params int?[] weights)
    {
        var destinations = new DestinationState[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            var metadata = weights[i] is { } weight ? new Dictionary<string, string> { ["weight"] = weight.ToString(System.Globalization.CultureInfo.InvariantCulture) } : null;
            destinations[i] = new DestinationState($"h{i}", new DestinationModel(new DestinationConfig { Address = $"http://10.0.0.{i}:80", Metadata = metadata }));
        }

        return destinations;
    }

    public static DestinationState[] Equal(int count) => Weighted(new int?[count]);

    /// <summary>A cluster whose available destinations are <paramref name="available"/> (all of <paramref name="all"/> by default).</summary>
    public static ClusterState Cluster(IReadOnlyList<DestinationState> all, IReadOnlyList<DestinationState>? available = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var cluster = new ClusterState("app", new ClusterModel(new ClusterConfig { ClusterId = "app", Metadata = metadata }, new HttpMessageInvoker(new HttpClientHandler())));
        cluster.DestinationsState = new ClusterDestinationsState(all, available ?? all);
        return cluster;
    }

    /// <summary>How many of <paramref name="picks"/> picks went to each destination of the cluster's available ones.</summary>
    public static int[] Count(ILoadBalancingPolicy policy, ClusterState cluster, int picks, HttpContext? context = null)
    {
        context ??= new DefaultHttpContext();
        var available = cluster.DestinationsState.AvailableDestinations;
        var counts = new int[available.Count];
        for (var i = 0; i < picks; i++)
        {
            var picked = policy.PickDestination(context, cluster, available);
            counts[IndexOf(available, picked!)]++;
        }

        return counts;
    }

    public static int IndexOf(IReadOnlyList<DestinationState> destinations, DestinationState destination)
    {
        for (var i = 0; i < destinations.Count; i++)
        {
            if (ReferenceEquals(destinations[i], destination))
            {
                return i;
            }
        }

        throw new InvalidOperationException($"{destination.DestinationId} is not among the destinations");
    }
}

/// <summary>Tolerances from the binomial distribution: a count of successes in n trials of probability p.</summary>
internal static class Binomial
{
    /// <summary>Standard deviations allowed: with a seeded random source the test is deterministic, and 5σ holds for any seed but once in ~1.7 million.</summary>
    public const double Sigmas = 5;

    /// <param name="extraVariance">Variance on top of the binomial one, when the probability itself varies.</param>
    public static void AssertWithin(int observed, int trials, double probability, string what, double extraVariance = 0)
    {
        var expected = trials * probability;
        var sigma = Math.Sqrt((trials * probability * (1 - probability)) + extraVariance);
        var tolerance = Sigmas * sigma;
        Assert.True(
            Math.Abs(observed - expected) <= tolerance,
            $"{what}: {observed} of {trials}, expected {expected:F0} ± {tolerance:F0} (5σ, σ = {sigma:F1})");
    }

    /// <summary>At most the count of an event of probability p exceeds with less than 5σ chance.</summary>
    public static double UpperBound(int trials, double probability) =>
        (trials * probability) + (Sigmas * Math.Sqrt(trials * probability * (1 - probability)));
}
