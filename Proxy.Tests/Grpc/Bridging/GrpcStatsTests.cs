using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client.Web;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>Envoy's grpc_stats through the proxy: per cluster, service, method and status, for plain and bridged gRPC.</summary>
public sealed class GrpcStatsTests : IAsyncLifetime
{
    private const string Service = "grpc_service=\"proxymesh.test.Echo\"";
    private BridgingUpstream _upstream = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _upstream = await BridgingUpstream.StartAsync();
        var config = BridgingConfig.Create(_upstream.Address);
        config.Root["ProxyMesh"]!["GrpcStats"] = new JsonObject { ["MaxMethodsPerCluster"] = 2 };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Fact]
    public async Task Plain_grpc_calls_are_counted_per_method_and_status_with_messages_each_way()
    {
        using var channel = EchoUpstream.Channel(_proxy.Egress);
        var client = new Echo.EchoClient(channel);
        await client.UnaryAsync(new EchoRequest { Message = "a" });
        using (var stream = client.ServerStream(new EchoRequest { Message = "s", Count = 4 }))
        {
            await stream.ResponseStream.ReadAllAsync().CountAsync();
        }

        using (var bidi = client.Bidi())
        {
            for (var i = 0; i < 3; i++)
            {
                await bidi.RequestStream.WriteAsync(new EchoRequest { Message = "b" });
                Assert.True(await bidi.ResponseStream.MoveNext(CancellationToken.None));
            }

            await bidi.RequestStream.CompleteAsync();
            Assert.False(await bidi.ResponseStream.MoveNext(CancellationToken.None));
        }

        await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new EchoRequest { FailWithStatus = 9 }));

        var cluster = "cluster=\"echo-plain\"," + Service;
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", $"{cluster},grpc_method=\"Unary\",grpc_status=\"0\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", $"{cluster},grpc_method=\"Unary\",grpc_status=\"9\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_response_message_total", $"{cluster},grpc_method=\"ServerStream\"", 4);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_request_message_total", $"{cluster},grpc_method=\"ServerStream\"", 1);
        // Bidi is the third method on this cluster: past the cap of 2, so it is labelled other.
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_request_message_total", "cluster=\"echo-plain\",grpc_service=\"other\",grpc_method=\"other\"", 3);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_response_message_total", "cluster=\"echo-plain\",grpc_service=\"other\",grpc_method=\"other\"", 3);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", "cluster=\"echo-plain\",grpc_service=\"other\",grpc_method=\"other\",grpc_status=\"0\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_time_seconds_count", $"{cluster},grpc_method=\"Unary\"", 2);
        Assert.Null(await MetricsScrape.SampleAsync(_proxy, "proxymesh_grpc_rq_total", $"{cluster},grpc_method=\"Bidi\",grpc_status=\"0\""));
    }

    [Theory]
    [InlineData(GrpcWebMode.GrpcWeb)]
    [InlineData(GrpcWebMode.GrpcWebText)]
    public async Task Grpc_web_calls_are_counted_as_the_grpc_they_become(GrpcWebMode mode)
    {
        using var channel = BridgingUpstream.WebChannel(_proxy.Ingress, mode, HttpVersion.Version11);
        var client = new Echo.EchoClient(channel);
        using (var stream = client.ServerStream(new EchoRequest { Message = "s", Count = 3 }))
        {
            await stream.ResponseStream.ReadAllAsync().CountAsync();
        }

        await Assert.ThrowsAsync<RpcException>(async () => await client.UnaryAsync(new EchoRequest { FailWithStatus = 16 }));

        var cluster = "cluster=\"echo-web\"," + Service;
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", $"{cluster},grpc_method=\"ServerStream\",grpc_status=\"0\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_response_message_total", $"{cluster},grpc_method=\"ServerStream\"", 3);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_request_message_total", $"{cluster},grpc_method=\"ServerStream\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", $"{cluster},grpc_method=\"Unary\",grpc_status=\"16\"", 1);
    }

    [Fact]
    public async Task Http11_bridged_calls_are_counted_with_their_status()
    {
        using var http = Clients.Http1(_proxy.Ingress);
        foreach (var fail in new[] { 0, 0, 3 })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/proxymesh.test.Echo/Unary")
            {
                Content = new ByteArrayContent(GrpcWebTests.Frame(new EchoRequest { Message = "h", FailWithStatus = fail })),
            };
            request.Headers.Host = "bridge.test";
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/grpc");
            using var response = await http.SendAsync(request);
            Assert.Equal(fail == 0 ? HttpStatusCode.OK : HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }

        var cluster = "cluster=\"echo-bridge\"," + Service + ",grpc_method=\"Unary\"";
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", cluster + ",grpc_status=\"0\"", 2);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_rq_total", cluster + ",grpc_status=\"3\"", 1);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_request_message_total", cluster, 3);
        await MetricsScrape.AssertEventuallyAsync(_proxy, "proxymesh_grpc_response_message_total", cluster, 2);
    }

    [Fact]
    public async Task Unreachable_upstream_is_counted_as_unavailable_and_the_scrape_passes_promtool()
    {
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("gone", "http://127.0.0.1:1", http2: true).Route("gone", "gone"));
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await new Echo.EchoClient(channel).UnaryAsync(new EchoRequest()));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_grpc_rq_total", $"cluster=\"gone\",{Service},grpc_method=\"Unary\",grpc_status=\"14\"", 1);
        using var admin = Clients.Http1(proxy.Admin);
        Assert.Equal("", await Promtool.CheckMetricsAsync(await admin.GetStringAsync("/metrics")));
    }
}
