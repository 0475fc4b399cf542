namespace ProxyMesh.Proxy.Tcp;

/// <summary>Why the proxy itself closed a connection (rather than either peer).</summary>
internal enum TcpCloseReason
{
    None,

    /// <summary>No byte either way for <c>IdleTimeout</c> (Envoy flag <c>SI</c>).</summary>
    IdleTimeout,

    /// <summary><c>MaxConnectionDuration</c> reached (Envoy flag <c>DT</c>).</summary>
    MaxDuration,

    /// <summary>Refused while draining, or still open at the drain deadline.</summary>
    Drain,

    /// <summary>A network filter returned <see cref="TcpFilterVerdict.Close"/>.</summary>
    Filter,

    /// <summary>The caller's identity is not in <c>AllowedCallers</c>.</summary>
    CallerDenied,

    /// <summary>The proxy is shutting down.</summary>
    Shutdown,

    /// <summary>The client reset the connection, or a read or write on either side failed otherwise.</summary>
    Error,

    /// <summary>The upstream reset the connection after it was established (reported to outlier detection).</summary>
    UpstreamReset,
}
