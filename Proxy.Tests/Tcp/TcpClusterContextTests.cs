using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Tcp;

/// <summary>A TCP listener served by the cluster context HTTP uses: its load-balancing policy picks per connection, and upstream resets reach outlier detection.</summary>
public sealed class TcpClusterContextTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Ring_hash_sends_every_connection_of_one_client_address_to_the_same_host()
    {
        await using var a = TcpPeer.StartEcho();
        await using var b = TcpPeer.StartEcho();
        await using var c = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", [a.TcpAddress, b.TcpAddress, c.TcpAddress]);
        config.Clusters["db"]!["LoadBalancingPolicy"] = LoadBalancingPolicyNames.RingHash;
        config.TcpListener("db", "db");
        await using var proxy = await RunningProxy.StartAsync(config);

        const int connections = 12;
        for (var i = 0; i < connections; i++)
        {
            Assert.Equal($"ping {i}", await TcpProxyTests.EchoOnceAsync(proxy.Listeners.UriOf("db"), $"ping {i}"));
        }

        // Without a key ring hash picks at random: twelve connections would all land on one of three hosts 1 time in 3^11.
        int[] accepted = [a.Accepted, b.Accepted, c.Accepted];
        Assert.Equal(connections, accepted.Sum());
        Assert.Contains(connections, accepted);
    }

    [Fact]
    public async Task Least_request_spreads_open_connections_over_the_hosts()
    {
        await using var a = TcpPeer.StartEcho();
        await using var b = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", [a.TcpAddress, b.TcpAddress]);
        config.Clusters["db"]!["LoadBalancingPolicy"] = LoadBalancingPolicyNames.LeastRequest;
        config.TcpListener("db", "db");
        await using var proxy = await RunningProxy.StartAsync(config);

        // With two hosts both are drawn every time, so the host with fewer open connections always wins.
        var open = new List<Socket>();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                var client = await TcpPeer.ConnectAsync(proxy.Listeners.UriOf("db"));
                open.Add(client);
                await TcpPeer.SendAllAsync(client, "hi"u8.ToArray());
                Assert.Equal("hi", Encoding.ASCII.GetString(await TcpProxyTests.ReadExactlyAsync(client, 2)));
                Assert.InRange(a.Accepted - b.Accepted, -1, 1);
            }

            Assert.Equal(3, a.Accepted);
            Assert.Equal(3, b.Accepted);
            await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_active", "cluster=\"db\"", 6);
        }
        finally
        {
            foreach (var client in open)
            {
                client.Dispose();
            }
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_upstream_cx_active", "cluster=\"db\"", 0);
    }

    [Fact]
    public async Task An_upstream_that_resets_established_connections_is_ejected_by_outlier_detection()
    {
        await using var resetting = TcpPeer.Start(async (socket, token) =>
        {
            await socket.ReceiveAsync(new byte[16], SocketFlags.None, token);
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        });
        await using var healthy = TcpPeer.StartEcho();
        var log = TcpProxyTests.LogPath();
        var config = new ProxyConfig().Cluster("db", [resetting.TcpAddress, healthy.TcpAddress]);
        config.Clusters["db"]!["LoadBalancingPolicy"] = LoadBalancingPolicyNames.RoundRobin;
        config.ClusterPolicies("db")["OutlierDetection"] = new JsonObject
        {
            ["ConsecutiveGatewayFailure"] = 1,
            ["EnforcingConsecutiveGatewayFailure"] = 100,
            ["BaseEjectionTime"] = "00:10:00",
            ["MaxEjectionTime"] = "00:10:00",
        };
        config.TcpListener("db", "db");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log };
        await using var proxy = await RunningProxy.StartAsync(config);
        var uri = proxy.Listeners.UriOf("db");

        // Round robin alternates: a connection to the resetting host connects fine (a success, as Envoy's tcp_proxy reports
        // it) and is reset after its first bytes (a gateway failure): one in a row ejects the host.
        for (var i = 0; resetting.Accepted < 1; i++)
        {
            Assert.True(i < 8, "round robin reaches the resetting host");
            using var client = await TcpPeer.ConnectAsync(uri);
            await TcpPeer.SendAllAsync(client, "ping"u8.ToArray());
            if (await FirstReadAsync(client) is { } echoed)
            {
                Assert.Equal("ping", echoed[..4]);
            }
        }

        await MetricsScrape.AssertEventuallyAsync(
            proxy, "proxymesh_outlier_detection_ejections_enforced_total", "cluster=\"db\",type=\"consecutive_gateway_failure\"", 1);
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_tcp_upstream_cx_connect_fail_total", "listener=\"db\",cluster=\"db\""));
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal($"after {i}", await TcpProxyTests.EchoOnceAsync(uri, $"after {i}"));
        }

        Assert.Equal(1, resetting.Accepted);
        await Eventually.AssertAsync(
            () => Task.FromResult(AccessLogFile.Read(log).Count(entry => entry.GetProperty("termination_details").GetString() == "upstream_reset") == 1),
            "the reset connection is logged as upstream_reset");
    }

    /// <summary>The text of the first bytes received, or null when the proxy closes the connection first.</summary>
    private static async Task<string?> FirstReadAsync(Socket client)
    {
        var buffer = new byte[64];
        try
        {
            var read = await client.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Generous);
            return read == 0 ? null : Encoding.ASCII.GetString(buffer, 0, read).PadRight(4);
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
