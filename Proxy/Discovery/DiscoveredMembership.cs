using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>
/// One cluster's hosts as discovery last reported them, merged with Envoy's safety rules: an empty answer never
/// empties a cluster, and a host that disappears from discovery keeps receiving traffic while its active health
/// checks pass (up to a grace period); it goes when it is both absent and failing, or not health-checked at all.
/// </summary>
internal sealed class DiscoveredMembership(string scheme)
{
    private Dictionary<string, Member> _members = new(StringComparer.Ordinal);

    public int Count => _members.Count;

    /// <summary>The destinations YARP should serve, keyed by <c>ip:port</c>.</summary>
    public IReadOnlyDictionary<string, DestinationConfig> Destinations { get; private set; } =
        new Dictionary<string, DestinationConfig>(StringComparer.Ordinal);

    /// <returns>What the answer did to the membership.</returns>
    public MembershipUpdate Apply(IReadOnlyList<DiscoveredHost> hosts, DateTimeOffset now, Func<string, HostHealth> healthOf, TimeSpan absentHostGrace)
    {
        if (hosts.Count == 0)
        {
            return MembershipUpdate.Empty;
        }

        var next = new Dictionary<string, Member>(hosts.Count, StringComparer.Ordinal);
        foreach (var host in hosts)
        {
            next[host.Id] = new Member(host, now);
        }

        foreach (var (id, member) in _members)
        {
            if (!next.ContainsKey(id) && KeepAbsent(member, now, healthOf(id), absentHostGrace))
            {
                next[id] = member;
            }
        }

        var changed = next.Count != _members.Count;
        foreach (var (id, member) in next)
        {
            changed |= !_members.TryGetValue(id, out var previous) || previous.Host != member.Host;
        }

        _members = next;
        if (!changed)
        {
            return MembershipUpdate.Unchanged;
        }

        var destinations = new Dictionary<string, DestinationConfig>(next.Count, StringComparer.Ordinal);
        foreach (var (id, member) in next)
        {
            destinations[id] = member.Host.ToDestination(scheme);
        }

        Destinations = destinations;
        return MembershipUpdate.Changed;
    }

    private static bool KeepAbsent(Member member, DateTimeOffset now, HostHealth health, TimeSpan grace) =>
        health != HostHealth.NotChecked && health != HostHealth.Unhealthy && now - member.LastSeen < grace;

    private sealed record Member(DiscoveredHost Host, DateTimeOffset LastSeen);
}

internal enum MembershipUpdate
{
    Changed,
    Unchanged,

    /// <summary>Discovery answered with no usable host; the previous membership stands.</summary>
    Empty,
}
