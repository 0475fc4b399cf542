using System.Collections.Concurrent;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// What load balancing knows of each cluster that health checking needs: whether the cluster has seen traffic yet
/// (until then its hosts are checked every <see cref="HealthCheckPolicy.NoTrafficInterval"/>) and whether it is in panic.
/// </summary>
internal sealed class ClusterTraffic
{
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _firstTraffic = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _panic = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Cancelled when the cluster sees its first request.</summary>
    public CancellationToken FirstTraffic(string cluster) => Source(cluster).Token;

    public bool HasTraffic(string cluster) => _firstTraffic.TryGetValue(cluster, out var source) && source.IsCancellationRequested;

    public void Seen(string cluster)
    {
        var source = Source(cluster);
        if (!source.IsCancellationRequested)
        {
            // Waiting probers wake up on the thread pool, not on this request's thread.
            _ = source.CancelAsync();
        }
    }

    public bool InPanic(string cluster) => _panic.TryGetValue(cluster, out var panic) && panic;

    public void SetPanic(string cluster, bool panic) => _panic[cluster] = panic;

    private CancellationTokenSource Source(string cluster) => _firstTraffic.GetOrAdd(cluster, static _ => new CancellationTokenSource());
}
