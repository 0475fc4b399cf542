namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>ProxyMesh's load-balancing policies, named for a cluster's <c>LoadBalancingPolicy</c>, and their metadata keys.</summary>
public static class LoadBalancingPolicyNames
{
    public const string RoundRobin = "ProxyMesh.RoundRobin";

    public const string Random = "ProxyMesh.Random";

    public const string LeastRequest = "ProxyMesh.LeastRequest";

    public const string RingHash = "ProxyMesh.RingHash";

    /// <summary>Cluster metadata: the request header whose value is the ring-hash key (default <see cref="DefaultHashHeader"/>).</summary>
    public const string HashHeader = "ProxyMesh.HashHeader";

    /// <summary>Cluster metadata: a cookie whose value is the ring-hash key; it takes precedence over the header.</summary>
    public const string HashCookie = "ProxyMesh.HashCookie";

    public const string DefaultHashHeader = "x-request-id";
}
