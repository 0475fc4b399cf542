using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience.HealthChecks;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>Health checks start spread out, and reach hosts the way the cluster's traffic does.</summary>
public sealed class HealthCheckStartTests
{
    [Fact]
    public async Task The_first_check_waits_a_random_part_of_the_initial_jitter()
    {
        var time = new WatchedTimeProvider();
        await using var host = await FlippingBackend.StartAsync("host");
        var config = HealthCheckTests.WithHealthCheck(new ProxyConfig().Cluster("app", [host.Address]).Route("app", "app"), "app", new JsonObject
        {
            ["Type"] = "Http",
            ["Path"] = "/health",
            ["InitialJitter"] = "00:00:04",
        });
        await using var proxy = await RunningProxy.StartAsync(config, services =>
        {
            services.AddSingleton<TimeProvider>(time);
            services.AddSingleton<Random>(new FixedRandom(0.5));
        });

        await Eventually.AssertAsync(() => Task.FromResult(time.TimersDue(TimeSpan.FromSeconds(2)) == 1), "the checker waits half the initial jitter");
        Assert.Equal(0, host.Checks);
        time.Advance(TimeSpan.FromSeconds(2));
        await Eventually.AssertAsync(() => Task.FromResult(host.Checks == 1), "the first check after the jitter");
    }

    [Fact]
    public async Task Checks_go_through_the_clusters_http_client_settings()
    {
        // The cluster reaches its (unresolvable) host only through a forward proxy, as its YARP HttpClient config says.
        var seen = new ConcurrentQueue<string>();
        await using var forwardProxy = await Backend.StartAsync(app => app.Run(context =>
        {
            seen.Enqueue(context.Request.GetDisplayUrl());
            return Task.CompletedTask;
        }));
        var config = HealthCheckTests.WithHealthCheck(new ProxyConfig().Cluster("app", ["http://upstream.invalid:8080"]).Route("app", "app"), "app", new JsonObject
        {
            ["Type"] = "Http",
            ["Path"] = "/health",
            ["Interval"] = "00:00:00.100",
            ["NoTrafficInterval"] = "00:00:00.100",
        });
        config.Clusters["app"]!["HttpClient"] = new JsonObject { ["WebProxy"] = new JsonObject { ["Address"] = forwardProxy.Address } };
        await using var proxy = await RunningProxy.StartAsync(config);

        await Eventually.AssertAsync(() => Task.FromResult(HealthCheckTests.ActiveHealth(proxy, "d0") == DestinationHealth.Healthy), "the host checked healthy");
        Assert.Contains("http://upstream.invalid:8080/health", seen);
    }
}
