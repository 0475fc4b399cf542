namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>
/// How the hosts of this sidecar's own (local) service spread over zones. Immutable: a new instance is a new version,
/// so the routing tables built from it can be cached on the instance.
/// </summary>
public sealed class LocalZones
{
    public LocalZones(IReadOnlyDictionary<string, int> hostsByZone)
    {
        HostsByZone = hostsByZone;
        var total = 0;
        foreach (var (_, count) in hostsByZone)
        {
            total += count;
        }

        Total = total;
    }

    /// <summary>Local hosts per zone; hosts without a zone count under the empty string.</summary>
    public IReadOnlyDictionary<string, int> HostsByZone { get; }

    public int Total { get; }

    /// <summary>Counts zones, each given once per host (null for a host without a zone).</summary>
    public static LocalZones Count(IEnumerable<string?> zones)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var zone in zones)
        {
            counts[zone ?? ""] = counts.GetValueOrDefault(zone ?? "") + 1;
        }

        return new LocalZones(counts);
    }

    /// <summary>Whether two distributions are the same, so a poll that changed nothing keeps the cached tables.</summary>
    public bool SameAs(LocalZones? other) =>
        other is not null && other.HostsByZone.Count == HostsByZone.Count
        && HostsByZone.All(pair => other.HostsByZone.TryGetValue(pair.Key, out var count) && count == pair.Value);
}

/// <summary>Where the local zone distribution comes from.</summary>
public interface ILocalZoneSource
{
    /// <summary>The current distribution, or null when it is unknown; the same instance until it changes.</summary>
    LocalZones? Current { get; }
}
