using System.Globalization;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.LoadBalancing.ZoneAware;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Bench.LoadBalancing;

/// <summary>
/// One <c>ProxyMesh.ZoneAware</c> pick over 3, 30 and 300 available hosts spread evenly over three zones, with the local service
/// spread 50/25/25 (so picks are sampled between the local zone and the others), resolved from DI as the proxy
/// registers the policy; the local distribution is fixed instead of polled.
/// </summary>
[MemoryDiagnoser]
public class ZoneAwarePickBenchmarks
{
    private static readonly string[] Zones = ["zone-a", "zone-b", "zone-c"];

    private ILoadBalancingPolicy _policy = null!;
    private ClusterState _cluster = null!;
    private IReadOnlyList<DestinationState> _available = null!;
    private readonly HttpContext _context = new DefaultHttpContext();

    [Params(3, 30, 300)]
    public int Hosts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton(Metrics.NewCustomRegistry());
        services.AddOptions<ProxyMeshOptions>().Configure(options => options.Zone = "zone-a");
        services.AddProxyMeshZoneAwareRouting(new ConfigurationBuilder().Build());
        services.AddSingleton<ILocalZoneSource>(new FixedLocalZones(LocalZones.Count(["zone-a", "zone-a", "zone-b", "zone-c"])));
        var provider = services.BuildServiceProvider();
        _policy = provider.GetServices<ILoadBalancingPolicy>().Single(policy => policy.Name == "ProxyMesh.ZoneAware");

        var random = new Random(42);
        var destinations = new DestinationState[Hosts];
        for (var i = 0; i < Hosts; i++)
        {
            var metadata = new Dictionary<string, string> { ["zone"] = Zones[i % 3] };
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
        Pick();
    }

    [Benchmark]
    public DestinationState? Pick() => _policy.PickDestination(_context, _cluster, _available);

    private sealed class FixedLocalZones(LocalZones zones) : ILocalZoneSource
    {
        public LocalZones? Current { get; } = zones;
    }
}
