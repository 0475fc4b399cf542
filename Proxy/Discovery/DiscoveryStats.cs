using ProxyMesh.Proxy.Observability;
using Prometheus;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>
/// Per-cluster discovery stats (Envoy: <c>update_attempt</c>, <c>update_success</c>, <c>update_failure</c>,
/// <c>update_empty</c>, <c>update_rejected</c>, <c>membership_total</c>, <c>membership_healthy</c>), and how stale each cluster's view is.
/// </summary>
internal sealed class DiscoveryStats
{
    private readonly Counter _attempts;
    private readonly Counter _successes;
    private readonly Counter _failures;
    private readonly Counter _empty;
    private readonly Counter _rejected;
    private readonly Counter _invalidHosts;
    private readonly Counter _rejectedHosts;
    private readonly Gauge _updateAge;
    private readonly Dictionary<string, long> _lastSuccess = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public DiscoveryStats(CollectorRegistry registry, IProxyStateLookup proxyState, TimeProvider time)
    {
        _time = time;
        var factory = StatsFactory.For(registry);
        string[] cluster = ["cluster"];
        _attempts = factory.CreateCounter("proxymesh_cluster_update_attempt_total", "Discovery polls started.", cluster);
        _successes = factory.CreateCounter("proxymesh_cluster_update_success_total", "Discovery polls that answered with hosts.", cluster);
        _failures = factory.CreateCounter("proxymesh_cluster_update_failure_total", "Discovery polls that failed (unreachable, error status, malformed answer); the last hosts kept serving.", cluster);
        _empty = factory.CreateCounter("proxymesh_cluster_update_empty_total", "Discovery polls that answered with no usable host; the last hosts kept serving.", cluster);
        _rejected = factory.CreateCounter("proxymesh_cluster_update_rejected_total", "Discovery answers rejected whole for exceeding MaxAnswerBytes or MaxHosts; the last hosts kept serving.", cluster);
        _invalidHosts = factory.CreateCounter("proxymesh_cluster_update_invalid_host_total", "Host entries in discovery answers skipped as unreadable.", cluster);
        _rejectedHosts = factory.CreateCounter("proxymesh_cluster_update_rejected_host_total", "Host entries in discovery answers rejected for their address (loopback, link_local, multicast, unspecified).", "cluster", "reason");
        _updateAge = factory.CreateGauge("proxymesh_cluster_update_age_seconds", "Seconds since the last successful discovery update.", cluster);
        var members = factory.CreateGauge("proxymesh_cluster_membership_hosts", "Destinations in the cluster.", cluster);
        var healthy = factory.CreateGauge("proxymesh_cluster_membership_healthy_hosts", "Destinations in the cluster that may take traffic.", cluster);
        registry.AddBeforeCollectCallback(() =>
        {
            foreach (var state in proxyState.GetClusters())
            {
                members.WithLabels(state.ClusterId).Set(state.Destinations.Count);
                healthy.WithLabels(state.ClusterId).Set(state.DestinationsState.AllDestinations.Count(d => d.Health.Active != DestinationHealth.Unhealthy && d.Health.Passive != DestinationHealth.Unhealthy));
            }

            lock (_lastSuccess)
            {
                foreach (var (clusterId, timestamp) in _lastSuccess)
                {
                    _updateAge.WithLabels(clusterId).Set(_time.GetElapsedTime(timestamp).TotalSeconds);
                }
            }
        });
    }

    public void Attempt(string cluster) => _attempts.WithLabels(cluster).Inc();

    public void Failure(string cluster) => _failures.WithLabels(cluster).Inc();

    public void Empty(string cluster) => _empty.WithLabels(cluster).Inc();

    public void Rejected(string cluster) => _rejected.WithLabels(cluster).Inc();

    public void InvalidHosts(string cluster, int count)
    {
        if (count > 0)
        {
            _invalidHosts.WithLabels(cluster).Inc(count);
        }
    }

    public void RejectedHost(string cluster, string reason) => _rejectedHosts.WithLabels(cluster, reason).Inc();

    public void Success(string cluster)
    {
        _successes.WithLabels(cluster).Inc();
        lock (_lastSuccess)
        {
            _lastSuccess[cluster] = _time.GetTimestamp();
        }
    }

    /// <summary>Stops reporting the age of a cluster that no longer uses discovery.</summary>
    public void Forget(string cluster)
    {
        lock (_lastSuccess)
        {
            _lastSuccess.Remove(cluster);
        }

        _updateAge.RemoveLabelled(cluster);
    }
}
