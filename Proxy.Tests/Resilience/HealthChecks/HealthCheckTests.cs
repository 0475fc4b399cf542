using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Grpc.Health.V1;
using Grpc.HealthCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.Resilience.HealthChecks;

/// <summary>
/// Active health checks end to end: real upstreams on loopback whose health flips on command, traffic through the
/// proxy, YARP's active health state and the stats.
/// </summary>
public sealed class HealthCheckTests
{
    private const string Labels = "cluster=\"app\"";

    internal static ProxyConfig WithHealthCheck(ProxyConfig config, string cluster, JsonObject policy)
    {
        config.Root["ProxyMesh"]!["Clusters"] = new JsonObject { [cluster] = new JsonObject { ["HealthCheck"] = policy } };

        // Every request to the next host, so that a few requests show exactly which hosts take traffic.
        config.Clusters[cluster]!["LoadBalancingPolicy"] = "RoundRobin";
        return config;
    }

    private static JsonObject FastHttpCheck(int unhealthyThreshold = 3, int healthyThreshold = 2) => new()
    {
        ["Type"] = "Http",
        ["Path"] = "/health",
        ["Interval"] = "00:00:00.050",
        ["NoTrafficInterval"] = "00:00:00.050",
        ["UnhealthyThreshold"] = unhealthyThreshold,
        ["HealthyThreshold"] = healthyThreshold,
    };

    internal static DestinationHealth ActiveHealth(RunningProxy proxy, string destination) =>
        proxy.Services.GetRequiredService<IProxyStateLookup>().TryGetCluster("app", out var cluster)
        && cluster.Destinations.TryGetValue(destination, out var state)
            ? state.Health.Active
            : DestinationHealth.Unknown;

    private static Task HealthIsAsync(RunningProxy proxy, string destination, DestinationHealth expected) =>
        Eventually.AssertAsync(() => Task.FromResult(ActiveHealth(proxy, destination) == expected), $"{destination} is {expected}");

    private static async Task<HashSet<string>> BackendsReachedAsync(HttpClient client, int requests)
    {
        var reached = new HashSet<string>();
        for (var i = 0; i < requests; i++)
        {
            using var response = await client.GetAsync("/who");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            reached.Add(response.Headers.GetValues("x-backend").Single());
        }

        return reached;
    }

    /// <summary>
    /// Polls until a round of requests reaches exactly the expected hosts: YARP applies a health change to the hosts it
    /// picks from on the thread pool, shortly after the checker records it.
    /// </summary>
    private static async Task TrafficReachesAsync(HttpClient client, int requests, string[] expected, string? what)
    {
        HashSet<string>? reached = null;
        var settled = await Eventually.TrueAsync(async () => (reached = await BackendsReachedAsync(client, requests)).SetEquals(expected));
        Assert.True(settled, $"{what ?? "traffic"}: expected {string.Join(",", expected)}, reached {string.Join(",", reached ?? [])}");
    }

    [Fact]
    public async Task Http_check_ejects_a_host_after_the_unhealthy_threshold_and_restores_it_after_the_healthy_threshold()
    {
        await using var one = await FlippingBackend.StartAsync("one");
        await using var flaky = await FlippingBackend.StartAsync("flaky");
        var config = WithHealthCheck(new ProxyConfig().Cluster("app", [one.Address, flaky.Address]).Route("app", "app"), "app", FastHttpCheck());
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        await HealthIsAsync(proxy, "d1", DestinationHealth.Healthy);
        await TrafficReachesAsync(client, 10, ["one", "flaky"], null);

        var checksBefore = flaky.Checks;
        flaky.Mode = HealthMode.Abort;
        await HealthIsAsync(proxy, "d1", DestinationHealth.Unhealthy);
        Assert.True(flaky.Checks - checksBefore >= 3, $"ejected after {flaky.Checks - checksBefore} failed checks, before the threshold of 3");
        await TrafficReachesAsync(client, 10, ["one"], "traffic moves to the healthy host");
        Assert.Equal(2, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_hosts", Labels));
        Assert.Equal(1, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_healthy_hosts", Labels));

        flaky.Mode = HealthMode.Ok;
        await HealthIsAsync(proxy, "d1", DestinationHealth.Healthy);
        await TrafficReachesAsync(client, 10, ["one", "flaky"], "the host takes traffic again");

        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_health_check_failure_total", Labels) >= 3);
        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_health_check_success_total", Labels) >= 2);
        var attempts = await MetricsScrape.ValueAsync(proxy, "proxymesh_health_check_attempt_total", Labels);
        Assert.True(attempts >= 5);
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_healthy_panic_total", Labels));
    }

    [Fact]
    public async Task Tcp_check_marks_a_closed_port_unhealthy_and_traffic_avoids_it()
    {
        await using var one = await FlippingBackend.StartAsync("one");
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var closedPort = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var config = WithHealthCheck(
            new ProxyConfig().Cluster("app", [one.Address, $"http://127.0.0.1:{closedPort}"]).Route("app", "app"),
            "app",
            new JsonObject { ["Type"] = "Tcp", ["Interval"] = "00:00:00.050", ["NoTrafficInterval"] = "00:00:00.050" });
        await using var proxy = await RunningProxy.StartAsync(config);

        await HealthIsAsync(proxy, "d0", DestinationHealth.Healthy);
        await HealthIsAsync(proxy, "d1", DestinationHealth.Unhealthy);
        using var client = Clients.Http1(proxy.Ingress);
        await TrafficReachesAsync(client, 10, ["one"], "no request goes to the closed port");
        Assert.Equal(0, one.Checks);
    }

    [Fact]
    public async Task Grpc_check_follows_the_upstreams_grpc_health_service()
    {
        var health = new HealthServiceImpl();
        health.SetStatus("echo", HealthCheckResponse.Types.ServingStatus.Serving);
        await using var upstream = await Backend.StartAsync(
            app => app.MapGrpcService<HealthServiceImpl>(),
            HttpProtocols.Http2,
            services => services.AddGrpc().Services.AddSingleton(health));
        var config = WithHealthCheck(
            new ProxyConfig().Cluster("app", [upstream.Address], http2: true).Route("app", "app"),
            "app",
            new JsonObject
            {
                ["Type"] = "Grpc",
                ["GrpcService"] = "echo",
                ["Interval"] = "00:00:00.050",
                ["NoTrafficInterval"] = "00:00:00.050",
            });
        await using var proxy = await RunningProxy.StartAsync(config);
        await HealthIsAsync(proxy, "d0", DestinationHealth.Healthy);

        health.SetStatus("echo", HealthCheckResponse.Types.ServingStatus.NotServing);
        await HealthIsAsync(proxy, "d0", DestinationHealth.Unhealthy);

        health.SetStatus("echo", HealthCheckResponse.Types.ServingStatus.Serving);
        await HealthIsAsync(proxy, "d0", DestinationHealth.Healthy);

        health.ClearStatus("echo");
        await HealthIsAsync(proxy, "d0", DestinationHealth.Unhealthy);
        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_health_check_success_total", Labels) >= 3);
    }

    [Fact]
    public async Task Below_the_panic_threshold_traffic_reaches_every_host_and_panic_is_counted()
    {
        await using var a = await FlippingBackend.StartAsync("a");
        await using var b = await FlippingBackend.StartAsync("b");
        await using var c = await FlippingBackend.StartAsync("c");
        var config = WithHealthCheck(new ProxyConfig().Cluster("app", [a.Address, b.Address, c.Address]).Route("app", "app"), "app", FastHttpCheck());
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        c.Mode = HealthMode.Unavailable;
        await HealthIsAsync(proxy, "d2", DestinationHealth.Unhealthy);
        await TrafficReachesAsync(client, 12, ["a", "b"], "two of three healthy (67%): the unhealthy host is skipped");
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_healthy_panic_total", Labels));

        b.Mode = HealthMode.Unavailable;
        await HealthIsAsync(proxy, "d1", DestinationHealth.Unhealthy);
        await TrafficReachesAsync(client, 12, ["a", "b", "c"], "one of three healthy (33% < 50%): all hosts take traffic");
        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_healthy_panic_total", Labels) >= 12);
        Assert.Equal(1, await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_membership_healthy_hosts", Labels));
        using (var admin = Clients.Http1(proxy.Admin))
        {
            Assert.Equal("", await Promtool.CheckMetricsAsync(await admin.GetStringAsync("/metrics")));
        }

        b.Mode = HealthMode.Ok;
        await HealthIsAsync(proxy, "d1", DestinationHealth.Healthy);
        var panics = await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_healthy_panic_total", Labels);
        await TrafficReachesAsync(client, 12, ["a", "b"], "out of panic, the unhealthy host is skipped again");
        Assert.Equal(panics, await MetricsScrape.ValueAsync(proxy, "proxymesh_lb_healthy_panic_total", Labels));
    }

    [Fact]
    public async Task A_panic_threshold_of_zero_never_panics()
    {
        await using var a = await FlippingBackend.StartAsync("a");
        await using var b = await FlippingBackend.StartAsync("b");
        var check = FastHttpCheck();
        check["PanicThreshold"] = 0;
        var config = WithHealthCheck(new ProxyConfig().Cluster("app", [a.Address, b.Address]).Route("app", "app"), "app", check);
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        b.Mode = HealthMode.Unavailable;
        await HealthIsAsync(proxy, "d1", DestinationHealth.Unhealthy);
        a.Mode = HealthMode.Unavailable;
        await HealthIsAsync(proxy, "d0", DestinationHealth.Unhealthy);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/who")).StatusCode);
    }

    [Fact]
    public async Task Http_checks_of_an_http2_cluster_use_h2c()
    {
        await using var upstream = await Backend.StartAsync(
            app => app.Run(context =>
            {
                context.Response.StatusCode = context.Request.Protocol == "HTTP/2" ? 200 : 505;
                return Task.CompletedTask;
            }),
            HttpProtocols.Http2);
        var config = WithHealthCheck(new ProxyConfig().Cluster("app", [upstream.Address], http2: true).Route("app", "app"), "app", FastHttpCheck());
        await using var proxy = await RunningProxy.StartAsync(config);

        await HealthIsAsync(proxy, "d0", DestinationHealth.Healthy);
    }

    [Fact]
    public async Task Checks_start_and_stop_as_the_configuration_changes()
    {
        await using var one = await FlippingBackend.StartAsync("one");
        await using var sick = await FlippingBackend.StartAsync("sick");
        sick.Mode = HealthMode.Unavailable;
        var plain = new ProxyConfig().Cluster("app", [one.Address, sick.Address]).Route("app", "app");
        plain.Clusters["app"]!["LoadBalancingPolicy"] = "RoundRobin";
        await using var proxy = await RunningProxy.StartAsync(plain);
        using var client = Clients.Http1(proxy.Ingress);
        await TrafficReachesAsync(client, 4, ["one", "sick"], "unchecked, both hosts take traffic");

        var checkedConfig = WithHealthCheck(new ProxyConfig().Cluster("app", [one.Address, sick.Address]).Route("app", "app"), "app", FastHttpCheck());
        await proxy.RewriteSettingsAsync(checkedConfig);
        await HealthIsAsync(proxy, "d1", DestinationHealth.Unhealthy);
        await TrafficReachesAsync(client, 4, ["one"], "checked, the failing host is skipped");

        await proxy.RewriteSettingsAsync(plain);
        await HealthIsAsync(proxy, "d1", DestinationHealth.Unknown);
        await TrafficReachesAsync(client, 4, ["one", "sick"], "unchecked again, both hosts take traffic");
    }

    [Fact]
    public async Task Without_a_type_no_host_is_checked()
    {
        await using var a = await FlippingBackend.StartAsync("a");
        a.Mode = HealthMode.Unavailable;
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("app", [a.Address]).Route("app", "app"));
        using var client = Clients.Http1(proxy.Ingress);
        await TrafficReachesAsync(client, 3, ["a"], null);
        Assert.Equal(0, a.Checks);
        Assert.Null(await MetricsScrape.SampleAsync(proxy, "proxymesh_health_check_attempt_total", Labels));
    }

    [Fact]
    public async Task Invalid_health_check_configuration_is_rejected_naming_the_key()
    {
        var problems = await ProblemsAsync(
            new JsonObject { ["Interval"] = "00:00:00", ["PanicThreshold"] = 150 },
            new JsonObject
            {
                ["app"] = new JsonObject { ["HealthCheck"] = new JsonObject { ["Type"] = "Http", ["ExpectedStatuses"] = "200-abc" } },
                ["other"] = new JsonObject { ["HealthCheck"] = new JsonObject { ["Type"] = "Udp", ["Timeout"] = "soon" } },
            });

        Assert.Contains(problems, problem => problem.StartsWith("ProxyMesh:Defaults:HealthCheck:Interval:", StringComparison.Ordinal));
        Assert.Contains(problems, problem => problem.StartsWith("ProxyMesh:Defaults:HealthCheck:PanicThreshold:", StringComparison.Ordinal));
        Assert.Contains(problems, problem => problem.StartsWith("ProxyMesh:Clusters:app:HealthCheck:ExpectedStatuses: '200-abc'", StringComparison.Ordinal));
        Assert.Contains(problems, problem => problem.StartsWith("ProxyMesh:Clusters:other:HealthCheck:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_http_check_without_a_path_and_a_zero_threshold_are_rejected()
    {
        var problems = await ProblemsAsync(
            new JsonObject(),
            new JsonObject
            {
                ["app"] = new JsonObject { ["HealthCheck"] = new JsonObject { ["Type"] = "Http" } },
                ["other"] = new JsonObject { ["HealthCheck"] = new JsonObject { ["Type"] = "Tcp", ["UnhealthyThreshold"] = 0 } },
            });

        Assert.Contains("ProxyMesh:Clusters:app:HealthCheck:Path: Http health checks need a path starting with '/'", problems);
        Assert.Contains("ProxyMesh:Clusters:other:HealthCheck:UnhealthyThreshold: must be at least 1", problems);
    }

    private static async Task<IReadOnlyList<string>> ProblemsAsync(JsonObject defaults, JsonObject clusters)
    {
        var config = new ProxyConfig().Cluster("app", "http://127.0.0.1:1").Route("app", "app");
        config.Root["ProxyMesh"]!["Defaults"] = new JsonObject { ["HealthCheck"] = defaults };
        config.Root["ProxyMesh"]!["Clusters"] = clusters;
        var e = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(config));
        return e.Problems;
    }
}
