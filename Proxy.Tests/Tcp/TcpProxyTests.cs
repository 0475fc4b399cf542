using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Tcp;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Tcp;

/// <summary>The TCP proxy over real sockets: a tcp:// listener in front of raw TCP peers.</summary>
public sealed class TcpProxyTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Echo_goes_through_and_is_counted_and_logged()
    {
        await using var peer = TcpPeer.StartEcho();
        var log = LogPath();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log };
        await using var proxy = await RunningProxy.StartAsync(config);

        using (var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("db")))
        {
            await TcpPeer.SendAllAsync(client, "hello, mesh"u8.ToArray());
            client.Shutdown(SocketShutdown.Send);
            Assert.Equal("hello, mesh", Encoding.ASCII.GetString(await TcpPeer.ReadToEndAsync(client)));
        }

        const string labels = "listener=\"db\",cluster=\"db\"";
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_downstream_cx_total", labels, 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_downstream_cx_active", labels, 0);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_downstream_cx_rx_bytes_total", labels, 11);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_downstream_cx_tx_bytes_total", labels, 11);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_downstream_cx_length_seconds_count", labels, 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_total", "cluster=\"db\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_active", "cluster=\"db\"", 0);
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_tcp_upstream_cx_connect_fail_total", labels));
        using (var admin = Clients.Http1(proxy.Admin))
        {
            var tcpMetrics = string.Join('\n', (await admin.GetStringAsync("/metrics")).Split('\n')
                .Where(line => line.Contains("proxymesh_tcp_", StringComparison.Ordinal))) + "\n";
            Assert.Equal("", await Promtool.CheckMetricsAsync(tcpMetrics));
        }

        var entry = (await AccessLogFile.WaitForAsync(log, 1))[0];
        Assert.Equal("TCP", entry.GetProperty("protocol").GetString());
        Assert.Equal(11, entry.GetProperty("bytes_received").GetInt64());
        Assert.Equal(11, entry.GetProperty("bytes_sent").GetInt64());
        Assert.Equal($"127.0.0.1:{peer.Port}", entry.GetProperty("upstream_host").GetString());
        Assert.Equal("-", entry.GetProperty("response_flags").GetString());
        Assert.Equal("db", entry.GetProperty("listener").GetString());
        Assert.Equal("db", entry.GetProperty("cluster").GetString());
        Assert.True(entry.GetProperty("duration_ms").GetDouble() >= 0);
    }

    [Fact]
    public async Task A_hundred_megabytes_each_way_arrive_identical()
    {
        const int size = 100 * 1024 * 1024;
        var receivedByPeer = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var peer = TcpPeer.Start(async (socket, token) =>
        {
            var sending = SendPatternAsync(socket, seed: 2, size, token);
            receivedByPeer.TrySetResult(await HashToEndAsync(socket, token));
            await sending;
            socket.Shutdown(SocketShutdown.Send);
        });
        var config = new ProxyConfig().Cluster("bulk", peer.TcpAddress);
        config.TcpListener("bulk", "bulk");
        await using var proxy = await RunningProxy.StartAsync(config);

        using var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("bulk"));
        var upload = Task.Run(async () =>
        {
            await SendPatternAsync(client, seed: 1, size, CancellationToken.None);
            client.Shutdown(SocketShutdown.Send);
        });
        var downloaded = await HashToEndAsync(client, CancellationToken.None).WaitAsync(Generous);
        await upload.WaitAsync(Generous);

        Assert.Equal(Convert.ToHexString(PatternHash(seed: 1, size)), Convert.ToHexString(await receivedByPeer.Task.WaitAsync(Generous)));
        Assert.Equal(Convert.ToHexString(PatternHash(seed: 2, size)), Convert.ToHexString(downloaded));
        const string labels = "listener=\"bulk\",cluster=\"bulk\"";
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_downstream_cx_rx_bytes_total", labels, size);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_downstream_cx_tx_bytes_total", labels, size);
    }

    [Fact]
    public async Task Client_half_close_reaches_the_upstream_which_still_answers()
    {
        await using var peer = TcpPeer.Start(async (socket, token) =>
        {
            var request = await TcpPeer.ReadToEndAsync(socket, token); // Only the proxied FIN ends this.
            await TcpPeer.SendAllAsync(socket, Encoding.ASCII.GetBytes($"got {request.Length} bytes: {Encoding.ASCII.GetString(request)}"), token);
            socket.Shutdown(SocketShutdown.Send);
        });
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db");
        await using var proxy = await RunningProxy.StartAsync(config);

        using var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("db"));
        await TcpPeer.SendAllAsync(client, "question"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        var answer = await TcpPeer.ReadToEndAsync(client).WaitAsync(Generous);
        Assert.Equal("got 8 bytes: question", Encoding.ASCII.GetString(answer));
    }

    [Fact]
    public async Task Upstream_half_close_reaches_the_client_which_can_still_send()
    {
        var lateBytes = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var peer = TcpPeer.Start(async (socket, token) =>
        {
            await TcpPeer.SendAllAsync(socket, "welcome"u8.ToArray(), token);
            socket.Shutdown(SocketShutdown.Send);
            lateBytes.TrySetResult(Encoding.ASCII.GetString(await TcpPeer.ReadToEndAsync(socket, token)));
        });
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db");
        await using var proxy = await RunningProxy.StartAsync(config);

        using var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("db"));
        Assert.Equal("welcome", Encoding.ASCII.GetString(await TcpPeer.ReadToEndAsync(client).WaitAsync(Generous)));
        await TcpPeer.SendAllAsync(client, "still here"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal("still here", await lateBytes.Task.WaitAsync(Generous));
    }

    [Fact]
    public async Task A_refused_connect_moves_to_another_host_before_any_byte_is_forwarded()
    {
        await using var peer = TcpPeer.StartEcho();
        var refusing = RefusingAddress();
        var log = LogPath();
        var config = new ProxyConfig().Cluster("pair", [refusing, peer.TcpAddress]).Cluster("dead", refusing);
        config.Clusters["pair"]!["LoadBalancingPolicy"] = "RoundRobin";
        config.TcpListener("retrying", "pair")["MaxConnectAttempts"] = 2;
        config.TcpListener("single", "dead");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log };
        await using var proxy = await RunningProxy.StartAsync(config);

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal($"ping {i}", await EchoOnceAsync(proxy.Listeners.UriOf("retrying"), $"ping {i}"));
        }

        // Round robin sends every other first attempt to the refusing host; each moved on and succeeded.
        var failures = await MetricsScrape.ValueAsync(proxy, "proxymesh_tcp_upstream_cx_connect_fail_total", "listener=\"retrying\",cluster=\"pair\"");
        Assert.InRange(failures, 1, 4);
        Assert.Equal(4, peer.Accepted);

        Assert.True(await IsClosedAtOnceAsync(proxy.Listeners.UriOf("single")), "a connection whose only host refuses is closed");

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_upstream_cx_connect_fail_total", "listener=\"single\",cluster=\"dead\"", 1);
        await Eventually.AssertAsync(
            () => Task.FromResult(AccessLogFile.Read(log).Any(entry => entry.GetProperty("listener").GetString() == "single" && entry.GetProperty("response_flags").GetString() == "UF")),
            "the refused connection is logged with flag UF");
    }

    [Fact]
    public async Task Max_connections_overflow_closes_the_new_connection_at_once()
    {
        await using var peer = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db");
        config.ClusterPolicies("db")["CircuitBreakers"] = new JsonObject { ["MaxConnections"] = 1 };
        await using var proxy = await RunningProxy.StartAsync(config);
        var uri = proxy.Listeners.UriOf("db");

        using (var first = await TcpPeer.ConnectAsync(uri))
        {
            await TcpPeer.SendAllAsync(first, "one"u8.ToArray());
            Assert.Equal("one", Encoding.ASCII.GetString(await ReadExactlyAsync(first, 3)));

            Assert.True(await IsClosedAtOnceAsync(uri), "the connection over max_connections is closed");
            await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_upstream_cx_overflow_total", "listener=\"db\",cluster=\"db\"", 1);
            await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_overflow_total", "cluster=\"db\"", 1);

            await TcpPeer.SendAllAsync(first, "still"u8.ToArray());
            Assert.Equal("still", Encoding.ASCII.GetString(await ReadExactlyAsync(first, 5)));
        }

        // The slot comes back when the first connection ends.
        await Eventually.AssertAsync(async () => await TryEchoAsync(uri, "three") == "three", "a connection is admitted again");
        Assert.Equal(2, peer.Accepted);
    }

    [Fact]
    public async Task An_idle_connection_is_closed_after_IdleTimeout_and_a_busy_one_at_MaxConnectionDuration()
    {
        await using var peer = TcpPeer.StartEcho();
        var log = LogPath();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("idle", "db")["IdleTimeout"] = "00:00:01";
        config.TcpListener("capped", "db")["MaxConnectionDuration"] = "00:00:01.500";
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log };
        await using var proxy = await RunningProxy.StartAsync(config);

        using (var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("idle")))
        {
            await TcpPeer.SendAllAsync(client, "x"u8.ToArray());
            Assert.Equal("x", Encoding.ASCII.GetString(await ReadExactlyAsync(client, 1)));
            var quiet = System.Diagnostics.Stopwatch.StartNew();
            Assert.True(await IsClosedAsync(client), "the idle connection is closed");
            Assert.True(quiet.Elapsed >= TimeSpan.FromSeconds(0.9), $"closed after {quiet.Elapsed}, before the idle timeout");
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_idle_timeout_total", "listener=\"idle\",cluster=\"db\"", 1);

        using (var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("capped")))
        {
            var open = System.Diagnostics.Stopwatch.StartNew();
            var closed = false;
            while (!closed && open.Elapsed < Generous)
            {
                try
                {
                    await TcpPeer.SendAllAsync(client, "."u8.ToArray());
                    var buffer = new byte[1];
                    closed = await client.ReceiveAsync(buffer, SocketFlags.None) == 0;
                }
                catch (SocketException)
                {
                    closed = true;
                }
            }

            Assert.True(closed, "the connection was closed at its maximum duration");
            Assert.True(open.Elapsed >= TimeSpan.FromSeconds(1.4), $"closed after {open.Elapsed}");
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_max_downstream_connection_duration_total", "listener=\"capped\",cluster=\"db\"", 1);
        var entries = await AccessLogFile.WaitForAsync(log, 2);
        Assert.Contains(entries, entry => entry.GetProperty("listener").GetString() == "idle" && entry.GetProperty("response_flags").GetString() == "SI");
        Assert.Contains(entries, entry => entry.GetProperty("listener").GetString() == "capped" && entry.GetProperty("response_flags").GetString() == "DT");
    }

    [Fact]
    public async Task Healthcheck_fail_refuses_new_connections_and_closes_open_ones_at_the_drain_deadline()
    {
        await using var peer = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db")["DrainTimeout"] = "00:00:02";
        await using var proxy = await RunningProxy.StartAsync(config);
        var uri = proxy.Listeners.UriOf("db");
        using var admin = Clients.Http1(proxy.Admin);

        using var open = await TcpPeer.ConnectAsync(uri);
        await TcpPeer.SendAllAsync(open, "a"u8.ToArray());
        Assert.Equal("a", Encoding.ASCII.GetString(await ReadExactlyAsync(open, 1)));

        (await admin.PostAsync("/healthcheck/fail", null)).EnsureSuccessStatusCode();
        var draining = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await IsClosedAtOnceAsync(uri), "a new connection is refused while draining");

        // The open connection keeps working until the deadline, then is closed.
        await TcpPeer.SendAllAsync(open, "b"u8.ToArray());
        Assert.Equal("b", Encoding.ASCII.GetString(await ReadExactlyAsync(open, 1)));
        Assert.True(await IsClosedAsync(open), "the open connection is closed at the drain deadline");
        Assert.True(draining.Elapsed >= TimeSpan.FromSeconds(1.5), $"closed {draining.Elapsed} after the drain began");
        // One refused while draining, one closed at the deadline — at least: the listener's ephemeral port may have
        // belonged to another test's server, whose still-reconnecting client (a driver's monitor) is refused too.
        double? drainClosed = null;
        Assert.True(
            await Eventually.TrueAsync(async () => (drainClosed = await MetricsScrape.SampleAsync(proxy, "proxymesh_tcp_downstream_cx_drain_closed_total", "listener=\"db\",cluster=\"db\"")) >= 2),
            $"drain_closed: expected at least 2, was {drainClosed}");

        (await admin.PostAsync("/healthcheck/ok", null)).EnsureSuccessStatusCode();
        Assert.Equal("again", await EchoOnceAsync(uri, "again"));
    }

    [Fact]
    public async Task A_filter_sees_every_byte_in_order_both_ways_and_can_close_the_connection()
    {
        var filters = new RecordingFilterFactory();
        await using var peer = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db")["Filters"] = new JsonArray("Record");
        config.TcpListener("guarded", "db")["Filters"] = new JsonArray("Record");
        config.Listeners["guarded"]!["Record"] = new JsonObject { ["CloseOn"] = "BYE" };
        await using var proxy = await RunningProxy.StartAsync(config, services => services.AddSingleton<ITcpFilterFactory>(filters));

        var sent = new byte[1024 * 1024];
        new Random(7).NextBytes(sent);
        using (var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("db")))
        {
            var receiving = TcpPeer.ReadToEndAsync(client);
            for (var offset = 0; offset < sent.Length; offset += 10_000)
            {
                await TcpPeer.SendAllAsync(client, sent.AsMemory(offset, Math.Min(10_000, sent.Length - offset)));
            }

            client.Shutdown(SocketShutdown.Send);
            Assert.Equal(sent, await receiving.WaitAsync(Generous));
        }

        Assert.True(filters.Created.TryDequeue(out var filter));
        Assert.Equal("db", filter.Context.ListenerName);
        Assert.Equal(sent, filter.Downstream);
        Assert.Equal(sent, filter.Upstream);
        await Eventually.AssertAsync(() => Task.FromResult(filter.Disposed), "the filter is disposed with its connection");
        Assert.Equal(TcpCloseInitiator.Remote, filter.ClosedBy); // The client's FIN came first.

        // ProxyMesh's TCP transport receives more than Kestrel's 4 KB blocks at once (the client sent 10,000-byte writes).
        Assert.True(filter.LargestDownstreamSegment > 4096, $"largest client buffer: {filter.LargestDownstreamSegment} bytes");

        using (var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("guarded")))
        {
            await TcpPeer.SendAllAsync(client, "hello"u8.ToArray());
            Assert.Equal("hello", Encoding.ASCII.GetString(await ReadExactlyAsync(client, 5)));
            await TcpPeer.SendAllAsync(client, "BYE"u8.ToArray());
            Assert.True(await IsClosedAsync(client), "the filter closed the connection");
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_downstream_cx_filter_closed_total", "listener=\"guarded\",cluster=\"db\"", 1);
        Assert.True(filters.Created.TryDequeue(out var guarded));
        await Eventually.AssertAsync(() => Task.FromResult(guarded.Disposed), "the filter is disposed with its connection");
        Assert.Equal(TcpCloseInitiator.Local, guarded.ClosedBy); // The proxy closed it.
    }

    [Fact]
    public async Task Kestrels_socket_transport_still_serves_tcp_listeners_when_asked()
    {
        var filters = new RecordingFilterFactory();
        await using var peer = TcpPeer.Start(async (socket, token) =>
        {
            var request = await TcpPeer.ReadToEndAsync(socket, token);
            await TcpPeer.SendAllAsync(socket, Encoding.ASCII.GetBytes($"got {request.Length} bytes"), token);
            socket.Shutdown(SocketShutdown.Send);
        });
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db")["Filters"] = new JsonArray("Record");
        config.Root["ProxyMesh"]!["TcpTransport"] = new JsonObject { ["UseKestrel"] = true };
        await using var proxy = await RunningProxy.StartAsync(config, services => services.AddSingleton<ITcpFilterFactory>(filters));

        using var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("db"));
        await TcpPeer.SendAllAsync(client, new byte[100_000]);
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal("got 100000 bytes", Encoding.ASCII.GetString(await TcpPeer.ReadToEndAsync(client).WaitAsync(Generous)));
        Assert.True(filters.Created.TryDequeue(out var filter));
        Assert.InRange(filter.LargestDownstreamSegment, 1, 4096); // Kestrel's blocks.
    }

    [Fact]
    public async Task Bad_tcp_settings_are_refused_at_start_and_a_bad_reload_keeps_the_last_good_one()
    {
        var filters = new RecordingFilterFactory();
        await using var peer = TcpPeer.StartEcho();
        var bad = new ProxyConfig().Cluster("db", "http://127.0.0.1:1");
        var listener = bad.TcpListener("db", "missing");
        listener["Filters"] = new JsonArray("Record", "Nope");
        listener["MaxConnectAttempts"] = 0;
        listener["IdleTimeout"] = "-00:00:01";
        listener["AllowedCallers"] = "orders";
        bad.Listeners["db"]!["Record"] = new JsonObject { ["CloseOn"] = "" };
        bad.Root["ProxyMesh"]!["TcpTransport"] = new JsonObject { ["ReceiveBufferSize"] = 10 };
        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(bad, services => services.AddSingleton<ITcpFilterFactory>(filters)));
        var problems = string.Join("\n", error.Problems);
        Assert.Contains("ProxyMesh:Listeners:db:Cluster: there is no cluster named 'missing'", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:db:Filters: unknown filter 'Nope' (known: Mongo, Record)", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:db:Record:CloseOn: must not be empty", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:db:MaxConnectAttempts: must be 1 or more", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:db:IdleTimeout: must not be negative", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:db:AllowedCallers:", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:TcpTransport:ReceiveBufferSize: must be between 1024 and 16777216", problems, StringComparison.Ordinal);

        var good = new ProxyConfig().Cluster("db", peer.TcpAddress);
        good.TcpListener("db", "db");
        await using var proxy = await RunningProxy.StartAsync(good, services => services.AddSingleton<ITcpFilterFactory>(filters));
        var uri = proxy.Listeners.UriOf("db");
        Assert.Equal("before", await EchoOnceAsync(uri, "before"));

        var reload = new ProxyConfig().Cluster("db", peer.TcpAddress);
        reload.TcpListener("db", "db")["Filters"] = new JsonArray("Nope");
        reload.Listeners["db"]!["Url"] = uri.ToString().TrimEnd('/');
        await proxy.RewriteSettingsAsync(reload);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_config_update_rejected_total", null, 1);
        Assert.Equal("after", await EchoOnceAsync(uri, "after"));
    }

    [Fact]
    public async Task Python_sockets_are_served_as_a_non_dotnet_client()
    {
        await using var peer = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db");
        await using var proxy = await RunningProxy.StartAsync(config);
        var uri = proxy.Listeners.UriOf("db");

        var (exitCode, output) = await Python.RunAsync($$"""
            import socket
            s = socket.create_connection(("127.0.0.1", {{uri.Port}}))
            s.sendall(b"from python " * 1000)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            print(len(data), data[:12].decode())
            """);
        Assert.True(exitCode == 0, output);
        Assert.Equal("12000 from python", output.Trim());
    }

    internal static string LogPath()
    {
        var path = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    /// <summary>A loopback port nothing listens on: connects to it are refused.</summary>
    internal static string RefusingAddress()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return $"tcp://127.0.0.1:{((IPEndPoint)socket.LocalEndPoint!).Port}";
    }

    internal static async Task<string> EchoOnceAsync(Uri listener, string text)
    {
        using var client = await TcpPeer.ConnectAsync(listener);
        await TcpPeer.SendAllAsync(client, Encoding.UTF8.GetBytes(text));
        client.Shutdown(SocketShutdown.Send);
        return Encoding.UTF8.GetString(await TcpPeer.ReadToEndAsync(client).WaitAsync(Generous));
    }

    private static async Task<string?> TryEchoAsync(Uri listener, string text)
    {
        try
        {
            return await EchoOnceAsync(listener, text);
        }
        catch (SocketException)
        {
            return null;
        }
    }

    internal static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var received = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None).AsTask().WaitAsync(Generous);
            if (received == 0)
            {
                throw new IOException($"closed after {read} of {count} bytes");
            }

            read += received;
        }

        return buffer;
    }

    /// <summary>
    /// Whether a new connection is closed by the proxy right after it is accepted. On a loaded machine the reset can
    /// overtake the client's view of its own connect, which then fails: that counts as closed too.
    /// </summary>
    internal static async Task<bool> IsClosedAtOnceAsync(Uri listener)
    {
        Socket client;
        try
        {
            client = await TcpPeer.ConnectAsync(listener);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
        {
            return true;
        }

        using (client)
        {
            return await IsClosedAsync(client);
        }
    }

    /// <summary>Whether the proxy closes (FIN or reset) the connection, waiting generously.</summary>
    internal static async Task<bool> IsClosedAsync(Socket socket)
    {
        var buffer = new byte[256];
        using var timeout = new CancellationTokenSource(Generous);
        try
        {
            while (true)
            {
                if (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task SendPatternAsync(Socket socket, int seed, int size, CancellationToken token)
    {
        var random = new Random(seed);
        var chunk = new byte[256 * 1024];
        for (var sent = 0; sent < size; sent += chunk.Length)
        {
            random.NextBytes(chunk);
            await TcpPeer.SendAllAsync(socket, chunk.AsMemory(0, Math.Min(chunk.Length, size - sent)), token);
        }
    }

    private static byte[] PatternHash(int seed, int size)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var random = new Random(seed);
        var chunk = new byte[256 * 1024];
        for (var done = 0; done < size; done += chunk.Length)
        {
            random.NextBytes(chunk);
            hash.AppendData(chunk, 0, Math.Min(chunk.Length, size - done));
        }

        return hash.GetHashAndReset();
    }

    private static async Task<byte[]> HashToEndAsync(Socket socket, CancellationToken token)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256 * 1024];
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
            if (read == 0)
            {
                return hash.GetHashAndReset();
            }

            hash.AppendData(buffer, 0, read);
        }
    }
}
