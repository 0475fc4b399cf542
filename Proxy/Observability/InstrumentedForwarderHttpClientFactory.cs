using System.Net.Sockets;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// YARP's upstream client, with connections opened through a callback that counts them and their bytes per cluster,
/// under the cluster's max_connections circuit breaker.
/// </summary>
internal sealed class InstrumentedForwarderHttpClientFactory(
    UpstreamConnectionStats stats, ClusterCircuitBreakers breakers, ILogger<ForwarderHttpClientFactory> logger)
    : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        var series = stats.For(context.ClusterId);
        var clusterId = context.ClusterId;
        handler.ConnectCallback = async (connection, cancellationToken) =>
        {
            var slot = await breakers.AcquireConnectionAsync(clusterId, cancellationToken);
            series.Connections.Inc();
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(connection.DnsEndPoint, cancellationToken);
            }
            catch
            {
                socket.Dispose();
                slot.Dispose();
                series.ConnectFailures.Inc();
                throw;
            }

            series.Active.Inc();
            return new CountingNetworkStream(socket, series, slot);
        };
    }
}
