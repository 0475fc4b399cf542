using System.Net;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.LoadBalancing;

/// <summary>
/// YARP's cookie session affinity through a real proxy: the cookie is protected with the proxy's process-lifetime keys,
/// which are created on the first request that needs them (DeferredDataProtectionProvider).
/// </summary>
public sealed class SessionAffinityTests
{
    [Fact]
    public async Task A_protected_affinity_cookie_pins_requests_to_one_host_and_a_forged_one_is_redistributed()
    {
        await using var first = await Backend.StartEchoAsync("first");
        await using var second = await Backend.StartEchoAsync("second");
        var config = new ProxyConfig().Cluster("app", [first.Address, second.Address]).Route("app", "app");
        config.Clusters["app"]!["SessionAffinity"] = new JsonObject
        {
            ["Enabled"] = true,
            ["Policy"] = "Cookie",
            ["AffinityKeyName"] = "mesh-affinity",
        };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, UseCookies = false }) { BaseAddress = proxy.Ingress };

        using var opening = await client.GetAsync(new Uri("/", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, opening.StatusCode);
        var pinnedTo = opening.Headers.GetValues("x-backend").Single();
        var setCookie = opening.Headers.GetValues("Set-Cookie").Single(value => value.StartsWith("mesh-affinity=", StringComparison.Ordinal));
        var cookie = setCookie.Split(';')[0];
        // Protected: far longer than the destination id ("d0") in base64 ("ZDA"), as it would be unprotected.
        Assert.True(cookie.Length > "mesh-affinity=".Length + 40, cookie);

        for (var i = 0; i < 20; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Add("Cookie", cookie);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(pinnedTo, response.Headers.GetValues("x-backend").Single());
        }

        // A cookie the proxy did not protect cannot be read: YARP's default failure policy serves it from any host.
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/");
        forged.Headers.Add("Cookie", "mesh-affinity=ZDA");
        using var redistributed = await client.SendAsync(forged);
        Assert.Equal(HttpStatusCode.OK, redistributed.StatusCode);
    }
}
