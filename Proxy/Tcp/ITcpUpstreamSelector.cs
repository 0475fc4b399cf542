using Microsoft.AspNetCore.Connections;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Everything the TCP proxy asks of a cluster, in one seam: pick a host (the cluster's load-balancing policy over its
/// available hosts, skipping hosts already tried), take a max_connections slot, and report how a connect went (outlier
/// detection). Implemented over YARP's proxy state and ProxyMesh's breakers and outlier detector by
/// <see cref="ClusterTcpUpstreamSelector"/>; a per-cluster context offering the same can replace it.
/// </summary>
internal interface ITcpUpstreamSelector
{
    /// <summary>A host for a new connection of <paramref name="downstream"/>, not one of <paramref name="tried"/> while another is available.</summary>
    /// <returns>null when the cluster has no available host (Envoy's <c>upstream_cx_none_healthy</c>).</returns>
    TcpUpstreamPick? Pick(string clusterId, ConnectionContext downstream, IReadOnlyList<DestinationState> tried);

    /// <summary>A max_connections slot, given back when disposed; null at the limit (the connection is refused at once).</summary>
    IDisposable? TryAcquireConnection(string clusterId);

    /// <summary>Tells outlier detection (and passive health) whether connecting to the picked host succeeded.</summary>
    void ReportConnect(TcpUpstreamPick pick, bool succeeded);
}

/// <summary>One picked host, with the cluster state it was picked from.</summary>
internal sealed record TcpUpstreamPick(ClusterState Cluster, DestinationState Destination, TcpUpstreamAddress Address);
