using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>One request id per call chain: kept, generated, forwarded, returned, and sampled alike at every hop.</summary>
public sealed class RequestIdTests : IAsyncLifetime
{
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartAsync(app => app.Run(context =>
        {
            // Echo the id back, as many services do: the caller must still see it once.
            var id = context.Request.Headers[RequestId.Header].ToString();
            context.Response.Headers[RequestId.Header] = id;
            return context.Response.WriteAsync(id);
        }));
        _proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app"));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    private async Task<(string Upstream, string[] Returned)> SendAsync(string? id)
    {
        using var client = Clients.Http1(_proxy.Ingress);
        using var request = client.Request(HttpMethod.Get, "/");
        if (id is not null)
        {
            request.Headers.TryAddWithoutValidation(RequestId.Header, id);
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadAsStringAsync(), response.Headers.GetValues(RequestId.Header).ToArray());
    }

    [Theory]
    [InlineData("3f1c2a9e-8b4d-4c6e-9f0a-1b2c3d4e5f60")]
    [InlineData("01J9Z7X2QK8M5N4P3R2S1T0V9W")]
    [InlineData("trace:abc/123+def=")]
    public async Task A_well_formed_id_is_kept_forwarded_and_returned_once(string id)
    {
        var (upstream, returned) = await SendAsync(id);
        Assert.Equal(id, upstream);
        Assert.Equal([id], returned);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("quote\"d")]
    [InlineData("x-very-long-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")]
    public async Task An_absent_or_malformed_id_is_replaced_by_a_new_uuid_v4(string? id)
    {
        var (upstream, returned) = await SendAsync(id);
        Assert.True(Guid.TryParse(upstream, out var generated), upstream);
        Assert.Equal(4, generated.Version);
        Assert.Equal([upstream], returned);
    }

    [Fact]
    public void Sampling_is_a_pure_function_of_the_id()
    {
        var ids = Enumerable.Range(0, 10_000).Select(i => Guid.NewGuid().ToString()).ToArray();
        var sampled = ids.Count(id => RequestId.IsSampled(id, 0.25));
        Assert.InRange(sampled, 2_330, 2_670); // 0.25 ± 4.9 standard deviations of Binomial(10000, 0.25)
        Assert.All(ids, id => Assert.Equal(RequestId.IsSampled(id, 0.25), RequestId.IsSampled(id, 0.25)));
        Assert.All(ids, id => Assert.True(!RequestId.IsSampled(id, 0.1) || RequestId.IsSampled(id, 0.25), "a lower rate keeps a subset"));
        Assert.DoesNotContain(ids, id => RequestId.IsSampled(id, 0));
        Assert.All(ids, id => Assert.True(RequestId.IsSampled(id, 1)));
    }
}

/// <summary>Three proxies in a chain, each sampling its access log at 30%, log exactly the same requests.</summary>
public sealed class StableSamplingChainTests
{
    [Fact]
    public async Task Every_hop_logs_the_same_set_of_request_ids()
    {
        await using var backend = await Backend.StartEchoAsync();
        var logs = Enumerable.Range(0, 3).Select(_ => Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.log")).ToArray();
        var proxies = new List<RunningProxy>();
        try
        {
            var next = backend.Address;
            for (var hop = 2; hop >= 0; hop--)
            {
                var config = new ProxyConfig().Cluster("next", next).Route("all", "next");
                config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = logs[hop], ["SampleRate"] = 0.3 };
                var proxy = await RunningProxy.StartAsync(config);
                proxies.Add(proxy);
                next = proxy.Ingress.ToString().TrimEnd('/');
            }

            using (var client = Clients.Http1(new Uri(next)))
            {
                for (var i = 0; i < 300; i++)
                {
                    Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/call/{i}")).StatusCode);
                }
            }

            // Stopping a proxy writes out everything its access log queued.
            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync();
            }

            proxies.Clear();
            var sets = logs.Select(log => AccessLogFile.Read(log).Select(entry => entry.GetProperty("request_id").GetString()!).ToHashSet()).ToArray();
            Assert.InRange(sets[0].Count, 50, 130); // 300 × 0.3 = 90, ± 5 standard deviations
            Assert.True(sets[0].SetEquals(sets[1]), "hops 1 and 2 logged the same ids");
            Assert.True(sets[0].SetEquals(sets[2]), "hops 1 and 3 logged the same ids");
        }
        finally
        {
            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync();
            }

            foreach (var log in logs)
            {
                File.Delete(log);
            }
        }
    }
}
