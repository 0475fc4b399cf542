using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
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
            catch (HttpRequestException)
            {
                return false;
            }
        }, "served again once the limit is lifted");
    }
}
