using System.Net.Sockets;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Resilience.Timeouts;
using ProxyMesh.Proxy.Tls;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// YARP's upstream client, with connections opened through a callback that counts them and their bytes per cluster,
/// under the cluster's max_connections circuit breaker and connect timeout, with TLS as the cluster's <c>Tls</c> policy says.
/// </summary>
internal sealed class InstrumentedForwarderHttpClientFactory(
    UpstreamConnectionStats stats,
    ClusterCircuitBreakers breakers,
    ClusterPolicies policies,
    TimeProvider time,
    UpstreamTls tls,
    ILogger<ForwarderHttpClientFactory> logger)
    : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        var clusterId = context.ClusterId;
        tls.ConfigureHttpHandler(clusterId, handler);
        var series = stats.For(clusterId);

        // The cluster's connect timeout (policy Timeouts:Connect) is read at each connect, so a reload applies at once.
        handler.ConnectTimeout = Timeout.InfiniteTimeSpan;
        handler.ConnectCallback = async (connection, cancellationToken) =>
        {
            var slot = await breakers.AcquireConnectionAsync(clusterId, cancellationToken);
            series.Connections.Inc();
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var timeout = new CancellationTokenSource(policies.For<TimeoutPolicy>(clusterId, TimeoutPolicy.Name).Connect, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            try
            {
                await socket.ConnectAsync(connection.DnsEndPoint, linked.Token);
            }
            catch (Exception e)
            {
                socket.Dispose();
                slot.Dispose();
                series.ConnectFailures.Inc();
                if (e is OperationCanceledException && timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    throw new HttpRequestException(HttpRequestError.ConnectionError, $"Connecting to {connection.DnsEndPoint} timed out.", new TimeoutException());
                }

                throw;
            }

            series.Active.Inc();
            return new CountingNetworkStream(socket, series, slot);
        };
    }
}
