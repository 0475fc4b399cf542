using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>An older name still accepted for a policy: the same instance (and cached state) under a second name.</summary>
internal sealed class PolicyAlias<TPolicy>(string name, TPolicy policy) : ILoadBalancingPolicy, IHostPicker
    where TPolicy : ILoadBalancingPolicy, IHostPicker
{
    public string Name { get; } = name;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations) =>
        policy.PickDestination(context, cluster, availableDestinations);

    public DestinationState? Pick(ClusterState cluster, IReadOnlyList<DestinationState> available, HttpRequest? request, string? hashKey, TriedHosts? tried) =>
        policy.Pick(cluster, available, request, hashKey, tried);
}
