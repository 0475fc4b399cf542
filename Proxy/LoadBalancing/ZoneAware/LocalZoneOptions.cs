namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>The keys of the <c>ProxyMesh</c> section that zone-aware routing reads.</summary>
public sealed class LocalZoneOptions
{
    public const string SectionName = "ProxyMesh";

    /// <summary>This sidecar's service: its hosts in discovery give the local zone distribution.</summary>
    public string ServiceName { get; set; } = "unknown";

    /// <summary>
    /// A YARP cluster whose destinations' <c>zone</c> metadata give the local distribution instead of discovery
    /// (for static setups).
    /// </summary>
    public string? LocalCluster { get; set; }
}
