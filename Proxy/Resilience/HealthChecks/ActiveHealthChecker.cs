using Microsoft.Extensions.Primitives;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// Probes every destination of every cluster whose <c>HealthCheck</c> policy has a type, each destination on its own
/// schedule (the interval, or the no-traffic interval until the cluster sees traffic, plus jitter), and publishes the
/// outcome as YARP's active health, which load balancing and discovery consult. Follows YARP's state as clusters and
/// destinations come and go with configuration and discovery.
/// </summary>
internal sealed partial class ActiveHealthChecker : BackgroundService
{
    private const string LoopName = "health_check";

    private readonly IProxyStateLookup _proxyState;
    private readonly IDestinationHealthUpdater _healthUpdater;
    private readonly ClusterPolicies _policies;
    private readonly ClusterTraffic _traffic;
    private readonly HealthCheckStats _stats;
    private readonly HealthProbes _probes;
    private readonly ProxyConfigApplied _applied;
    private readonly IConfiguration _configuration;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly BackgroundLoopErrors _loopErrors;
    private readonly ILogger<ActiveHealthChecker> _logger;
    private readonly Dictionary<(string Cluster, string Destination), Checked> _running = [];
    private readonly Lock _lock = new();
    private CancellationToken _stopping;
    private bool _started;

    public ActiveHealthChecker(
        IProxyStateLookup proxyState,
        IDestinationHealthUpdater healthUpdater,
        ClusterPolicies policies,
        ClusterTraffic traffic,
        HealthCheckStats stats,
        HealthProbes probes,
        ProxyConfigApplied applied,
        ValidatedConfiguration configuration,
        TimeProvider time,
        Random random,
        BackgroundLoopErrors loopErrors,
        ILogger<ActiveHealthChecker> logger)
    {
        _proxyState = proxyState;
        _healthUpdater = healthUpdater;
        _policies = policies;
        _traffic = traffic;
        _stats = stats;
        _probes = probes;
        _applied = applied;
        _configuration = configuration.View;
        _time = time;
        _random = random;
        _loopErrors = loopErrors;
        _logger = logger;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        lock (_lock)
        {
            _stopping = stoppingToken;
            _started = true;
        }

        _applied.Applied += Reconcile;
        var subscription = ChangeToken.OnChange(_configuration.GetReloadToken, Reconcile);
        stoppingToken.Register(() =>
        {
            _applied.Applied -= Reconcile;
            subscription.Dispose();
        });
        Reconcile();
        return Task.CompletedTask;
    }

    /// <summary>Starts checking new destinations of checked clusters and stops for those gone or no longer checked.</summary>
    private void Reconcile()
    {
        lock (_lock)
        {
            if (!_started || _stopping.IsCancellationRequested)
            {
                return;
            }

            var wanted = new Dictionary<(string, string), (ClusterState Cluster, DestinationState Destination)>();
            foreach (var cluster in _proxyState.GetClusters())
            {
                if (cluster.Model.Config.Metadata?.ContainsKey(HealthCheckConfigFilter.MetadataKey) == true)
                {
                    foreach (var (id, destination) in cluster.Destinations)
                    {
                        wanted[(cluster.ClusterId, id)] = (cluster, destination);
                    }
                }
            }

            foreach (var (key, running) in _running.ToArray())
            {
                if (!wanted.TryGetValue(key, out var target) || target.Cluster != running.Cluster || target.Destination != running.Destination)
                {
                    running.Stop.Cancel();
                    running.Stop.Dispose();
                    _running.Remove(key);
                    ForgetHealth(running);
                }
            }

            foreach (var (key, target) in wanted)
            {
                if (!_running.ContainsKey(key))
                {
                    var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
                    _running[key] = new Checked(target.Cluster, target.Destination, stop);
                    _ = CheckForeverAsync(target.Cluster, target.Destination, stop.Token);
                }
            }
        }
    }

    /// <summary>A destination still served but no longer checked goes back to unknown active health.</summary>
    private void ForgetHealth(Checked stopped)
    {
        if (stopped.Cluster.Destinations.TryGetValue(stopped.Destination.DestinationId, out var current) && current == stopped.Destination)
        {
            _healthUpdater.SetActive(stopped.Cluster, [new NewActiveDestinationHealth(stopped.Destination, DestinationHealth.Unknown)]);
        }
    }

    private async Task CheckForeverAsync(ClusterState cluster, DestinationState destination, CancellationToken cancellationToken)
    {
        var counter = new HostHealthCounter();
        var stats = _stats.For(cluster.ClusterId);
        try
        {
            await Task.Yield();
            var first = true;
            while (!cancellationToken.IsCancellationRequested)
            {
                var policy = _policies.For<HealthCheckPolicy>(cluster.ClusterId, HealthCheckPolicy.Name);
                try
                {
                    if (first)
                    {
                        first = false;
                        await InitialWaitAsync(policy, cancellationToken);
                    }

                    if (policy.Enabled)
                    {
                        stats.Attempts.Inc();
                        var result = await _probes.ProbeAsync(policy, cluster, destination, cancellationToken);
                        (result == ProbeResult.Success ? stats.Successes : stats.Failures).Inc();
                        var before = counter.Health;
                        var health = counter.Apply(result, policy);
                        if (health != before)
                        {
                            LogHealth(_logger, cluster.ClusterId, destination.DestinationId, health, result);
                        }

                        _healthUpdater.SetActive(cluster, [new NewActiveDestinationHealth(destination, health)]);
                    }

                    await WaitAsync(policy, cluster.ClusterId, cancellationToken);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    // Checking this host must not stop for good on a fault of ours: report it, try again next interval.
                    _loopErrors.Report(LoopName, e);
                    await Task.Delay(policy.Interval, _time, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Destination gone, checks turned off, or the proxy is stopping.
        }
    }

    private Task InitialWaitAsync(HealthCheckPolicy policy, CancellationToken cancellationToken)
    {
        var jitter = policy.InitialJitter ?? policy.IntervalJitter;
        return jitter > TimeSpan.Zero ? Task.Delay(jitter * _random.NextDouble(), _time, cancellationToken) : Task.CompletedTask;
    }

    /// <summary>The interval (the no-traffic interval, cut short by the first request, until the cluster sees traffic) plus jitter.</summary>
    private async Task WaitAsync(HealthCheckPolicy policy, string clusterId, CancellationToken cancellationToken)
    {
        var busy = _traffic.HasTraffic(clusterId);
        var wait = busy ? policy.Interval : policy.NoTrafficInterval;
        if (policy.IntervalJitter > TimeSpan.Zero)
        {
            wait += policy.IntervalJitter * _random.NextDouble();
        }

        if (busy)
        {
            await Task.Delay(wait, _time, cancellationToken);
            return;
        }

        using var firstTraffic = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _traffic.FirstTraffic(clusterId));
        try
        {
            await Task.Delay(wait, _time, firstTraffic.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Traffic arrived: from now on the regular interval applies.
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        lock (_lock)
        {
            foreach (var (_, running) in _running)
            {
                running.Stop.Dispose();
            }

            _running.Clear();
        }
    }

    private sealed record Checked(ClusterState Cluster, DestinationState Destination, CancellationTokenSource Stop);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster {Cluster}: destination {Destination} is now {Health} (last check: {Result}).")]
    private static partial void LogHealth(ILogger logger, string cluster, string destination, DestinationHealth health, ProbeResult result);
}

/// <summary>Tells the checker when YARP has applied a configuration (routes, clusters, discovered destinations).</summary>
internal sealed class ProxyConfigApplied : IConfigChangeListener
{
    public event Action? Applied;

    public void ConfigurationLoadingFailed(IProxyConfigProvider configProvider, Exception exception)
    {
    }

    public void ConfigurationLoaded(IReadOnlyList<IProxyConfig> proxyConfigs)
    {
    }

    public void ConfigurationApplyingFailed(IReadOnlyList<IProxyConfig> proxyConfigs, Exception exception)
    {
    }

    public void ConfigurationApplied(IReadOnlyList<IProxyConfig> proxyConfigs) => Applied?.Invoke();
}
