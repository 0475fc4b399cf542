namespace ProxyMesh.Proxy.Observability;

/// <summary><c>ProxyMesh:Stats</c>: opt-in stats whose labels grow with the fleet.</summary>
public sealed class StatsOptions
{
    public const string SectionName = "ProxyMesh:Stats";

    /// <summary>Per-destination request counts and times (label <c>host</c>); off by default, as a host label is unbounded over time.</summary>
    public bool PerHost { get; set; }
}
