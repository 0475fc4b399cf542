using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.LoadBalancing;

/// <summary>
/// A real proxy with <c>ProxyMesh.LeastRequest</c> over three loopback hosts, one of which holds every request: once it
/// holds one, the idle hosts win every comparison and traffic steers away from it.
/// </summary>
public sealed class LeastRequestEndToEndTests
{
    private const int Requests = 150;

    [Fact]
    public async Task Least_request_steers_traffic_away_from_a_slow_host()
    {
        await using var fast1 = await Backend.StartEchoAsync("fast1");
        await using var fast2 = await Backend.StartEchoAsync("fast2");
        await using var slow = await GatedBackend.StartAsync();
        var config = new ProxyConfig().Cluster("app", [fast1.Address, slow.Address, fast2.Address]).Route("app", "app");
        config.Clusters["app"]!["LoadBalancingPolicy"] = LoadBalancingPolicyNames.LeastRequest;
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        var held = new List<Task<HttpResponseMessage>>();
        var answeredBy = new Dictionary<string, int>();
        for (var i = 0; i < Requests; i++)
        {
            var heldBefore = slow.Held;
            var request = client.GetAsync(new Uri("/hold", UriKind.Relative));

            // Either a fast host answers, or the slow one starts holding the request.
            Assert.True(
                await Eventually.TrueAsync(() => Task.FromResult(request.IsCompleted || slow.Held > heldBefore)),
                $"request {i} was neither answered nor held");
            if (request.IsCompleted)
            {
                using var response = await request;
                var backend = response.Headers.GetValues("x-backend").Single();
                answeredBy[backend] = answeredBy.GetValueOrDefault(backend) + 1;
            }
            else
            {
                held.Add(request);
            }
        }

        // Round robin would send a third (50) to the slow host; least request sends it at most the first pick that
        // found it idle, plus picks that raced a completing request's counter.
        Assert.True(slow.Held <= 3, $"the slow host got {slow.Held} of {Requests} requests");
        Assert.Equal(Requests - slow.Held, answeredBy.Values.Sum());
        Binomial.AssertWithin(answeredBy.GetValueOrDefault("fast1"), Requests - slow.Held, 0.5, "fast1's share of the answered requests");

        slow.Open();
        foreach (var response in await Task.WhenAll(held))
        {
            response.Dispose();
        }
    }
}
