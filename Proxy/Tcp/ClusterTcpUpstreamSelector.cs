using Microsoft.AspNetCore.Connections;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// <see cref="ITcpUpstreamSelector"/> over YARP's live cluster state (available destinations already reflect active
/// health, outlier ejection and the panic threshold), the cluster's <see cref="ILoadBalancingPolicy"/> by name (YARP's
/// default, PowerOfTwoChoices, when unset), <see cref="ClusterCircuitBreakers"/> and <see cref="OutlierDetector"/>.
/// </summary>
internal sealed class ClusterTcpUpstreamSelector(
    IProxyStateLookup proxyState,
    IEnumerable<ILoadBalancingPolicy> policies,
    ClusterCircuitBreakers breakers,
    OutlierDetector outliers) : ITcpUpstreamSelector
{
    private readonly Dictionary<string, ILoadBalancingPolicy> _policies = policies.ToDictionary(policy => policy.Name, StringComparer.OrdinalIgnoreCase);

    public TcpUpstreamPick? Pick(string clusterId, ConnectionContext downstream, IReadOnlyList<DestinationState> tried)
    {
        if (!proxyState.TryGetCluster(clusterId, out var cluster))
        {
            return null;
        }

        var available = cluster.DestinationsState.AvailableDestinations;
        if (tried.Count > 0)
        {
            var untried = new List<DestinationState>(available.Count);
            foreach (var destination in available)
            {
                if (!Contains(tried, destination))
                {
                    untried.Add(destination);
                }
            }

            // Envoy retries a connect on another host when there is one; with a single host it tries that host again.
            if (untried.Count > 0)
            {
                available = untried;
            }
        }

        var picked = available.Count switch
        {
            0 => null,
            1 => available[0],
            _ => PolicyOf(cluster).PickDestination(ContextOf(downstream), cluster, available),
        };
        return picked is not null && TcpUpstreamAddress.Of(picked.Model) is { } address ? new TcpUpstreamPick(cluster, picked, address) : null;
    }

    public IDisposable? TryAcquireConnection(string clusterId) => breakers.TryAcquireConnection(clusterId);

    public void ReportConnect(TcpUpstreamPick pick, bool succeeded) =>
        outliers.Record(pick.Cluster, pick.Destination, succeeded ? UpstreamOutcome.Success : UpstreamOutcome.GatewayFailure);

    private ILoadBalancingPolicy PolicyOf(ClusterState cluster)
    {
        var name = cluster.Model.Config.LoadBalancingPolicy ?? LoadBalancingPolicies.PowerOfTwoChoices;
        return _policies.TryGetValue(name, out var policy) ? policy : _policies[LoadBalancingPolicies.PowerOfTwoChoices];
    }

    /// <summary>Policies pick per HTTP request; a TCP connection offers its client address (no headers, no cookies).</summary>
    private static DefaultHttpContext ContextOf(ConnectionContext downstream)
    {
        var context = new DefaultHttpContext();
        if (downstream.RemoteEndPoint is System.Net.IPEndPoint remote)
        {
            context.Connection.RemoteIpAddress = remote.Address;
            context.Connection.RemotePort = remote.Port;
        }

        return context;
    }

    private static bool Contains(IReadOnlyList<DestinationState> tried, DestinationState destination)
    {
        for (var i = 0; i < tried.Count; i++)
        {
            if (ReferenceEquals(tried[i], destination))
            {
                return true;
            }
        }

        return false;
    }
}
