using System.Net;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>
/// Polls the discovery service for every discovery cluster, each on its own schedule (the refresh interval plus
/// uniform jitter, so that a fleet of proxies does not poll in step), and publishes the hosts as destinations.
/// Whatever goes wrong — discovery down, an error status, a malformed or empty answer — the last known hosts keep
/// serving: discovery being down never takes traffic down.
/// </summary>
internal sealed partial class DiscoveryClient : BackgroundService
{
    private readonly IConfiguration _root;
    private readonly IConfiguration _reverseProxy;
    private readonly IOptionsMonitor<DiscoveryOptions> _options;
    private readonly DiscoveredDestinations _destinations;
    private readonly DiscoveredLocalService _localService;
    private readonly ILocalServiceDemand[] _localServiceDemands;
    private readonly DiscoveryStats _stats;
    private readonly IProxyStateLookup _proxyState;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly BackgroundLoopErrors _loopErrors;
    private readonly ClusterPolicies _policies;
    private readonly bool _loopbackOnly;
    private readonly ThrottledLog<string> _rejectionLog;
    private readonly ILogger<DiscoveryClient> _logger;
    private readonly HttpClient _http;
    private readonly Dictionary<string, (DiscoveryTarget Target, CancellationTokenSource Stop)> _running = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _runningLock = new();
    private CancellationToken _stopping;

    public DiscoveryClient(
        ValidatedConfiguration configuration,
        IOptionsMonitor<DiscoveryOptions> options,
        DiscoveredDestinations destinations,
        DiscoveredLocalService localService,
        IEnumerable<ILocalServiceDemand> localServiceDemands,
        DiscoveryStats stats,
        IProxyStateLookup proxyState,
        TimeProvider time,
        Random random,
        BackgroundLoopErrors loopErrors,
        ClusterPolicies policies,
        IOptions<ProxyMeshOptions> mesh,
        ILogger<DiscoveryClient> logger)
    {
        _root = configuration.View;
        _reverseProxy = _root.GetSection("ReverseProxy");
        _options = options;
        _destinations = destinations;
        _localService = localService;
        _localServiceDemands = [.. localServiceDemands];
        _stats = stats;
        _proxyState = proxyState;
        _time = time;
        _random = random;
        _loopErrors = loopErrors;
        _policies = policies;
        _loopbackOnly = DiscoveredAddressPolicy.ProxyServesLoopbackOnly(mesh.Value.Listeners.Values.Select(listener => listener.Url));
        _rejectionLog = new ThrottledLog<string>(time);
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        Reconcile();
        var subscription = ChangeToken.OnChange(_reverseProxy.GetReloadToken, Reconcile);
        stoppingToken.Register(subscription.Dispose);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Starts polling for new discovery clusters (and the local service while it is needed) and stops it for those gone
    /// from the configuration.
    /// </summary>
    private void Reconcile()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        var targets = DiscoveryTarget.FromConfiguration(_reverseProxy).ToDictionary(target => target.ClusterId, StringComparer.OrdinalIgnoreCase);
        if (NeedsLocalService())
        {
            var local = DiscoveryTarget.LocalService(_root[$"{ProxyMeshOptions.SectionName}:{nameof(ProxyMeshOptions.ServiceName)}"] ?? new ProxyMeshOptions().ServiceName);
            targets[local.ClusterId] = local;
        }

        lock (_runningLock)
        {
            foreach (var (clusterId, running) in _running.ToArray())
            {
                if (!targets.TryGetValue(clusterId, out var target) || target != running.Target)
                {
                    running.Stop.Cancel();
                    running.Stop.Dispose();
                    _running.Remove(clusterId);
                    if (target is null && running.Target.IsLocalService)
                    {
                        _localService.Clear();
                    }
                    else if (target is null)
                    {
                        _destinations.Remove(clusterId);
                        _stats.Forget(clusterId);
                    }
                }
            }

            foreach (var (clusterId, target) in targets)
            {
                if (!_running.ContainsKey(clusterId))
                {
                    var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
                    _running[clusterId] = (target, stop);
                    _ = PollForeverAsync(target, stop.Token);
                }
            }
        }
    }

    private bool NeedsLocalService()
    {
        if (string.IsNullOrEmpty(_root[$"{DiscoveryOptions.SectionName}:{nameof(DiscoveryOptions.Url)}"]))
        {
            return false;
        }

        foreach (var demand in _localServiceDemands)
        {
            if (demand.NeedsLocalService(_root))
            {
                return true;
            }
        }

        return false;
    }

    private async Task PollForeverAsync(DiscoveryTarget target, CancellationToken cancellationToken)
    {
        var membership = new DiscoveredMembership(target.Scheme);
        string? failing = null;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    failing = await PollOnceAsync(target, membership, failing, cancellationToken);
                    await Task.Delay(JitteredInterval(_options.CurrentValue.RefreshInterval, _random), _time, cancellationToken);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    // A fault of ours must not end discovery for the cluster: the last known hosts keep serving, and
                    // the next poll comes one interval later.
                    _loopErrors.Report("discovery", e);
                    await Task.Delay(_options.CurrentValue.RefreshInterval, _time, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cluster removed or proxy stopping.
        }
    }

    /// <summary>The refresh interval plus uniform jitter in [0, interval].</summary>
    internal static TimeSpan JitteredInterval(TimeSpan interval, Random random) => interval + (interval * random.NextDouble());

    /// <returns>Why the cluster's discovery is failing now, or null when it is not.</returns>
    private async Task<string?> PollOnceAsync(DiscoveryTarget target, DiscoveredMembership membership, string? failing, CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        var stats = target.IsLocalService ? null : _stats; // Discovery stats are per cluster; the local service is none.
        stats?.Attempt(target.ClusterId);
        var (answer, problem, rejected) = await FetchAsync(options, target, cancellationToken);
        if (answer is null)
        {
            if (rejected)
            {
                stats?.Rejected(target.ClusterId);
            }
            else
            {
                stats?.Failure(target.ClusterId);
            }

            if (failing is null)
            {
                LogFailing(_logger, target.ClusterId, target.Service, problem, membership.Count);
            }

            return problem;
        }

        if (failing is not null)
        {
            LogRecovered(_logger, target.ClusterId, target.Service);
        }

        stats?.InvalidHosts(target.ClusterId, answer.InvalidHosts);
        var hosts = Acceptable(target.ClusterId, answer.Hosts, stats);
        var health = HealthLookup(target.ClusterId);
        switch (membership.Apply(hosts, _time.GetUtcNow(), health, options.AbsentHostGrace))
        {
            case MembershipUpdate.Empty:
                stats?.Empty(target.ClusterId);
                break;
            case MembershipUpdate.Changed when target.IsLocalService:
                _localService.Set(membership.Destinations);
                break;
            case MembershipUpdate.Changed:
                _stats.Success(target.ClusterId);
                _destinations.Set(target.ClusterId, membership.Destinations);
                break;
            default:
                stats?.Success(target.ClusterId);
                break;
        }

        return null;
    }

    /// <returns>The answer; or null, why, and whether the answer was rejected for its size rather than failed.</returns>
    private async Task<(SdsAnswer? Answer, string Problem, bool Rejected)> FetchAsync(DiscoveryOptions options, DiscoveryTarget target, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(options.RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var url = $"{options.Url!.TrimEnd('/')}/v1/registration/{Uri.EscapeDataString(target.Service)}";
        try
        {
            using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (null, $"discovery answered {(int)response.StatusCode}", false);
            }

            var tooLarge = $"the answer is larger than MaxAnswerBytes ({options.MaxAnswerBytes})";
            if (response.Content.Headers.ContentLength > options.MaxAnswerBytes)
            {
                return (null, tooLarge, true);
            }

            using var body = await ReadAtMostAsync(response.Content, options.MaxAnswerBytes, linked.Token);
            if (body is null)
            {
                return (null, tooLarge, true);
            }

            var answer = SdsAnswer.Parse(body.GetBuffer().AsMemory(0, (int)body.Length), target.Service, options.MaxHosts, out var problem, out var overLimit);
            return (answer, problem, overLimit);
        }
        catch (HttpRequestException e)
        {
            return (null, $"discovery unreachable: {e.Message}", false);
        }
        catch (IOException e)
        {
            return (null, $"discovery broke off its answer: {e.Message}", false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return (null, $"discovery did not answer within {options.RequestTimeout.TotalSeconds:0.###} s", false);
        }
    }

    /// <returns>The body, or null as soon as it grows past <paramref name="limit"/> bytes (the rest is never read).</returns>
    private static async Task<MemoryStream?> ReadAtMostAsync(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (body.Length + read > limit)
            {
                return null;
            }

            body.Write(buffer, 0, read);
        }

        return body;
    }

    /// <summary>The answer's hosts without those on addresses the cluster does not accept (counted, logged once a minute per reason).</summary>
    private IReadOnlyList<DiscoveredHost> Acceptable(string clusterId, IReadOnlyList<DiscoveredHost> hosts, DiscoveryStats? stats)
    {
        var policy = _policies.For<DiscoveredAddressPolicy>(clusterId, DiscoveredAddressPolicy.PolicyName);
        var allowLoopback = policy.AllowLoopback ?? _loopbackOnly;
        List<DiscoveredHost>? accepted = null;
        for (var i = 0; i < hosts.Count; i++)
        {
            var reason = DiscoveredAddressPolicy.RejectionReason(hosts[i].Address, allowLoopback, policy.AllowLinkLocal);
            if (reason is null)
            {
                accepted?.Add(hosts[i]);
                continue;
            }

            accepted ??= [.. hosts.Take(i)];
            stats?.RejectedHost(clusterId, reason);
            if (_rejectionLog.ShouldLog($"{clusterId}:{reason}"))
            {
                LogRejected(_logger, clusterId, hosts[i].Id, reason);
            }
        }

        return accepted ?? hosts;
    }

    private Func<string, HostHealth> HealthLookup(string clusterId)
    {
        if (!_proxyState.TryGetCluster(clusterId, out var cluster) || !Resilience.HealthChecks.HealthCheckConfigFilter.HasActiveChecks(cluster.Model.Config))
        {
            return static _ => HostHealth.NotChecked;
        }

        return destinationId => cluster.Destinations.TryGetValue(destinationId, out var destination)
            && destination.Health.Active == DestinationHealth.Unhealthy
                ? HostHealth.Unhealthy
                : HostHealth.Healthy;
    }

    public override void Dispose()
    {
        base.Dispose();
        _http.Dispose();
        lock (_runningLock)
        {
            foreach (var (_, running) in _running)
            {
                running.Stop.Dispose();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Discovery for cluster {Cluster} (service {Service}) is failing: {Problem}. Keeping the last {Count} known hosts.")]
    private static partial void LogFailing(ILogger logger, string cluster, string service, string problem, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Discovery for cluster {Cluster} named host {Host}, rejected: {Reason} address (allow with ProxyMesh:Clusters:<cluster>:Discovery; logged at most once a minute per reason, see proxymesh_cluster_update_rejected_host_total).")]
    private static partial void LogRejected(ILogger logger, string cluster, string host, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Discovery for cluster {Cluster} (service {Service}) recovered.")]
    private static partial void LogRecovered(ILogger logger, string cluster, string service);
}
