using Grpc.Core;
using Grpc.Health.V1;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Grpc;
using ProxyMesh.Proxy.Tests.Grpc.Bridging;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace ProxyMesh.Proxy.Tests.Admin;

/// <summary><c>grpc.health.v1.Health</c> on the admin listener over h2c, following <c>/ready</c> through a drain.</summary>
public sealed class GrpcHealthTests
{
    [Fact]
    public async Task Check_and_watch_follow_healthcheck_fail_and_ok()
    {
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig());
        using var channel = EchoUpstream.Channel(proxy.Admin);
        var health = new Health.HealthClient(channel);
        using var admin = Clients.Http1(proxy.Admin);

        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = "tests" })).Status);

        using var watch = health.Watch(new HealthCheckRequest());
        Assert.Equal(ServingStatus.Serving, await NextAsync(watch));

        (await admin.PostAsync("/healthcheck/fail", null)).Dispose();
        Assert.Equal(ServingStatus.NotServing, await NextAsync(watch));
        Assert.Equal(ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest())).Status);

        (await admin.PostAsync("/healthcheck/ok", null)).Dispose();
        Assert.Equal(ServingStatus.Serving, await NextAsync(watch));
        Assert.Equal(ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest())).Status);
    }

    [Fact]
    public async Task Grpc_js_client_checks_and_watches_over_h2c_through_a_drain()
    {
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig());
        using var admin = Clients.Http1(proxy.Admin);
        using var node = await GrpcWebPeer.StartNodeAsync("health-client.mjs", proxy.Admin.Authority);
        try
        {
            Assert.Equal("SERVING", (string?)(await NextLineAsync(node))["check"]);
            Assert.Equal("SERVING", (string?)(await NextLineAsync(node))["watch"]);

            (await admin.PostAsync("/healthcheck/fail", null)).Dispose();
            Assert.Equal("NOT_SERVING", (string?)(await NextLineAsync(node))["watch"]);

            (await admin.PostAsync("/healthcheck/ok", null)).Dispose();
            Assert.Equal("SERVING", (string?)(await NextLineAsync(node))["watch"]);

            node.StandardInput.Close();
            await node.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }
        finally
        {
            if (!node.HasExited)
            {
                node.Kill(entireProcessTree: true);
            }
        }
    }

    private static async Task<JsonNode> NextLineAsync(System.Diagnostics.Process node)
    {
        var line = await node.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotNull(line);
        return JsonNode.Parse(line)!;
    }

    [Fact]
    public async Task Unknown_service_is_not_found_for_check_and_service_unknown_for_watch()
    {
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig());
        using var channel = EchoUpstream.Channel(proxy.Admin);
        var health = new Health.HealthClient(channel);

        var error = await Assert.ThrowsAsync<RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "other" }));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        using var watch = health.Watch(new HealthCheckRequest { Service = "other" });
        Assert.Equal(ServingStatus.ServiceUnknown, await NextAsync(watch));
    }

    [Fact]
    public async Task Watch_reports_not_serving_and_ends_when_the_proxy_shuts_down()
    {
        var proxy = await RunningProxy.StartAsync(new ProxyConfig());
        using var channel = EchoUpstream.Channel(proxy.Admin);
        using var watch = new Health.HealthClient(channel).Watch(new HealthCheckRequest());
        Assert.Equal(ServingStatus.Serving, await NextAsync(watch));

        var stopping = proxy.DisposeAsync().AsTask();
        Assert.Equal(ServingStatus.NotServing, await NextAsync(watch));
        Assert.False(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20)));
        await stopping.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Health_service_is_not_served_on_traffic_listeners()
    {
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig());
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest()));
        Assert.NotEqual(StatusCode.OK, error.StatusCode);
    }

    private static async Task<ServingStatus> NextAsync(AsyncServerStreamingCall<HealthCheckResponse> watch)
    {
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20)), "the watch ended");
        return watch.ResponseStream.Current.Status;
    }
}
