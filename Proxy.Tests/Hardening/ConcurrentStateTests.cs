using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Resilience.RateLimiting;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
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
        using var limits = new LocalRateLimits(time, Metrics.NewCustomRegistry());
        var options = proxy.Services.GetRequiredService<ClusterPolicies>().For<RateLimitOptions>("app", RateLimitOptions.PolicyName);
        var route = new RouteConfig { RouteId = "app", ClusterId = "app", Match = new RouteMatch { Path = "/" } };

        var first = Task.Run(() => limits.For(route, "app", options));
        var second = Task.Run(() => limits.For(route, "app", options));
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

    /// <summary>
    /// A request holding a host's bookkeeping when a sweep removes that host (it left the cluster) takes the lock
    /// just after the sweep and detects the host as an outlier: that ejection of a host no longer tracked must not
    /// count, or no later sweep brings the active-ejection count back down.
    /// </summary>
    [Fact]
    public void An_ejection_racing_the_sweep_that_removes_the_host_leaves_no_active_ejection_behind()
    {
        var live = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ProxyMesh:Defaults:OutlierDetection:Consecutive5xx"] = "2",
            ["ProxyMesh:Defaults:OutlierDetection:MaxEjectionPercent"] = "100",
        }).Build();
        using var validated = new ValidatedConfiguration(live, new ConfigUpdateStats());
        using var policies = new ClusterPolicies(validated);
        var leaving = new DestinationState("leaving");
        var staying = new DestinationState("staying");
        var cluster = new ClusterState("orders") { DestinationsState = new ClusterDestinationsState([leaving, staying], [leaving, staying]) };
        cluster.Destinations["leaving"] = leaving;
        cluster.Destinations["staying"] = staying;
        using var time = new SweepGate();
        var state = new OneCluster(cluster) { Gate = time };
        var registry = Metrics.NewCustomRegistry();
        using var detector = new OutlierDetector(
            policies, new NoHealthUpdates(), state, new OutlierDetectionStats(registry), registry, time, new FixedRandom(0.5), NullLogger<OutlierDetector>.Instance);

        detector.Record(cluster, leaving, UpstreamOutcome.Error5xx);
        cluster.Destinations.TryRemove("leaving", out _);
        cluster.DestinationsState = new ClusterDestinationsState([staying], [staying]);

        // The sweep stops inside its lock, before it drops the departed host; the failing request arrives meanwhile.
        var sweep = new Thread(() => time.Advance(TimeSpan.FromSeconds(10)));
        time.HoldNextSweep();
        sweep.Start();
        Assert.True(time.SweepHeld.Wait(TimeSpan.FromSeconds(10)), "the sweep reached its lock");
        var request = new Thread(() => detector.Record(cluster, leaving, UpstreamOutcome.Error5xx));
        request.Start();
        Assert.True(SpinWait.SpinUntil(() => request.ThreadState.HasFlag(ThreadState.WaitSleepJoin), TimeSpan.FromSeconds(10)), "the request waits for the lock");
        time.ReleaseSweep();
        Assert.True(sweep.Join(TimeSpan.FromSeconds(10)) && request.Join(TimeSpan.FromSeconds(10)));

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(0, Active(registry));
    }

    private static double Active(CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        var line = System.Text.Encoding.UTF8.GetString(stream.ToArray()).Split('\n')
            .Single(text => text.StartsWith("proxymesh_outlier_detection_ejections_active{", StringComparison.Ordinal));
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A fake clock that can hold the next sweep at its first reading of the time, inside its lock.</summary>
    private sealed class SweepGate : FakeTimeProvider, IDisposable
    {
        private readonly ManualResetEventSlim _release = new(false);
        private int _sweeper = -1;

        public ManualResetEventSlim SweepHeld { get; } = new(false);

        public void HoldNextSweep() => Volatile.Write(ref _sweeper, 0);

        public void ReleaseSweep() => _release.Set();

        /// <summary>Called by the sweep (outside its lock) just before it takes the lock and reads the time.</summary>
        public void SweepStarting() => Interlocked.CompareExchange(ref _sweeper, Environment.CurrentManagedThreadId, 0);

        public override DateTimeOffset GetUtcNow()
        {
            if (Volatile.Read(ref _sweeper) == Environment.CurrentManagedThreadId && !_release.IsSet)
            {
                SweepHeld.Set();
                _release.Wait(TimeSpan.FromSeconds(10));
            }

            return base.GetUtcNow();
        }

        public void Dispose()
        {
            _release.Dispose();
            SweepHeld.Dispose();
        }
    }

    private sealed class OneCluster(ClusterState cluster) : IProxyStateLookup
    {
        public SweepGate? Gate { get; set; }

        public bool TryGetRoute(string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out RouteModel? route)
        {
            route = null;
            return false;
        }

        public IEnumerable<RouteModel> GetRoutes() => [];

        public bool TryGetCluster(string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ClusterState? found)
        {
            Gate?.SweepStarting();
            found = cluster;
            return id == cluster.ClusterId;
        }

        public IEnumerable<ClusterState> GetClusters() => [cluster];
    }

    private sealed class NoHealthUpdates : IDestinationHealthUpdater
    {
        public void SetPassive(ClusterState cluster, DestinationState destination, DestinationHealth newHealth, TimeSpan reactivationPeriod)
        {
        }

        public void SetActive(ClusterState cluster, IEnumerable<NewActiveDestinationHealth> newHealthStates)
        {
        }
    }
}
