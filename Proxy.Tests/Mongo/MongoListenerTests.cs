using System.Net.Sockets;
using System.Text.Json.Nodes;
using MongoDB.Bson;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Tests.Infrastructure;
using static ProxyMesh.Proxy.Tests.Mongo.WireFrames;

namespace ProxyMesh.Proxy.Tests.Mongo;

/// <summary>The Mongo filter as a real proxy configures it: validation, stats from start-up, closing on an absurd length.</summary>
public sealed class MongoListenerTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Bad_mongo_options_are_refused_at_start_and_a_bad_reload_keeps_the_last_good_ones()
    {
        await using var peer = TcpPeer.StartEcho();
        var bad = new ProxyConfig().Cluster("db", peer.TcpAddress);
        var listener = bad.TcpListener("db", "db");
        listener["Filters"] = new JsonArray("Mongo");
        listener["Mongo"] = new JsonObject { ["MaxCollections"] = -1, ["Delay"] = new JsonObject { ["Percent"] = 20 } };
        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(bad));
        var problems = string.Join("\n", error.Problems);
        Assert.Contains("ProxyMesh:Listeners:db:Mongo:MaxCollections: must not be negative", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:db:Mongo:Delay:Duration: must be positive when Delay:Percent is set", problems, StringComparison.Ordinal);

        var good = new ProxyConfig().Cluster("db", peer.TcpAddress);
        good.TcpListener("db", "db")["Filters"] = new JsonArray("Mongo");
        await using var proxy = await RunningProxy.StartAsync(good);
        var uri = proxy.Listeners.UriOf("db");
        var ping = Msg(1, 0, new BsonDocument("ping", 1));
        Assert.Equal(ping, await RoundTripAsync(uri, ping));

        var reload = new ProxyConfig().Cluster("db", peer.TcpAddress);
        var reloaded = reload.TcpListener("db", "db");
        reloaded["Filters"] = new JsonArray("Mongo");
        reloaded["Url"] = uri.ToString().TrimEnd('/');
        reloaded["Mongo"] = new JsonObject { ["MaxMessageSize"] = "lots" };
        await proxy.RewriteSettingsAsync(reload);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_config_update_rejected_total", null, 1);
        Assert.Equal(ping, await RoundTripAsync(uri, ping));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_mongo_cmd_total", "listener=\"db\",cmd=\"ping\"", 2);
    }

    [Fact]
    public async Task Stats_are_exported_from_start_and_an_absurd_length_closes_the_connection_while_garbage_passes()
    {
        await using var peer = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db")["Filters"] = new JsonArray("Mongo");
        config.TcpListener("plain", "db");
        await using var proxy = await RunningProxy.StartAsync(config);
        Assert.Equal(0, await MetricsScrape.SampleAsync(proxy, "proxymesh_mongo_decoding_error_total", "listener=\"db\""));
        Assert.Null(await MetricsScrape.SampleAsync(proxy, "proxymesh_mongo_decoding_error_total", "listener=\"plain\""));

        var uri = proxy.Listeners.UriOf("db");
        var garbage = "not mongo at all, just text long enough for a header"u8.ToArray();
        Assert.Equal(garbage, await RoundTripAsync(uri, garbage));
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_mongo_decoding_error_total", "listener=\"db\"", 1);

        using (var client = await TcpPeer.ConnectAsync(uri))
        {
            await TcpPeer.SendAllAsync(client, Header(60_000_000, 1, 0, OpMsg));
            Assert.True(await Tcp.TcpProxyTests.IsClosedAsync(client), "the filter closed the connection");
        }

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_mongo_message_too_large_total", "listener=\"db\"", 1);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_mongo_decoding_error_total", "listener=\"db\"", 1);
    }

    /// <summary>Sends the bytes, half-closes, and reads the echo to the end.</summary>
    private static async Task<byte[]> RoundTripAsync(Uri listener, byte[] bytes)
    {
        using var client = await TcpPeer.ConnectAsync(listener);
        await TcpPeer.SendAllAsync(client, bytes);
        client.Shutdown(SocketShutdown.Send);
        return await TcpPeer.ReadToEndAsync(client).WaitAsync(Generous);
    }
}
