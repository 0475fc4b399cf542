using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>
/// What a policy precomputes from a cluster's available destinations (weights, a schedule, a ring, a zone table), kept
/// per cluster and rebuilt only when YARP hands over a different list: YARP builds a new list whenever the destination
/// set or health changes, so a pick normally finds its snapshot with one reference comparison. Retries do not narrow
/// the list for ProxyMesh policies (they skip <see cref="TriedHosts"/> instead); a list that is not the cluster's
/// current one still gets a snapshot of its own that is not kept.
/// </summary>
/// <param name="build">Builds a snapshot for a cluster's destinations.</param>
/// <param name="isCurrent">Whether a kept snapshot still holds for inputs other than the destinations (e.g. the local
/// zone distribution); null when the destinations and the cluster's configuration are all it depends on.</param>
internal sealed class SnapshotCache<T>(Func<ClusterState, IReadOnlyList<DestinationState>, T> build, Func<T, bool>? isCurrent = null)
    where T : class
{
    private readonly ConditionalWeakTable<ClusterState, Slot> _slots = [];
    private long _builds;

    /// <summary>Snapshots built so far, for tests that check picks reuse them.</summary>
    public long Builds => Interlocked.Read(ref _builds);

    public T For(ClusterState cluster, IReadOnlyList<DestinationState> destinations) => For(cluster, destinations, out _);

    public T For(ClusterState cluster, IReadOnlyList<DestinationState> destinations, out Slot slot)
    {
        slot = _slots.GetValue(cluster, static _ => new Slot());
        var current = slot.Current;
        var model = cluster.Model;
        if (current is not null && ReferenceEquals(current.Source, destinations) && ReferenceEquals(current.Model, model)
            && (isCurrent is null || isCurrent(current.Value)))
        {
            return current.Value;
        }

        Interlocked.Increment(ref _builds);
        var value = build(cluster, destinations);
        if (ReferenceEquals(destinations, cluster.DestinationsState.AvailableDestinations))
        {
            slot.Current = new Entry(destinations, model, value);
        }

        return value;
    }

    internal sealed record Entry(IReadOnlyList<DestinationState> Source, ClusterModel? Model, T Value);

    /// <summary>A cluster's snapshot and a round-robin position that outlives snapshots.</summary>
    internal sealed class Slot
    {
        /// <summary>The last ticket handed out; advanced with <see cref="Interlocked.Increment(ref long)"/>.</summary>
        public long Ticket = -1;

        public volatile Entry? Current;
    }
}
