namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// The one outcome of one upstream attempt, classified once when the attempt ends (as Envoy's router does) and read by
/// retries, outlier detection, upstream stats, the access log and tracing alike.
/// </summary>
public enum AttemptOutcome : byte
{
    /// <summary>The attempt has not ended.</summary>
    None,

    /// <summary>The upstream answered below 500 (for gRPC: its trailers-only status maps below 500).</summary>
    Success,

    /// <summary>The upstream answered a 5xx other than 502, 503, 504.</summary>
    UpstreamError,

    /// <summary>The upstream answered 502, 503 or 504.</summary>
    UpstreamGatewayError,

    /// <summary>No connection could be opened to the host (flag <c>UF</c>).</summary>
    ConnectFailure,

    /// <summary>The connection was not open within the connect timeout (flag <c>UF</c>).</summary>
    ConnectTimeout,

    /// <summary>The host refused the HTTP/2 stream (<c>REFUSED_STREAM</c>; flag <c>UR</c>): it never saw the request.</summary>
    RefusedStream,

    /// <summary>The connection or stream broke before response headers (flag <c>UR</c>).</summary>
    Reset,

    /// <summary>
    /// The connection or stream broke after response headers; the client's response is reset (flag <c>UC</c>, Envoy's
    /// upstream connection termination: the upstream went away mid-response).
    /// </summary>
    ResetAfterHeaders,

    /// <summary>The per-try timeout expired before response headers (flag <c>UT</c>).</summary>
    PerTryTimeout,

    /// <summary>The route timeout or the gRPC deadline expired before response headers (flag <c>UT</c>).</summary>
    Timeout,

    /// <summary>The route timeout or the gRPC deadline expired after response headers; the client's response is reset (flag <c>UT</c>).</summary>
    TimeoutAfterHeaders,

    /// <summary>Nothing moved in either direction for the stream idle timeout (flag <c>SI</c>).</summary>
    StreamIdleTimeout,

    /// <summary>Local reply: a circuit breaker refused the connection (flag <c>UO</c>); no host saw the request.</summary>
    Overflow,

    /// <summary>Local reply: the cluster had no available host (flag <c>UH</c>).</summary>
    NoHealthyUpstream,

    /// <summary>The client went away or broke its side of the exchange (flag <c>DC</c>).</summary>
    ClientCancelled,

    /// <summary>The proxy could not build the upstream request (flag <c>UR</c>); not the host's doing.</summary>
    ProxyError,

    /// <summary>
    /// The upstream's response broke the protocol (e.g. CR, LF or NUL in a value): refused with 502 before anything
    /// reached the client when its headers did, the client's response reset when its trailers did (flag <c>UPE</c>,
    /// Envoy's upstream protocol error).
    /// </summary>
    ProtocolError,
}

/// <summary>Envoy's access-log response flag of each <see cref="AttemptOutcome"/>, in one table.</summary>
public static class AttemptOutcomes
{
    private static readonly string[] Flags =
    [
        "-", "-", "-", "-", "UF", "UF", "UR", "UR", "UC", "UT", "UT", "UT", "SI", "UO", "UH", "DC", "UR", "UPE",
    ];

    /// <summary>Envoy's access-log response flag of the outcome, <c>-</c> for an ordinary upstream response.</summary>
    public static string Flag(AttemptOutcome outcome) => Flags[(int)outcome];
}

/// <summary>A request's upstream attempts as the proxy ran them, set by the router; describes the latest attempt.</summary>
public interface IUpstreamAttemptFeature
{
    /// <summary>Attempts made, retries included.</summary>
    int Attempts { get; }

    AttemptOutcome Outcome { get; }

    /// <summary>The upstream's HTTP status, 0 when no response arrived.</summary>
    int UpstreamStatusCode { get; }

    /// <summary>From the start of the latest attempt to its end, in milliseconds; null before any attempt ended.</summary>
    double? UpstreamMilliseconds { get; }
}
