using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Resilience.Retries;

/// <summary>
/// Envoy's <c>refused-stream</c> condition: an h2c upstream (Debian's python3-h2, a non-.NET HTTP/2 stack) answers
/// every stream with RST_STREAM(REFUSED_STREAM), which says it never processed the request — so even a POST is retried,
/// on the next host, with its body.
/// </summary>
public sealed class RefusedStreamTests : IAsyncLifetime
{
    private RefusingUpstream _refusing = null!;
    private Backend _good = null!;

    public async Task InitializeAsync()
    {
        _refusing = await RefusingUpstream.StartAsync();
        _good = await Backend.StartEchoAsync("good", HttpProtocols.Http2);
    }

    public async Task DisposeAsync()
    {
        await _good.DisposeAsync();
        _refusing.Dispose();
    }

    private async Task<RunningProxy> ProxyAsync(string retryOn)
    {
        // The refusing host first (FirstAlphabetical), so the first attempt always meets the refusal.
        var config = new ProxyConfig().Cluster("app", [_refusing.Address, _good.Address], http2: true).Route("app", "app");
        config.Clusters["app"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        config.ClusterPolicy("app", "Retry", new JsonObject { ["RetryOn"] = retryOn, ["NumRetries"] = 1 });
        return await RunningProxy.StartAsync(config);
    }

    private static async Task<HttpResponseMessage> PostAsync(RunningProxy proxy, string body)
    {
        using var client = Clients.Http1(proxy.Ingress);
        var response = await client.PostAsync("/orders", new StringContent(body));
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    [Fact]
    public async Task A_refused_stream_is_retried_on_the_next_host_even_for_a_post_and_counted()
    {
        await using var proxy = await ProxyAsync("refused-stream");
        using var response = await PostAsync(proxy, "order 42");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("good", response.Headers.GetValues("x-backend").Single());
        Assert.Equal("order 42", await response.Content.ReadAsStringAsync());
        Assert.True(_refusing.Refused >= 1, "the refusing host saw the stream");
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"app\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_rq_retry_success_total", "cluster=\"app\"", 1);
    }

    [Fact]
    public async Task Without_the_condition_a_refused_post_is_not_retried()
    {
        await using var proxy = await ProxyAsync("connect-failure");
        using var response = await PostAsync(proxy, "order 43");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.False(response.Headers.Contains("x-backend"));
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"app\""));
    }

    /// <summary>An h2c server in python3-h2 that refuses every stream it is sent, and counts them.</summary>
    private sealed class RefusingUpstream : IDisposable
    {

        private PythonServer _server = null!;
        private int _refused;

        public string Address => _server.Address;

        public int Refused => Volatile.Read(ref _refused);

        public static async Task<RefusingUpstream> StartAsync()
        {
            var upstream = new RefusingUpstream();
            upstream._server = await PythonServer.StartH2Async(
                """
                def on_request(conn, event):
                    conn.reset_stream(event.stream_id, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
                    print("refused", flush=True)
                """,
                onOutputLine: line =>
                {
                    if (line == "refused")
                    {
                        Interlocked.Increment(ref upstream._refused);
                    }
                });
            return upstream;
        }

        public void Dispose() => _server.Dispose();
    }
}
