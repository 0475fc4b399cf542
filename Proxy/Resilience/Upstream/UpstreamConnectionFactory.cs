using System.Net.Sockets;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using ProxyMesh.Proxy.Resilience.Timeouts;
using ProxyMesh.Proxy.Tls;
using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// YARP's upstream client, with every connection opened through a callback that enforces the cluster's connection
/// policy — the max_connections circuit breaker and the connect timeout — and reports the connection and its bytes
/// into <see cref="UpstreamConnectionStats"/>; TLS to the cluster's hosts is as its <c>Tls</c> policy says.
/// </summary>
internal sealed class UpstreamConnectionFactory(
    UpstreamConnectionStats stats,
    ClusterCircuitBreakers breakers,
    ClusterPolicies policies,
    TimeProvider time,
    UpstreamTls tls,
    UpstreamProtocolErrors protocolErrors,
    ILogger<ForwarderHttpClientFactory> logger)
    : ForwarderHttpClientFactory(logger)
{
    /// <summary>Every upstream response passes <see cref="UpstreamResponseHeaderGuard"/> before YARP copies its headers.</summary>
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new UpstreamResponseHeaderGuard(base.WrapHandler(context, handler), context.ClusterId, protocolErrors);

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        var clusterId = context.ClusterId;
        handler.ResponseHeaderEncodingSelector = FieldValueSelector(context.NewConfig.ResponseHeaderEncoding);
        tls.ConfigureHttpHandler(clusterId, handler);
        var series = stats.For(clusterId);

        // The handler's own timeout is off: the cluster's (policy Timeouts:Connect) is read at each connect, so a reload
        // applies at once. It bounds the wait for a max_connections slot as well as the connect itself: the handler
        // finishes a connect even when the request that started it was cancelled, and such an abandoned connect gives
        // its pending slot back within the connect timeout.
        handler.ConnectTimeout = Timeout.InfiniteTimeSpan;
        handler.ConnectCallback = async (connection, cancellationToken) =>
        {
            using var timeout = new CancellationTokenSource(policies.For<TimeoutPolicy>(clusterId, TimeoutPolicy.Name).Connect, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            IDisposable slot;
            try
            {
                slot = await breakers.AcquireConnectionAsync(clusterId, linked.Token);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new CircuitBreakerOverflowException(clusterId, "max_connections (no connection freed within the connect timeout)");
            }

            series.Connections.Inc();
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
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

    /// <summary>
    /// Decodes header and trailer values as the handler would (Latin-1, UTF-8 first for <c>Location</c>, or the cluster's
    /// <c>ResponseHeaderEncoding</c>), keeping NUL, CR and LF visible to the guards (<see cref="FieldValueEncoding"/>).
    /// </summary>
    private static HeaderEncodingSelector<HttpRequestMessage> FieldValueSelector(string? configuredEncoding)
    {
        if (configuredEncoding is not null)
        {
            var encoding = new FieldValueEncoding(System.Text.Encoding.GetEncoding(configuredEncoding));
            return (_, _) => encoding;
        }

        return static (name, _) => name.Length == 8 && name.Equals("Location", StringComparison.OrdinalIgnoreCase)
            ? FieldValueEncoding.LocationValues
            : FieldValueEncoding.Latin1Values;
    }
}
