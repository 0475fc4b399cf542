using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Grpc.Core;
using ProxyMesh.Proxy.Tests.Grpc;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>The overload manager: fast 503s with x-envoy-overloaded instead of unbounded queueing, and recovery.</summary>
public sealed class OverloadTests
{
    [Fact]
    public async Task Requests_over_the_in_flight_limit_are_shed_at_once_and_served_again_when_it_frees()
    {
        await using var upstream = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", upstream.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxActiveRequests"] = 2 };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        var held = new[] { client.GetAsync("/a/hold"), client.GetAsync("/b/hold") };
        await upstream.WaitForHeldAsync(2);
        using (var shed = await client.GetAsync("/c"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, shed.StatusCode);
            Assert.Equal("true", shed.Headers.GetValues("x-envoy-overloaded").Single());
        }

        using (var admin = Clients.Http1(proxy.Admin))
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_overload_shed_total", "reason=\"max_active_requests\"", 1);
        upstream.Open();
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        Assert.Equal("ok", await client.GetStringAsync("/after"));
    }

    [Fact]
    public async Task Http2_streams_count_one_by_one_and_a_stream_over_the_limit_is_shed_on_the_same_connection()
    {
        // Two streams held on one h2c connection fill the limit; a third stream on that connection, and one from curl's
        // own HTTP/2 stack, are shed; the connection itself stays usable and serves again once the held streams end.
        await using var upstream = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", upstream.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxActiveRequests"] = 2 };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.H2c(proxy.Ingress);

        var held = new[] { client.SendAsync(client.Request(HttpMethod.Get, "/a/hold")), client.SendAsync(client.Request(HttpMethod.Get, "/b/hold")) };
        await upstream.WaitForHeldAsync(2);
        using (var shed = await client.SendAsync(client.Request(HttpMethod.Get, "/c")))
        {
            Assert.Equal(HttpVersion.Version20, shed.Version);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, shed.StatusCode);
            Assert.Equal("true", shed.Headers.GetValues("x-envoy-overloaded").Single());
        }

        var (exitCode, output) = await Curl.RunAsync("--http2-prior-knowledge", "--include", new Uri(proxy.Ingress, "/d").ToString());
        Assert.True(exitCode == 0, output);
        Assert.StartsWith("HTTP/2 503", output, StringComparison.Ordinal);
        Assert.Contains("x-envoy-overloaded: true", output, StringComparison.OrdinalIgnoreCase);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_overload_shed_total", "reason=\"max_active_requests\"", 2);

        upstream.Open();
        foreach (var response in await Task.WhenAll(held))
        {
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        using var after = await client.SendAsync(client.Request(HttpMethod.Get, "/after"));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task A_grpc_call_over_the_limit_is_a_trailers_only_unavailable_with_x_envoy_overloaded()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo");
        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxActiveRequests"] = 1 };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        var echo = new Echo.EchoClient(channel);
        var holding = echo.ServerStream(new EchoRequest { Message = "held", Count = 0 });
        Assert.True(await holding.ResponseStream.MoveNext(CancellationToken.None));

        // Grpc.Net.Client: UNAVAILABLE, the header among the response headers.
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await echo.UnaryAsync(new EchoRequest { Message = "over" }));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Equal("envoy overloaded", refused.Status.Detail);
        Assert.Contains(refused.Trailers, entry => entry.Key == "x-envoy-overloaded" && entry.Value == "true");

        // python3-h2: one HEADERS frame with :status 200, grpc-status 14 and END_STREAM, no DATA: a valid trailers-only response.
        var raw = Assert.Single(await RawGrpcCall.SendAsync(proxy.Ingress, new RawGrpcCall.Request("/proxymesh.test.Echo/Unary", RawGrpcCall.EchoRequest("over"))));
        Assert.Equal("200", raw.Header(":status"));
        Assert.Equal("application/grpc", raw.Header("content-type"));
        Assert.Equal("14", raw.Header("grpc-status"));
        Assert.Equal("true", raw.Header("x-envoy-overloaded"));
        Assert.True(raw.EndStreamOnHeaders, "END_STREAM was not on the HEADERS frame");
        Assert.Equal(0, raw.DataBytes);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_overload_shed_total", "reason=\"max_active_requests\"", 2);

        // The held call ends; its slot frees once the proxy has finished it.
        holding.Dispose();
        await Eventually.AssertAsync(async () =>
        {
            try
            {
                return (await echo.UnaryAsync(new EchoRequest { Message = "after" })).Message == "after";
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
            {
                return false;
            }
        }, "a call served once the held one ended");
    }

    [Fact]
    public async Task Grpc_calls_shed_before_their_message_came_leave_the_connection_usable()
    {
        // Kestrel keeps a stream answered before its request ended for 5 s (for the client's frames in flight) and,
        // over max(2 × MaxConcurrentStreams, 100) of those on one connection, resets new streams ENHANCE_YOUR_CALM,
        // then closes the connection with every call on it. A client slow to send its message after the HEADERS (here:
        // not until it has the answer) must not get there: a shed call is answered at once and its stream ends with
        // the client's END_STREAM. 30 rounds of 4 calls go past 100.
        await using var upstream = await EchoUpstream.StartAsync();
        var config = new ProxyConfig().Cluster("echo", upstream.Address, http2: true).Route("grpc", "echo");
        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxActiveRequests"] = 1 };
        config.Root["ProxyMesh"]!["Limits"] = new JsonObject { ["MaxConcurrentStreams"] = 4 };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var channel = EchoUpstream.Channel(proxy.Ingress);
        var holding = new Echo.EchoClient(channel).ServerStream(new EchoRequest { Message = "held", Count = 0 });
        Assert.True(await holding.ResponseStream.MoveNext(CancellationToken.None));

        const int rounds = 30;
        var answers = await GrpcAnswerBeforeMessage.RunAsync(proxy.Ingress, rounds);
        Assert.True(answers.All(line => line == "answered 14 before the message"), string.Join("\n", answers));
        Assert.Equal(rounds * 4, answers.Count);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_overload_shed_total", "reason=\"max_active_requests\"", rounds * 4);
        holding.Dispose();
    }

    [Fact]
    public async Task A_shed_request_costs_a_503_and_a_count_but_no_access_log_line()
    {
        // At twice its capacity a proxy that formats a log line per refused request spends its CPU on the refusals
        // (bench/soak --mode overload): shedding runs before the access log, and is counted instead.
        await using var upstream = await GatedBackend.StartAsync();
        var log = Path.Combine(Path.GetTempPath(), $"proxymesh-shed-{Guid.NewGuid():N}.log");
        var config = new ProxyConfig().Cluster("app", upstream.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxActiveRequests"] = 1 };
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log };
        try
        {
            await using var proxy = await RunningProxy.StartAsync(config);
            using var client = Clients.Http1(proxy.Ingress);
            var held = client.GetAsync("/held/hold");
            await upstream.WaitForHeldAsync(1);
            const int shedRequests = 20;
            for (var i = 0; i < shedRequests; i++)
            {
                using var shed = await client.GetAsync($"/shed-{i}");
                Assert.Equal(HttpStatusCode.ServiceUnavailable, shed.StatusCode);
                Assert.Equal("true", shed.Headers.GetValues("x-envoy-overloaded").Single());
            }

            upstream.Open();
            using (var response = await held)
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            Assert.Equal("ok", await client.GetStringAsync("/after"));

            // One writer appends entries in the order requests ended: once "/after" is in the file, any line for the
            // earlier 503s would be there too.
            IReadOnlyList<System.Text.Json.JsonElement> entries = [];
            await Eventually.AssertAsync(
                () => Task.FromResult((entries = AccessLogFile.Read(log)).Any(entry => entry.GetProperty("path").GetString() == "/after")),
                "the access log entry of /after");
            Assert.DoesNotContain(entries, entry => entry.GetProperty("response_code").GetInt32() == 503);
            Assert.Equal(["/held/hold", "/after"], entries.Select(entry => entry.GetProperty("path").GetString()));
            Assert.Equal(shedRequests, await MetricsScrape.ValueAsync(proxy, "proxymesh_overload_shed_total", "reason=\"max_active_requests\""));
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact]
    public async Task Over_the_heap_limit_new_connections_are_refused_and_admin_stays_up_until_the_limit_is_lifted()
    {
        await using var upstream = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", upstream.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxHeapBytes"] = 1, ["CheckInterval"] = "00:00:00.100" };
        await using var proxy = await RunningProxy.StartAsync(config);

        // The connection is closed as soon as it is accepted: HttpClient reports that as an HttpRequestException, or,
        // when the close wins the race with its connect bookkeeping, as the SocketException itself.
        var refused = await Record.ExceptionAsync(async () =>
        {
            using var client = Clients.Http1(proxy.Ingress);
            await client.GetStringAsync("/refused");
        });
        Assert.True(refused is HttpRequestException or System.Net.Sockets.SocketException, $"expected the connection refused, got {refused?.GetType().Name ?? "an answer"}");
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_overload_active", null, 1);
        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_overload_connections_refused_total") >= 1);

        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxHeapBytes"] = 0, ["CheckInterval"] = "00:00:00.100" };
        await proxy.RewriteSettingsAsync(config);
        await Eventually.AssertAsync(async () =>
        {
            using var client = Clients.Http1(proxy.Ingress);
            try
            {
                return await client.GetStringAsync("/back") == "ok";
            }
            catch (Exception e) when (e is HttpRequestException or SocketException)
            {
                return false; // Still refused (HttpClient reports a close during its connect bookkeeping as either).
            }
        }, "served again once the limit is lifted");
    }

    [Fact]
    public async Task Over_MaxConnections_new_connections_are_closed_at_once_and_served_again_when_one_ends()
    {
        await using var upstream = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", upstream.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Overload"] = new JsonObject { ["MaxConnections"] = 2 };
        await using var proxy = await RunningProxy.StartAsync(config);

        using var first = await OpenServedConnectionAsync(proxy.Ingress);
        using var second = await OpenServedConnectionAsync(proxy.Ingress);
        Assert.True(await IsClosedWithoutAnswerAsync(proxy.Ingress), "a third connection is closed at once");
        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_overload_connections_refused_total") >= 1);
        using (var admin = Clients.Http1(proxy.Admin))
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
        }

        // Both admitted connections still serve; once one ends, a new one is served.
        Assert.StartsWith("HTTP/1.1 200", await ExchangeAsync(first, "/again"), StringComparison.Ordinal);
        second.Shutdown(SocketShutdown.Both);
        second.Close();
        await AssertNewConnectionServedAsync(proxy.Ingress, "a new connection is served once an admitted one has ended");
    }

    private static Task AssertNewConnectionServedAsync(Uri listener, string what) => Eventually.AssertAsync(async () =>
    {
        try
        {
            using var next = await OpenServedConnectionAsync(listener);
            return true;
        }
        catch (Exception e) when (e is IOException or SocketException or InvalidOperationException)
        {
            return false;
        }
    }, what);

    private static async Task<Socket> OpenServedConnectionAsync(Uri listener)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(listener.Host, listener.Port);
        var head = await ExchangeAsync(socket, "/open");
        if (!head.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
        {
            socket.Dispose();
            throw new InvalidOperationException($"not served: '{head}'");
        }

        return socket;
    }

    /// <summary>Sends a keep-alive GET and reads its whole (small, chunked or sized) answer; "" when the connection was closed.</summary>
    private static async Task<string> ExchangeAsync(Socket socket, string path)
    {
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"));
        var answer = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, timeout.Token);
            if (read == 0)
            {
                return answer.ToString();
            }

            answer.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
            var text = answer.ToString();
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0 && (text[..end].Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)
                    ? text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal)
                    : text.Length >= end + 4 + ContentLength(text[..end])))
            {
                return text;
            }
        }
    }

    private static int ContentLength(string head)
    {
        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                return int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private static async Task<bool> IsClosedWithoutAnswerAsync(Uri listener)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(listener.Host, listener.Port);
            return await ExchangeAsync(socket, "/refused") == "";
        }
        catch (SocketException)
        {
            return true; // Reset rather than closed (even during the connect's own bookkeeping): refused all the same.
        }
    }
}
