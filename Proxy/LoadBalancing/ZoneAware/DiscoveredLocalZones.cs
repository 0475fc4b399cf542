using System.Net;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Discovery;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>
/// Polls discovery for this sidecar's own service (<c>ProxyMesh:ServiceName</c>) on the discovery refresh interval and
/// keeps the zones of its hosts. On any trouble — discovery down, an error, an unusable or empty answer — the last
/// good distribution stays. Idle when discovery is not configured, when <c>ProxyMesh:LocalCluster</c> is set, or while
/// no cluster uses the <c>ZoneAware</c> policy (it then only looks again each refresh interval).
/// </summary>
/// <param name="services">Resolves YARP's cluster state lazily: YARP's configuration manager needs the load-balancing
/// policies, which need this distribution.</param>
internal sealed partial class DiscoveredLocalZones(
    IOptionsMonitor<DiscoveryOptions> discovery,
    IOptionsMonitor<LocalZoneOptions> options,
    IServiceProvider services,
    TimeProvider time,
    Random random,
    ILogger<DiscoveredLocalZones> logger) : BackgroundService
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = Timeout.InfiniteTimeSpan };
    private volatile LocalZones? _current;

    public LocalZones? Current => _current;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var settings = discovery.CurrentValue;
                if (settings.Url is null || !string.IsNullOrEmpty(options.CurrentValue.LocalCluster) || !AnyZoneAwareCluster())
                {
                    await Task.Delay(settings.RefreshInterval, time, stoppingToken);
                    continue;
                }

                await PollAsync(settings, options.CurrentValue.ServiceName, stoppingToken);
                await Task.Delay(settings.RefreshInterval + (settings.RefreshInterval * random.NextDouble()), time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private bool AnyZoneAwareCluster()
    {
        foreach (var cluster in services.GetRequiredService<Yarp.ReverseProxy.IProxyStateLookup>().GetClusters())
        {
            if (string.Equals(cluster.Model.Config.LoadBalancingPolicy, ZoneAwareLoadBalancingPolicy.PolicyName, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private async Task PollAsync(DiscoveryOptions settings, string service, CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(settings.RequestTimeout);
        string problem;
        try
        {
            using var response = await _http.GetAsync($"{settings.Url!.TrimEnd('/')}/v1/registration/{Uri.EscapeDataString(service)}", timeout.Token);
            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            problem = $"discovery answered {(int)response.StatusCode}";
            var answer = response.StatusCode == HttpStatusCode.OK ? SdsAnswer.Parse(body, service, out problem) : null;
            if (answer is { Hosts.Count: > 0 })
            {
                var zones = LocalZones.Count(answer.Hosts.Select(host => host.Zone));
                if (!zones.SameAs(_current))
                {
                    _current = zones;
                }

                return;
            }

            problem = answer is null ? problem : "the answer lists no host";
        }
        catch (HttpRequestException e)
        {
            problem = e.Message;
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            problem = "discovery did not answer in time";
        }

        LogKeeping(logger, service, problem);
    }

    public override void Dispose()
    {
        base.Dispose();
        _http.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Zone distribution of the local service {Service} not updated: {Problem}. Keeping the last one.")]
    private static partial void LogKeeping(ILogger logger, string service, string problem);
}
