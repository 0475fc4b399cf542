using System.Text.Json.Nodes;
using Grpc.Core;
using ProxyMesh.Proxy.Tests.Grpc;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.CircuitBreakers;

public sealed class GrpcCircuitBreakerTests
{
    [Fact]
    public async Task A_grpc_call_over_max_requests_fails_unavailable_and_passes_again_once_the_held_call_ends()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo")
            .ClusterPolicy("echo", "CircuitBreakers", new JsonObject { ["MaxRequests"] = 1 });
        await using var proxy = await RunningProxy.StartAsync(config);
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        var client = new Echo.EchoClient(channel);

        var held = client.ServerStream(new EchoRequest { Message = "held", Count = 0 });
        Assert.True(await held.ResponseStream.MoveNext(CancellationToken.None));

        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new EchoRequest { Message = "over" }));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("overflow", error.Status.Detail, StringComparison.Ordinal);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_pending_overflow_total", "cluster=\"echo\"", 1);

        held.Dispose();
        await Eventually.AssertAsync(
            async () =>
            {
                try
                {
                    return (await client.UnaryAsync(new EchoRequest { Message = "again" })).Message == "again";
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
                {
                    return false;
                }
            },
            "calls pass again once the held call has ended");
    }
}
