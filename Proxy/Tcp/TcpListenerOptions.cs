namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// The TCP proxy settings of a <c>tcp://</c> listener (<c>ProxyMesh:Listeners:&lt;name&gt;</c>), after Envoy's
/// <c>tcp_proxy</c> filter. Read per connection, so a reload applies to the connections that follow.
/// </summary>
public sealed class TcpListenerOptions
{
    /// <summary>The cluster in <c>ReverseProxy:Clusters</c> connections go to.</summary>
    public string Cluster { get; set; } = "";

    /// <summary>Network filters (<see cref="ITcpFilterFactory.Name"/>s), called in this order for every buffer.</summary>
    public List<string> Filters { get; set; } = [];

    /// <summary>Closes a connection when no byte has moved either way for this long (Envoy's default, 1 h); 0 disables it.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Closes a connection this long after it was accepted (Envoy's <c>max_downstream_connection_duration</c>); 0, the default, never.</summary>
    public TimeSpan MaxConnectionDuration { get; set; } = TimeSpan.Zero;

    /// <summary>Upstream hosts tried, each a different host while others are available, before giving up (Envoy's <c>max_connect_attempts</c>, default 1).</summary>
    public int MaxConnectAttempts { get; set; } = 1;

    /// <summary>After <c>POST /healthcheck/fail</c>: how long open connections may go on before they are closed (Envoy's drain time, 600 s).</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(600);

    /// <summary>Comma-separated caller identities allowed to connect (needs <c>ClientCertificate: Require</c>); empty allows everyone.</summary>
    public string? AllowedCallers { get; set; }
}
