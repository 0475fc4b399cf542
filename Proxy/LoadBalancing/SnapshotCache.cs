using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>
/// What a policy precomputes from a cluster's available destinations (weights, a schedule, a ring), kept per cluster and
/// rebuilt only when YARP hands over a different list: YARP builds a new list whenever the destination set or health
/// changes, so a pick normally finds its snapshot with one reference comparison. A list that is not the cluster's
/// current one (a retry narrowed to the untried hosts) gets a snapshot of its own that is not kept.
/// </summary>
internal sealed class SnapshotCache<T>(Func<ClusterState, IReadOnlyList<DestinationState>, T> build)
    where T : class
{
    private readonly ConditionalWeakTable<ClusterState, Slot> _slots = [];

    public T For(ClusterState cluster, IReadOnlyList<DestinationState> destinations) => For(cluster, destinations, out _);

    public T For(ClusterState cluster, IReadOnlyList<DestinationState> destinations, out Slot slot)
    {
        slot = _slots.GetValue(cluster, static _ => new Slot());
        var current = slot.Current;
        var model = cluster.Model;
        if (current is not null && ReferenceEquals(current.Source, destinations) && ReferenceEquals(current.Model, model))
        {
            return current.Value;
        }

        var value = build(cluster, destinations);
        if (ReferenceEquals(destinations, cluster.DestinationsState.AvailableDestinations))
        {
            slot.Current = new Entry(destinations, model, value);
        }

        return value;
    }

    internal sealed record Entry(IReadOnlyList<DestinationState> Source, ClusterModel? Model, T Value);

    /// <summary>A cluster's snapshot and a counter that outlives snapshots.</summary>
    internal sealed class Slot
    {
        private long _ticket = -1;

        public volatile Entry? Current;

        public long NextTicket() => Interlocked.Increment(ref _ticket);
    }
}
