using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Admin;

/// <summary>/healthcheck/fail drains: /ready fails so callers move away, while in-flight and new requests are still served.</summary>
public sealed class DrainTests
{
    [Fact]
    public async Task Healthcheck_fail_drains_without_dropping_traffic_and_healthcheck_ok_restores()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = await Backend.StartAsync(app => app.Run(async context =>
        {
            if (context.Request.Path == "/slow")
            {
                slowStarted.TrySetResult();
                await release.Task;
            }

            await context.Response.WriteAsync("done " + context.Request.Path);
        }));
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("app", backend.Address).Route("app", "app"));
        using var client = Clients.Http1(proxy.Ingress);
        using var admin = Clients.Http1(proxy.Admin);

        var inFlight = client.GetStringAsync("/slow");
        await slowStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));

        using (var fail = await admin.PostAsync("/healthcheck/fail", null))
        {
            Assert.Equal(HttpStatusCode.OK, fail.StatusCode);
        }

        using (var ready = await admin.GetAsync("/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("DRAINING\n", await ready.Content.ReadAsStringAsync());
        }

        Assert.Contains("\"state\": \"DRAINING\"", await admin.GetStringAsync("/server_info"), StringComparison.Ordinal);
        Assert.Equal("done /new", await client.GetStringAsync("/new"));
        release.SetResult();
        Assert.Equal("done /slow", await inFlight);

        using (var ok = await admin.PostAsync("/healthcheck/ok", null))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
    }

    [Fact]
    public async Task Healthcheck_endpoints_only_accept_post()
    {
        await using var proxy = await RunningProxy.StartAsync(new ProxyConfig());
        using var admin = Clients.Http1(proxy.Admin);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await admin.GetAsync("/healthcheck/fail")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/ready")).StatusCode);
    }
}
