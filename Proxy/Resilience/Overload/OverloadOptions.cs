namespace ProxyMesh.Proxy.Resilience.Overload;

/// <summary>
/// <c>ProxyMesh:Overload</c>: Envoy's overload manager in its simplest useful form. Both limits are off by default
/// (0): the right numbers depend on the container's memory and the service, and a wrong default sheds good traffic.
/// </summary>
public sealed class OverloadOptions
{
    public const string SectionName = "ProxyMesh:Overload";

    /// <summary>
    /// Managed heap size (bytes) above which the proxy stops accepting new connections on traffic listeners and sheds
    /// new requests with a fast 503, until the heap falls below it again. 0 turns it off.
    /// </summary>
    public long MaxHeapBytes { get; set; }

    /// <summary>Requests in flight on all traffic listeners above which new ones are shed with a fast 503. 0 turns it off.</summary>
    public int MaxActiveRequests { get; set; }

    /// <summary>
    /// Connections open on all HTTP traffic listeners above which new ones are closed at once, as Envoy's
    /// <c>envoy.resource_monitors.global_downstream_max_connections</c> does. It bounds what a client that opens
    /// connections without limit (an HTTP/2 client opens another whenever its streams are all in use) can make the proxy
    /// hold. 0 turns it off.
    /// </summary>
    public int MaxConnections { get; set; }

    /// <summary>How often the heap is measured.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(1);
}
