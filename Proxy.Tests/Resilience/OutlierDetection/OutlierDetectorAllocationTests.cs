using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.Resilience.OutlierDetection;

/// <summary>The hot path: recording an outcome costs no allocation once the destination has been seen.</summary>
public sealed class OutlierDetectorAllocationTests
{
    private sealed class NoHealthUpdates : IDestinationHealthUpdater
    {
        public void SetPassive(ClusterState cluster, DestinationState destination, DestinationHealth newHealth, TimeSpan reactivationPeriod) =>
            throw new InvalidOperationException("no ejection expected");

        public void SetActive(ClusterState cluster, IEnumerable<NewActiveDestinationHealth> newHealthStates)
        {
        }
    }

    private sealed class NoProxyState : IProxyStateLookup
    {
        public bool TryGetRoute(string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out RouteModel? route)
        {
            route = null;
            return false;
        }

        public IEnumerable<RouteModel> GetRoutes() => [];

        public bool TryGetCluster(string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ClusterState? cluster)
        {
            cluster = null;
            return false;
        }

        public IEnumerable<ClusterState> GetClusters() => [];
    }

    [Fact]
    public void Recording_outcomes_allocates_nothing_after_a_destinations_first_request()
    {
        var live = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ProxyMesh:Defaults:OutlierDetection:Consecutive5xx"] = "1000000000",
            ["ProxyMesh:Defaults:OutlierDetection:ConsecutiveGatewayFailure"] = "1000000000",
        }).Build();
        using var validated = new ValidatedConfiguration(live, new ConfigUpdateStats());
        using var policies = new ClusterPolicies(validated);
        var registry = Metrics.NewCustomRegistry();
        using var detector = new OutlierDetector(
            policies, new NoHealthUpdates(), new NoProxyState(), new OutlierDetectionStats(registry), registry,
            new WatchedTimeProvider(), new FixedRandom(0.5), NullLogger<OutlierDetector>.Instance);
        var destination = new DestinationState("d0");
        var cluster = new ClusterState("orders") { DestinationsState = new ClusterDestinationsState([destination], [destination]) };
        UpstreamOutcome[] outcomes = [UpstreamOutcome.Success, UpstreamOutcome.Error5xx, UpstreamOutcome.GatewayFailure, UpstreamOutcome.Ignored];
        foreach (var outcome in outcomes)
        {
            detector.Record(cluster, destination, outcome);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            detector.Record(cluster, destination, outcomes[i % outcomes.Length]);
        }

        AllocationAssert.NothingPerIteration(GC.GetAllocatedBytesForCurrentThread() - before, 10_000, "recording outcomes");
    }
}
