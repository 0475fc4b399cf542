using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Tcp.Transport;
using ProxyMesh.Proxy.Tls;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Envoy's <c>tcp_proxy</c> on a Kestrel connection: admits the connection (drain, caller identity, the cluster's
/// max_connections breaker), connects upstream (up to <c>MaxConnectAttempts</c> hosts, before any byte is forwarded),
/// relays until both sides finish, then records stats and one access log line. The cluster is served by the same
/// <see cref="ClusterContext"/> as HTTP traffic, resolved once per connection: its breakers, load-balancing picker,
/// outlier detection and upstream connection stats.
/// </summary>
internal sealed partial class TcpProxy(
    TcpListenerSettings settings,
    ClusterContexts clusters,
    TcpUpstreamConnector connector,
    TcpDrain drain,
    TcpProxyStats stats,
    AccessLogQueue accessLog,
    TimeProvider time,
    ILogger<TcpProxy> logger)
{
    public async Task HandleAsync(string listenerName, ConnectionContext downstream)
    {
        if (settings.For(listenerName) is not { } listener)
        {
            downstream.Abort(new ConnectionAbortedException($"listener '{listenerName}' is no longer a TCP listener"));
            return;
        }

        var clusterId = listener.Options.Cluster;
        var series = stats.For(listenerName, clusterId);
        var log = new Outcome(time.GetUtcNow(), time.GetTimestamp());
        series.Connections.Inc();
        series.Active.Inc();
        try
        {
            await ProxyAsync(listener, downstream, series, log);
        }
        finally
        {
            series.Active.Dec();
            var duration = time.GetElapsedTime(log.StartTimestamp);
            series.Length.Observe(duration.TotalSeconds);
            accessLog.Enqueue(new TcpAccessLogEntry(
                log.StartTime,
                duration.TotalMilliseconds,
                log.BytesReceived,
                log.BytesSent,
                log.Flags,
                Describe(log.Reason),
                listenerName,
                clusterId,
                log.UpstreamHost,
                downstream.RemoteEndPoint?.ToString(),
                downstream.Features.Get<PeerIdentityFeature>()?.Identity));
        }
    }

    private async Task ProxyAsync(TcpListenerSnapshot listener, ConnectionContext downstream, TcpProxyStats.Series series, Outcome log)
    {
        var clusterId = listener.Options.Cluster;
        if (drain.IsDraining)
        {
            series.DrainClosed.Inc();
            log.Reason = TcpCloseReason.Drain;
            downstream.Abort(new ConnectionAbortedException("draining"));
            return;
        }

        if (listener.AllowedCallers is { } allowed && !allowed.Allows(downstream.Features.Get<PeerIdentityFeature>()?.Identity))
        {
            series.CallersDenied.Inc();
            log.Reason = TcpCloseReason.CallerDenied;
            downstream.Abort(new ConnectionAbortedException("caller not allowed"));
            return;
        }

        if (!clusters.TryGet(clusterId, out var cluster))
        {
            series.NoneHealthy.Inc();
            log.Flags = "UH";
            downstream.Abort(new ConnectionAbortedException($"no cluster '{clusterId}'"));
            return;
        }

        using var slot = cluster.CircuitBreakers.TryTakeConnection();
        if (slot is null)
        {
            series.Overflow.Inc();
            log.Flags = "UO";
            downstream.Abort(new ConnectionAbortedException("max_connections overflow"));
            return;
        }

        var shutdown = downstream.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        var (upstream, host) = await ConnectAsync(listener, cluster, downstream, series, log, shutdown);
        if (upstream is null)
        {
            downstream.Abort(new ConnectionAbortedException("no upstream connection"));
            return;
        }

        var filters = CreateFilters(listener, downstream);
        using var output = OutputFor(downstream);
        var clusterStats = cluster.ConnectionStats;
        var relay = new TcpRelay(downstream, output, upstream, filters, listener.Options, series, clusterStats, time, log.StartTimestamp);
        clusterStats.Active.Inc();
        HostLoad.Enter(host!);
        try
        {
            if (!await relay.RunAsync(drain.DeadlineOf(listener.Name), shutdown))
            {
                downstream.Abort(new ConnectionAbortedException("closed by the proxy"));
            }
        }
        finally
        {
            HostLoad.Leave(host!);
            clusterStats.Active.Dec();
            if (relay.Reason == TcpCloseReason.UpstreamReset)
            {
                cluster.ReportConnection(host!, ConnectionOutcome.Reset);
            }

            log.Reason = relay.Reason;
            log.BytesReceived = relay.BytesReceived;
            log.BytesSent = relay.BytesSent;
            log.Flags = relay.Reason switch
            {
                TcpCloseReason.IdleTimeout => "SI",
                TcpCloseReason.MaxDuration => "DT",
                _ => log.Flags,
            };
            relay.Dispose();
            var initiator = relay.Initiator;
            foreach (var filter in filters)
            {
                filter.OnClosed(initiator);
                filter.Dispose();
            }

            await upstream.DisposeAsync();
        }
    }

    /// <summary>
    /// Up to <c>MaxConnectAttempts</c> connects, each to a host not tried yet while the cluster has one (with a single
    /// host, that host again, as Envoy). Ring hash hashes the client's IP address (Envoy's tcp_proxy <c>source_ip</c>
    /// hash policy), so one client keeps reaching the same host.
    /// </summary>
    private async Task<(TcpUpstreamConnection? Upstream, DestinationState? Host)> ConnectAsync(
        TcpListenerSnapshot listener,
        ClusterContext cluster,
        ConnectionContext downstream,
        TcpProxyStats.Series series,
        Outcome log,
        CancellationToken shutdown)
    {
        var attempts = listener.Options.MaxConnectAttempts;
        var inline = downstream.Features.Get<InlineSocketCompletions.Feature>() is not null;
        var hashKey = (downstream.RemoteEndPoint as IPEndPoint)?.Address.ToString();
        TriedHosts? tried = null;
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            var host = cluster.PickHost(tried, hashKey);
            if (host?.Model is not { } model || TcpUpstreamAddress.Of(model) is not { } address)
            {
                if (attempt == 0)
                {
                    series.NoneHealthy.Inc();
                    log.Flags = "UH";
                }

                break;
            }

            log.UpstreamHost = address.HostAndPort;
            cluster.ConnectionStats.Connections.Inc();
            try
            {
                var upstream = await connector.ConnectAsync(cluster, address, inline, shutdown);
                if (inline && address.Tls && downstream.Features.Get<IConnectionSocketFeature>()?.Socket is { } client)
                {
                    // Encrypting every client buffer for a tls:// host is work for the thread pool, not the event thread.
                    InlineSocketCompletions.Disable(client);
                }

                cluster.ReportConnection(host, ConnectionOutcome.Success);
                log.Flags = "-"; // An earlier failed attempt is in the stats; this connection was served.
                return (upstream, host);
            }
            catch (TcpConnectException e)
            {
                series.ConnectFailures.Inc();
                cluster.ReportConnection(host, e.TimedOut ? ConnectionOutcome.ConnectTimeout : ConnectionOutcome.ConnectFailure);
                log.Flags = "UF";
                LogConnectFailed(listener.Name, cluster.ClusterId, attempt + 1, attempts, e.Message);
            }
            catch (OperationCanceledException)
            {
                log.Reason = TcpCloseReason.Shutdown;
                return (null, null);
            }

            (tried ??= new TriedHosts()).Add(host);
        }

        if (log.Flags == "UF" && attempts > 1)
        {
            series.ConnectAttemptsExceeded.Inc();
            log.Flags = "UF,URX";
        }

        return (null, null);
    }

    private static ITcpFilter[] CreateFilters(TcpListenerSnapshot listener, ConnectionContext downstream)
    {
        if (listener.Filters.Length == 0)
        {
            return [];
        }

        var context = new TcpFilterContext(listener.Name, listener.Section, downstream.ConnectionId);
        var filters = new ITcpFilter[listener.Filters.Length];
        for (var i = 0; i < filters.Length; i++)
        {
            filters[i] = listener.Filters[i].Create(context);
        }

        return filters;
    }

    /// <summary>Straight to the client's socket when Kestrel has not wrapped the connection (TLS), so half-close works.</summary>
    private static DownstreamOutput OutputFor(ConnectionContext downstream) =>
        downstream.Features.Get<ITlsHandshakeFeature>() is null && downstream.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket
            ? new DownstreamOutput.Socket(socket)
            : new DownstreamOutput.Pipe(
                downstream.Transport.Output,
                downstream.Features.Get<ISslStreamFeature>()?.SslStream,
                downstream.Features.Get<ITcpHalfCloseFeature>());

    private static string? Describe(TcpCloseReason reason) => reason switch
    {
        TcpCloseReason.None => null,
        TcpCloseReason.IdleTimeout => "idle_timeout",
        TcpCloseReason.MaxDuration => "max_connection_duration",
        TcpCloseReason.Drain => "drain",
        TcpCloseReason.Filter => "filter_closed",
        TcpCloseReason.CallerDenied => "caller_not_allowed",
        TcpCloseReason.Shutdown => "shutdown",
        TcpCloseReason.UpstreamReset => "upstream_reset",
        _ => "connection_error",
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "TCP listener {Listener}: connect attempt {Attempt} of {Attempts} to cluster {Cluster} failed: {Reason}")]
    private partial void LogConnectFailed(string listener, string cluster, int attempt, int attempts, string reason);

    /// <summary>What the access log line of one connection says.</summary>
    private sealed class Outcome(DateTimeOffset startTime, long startTimestamp)
    {
        public DateTimeOffset StartTime { get; } = startTime;

        public long StartTimestamp { get; } = startTimestamp;

        public string Flags { get; set; } = "-";

        public TcpCloseReason Reason { get; set; }

        public string? UpstreamHost { get; set; }

        public long BytesReceived { get; set; }

        public long BytesSent { get; set; }
    }
}
