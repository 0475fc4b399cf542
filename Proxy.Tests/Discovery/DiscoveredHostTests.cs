using System.Net;
using ProxyMesh.Proxy.Discovery;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Discovery;

/// <summary>A discovered host's id (<c>ip:port</c>) is formatted once per host, not on every read.</summary>
public sealed class DiscoveredHostTests
{
    [Fact]
    public void Reading_the_id_of_every_host_of_a_large_answer_allocates_nothing()
    {
        var hosts = new DiscoveredHost[50_000];
        for (var i = 0; i < hosts.Length; i++)
        {
            hosts[i] = new DiscoveredHost(new IPAddress([10, (byte)(i >> 16), (byte)(i >> 8), (byte)i]), 8080);
        }

        var length = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var host in hosts)
        {
            // As a poll reads it: duplicate check, membership key, destination address.
            length += host.Id.Length + host.Id.Length + host.Id.Length;
        }

        AllocationAssert.NothingPerIteration(GC.GetAllocatedBytesForCurrentThread() - before, hosts.Length, "reading DiscoveredHost.Id");
        Assert.True(length > 0);
        Assert.Same(hosts[0].Id, hosts[0].Id);
    }

    [Fact]
    public void The_id_follows_the_address_and_port_of_a_copy()
    {
        var host = new DiscoveredHost(IPAddress.Parse("10.0.0.1"), 8080, Zone: "a");

        Assert.Equal("10.0.0.1:8080", host.Id);
        Assert.Equal("10.0.0.1:8080", (host with { Zone = "b" }).Id);
        Assert.Equal("10.0.0.1:9090", (host with { Port = 9090 }).Id);
        Assert.Equal("[2001:db8::1]:8080", (host with { Address = IPAddress.Parse("2001:db8::1") }).Id);
        Assert.Equal("[2001:db8::1]:443", (host with { Address = IPAddress.Parse("2001:db8::1"), Port = 443 }).Id);
        Assert.Equal(host, new DiscoveredHost(IPAddress.Parse("10.0.0.1"), 8080, Zone: "a"));
    }
}
