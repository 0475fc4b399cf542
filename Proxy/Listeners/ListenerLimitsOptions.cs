namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// <c>ProxyMesh:Limits</c>: Kestrel's defences against slow and oversized requests, for every listener. The defaults
/// are Kestrel's own; lower them at the edge to cut slowloris clients off sooner.
/// </summary>
public sealed class ListenerLimitsOptions
{
    /// <summary>Time a client has to send the whole request line and headers (408 and close after it).</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Slowest request body accepted after <see cref="MinRequestBodyGracePeriod"/>; slower clients are cut off.</summary>
    public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    public TimeSpan MinRequestBodyGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Envoy's <c>http2_protocol_options.max_concurrent_streams</c>: open streams one HTTP/2 client connection may have
    /// (advertised in SETTINGS; a stream beyond it is reset with <c>REFUSED_STREAM</c>, which a client may retry).
    /// Kestrel's default, 100, is also the value Envoy's edge guidance recommends (Envoy's own default is unbounded).
    /// </summary>
    public int MaxConcurrentStreams { get; set; } = 100;

    /// <summary>
    /// Slowest a client may take the response after <see cref="MinResponseBodyGracePeriod"/>: a client that stops
    /// reading (gone without FIN or RST, or stuck) is cut off, which releases its upstream request.
    /// </summary>
    public double MinResponseBodyBytesPerSecond { get; set; } = 240;

    public TimeSpan MinResponseBodyGracePeriod { get; set; } = TimeSpan.FromSeconds(5);
}
