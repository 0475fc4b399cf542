using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Resilience;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Upstreams slow to accept, on real sockets: a listener whose accept queue is full (connects hang in SYN-SENT) and
/// one that calls accept() late (the kernel completes the handshake, the request waits unread).
/// </summary>
public sealed class SlowAcceptUpstreamTests : IAsyncLifetime
{
    private readonly ConcurrentDictionary<string, (int Attempts, AttemptOutcome Outcome)> _outcomes = new(StringComparer.Ordinal);
    private readonly List<Socket> _sockets = [];
    private Backend _good = null!;

    public async Task InitializeAsync() => _good = await Backend.StartEchoAsync("good");

    public async Task DisposeAsync()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        await _good.DisposeAsync();
    }

    /// <summary>
    /// A listener that never accepts, its one-connection backlog filled: every further connect to it hangs until the
    /// connector gives up, as a host does whose accept queue is full.
    /// </summary>
    private async Task<string> FullBacklogAsync()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _sockets.Add(listener);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        for (var i = 0; i < 8; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _sockets.Add(filler);
            using var attempt = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            try
            {
                await filler.ConnectAsync(IPAddress.Loopback, port, attempt.Token);
            }
            catch (OperationCanceledException)
            {
                return $"http://127.0.0.1:{port}";
            }
        }

        throw new InvalidOperationException("the backlog never filled: connects were still accepted");
    }

    /// <summary>A raw HTTP/1.1 server that starts calling accept() only once <paramref name="accept"/> completes.</summary>
    private string AcceptsLate(Task accept)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _sockets.Add(listener);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        _ = Task.Run(async () =>
        {
            await accept;
            try
            {
                while (true)
                {
                    var connection = await listener.AcceptAsync();
                    _ = AnswerLateAsync(connection);
                }
            }
            catch (ObjectDisposedException)
            {
                // Test over.
            }
            catch (SocketException)
            {
            }
        });
        return $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}";
    }

    private static async Task AnswerLateAsync(Socket connection)
    {
        using (connection)
        {
            var seen = new StringBuilder();
            var buffer = new byte[4096];
            try
            {
                while (!seen.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await connection.ReceiveAsync(buffer);
                    if (read == 0)
                    {
                        return;
                    }

                    seen.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                await TcpPeer.SendAllAsync(connection, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nx-backend: late\r\nConnection: close\r\n\r\nlate"u8.ToArray());
                connection.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // The proxy gave up on this connection first.
            }
        }
    }

    private Task<RunningProxy> StartAsync(ProxyConfig config) => RunningProxy.StartAsync(config, services =>
        services.AddSingleton<IStartupFilter>(new OutcomeRecorder(_outcomes)));

    /// <summary>Records each request's last upstream attempt by request id, read after the proxy's pipeline ran.</summary>
    private sealed class OutcomeRecorder(ConcurrentDictionary<string, (int, AttemptOutcome)> outcomes) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, inner) =>
            {
                var id = context.Request.Headers["x-test-id"].ToString();
                await inner(context);
                if (id.Length > 0 && context.Features.Get<IUpstreamAttemptFeature>() is { } attempt)
                {
                    outcomes[id] = (attempt.Attempts, attempt.Outcome);
                }
            });
            next(app);
        };
    }

    /// <summary>The recorded outcome of a request: the recorder runs after the response reached the client, so poll for it.</summary>
    private async Task<(int Attempts, AttemptOutcome Outcome)> OutcomeAsync(string id)
    {
        await Eventually.AssertAsync(() => Task.FromResult(_outcomes.ContainsKey(id)), $"the outcome of {id} is recorded");
        return _outcomes[id];
    }

    private static async Task<(HttpResponseMessage Response, TimeSpan Took)> GetAsync(HttpClient client, string path, string id)
    {
        using var request = client.Request(HttpMethod.Get, path);
        request.Headers.Add("x-test-id", id);
        var watch = Stopwatch.StartNew();
        var response = await client.SendAsync(request);
        return (response, watch.Elapsed);
    }

    [Fact]
    public async Task A_host_with_a_full_accept_queue_times_out_on_connect_is_counted_and_classified()
    {
        var stuck = await FullBacklogAsync();
        var config = new ProxyConfig().Cluster("app", stuck).Route("app", "app")
            .ClusterPolicy("app", "Timeouts", new JsonObject { ["Connect"] = "00:00:00.500", ["Route"] = "00:00:10" })
            .ClusterPolicy("app", "Retry", new JsonObject { ["NumRetries"] = 0 });
        await using var proxy = await StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        var (response, took) = await GetAsync(client, "/hang", "one");
        using (response)
        {
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        Assert.InRange(took, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(8)); // the connect timeout, not a refusal, not the route timeout
        Assert.Equal((1, AttemptOutcome.ConnectTimeout), await OutcomeAsync("one"));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"app\"", 1);
    }

    [Fact]
    public async Task A_connect_that_times_out_is_retried_on_another_host_and_the_caller_sees_only_success()
    {
        var stuck = await FullBacklogAsync();
        var config = new ProxyConfig().Cluster("app", [stuck, _good.Address]).Route("app", "app")
            .ClusterPolicy("app", "Timeouts", new JsonObject { ["Connect"] = "00:00:00.300", ["Route"] = "00:00:10" })
            .ClusterPolicy("app", "Retry", new JsonObject { ["NumRetries"] = 1 })
            .ClusterPolicy("app", "OutlierDetection", new JsonObject { ["Enabled"] = false });
        config.Clusters["app"]!["LoadBalancingPolicy"] = "RoundRobin";
        await using var proxy = await StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        for (var i = 0; i < 6; i++)
        {
            var (response, _) = await GetAsync(client, $"/call/{i}", $"call-{i}");
            using (response)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("good", response.Headers.GetValues("x-backend").Single());
            }
        }

        // Round robin sent about half of the first attempts to the stuck host; each of those was retried.
        await Eventually.AssertAsync(() => Task.FromResult(_outcomes.Count == 6), "all six outcomes are recorded");
        var retried = _outcomes.Values.Count(outcome => outcome.Attempts == 2);
        Assert.InRange(retried, 1, 6);
        Assert.All(_outcomes.Values, outcome => Assert.Equal(AttemptOutcome.Success, outcome.Outcome));
        Assert.Equal(retried, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"app\""));
        Assert.Equal(retried, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_rq_retry_total", "cluster=\"app\""));
    }

    [Fact]
    public async Task Many_connects_hanging_on_one_cluster_do_not_slow_another()
    {
        var stuck = await FullBacklogAsync();
        var config = new ProxyConfig()
            .Cluster("stuck", stuck).Route("stuck", "stuck", "/stuck/{**rest}")
            .Cluster("other", _good.Address).Route("other", "other", "/other/{**rest}")
            .ClusterPolicy("stuck", "Timeouts", new JsonObject { ["Connect"] = "00:00:05", ["Route"] = "00:00:10" })
            .ClusterPolicy("stuck", "Retry", new JsonObject { ["NumRetries"] = 0 });
        await using var proxy = await StartAsync(config);
        using var stuckClient = Clients.Http1(proxy.Ingress);
        using var otherClient = Clients.Http1(proxy.Ingress);
        Assert.Equal(HttpStatusCode.OK, (await otherClient.GetAsync("/other/warm")).StatusCode);

        var hanging = Enumerable.Range(0, 64).Select(i => stuckClient.GetAsync($"/stuck/{i}")).ToArray();
        await Eventually.AssertAsync(
            async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_total", "cluster=\"stuck\"") >= 16,
            "connects are hanging");

        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 20; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await otherClient.GetAsync($"/other/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
        }

        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"stuck\""));
        Assert.True(slowest < TimeSpan.FromSeconds(2), $"other traffic waited {slowest.TotalMilliseconds:0} ms while connects hung");
        foreach (var response in await Task.WhenAll(hanging))
        {
            using (response)
            {
                Assert.True(response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout, $"a hung connect ended in {response.StatusCode}");
            }
        }

        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"stuck\"") >= 16);
    }

    [Fact]
    public async Task A_host_that_accepts_late_is_connected_by_the_kernel_and_answers_within_the_route_timeout()
    {
        var accept = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var late = AcceptsLate(accept.Task);
        var config = new ProxyConfig().Cluster("app", late).Route("app", "app")
            .ClusterPolicy("app", "Timeouts", new JsonObject { ["Connect"] = "00:00:00.300", ["Route"] = "00:00:30" })
            .ClusterPolicy("app", "Retry", new JsonObject { ["NumRetries"] = 0 });
        await using var proxy = await StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        var answer = GetAsync(client, "/late", "late");

        // The handshake completes in the kernel, within the connect timeout: the connection is open, the request waits
        // unread for accept() — well past the connect timeout, with no connect failure.
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_active", "cluster=\"app\"", 1);
        await Task.WhenAny(answer, Task.Delay(TimeSpan.FromSeconds(1)));
        Assert.False(answer.IsCompleted, "answered before the host accepted");
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_upstream_cx_connect_fail_total", "cluster=\"app\""));

        accept.SetResult();
        var (response, _) = await answer;
        using (response)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("late", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal((1, AttemptOutcome.Success), await OutcomeAsync("late"));
    }
}
