using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.Clusters;

/// <summary>Cluster contexts in a running proxy: resolved once per configuration version, allocation-free to use, and usable outside HTTP.</summary>
public sealed class ClusterContextTests : IAsyncLifetime
{
    private Backend _backend = null!;

    public async Task InitializeAsync() => _backend = await Backend.StartEchoAsync("echo");

    public async Task DisposeAsync() => await _backend.DisposeAsync();

    [Fact]
    public async Task The_context_is_resolved_once_per_configuration_version()
    {
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app");
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        var contexts = proxy.Services.GetRequiredService<ClusterContexts>();
        (await client.GetAsync("/")).EnsureSuccessStatusCode();
        Assert.True(contexts.TryGet("app", out var first));
        var builds = contexts.Builds;

        for (var i = 0; i < 20; i++)
        {
            (await client.GetAsync("/")).EnsureSuccessStatusCode();
        }

        Assert.True(contexts.TryGet("app", out var same));
        Assert.Same(first, same);
        Assert.Equal(builds, contexts.Builds);
        Assert.False(contexts.TryGet("nope", out _));

        await proxy.RewriteSettingsAsync(config.ClusterPolicy("app", "Retry", new JsonObject { ["NumRetries"] = 3 }));
        await Eventually.AssertAsync(
            () => Task.FromResult(contexts.TryGet("app", out var current) && current.Retry.NumRetries == 3),
            "a reload of the cluster's policy gives a new context");
        Assert.True(contexts.TryGet("app", out var reloaded));
        Assert.NotSame(first, reloaded);
        Assert.False(reloaded.HonoursExclusions, "YARP's default policy gets narrowed lists");

        config.Clusters["app"]!["LoadBalancingPolicy"] = LoadBalancingPolicyNames.RingHash;
        await proxy.RewriteSettingsAsync(config);
        await Eventually.AssertAsync(
            () => Task.FromResult(contexts.TryGet("app", out var current) && current.LoadBalancer.Name == LoadBalancingPolicyNames.RingHash),
            "a new YARP cluster configuration gives a new context");
        Assert.True(contexts.TryGet("app", out var ringHash));
        Assert.True(ringHash.HonoursExclusions);
        Assert.Equal(3, ringHash.Retry.NumRetries);
    }

    [Fact]
    public async Task Looking_up_and_using_the_context_allocates_nothing()
    {
        var config = new ProxyConfig().Cluster("app", [_backend.Address, "http://127.0.0.1:9"]).Route("app", "app");
        config.Clusters["app"]!["LoadBalancingPolicy"] = LoadBalancingPolicyNames.RoundRobin;
        config.ClusterPolicy("app", "RateLimit", new JsonObject { ["Enabled"] = true, ["MaxTokens"] = 1_000_000, ["TokensPerFill"] = 1_000_000 });
        config.ClusterPolicy("app", "OutlierDetection", new JsonObject { ["Consecutive5xx"] = 1_000_000_000, ["ConsecutiveGatewayFailure"] = 1_000_000_000 });
        await using var proxy = await RunningProxy.StartAsync(config);
        var contexts = proxy.Services.GetRequiredService<ClusterContexts>();
        Assert.True(proxy.Services.GetRequiredService<IProxyStateLookup>().TryGetCluster("app", out var cluster));
        Assert.True(proxy.Services.GetRequiredService<IProxyStateLookup>().TryGetRoute("app", out var route));
        var host = cluster.Destinations.Values.First();
        var upstreamStats = proxy.Services.GetRequiredService<ProxyMesh.Proxy.Observability.UpstreamStats>();

        void UseOnce()
        {
            var context = contexts.For(cluster);
            if (context.CircuitBreakers.TryStartRequest())
            {
                context.CircuitBreakers.EndRequest();
            }

            context.RateLimitFor(route.Config)?.TryAcquire();
            context.BeforePick();
            context.PickHost();
            upstreamStats.RecordAttempt(context.UpstreamStats.Route(route.Config), ProxyMesh.Proxy.Observability.AttemptOutcome.Success, 200, 0.001, null);
            context.RecordOutcome(host, UpstreamOutcome.Success);
        }

        UseOnce();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            UseOnce();
        }

        AllocationAssert.NothingPerIteration(GC.GetAllocatedBytesForCurrentThread() - before, 10_000, "using the cluster context");
    }

    [Fact]
    public async Task A_tcp_listener_picks_hosts_takes_connection_slots_and_reports_connections_through_the_context()
    {
        using var live = new TcpListener(IPAddress.Loopback, 0);
        live.Start();
        var livePort = ((IPEndPoint)live.LocalEndpoint).Port;
        var deadPort = ClosedPort();
        var config = new ProxyConfig()
            .Cluster("db", [$"http://127.0.0.1:{deadPort}", $"http://127.0.0.1:{livePort}"]);

        // No HTTP route to the cluster: a stray request from another test (to a port this proxy now holds) must not
        // reach it and move its connection stats.
        config.Clusters["db"]!["LoadBalancingPolicy"] = LoadBalancingPolicyNames.RoundRobin;
        config.ClusterPolicy("db", "CircuitBreakers", new JsonObject { ["MaxConnections"] = 1 });
        config.ClusterPolicy("db", "OutlierDetection", new JsonObject { ["ConsecutiveGatewayFailure"] = 2, ["EnforcingConsecutiveGatewayFailure"] = 100, ["BaseEjectionTime"] = "00:10:00", ["MaxEjectionTime"] = "00:10:00" });
        await using var proxy = await RunningProxy.StartAsync(config);
        Assert.True(proxy.Services.GetRequiredService<ClusterContexts>().TryGet("db", out var db));

        // max_connections 1: a second slot is refused (Envoy's TCP proxy closes the connection), and freed by the first.
        var slot = db.CircuitBreakers.TryTakeConnection();
        Assert.NotNull(slot);
        Assert.Null(db.CircuitBreakers.TryTakeConnection());
        slot.Dispose();
        using (var again = db.CircuitBreakers.TryTakeConnection())
        {
            Assert.NotNull(again);
        }

        Assert.Equal(1, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_overflow_total", "cluster=\"db\""));

        // Each connection tries hosts until one accepts: the dead host is skipped once tried, then ejected after two
        // failures. YARP applies an ejection to the available hosts on the thread pool, so it is awaited before more.
        var failures = 0;
        for (var connection = 0; connection < 4 && failures < 2; connection++)
        {
            await ConnectOnceAsync(connection);
        }

        Assert.Equal(2, failures);
        await Eventually.AssertAsync(
            () => Task.FromResult(db.Cluster.DestinationsState.AvailableDestinations.Count == 1),
            "the ejected host is no longer available");
        for (var connection = 4; connection < 8; connection++)
        {
            await ConnectOnceAsync(connection);
        }

        Assert.Equal(2, failures);
        Assert.Equal(failures, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"db\""));
        Assert.Equal(1, await MetricsScrape.ValueAsync(proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"db\",type=\"consecutive_gateway_failure\""));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(livePort, new Uri(db.PickHost()!.Model.Config.Address).Port);
        }

        async Task ConnectOnceAsync(int connection)
        {
            var tried = new TriedHosts();
            while (db.PickHost(tried) is { } host && !tried.Contains(host))
            {
                tried.Add(host);
                using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, new Uri(host.Model.Config.Address).Port);
                }
                catch (SocketException)
                {
                    failures++;
                    db.ReportConnection(host, ConnectionOutcome.ConnectFailure);
                    continue;
                }

                using var accepted = await live.AcceptSocketAsync();
                db.ReportConnection(host, ConnectionOutcome.Success);
                break;
            }

            Assert.True(tried.Count is 1 or 2, $"connection {connection} tried {tried.Count} hosts");
        }
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
