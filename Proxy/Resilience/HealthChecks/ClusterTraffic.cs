using System.Collections.Concurrent;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// What load balancing knows of each cluster that health checking needs: whether the cluster has seen traffic yet
/// (until then its hosts are checked every <see cref="HealthCheckPolicy.NoTrafficInterval"/>) and whether it is in panic.
/// One <see cref="ClusterHealthView"/> per cluster, kept across configuration versions.
/// </summary>
internal sealed class ClusterTraffic
{
    private readonly ConcurrentDictionary<string, ClusterHealthView> _clusters = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The cluster's view; resolve it once (per configuration version) and keep it.</summary>
    public ClusterHealthView For(string cluster) => _clusters.GetOrAdd(cluster, static _ => new ClusterHealthView(new CancellationTokenSource()));

    /// <summary>Cancelled when the cluster sees its first request.</summary>
    public CancellationToken FirstTraffic(string cluster) => For(cluster).FirstTraffic;

    public bool HasTraffic(string cluster) => _clusters.TryGetValue(cluster, out var view) && view.HasTraffic;

    public void Seen(string cluster) => For(cluster).Seen();

    public bool InPanic(string cluster) => _clusters.TryGetValue(cluster, out var view) && view.InPanic;

    public void SetPanic(string cluster, bool panic) => For(cluster).InPanic = panic;
}

/// <summary>One cluster's traffic and panic state, read per request with plain field reads.</summary>
/// <param name="firstTraffic">Cancelled on the cluster's first request; lives as long as the process.</param>
public sealed class ClusterHealthView(CancellationTokenSource firstTraffic)
{
    private readonly CancellationTokenSource _firstTraffic = firstTraffic;
    private volatile bool _panic;

    /// <summary>Fewer hosts than the panic threshold are healthy: load balancing uses all of them (Envoy's panic mode).</summary>
    public bool InPanic
    {
        get => _panic;
        internal set => _panic = value;
    }

    public bool HasTraffic => _firstTraffic.IsCancellationRequested;

    internal CancellationToken FirstTraffic => _firstTraffic.Token;

    /// <summary>Notes that the cluster has traffic (wakes probers waiting on its no-traffic interval).</summary>
    public void Seen()
    {
        if (!_firstTraffic.IsCancellationRequested)
        {
            // Waiting probers wake up on the thread pool, not on this request's thread.
            _ = _firstTraffic.CancelAsync();
        }
    }
}
