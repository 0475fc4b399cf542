namespace ProxyMesh.Proxy.Resilience.Timeouts;

/// <summary>
/// Policy <c>Timeouts</c>: Envoy's route timeout (all attempts together), stream idle timeout, gRPC deadline cap and
/// connect timeout. Which timeout bounds a request is described in docs/request-path.md.
/// </summary>
public sealed class TimeoutPolicy
{
    public const string Name = "Timeouts";

    /// <summary>
    /// Time for an ordinary request, retries included, until its response is complete; <c>00:00:00</c> disables it.
    /// Upgrades (WebSocket, extended CONNECT) and gRPC calls are not bound by it.
    /// </summary>
    public TimeSpan Route { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Envoy's <c>stream_idle_timeout</c>: a stream (any request, upgrade or gRPC call) with nothing sent or received
    /// for this long is reset. Applied as YARP's activity timeout of the cluster unless its <c>HttpRequest</c> sets one.
    /// </summary>
    public TimeSpan StreamIdle { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Envoy's <c>max_grpc_timeout</c>: caps the caller's <c>grpc-timeout</c> (and is the deadline of a gRPC call that
    /// sent none); unset or <c>00:00:00</c>, a gRPC call's deadline is its caller's, or none.
    /// </summary>
    public TimeSpan? MaxGrpcTimeout { get; set; }

    /// <summary>Time to open a connection to an upstream host (and to wait for a max_connections slot).</summary>
    public TimeSpan Connect { get; set; } = TimeSpan.FromSeconds(5);
}
