using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Prometheus;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.RateLimiting;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>Races on shared state that, lost, would leave a timer running forever or a count wrong forever.</summary>
public sealed class ConcurrentStateTests
{
    [Fact]
    public async Task Two_requests_building_the_same_rate_limit_bucket_at_once_leave_one_timer()
    {
        var config = new ProxyConfig().Cluster("app", "http://127.0.0.1:9").Route("app", "app");
        config.Root["ProxyMesh"]!["Clusters"] = new JsonObject
        {
            ["app"] = new JsonObject { ["RateLimit"] = new JsonObject { ["Enabled"] = true, ["MaxTokens"] = 5 } },
        };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var time = new RendezvousTimeProvider();
        using var limits = new LocalRateLimits(proxy.Services.GetRequiredService<ClusterPolicies>(), time, Metrics.NewCustomRegistry());
        var feature = new RouteOnly(new RouteConfig { RouteId = "app", ClusterId = "app", Match = new RouteMatch { Path = "/" } });

        var first = Task.Run(() => limits.For(feature));
        var second = Task.Run(() => limits.For(feature));
        var buckets = await Task.WhenAll(first, second);

        Assert.Same(buckets[0], buckets[1]);
        Assert.Equal(1, time.LiveTimers);
    }

    /// <summary>Makes two timer creations meet (up to half a second), so both racers are inside bucket creation at once.</summary>
    private sealed class RendezvousTimeProvider : FakeTimeProvider, IDisposable
    {
        private readonly Barrier _meet = new(2);
        private int _live;

        public int LiveTimers => Volatile.Read(ref _live);

        public void Dispose() => _meet.Dispose();

        public override System.Threading.ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            _meet.SignalAndWait(TimeSpan.FromMilliseconds(500));
            Interlocked.Increment(ref _live);
            return new Counted(base.CreateTimer(callback, state, dueTime, period), this);
        }

        private sealed class Counted(System.Threading.ITimer inner, RendezvousTimeProvider owner) : System.Threading.ITimer
        {
            private int _disposed;

            public bool Change(TimeSpan dueTime, TimeSpan period) => inner.Change(dueTime, period);

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref owner._live);
                }

                inner.Dispose();
            }

            public ValueTask DisposeAsync()
            {
                Dispose();
                return ValueTask.CompletedTask;
            }
        }
    }

    private sealed class RouteOnly(RouteConfig route) : IReverseProxyFeature
    {
        public RouteModel Route { get; } = new(route, null, HttpTransformer.Empty);

        public ClusterModel Cluster { get; set; } = null!;

        public IReadOnlyList<DestinationState> AllDestinations { get; set; } = [];

        public IReadOnlyList<DestinationState> AvailableDestinations { get; set; } = [];

        public DestinationState? ProxiedDestination { get; set; }
    }
}
