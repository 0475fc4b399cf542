namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>What the access log needs to know about one request, gathered as it passes through the proxy.</summary>
internal sealed class RequestObservation
{
    public DateTimeOffset StartTime { get; init; }

    public long StartTimestamp { get; init; }

    public long BytesReceived;

    public long BytesSent;
}
