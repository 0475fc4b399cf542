using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Grpc;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.Timeouts;

/// <summary>The route timeout covers every attempt; a per-try timeout moves on to another host; connects time out.</summary>
public sealed class TimeoutTests : IAsyncLifetime
{
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Backend _slow = null!;
    private Backend _fast = null!;

    public async Task InitializeAsync()
    {
        _slow = await Backend.StartAsync(app => app.Run(async context =>
        {
            await _release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("slow");
        }));
        _fast = await Backend.StartEchoAsync("fast");
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        await _slow.DisposeAsync();
        await _fast.DisposeAsync();
    }

    private static ProxyConfig WithPolicies(ProxyConfig config, JsonObject clusterPolicies)
    {
        config.Root["ProxyMesh"]!["Clusters"] = new JsonObject { ["app"] = clusterPolicies };
        return config;
    }

    [Fact]
    public async Task The_route_timeout_answers_504_with_a_reason_and_counts_it()
    {
        var config = WithPolicies(new ProxyConfig().Cluster("app", _slow.Address).Route("app", "app"), new JsonObject
        {
            ["Timeouts"] = new JsonObject { ["Route"] = "00:00:00.300" },
        });
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        var watch = Stopwatch.StartNew();
        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream request timeout", await response.Content.ReadAsStringAsync());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"answered after {watch.Elapsed}");
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_timeout_total", "cluster=\"app\",route=\"app\"", 1);
    }

    [Fact]
    public async Task A_grpc_call_is_bounded_by_its_deadline_capped_by_max_grpc_timeout_not_by_the_route_timeout()
    {
        await using var grpc = await Backend.StartAsync(
            app => app.MapGrpcService<EchoService>(),
            HttpProtocols.Http2,
            services => services.AddGrpc().Services.AddSingleton(new CancellationObserver()));
        var config = WithPolicies(new ProxyConfig().Cluster("app", grpc.Address, http2: true).Route("app", "app"), new JsonObject
        {
            ["Timeouts"] = new JsonObject { ["Route"] = "00:00:00.300", ["MaxGrpcTimeout"] = "00:00:03" },
        });
        await using var proxy = await RunningProxy.StartAsync(config);
        using var channel = GrpcChannel.ForAddress(proxy.Ingress, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { UseProxy = false } });
        var client = new Echo.EchoClient(channel);

        // Longer than the route timeout, within the deadline: it completes.
        var reply = await client.UnaryAsync(new EchoRequest { Message = "patient", DelayMs = 1000 }, deadline: DateTime.UtcNow.AddSeconds(20));
        Assert.Equal("patient", reply.Message);
        Assert.InRange(reply.DeadlineSeconds, 0.5, 3); // the upstream saw the capped deadline, less the time already spent

        // Past the capped deadline (the caller's own is far later): the proxy answers DEADLINE_EXCEEDED.
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.UnaryAsync(new EchoRequest { Message = "late", DelayMs = 30_000 }, deadline: DateTime.UtcNow.AddSeconds(60)));
        Assert.Equal(StatusCode.DeadlineExceeded, error.StatusCode);
        Assert.Equal("upstream request timeout", error.Status.Detail);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"answered after {watch.Elapsed}");
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_timeout_total", "cluster=\"app\",route=\"app\"", 1);
    }

    [Fact]
    public async Task A_per_try_timeout_moves_on_to_another_host_within_the_route_timeout()
    {
        var config = WithPolicies(new ProxyConfig().Cluster("app", [_slow.Address, _fast.Address]).Route("app", "app"), new JsonObject
        {
            ["Retry"] = new JsonObject { ["PerTryTimeout"] = "00:00:01" },
            ["Timeouts"] = new JsonObject { ["Route"] = "00:00:10" },
        });
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        using var response = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("fast", response.Headers.GetValues("x-backend").Single());
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"app\"", 1);
    }

    [Fact]
    public async Task The_route_timeout_bounds_all_attempts_together()
    {
        // Two hosts that never answer; each attempt is cut at 4 s, and the route allows 5 s for all of them. Were the
        // second attempt bounded only by its own per-try timeout, the answer would come at 8 s.
        var seen = new int[2];
        await using var second = await Backend.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref seen[1]);
            await _release.Task.WaitAsync(context.RequestAborted);
        }));
        await using var first = await Backend.StartAsync(app => app.Run(async context =>
        {
            Interlocked.Increment(ref seen[0]);
            await _release.Task.WaitAsync(context.RequestAborted);
        }));
        var config = WithPolicies(new ProxyConfig().Cluster("app", [first.Address, second.Address]).Route("app", "app"), new JsonObject
        {
            ["Retry"] = new JsonObject { ["PerTryTimeout"] = "00:00:04", ["NumRetries"] = 3, ["RetryOn"] = "5xx" },
            ["Timeouts"] = new JsonObject { ["Route"] = "00:00:05" },
        });
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        var watch = Stopwatch.StartNew();
        using var response = await client.GetAsync("/");
        var elapsed = watch.Elapsed;
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream request timeout", await response.Content.ReadAsStringAsync());
        Assert.InRange(elapsed, TimeSpan.FromSeconds(4.8), TimeSpan.FromSeconds(7.5));
        Assert.Equal(1, Volatile.Read(ref seen[0]));
        Assert.Equal(1, Volatile.Read(ref seen[1])); // the per-try timeout moved on to the second host within the route timeout
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_per_try_timeout_total", "cluster=\"app\",route=\"app\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_timeout_total", "cluster=\"app\",route=\"app\"", 1);
    }

    [Fact]
    public async Task The_timeout_header_from_the_local_application_overrides_the_route_timeout()
    {
        // A host that answers after 1.5 s, well inside the 60 s route timeout: only the header's 200 ms can give 504.
        await using var late = await Backend.StartAsync(app => app.Run(async context =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1500), context.RequestAborted);
            await context.Response.WriteAsync("late");
        }));
        var config = WithPolicies(new ProxyConfig().Cluster("app", late.Address).Route("app", "app"), new JsonObject
        {
            ["Timeouts"] = new JsonObject { ["Route"] = "00:01:00" },
            ["Retry"] = new JsonObject { ["NumRetries"] = 0 },
        });
        config.Listeners["egress"]!["TrustControlHeaders"] = false;
        await using var proxy = await RunningProxy.StartAsync(config);

        using var trusted = Clients.Http1(proxy.Ingress);
        using var request = trusted.Request(HttpMethod.Get, "/");
        request.Headers.Add("x-envoy-upstream-rq-timeout-ms", "200");
        var watch = Stopwatch.StartNew();
        using var response = await trusted.SendAsync(request);
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream request timeout", await response.Content.ReadAsStringAsync());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"answered after {watch.Elapsed}");

        // The same header from a listener that does not trust its callers changes nothing: the late answer arrives.
        using var untrusted = Clients.Http1(proxy.Egress);
        using var outside = untrusted.Request(HttpMethod.Get, "/");
        outside.Headers.Add("x-envoy-upstream-rq-timeout-ms", "200");
        using var passed = await untrusted.SendAsync(outside);
        Assert.Equal(HttpStatusCode.OK, passed.StatusCode);
        Assert.Equal("late", await passed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_connect_that_hangs_times_out_and_counts_as_a_connect_failure()
    {
        // A listener that never accepts, with its backlog filled: further connects hang in SYN-SENT.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                using var attempt = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    await filler.ConnectAsync(IPAddress.Loopback, port, attempt.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            var config = WithPolicies(new ProxyConfig().Cluster("app", $"http://127.0.0.1:{port}").Route("app", "app"), new JsonObject
            {
                ["Timeouts"] = new JsonObject { ["Connect"] = "00:00:00.300", ["Route"] = "00:00:10" },
                ["Retry"] = new JsonObject { ["NumRetries"] = 0 },
            });
            await using var proxy = await RunningProxy.StartAsync(config);
            using var client = Clients.Http1(proxy.Ingress);
            var watch = Stopwatch.StartNew();
            using var response = await client.GetAsync("/");
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5)); // waited for the connect timeout, not refused
            await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"app\"", 1);
        }
        finally
        {
            foreach (var filler in fillers)
            {
                filler.Dispose();
            }
        }
    }
}
