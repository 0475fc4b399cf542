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
        Assert.All(ids, id => Assert.True(!RequestId.IsSampled(id, 0.1) || RequestId.IsSampled(id, 0.25), "a lower rate keeps a subset"));
        Assert.DoesNotContain(ids, id => RequestId.IsSampled(id, 0));
        Assert.All(ids, id => Assert.True(RequestId.IsSampled(id, 1)));
    }

    /// <summary>
    /// The published 64-bit FNV-1a test vectors (draft-eastlake-fnv, and the reference code's test suite): any
    /// proxy, in any language, that hashes the id's characters this way makes the same sampling decision.
    /// </summary>
    [Theory]
    [InlineData("", 0xcbf29ce484222325UL)]
    [InlineData("a", 0xaf63dc4c8601ec8cUL)]
    [InlineData("foobar", 0x85944171f73967e8UL)]
    public void The_sampling_fraction_is_64_bit_fnv_1a_of_the_id(string id, ulong fnv1a)
    {
        Assert.Equal((fnv1a >> 11) * (1.0 / (1UL << 53)), RequestId.Fraction(id));
    }

    [Theory]
    [InlineData("3f1c6a0e-9d2b-4c51-8e7a-0b6d5f4c3a21", 0.5, false)]
    [InlineData("3f1c6a0e-9d2b-4c51-8e7a-0b6d5f4c3a21", 0.9, true)]
    [InlineData("0a8e4c2f-6b1d-4f3a-9c7e-5d2b1a0f8e64", 0.1, true)]
    [InlineData("0a8e4c2f-6b1d-4f3a-9c7e-5d2b1a0f8e64", 0.03, false)]
    public void Known_ids_are_sampled_at_known_rates(string id, double rate, bool sampled)
    {
        Assert.Equal(sampled, RequestId.IsSampled(id, rate));
    }
}

/// <summary>
/// Three proxies in a chain, each sampling its access log at 30%, log exactly the same requests. The middle hop is
/// the ProxyMesh executable in a process of its own, so the decision cannot lean on anything shared in-process.
/// </summary>
public sealed class StableSamplingChainTests
{
    [Fact]
    public async Task Every_hop_logs_the_same_set_of_request_ids()
    {
        await using var backend = await Backend.StartEchoAsync();
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var logs = Enumerable.Range(0, 3).Select(hop => Path.Combine(directory, $"hop-{hop}.log")).ToArray();
        RunningProxy? first = null, last = null;
        ProxyProcess? middle = null;
        try
        {
            last = await RunningProxy.StartAsync(SampledHop(backend.Address, logs[2]));

            var middlePort = ProxyProcess.FreePort();
            var middleConfig = SampledHop(last.Ingress.ToString().TrimEnd('/'), logs[1]);
            middleConfig.Listeners["ingress"]!["Url"] = $"http://127.0.0.1:{middlePort}";
            middleConfig.Listeners["egress"]!["Url"] = $"http://127.0.0.1:{ProxyProcess.FreePort()}";
            middleConfig.Root["ProxyMesh"]!["Admin"]!["Url"] = $"http://127.0.0.1:{ProxyProcess.FreePort()}";
            await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), middleConfig.ToJson());
            middle = ProxyProcess.Start(directory, []);
            var middleAddress = $"http://127.0.0.1:{middlePort}";
            using (var probe = Clients.Http1(new Uri(middleAddress)))
            {
                await Eventually.AssertAsync(async () => (await probe.GetAsync("/ready-probe")).IsSuccessStatusCode, "the middle hop serves");
            }

            first = await RunningProxy.StartAsync(SampledHop(middleAddress, logs[0]));
            using (var client = Clients.Http1(first.Ingress))
            {
                for (var i = 0; i < 300; i++)
                {
                    Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/call/{i}")).StatusCode);
                }
            }

            // Stopping a proxy writes out everything its access log queued (the process on SIGTERM, as a container stops).
            await first.DisposeAsync();
            first = null;
            Assert.Equal(0, await middle.StopAsync(TimeSpan.FromSeconds(30)));
            await last.DisposeAsync();
            last = null;
            var sets = logs.Select(log => AccessLogFile.Read(log)
                .Where(entry => entry.GetProperty("path").GetString()!.StartsWith("/call/", StringComparison.Ordinal))
                .Select(entry => entry.GetProperty("request_id").GetString()!).ToHashSet()).ToArray();
            Assert.InRange(sets[0].Count, 50, 130); // 300 × 0.3 = 90, ± 5 standard deviations
            Assert.True(sets[0].SetEquals(sets[1]), "hops 1 and 2 (another process) logged the same ids");
            Assert.True(sets[0].SetEquals(sets[2]), "hops 1 and 3 logged the same ids");
        }
        finally
        {
            if (first is not null)
            {
                await first.DisposeAsync();
            }

            if (middle is not null)
            {
                await middle.DisposeAsync();
            }

            if (last is not null)
            {
                await last.DisposeAsync();
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    private static ProxyConfig SampledHop(string next, string log)
    {
        var config = new ProxyConfig().Cluster("next", next).Route("all", "next");
        config.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log, ["SampleRate"] = 0.3 };
        return config;
    }
}
