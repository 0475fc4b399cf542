using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// Envoy's panic threshold as a YARP available-destinations policy: the hosts that are not unhealthy (by active checks
/// when the cluster has them, by passive checks when enabled — YARP's <c>HealthyAndUnknown</c> rule), unless they are
/// fewer than <see cref="HealthCheckPolicy.PanicThreshold"/> percent of all hosts: then all hosts, healthy or not.
/// </summary>
internal sealed class PanicThresholdDestinationsPolicy(ClusterPolicies policies, ClusterTraffic traffic) : IAvailableDestinationsPolicy
{
    public const string PolicyName = "ProxyMesh.PanicThreshold";

    public string Name => PolicyName;

    public IReadOnlyList<DestinationState> GetAvailalableDestinations(ClusterConfig config, IReadOnlyList<DestinationState> allDestinations)
    {
        var active = HealthCheckConfigFilter.HasActiveChecks(config);
        var passive = config.HealthCheck?.Passive?.Enabled == true;
        if (!active && !passive)
        {
            traffic.SetPanic(config.ClusterId, false);
            return allDestinations;
        }

        var healthy = allDestinations
            .Where(destination => !(active && destination.Health.Active == DestinationHealth.Unhealthy)
                && !(passive && destination.Health.Passive == DestinationHealth.Unhealthy))
            .ToList();
        var threshold = policies.For<HealthCheckPolicy>(config.ClusterId, HealthCheckPolicy.Name).PanicThreshold;
        var panic = allDestinations.Count > 0 && healthy.Count * 100.0 < threshold * allDestinations.Count;
        traffic.SetPanic(config.ClusterId, panic);
        return panic ? allDestinations : healthy;
    }
}
