namespace ProxyMesh.Proxy.Discovery;

/// <summary>What active health checking says of a destination, for Envoy's discovery/health matrix.</summary>
public enum HostHealth
{
    /// <summary>The cluster has no active health checks: discovery alone decides membership.</summary>
    NotChecked,
    Healthy,
    Unhealthy,
}
