using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Discovery;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// A discovery answer cannot point callers at addresses no service lives on: link-local (cloud metadata endpoints),
/// multicast and unspecified addresses are rejected, and loopback too unless the proxy itself serves on loopback
/// only, each unless the cluster allows it. Rejected hosts are counted by reason.
/// </summary>
public sealed class DiscoveredAddressTests
{
    private static async Task<(RunningProxy Proxy, ScriptedDiscovery Discovery)> StartAsync(JsonObject? discoveryPolicy = null)
    {
        var discovery = await ScriptedDiscovery.StartAsync();
        discovery.Answer = service => (200, ScriptedDiscovery.Hosts(
            service, "http://127.0.0.1:7001", "http://10.0.0.7:7002", "http://169.254.169.254:80", "http://224.0.0.1:80", "http://0.0.0.0:80"));
        var config = new ProxyConfig().DiscoveryCluster("orders", "orders", discovery.Url).Route("orders", "orders");
        if (discoveryPolicy is not null)
        {
            config.Root["ProxyMesh"]!["Clusters"] = new JsonObject { ["orders"] = new JsonObject { ["Discovery"] = discoveryPolicy } };
        }

        return (await RunningProxy.StartAsync(config), discovery);
    }

    private static async Task<HashSet<string>> DestinationsAsync(RunningProxy proxy, int expected)
    {
        HashSet<string> ids = [];
        await Eventually.AssertAsync(() =>
        {
            ids = proxy.Services.GetRequiredService<IProxyStateLookup>().TryGetCluster("orders", out var cluster)
                ? cluster.Destinations.Keys.ToHashSet()
                : [];
            return Task.FromResult(ids.Count == expected);
        }, $"{expected} destinations");
        return ids;
    }

    [Fact]
    public async Task Link_local_multicast_and_unspecified_hosts_are_rejected_and_counted()
    {
        var (proxy, discovery) = await StartAsync();
        await using var _ = discovery;
        await using var __ = proxy;

        Assert.Equal(["127.0.0.1:7001", "10.0.0.7:7002"], await DestinationsAsync(proxy, 2));
        const string Rejected = "proxymesh_cluster_update_rejected_host_total";
        Assert.True(await MetricsScrape.ValueAsync(proxy, Rejected, "cluster=\"orders\",reason=\"link_local\"") >= 1);
        Assert.True(await MetricsScrape.ValueAsync(proxy, Rejected, "cluster=\"orders\",reason=\"multicast\"") >= 1);
        Assert.True(await MetricsScrape.ValueAsync(proxy, Rejected, "cluster=\"orders\",reason=\"unspecified\"") >= 1);
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, Rejected, "cluster=\"orders\",reason=\"loopback\""));
    }

    [Fact]
    public async Task Loopback_hosts_are_rejected_when_the_cluster_does_not_allow_them()
    {
        var (proxy, discovery) = await StartAsync(new JsonObject { ["AllowLoopback"] = false });
        await using var _ = discovery;
        await using var __ = proxy;

        Assert.Equal(["10.0.0.7:7002"], await DestinationsAsync(proxy, 1));
        Assert.True(await MetricsScrape.ValueAsync(proxy, "proxymesh_cluster_update_rejected_host_total", "cluster=\"orders\",reason=\"loopback\"") >= 1);
    }

    [Fact]
    public async Task A_cluster_may_allow_link_local_hosts()
    {
        var (proxy, discovery) = await StartAsync(new JsonObject { ["AllowLinkLocal"] = true });
        await using var _ = discovery;
        await using var __ = proxy;

        Assert.Equal(["127.0.0.1:7001", "10.0.0.7:7002", "169.254.169.254:80"], await DestinationsAsync(proxy, 3));
    }

    [Theory]
    [InlineData(true, "http://127.0.0.1:10000", "http://localhost:10001")]
    [InlineData(true, "http://[::1]:10000")]
    [InlineData(false, "http://127.0.0.1:10000", "http://0.0.0.0:10001")]
    [InlineData(false, "http://10.0.0.5:10000")]
    public void Loopback_hosts_are_allowed_by_default_only_when_every_listener_is_on_loopback(bool allowed, params string[] listeners) =>
        Assert.Equal(allowed, DiscoveredAddressPolicy.ProxyServesLoopbackOnly(listeners));

    [Theory]
    [InlineData("10.1.2.3", null)]
    [InlineData("2001:db8::1", null)]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("127.8.9.10", "loopback")]
    [InlineData("::1", "loopback")]
    [InlineData("::ffff:127.0.0.1", "loopback")]
    [InlineData("169.254.169.254", "link_local")]
    [InlineData("fe80::1", "link_local")]
    [InlineData("::ffff:169.254.1.1", "link_local")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("239.255.255.250", "multicast")]
    [InlineData("255.255.255.255", "multicast")]
    [InlineData("ff02::1", "multicast")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("0.1.2.3", "unspecified")]
    [InlineData("::", "unspecified")]
    public void Addresses_are_classified_as_Envoy_users_expect(string address, string? reason) =>
        Assert.Equal(reason, DiscoveredAddressPolicy.RejectionReason(IPAddress.Parse(address), allowLoopback: false, allowLinkLocal: false));
}
