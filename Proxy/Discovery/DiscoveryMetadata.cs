namespace ProxyMesh.Proxy.Discovery;

/// <summary>Metadata keys that tie YARP clusters to discovery and carry host tags to the load balancer.</summary>
public static class DiscoveryMetadata
{
    /// <summary>Cluster metadata naming the discovery service whose hosts become the cluster's destinations.</summary>
    public const string Service = "ProxyMesh.Discovery";

    /// <summary>Cluster metadata: <c>http</c> (default) or <c>https</c> for the destinations' addresses.</summary>
    public const string Scheme = "ProxyMesh.Discovery.Scheme";

    /// <summary>Destination metadata: the host's zone (the <c>az</c> tag).</summary>
    public const string Zone = "zone";

    public const string Region = "region";

    public const string Canary = "canary";

    /// <summary>Destination metadata: the host's <c>load_balancing_weight</c> tag.</summary>
    public const string Weight = "weight";

    public const string InstanceId = "instance_id";

    public const string Revision = "revision";
}
