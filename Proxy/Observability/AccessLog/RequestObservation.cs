using System.Diagnostics;

namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>What the access log needs to know about one request, gathered as it passes through the proxy.</summary>
internal sealed class RequestObservation
{
    public DateTimeOffset StartTime { get; init; }

    public long StartTimestamp { get; init; }

    public long BytesReceived;

    public long BytesSent;

    public long UpstreamStartTimestamp { get; set; }

    public long UpstreamEndTimestamp { get; set; }

    public string? UpstreamHost { get; set; }

    public double? UpstreamMilliseconds =>
        UpstreamEndTimestamp == 0 ? null : Stopwatch.GetElapsedTime(UpstreamStartTimestamp, UpstreamEndTimestamp).TotalMilliseconds;
}
