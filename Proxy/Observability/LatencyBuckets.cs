namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Histogram bucket bounds for request times, in seconds: 0.5 ms to 64 s in steps of ×1.5, fine enough for
/// P99 and P99.9 to land within a bucket that is 50% wide anywhere in the range.
/// </summary>
internal static class LatencyBuckets
{
    public static readonly double[] Seconds = Prometheus.Histogram.ExponentialBuckets(start: 0.0005, factor: 1.5, count: 30);
}
