using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>
/// A ProxyMesh load-balancing policy as any listener can call it: with or without an HTTP request, skipping tried
/// hosts against its cached state (so exclusions never rebuild rings, tables or weights).
/// </summary>
internal interface IHostPicker
{
    /// <param name="available">The cluster's available hosts: YARP's list, the same instance until it changes.</param>
    /// <param name="request">The HTTP request, when there is one (ring hash reads its key from it).</param>
    /// <param name="hashKey">A hash key given directly (e.g. by a TCP listener); it takes precedence over the request's.</param>
    /// <param name="tried">Hosts to skip while others are left.</param>
    DestinationState? Pick(ClusterState cluster, IReadOnlyList<DestinationState> available, HttpRequest? request, string? hashKey, TriedHosts? tried);
}
