using System.Globalization;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.LoadBalancing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Bench.LoadBalancing;

/// <summary>
/// One pick per policy over 3, 30 and 300 available hosts with weights 1–3, some active requests, and a different
/// <c>x-request-id</c> per request (cycling over 1,024 prepared requests), the policies resolved from DI as the proxy
/// registers them. YARP's own RoundRobin and PowerOfTwoChoices (unweighted) are baselines.
/// </summary>
[MemoryDiagnoser]
public class PickBenchmarks
{
    private const int Requests = 1024;

    private ILoadBalancingPolicy _policy = null!;
    private ClusterState _cluster = null!;
    private IReadOnlyList<DestinationState> _available = null!;
    private HttpContext[] _contexts = null!;
    private int _next;

    [Params(
        LoadBalancingPolicyNames.RoundRobin,
        LoadBalancingPolicyNames.Random,
        LoadBalancingPolicyNames.LeastRequest,
        LoadBalancingPolicyNames.RingHash,
        "RoundRobin",
        "PowerOfTwoChoices")]
    public string Policy { get; set; } = LoadBalancingPolicyNames.RoundRobin;

    [Params(3, 30, 300)]
    public int Hosts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddReverseProxy();
        services.AddProxyMeshLoadBalancing();
        var provider = services.BuildServiceProvider();
        foreach (var policy in provider.GetServices<ILoadBalancingPolicy>())
        {
            if (policy.Name == Policy)
            {
                _policy = policy;
            }
        }

        var random = new Random(42);
        var destinations = new DestinationState[Hosts];
        for (var i = 0; i < Hosts; i++)
        {
            var metadata = new Dictionary<string, string> { ["weight"] = (1 + (i % 3)).ToString(CultureInfo.InvariantCulture) };
            destinations[i] = new DestinationState($"h{i}", new DestinationModel(new DestinationConfig { Address = $"http://10.0.{i / 256}.{i % 256}:8080", Metadata = metadata }))
            {
                ConcurrentRequestCount = random.Next(8),
            };
        }

        _available = destinations;
        _cluster = new ClusterState("app", new ClusterModel(new ClusterConfig { ClusterId = "app" }, new HttpMessageInvoker(new HttpClientHandler())))
        {
            DestinationsState = new ClusterDestinationsState(destinations, destinations),
        };
        _contexts = new HttpContext[Requests];
        for (var i = 0; i < Requests; i++)
        {
            _contexts[i] = new DefaultHttpContext();
            _contexts[i].Request.Headers["x-request-id"] = Guid.NewGuid().ToString();
        }

        Pick();
    }

    [Benchmark]
    public DestinationState? Pick()
    {
        var context = _contexts[_next++ & (Requests - 1)];
        return _policy.PickDestination(context, _cluster, _available);
    }
}
