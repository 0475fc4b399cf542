using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Prometheus;
using ProxyMesh.Proxy.Admin;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability;

namespace ProxyMesh.Proxy.Discovery.Registration;

/// <summary>
/// Keeps this sidecar's service registered with discovery while <c>/ready</c> is 200: it checks in at start-up and
/// then every interval (hosts that stop checking in expire from discovery), deregisters as soon as the sidecar
/// drains, checks in again if draining is undone, and deregisters on shutdown.
/// </summary>
internal sealed partial class RegistrationAgent : BackgroundService
{
    private static readonly TimeSpan ShutdownDeregisterTimeout = TimeSpan.FromSeconds(5);

    private readonly RegistrationOptions _options;
    private readonly ProxyLifecycle _lifecycle;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly BackgroundLoopErrors _loopErrors;
    private readonly ILogger<RegistrationAgent> _logger;
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Counter _checkIns;
    private readonly Counter _deregistrations;
    private readonly string _checkInUrl;
    private readonly string _registrationUrl;
    private readonly CheckIn _body;
    private bool _registered;
    private bool _failing;

    public RegistrationAgent(
        IOptions<RegistrationOptions> options,
        IOptions<DiscoveryOptions> discovery,
        IOptions<ProxyMeshOptions> mesh,
        ProxyLifecycle lifecycle,
        TimeProvider time,
        Random random,
        CollectorRegistry registry,
        BackgroundLoopErrors loopErrors,
        ILogger<RegistrationAgent> logger)
    {
        _options = options.Value;
        _lifecycle = lifecycle;
        _time = time;
        _random = random;
        _loopErrors = loopErrors;
        _logger = logger;
        var factory = StatsFactory.For(registry);
        _checkIns = factory.CreateCounter("proxymesh_registration_check_in_total", "Check-ins of this sidecar's service with discovery.", "result");
        _deregistrations = factory.CreateCounter("proxymesh_registration_deregister_total", "Deregistrations of this sidecar's service from discovery.", "result");

        var baseUrl = (_options.DiscoveryUrl ?? discovery.Value.Url ?? "").TrimEnd('/');
        var service = Uri.EscapeDataString(_options.Service ?? mesh.Value.ServiceName);
        _checkInUrl = $"{baseUrl}/v1/registration/{service}";
        _registrationUrl = $"{_checkInUrl}/{Uri.EscapeDataString(_options.Ip ?? "")}/{_options.Port?.ToString(CultureInfo.InvariantCulture)}";
        var tags = _options.Tags;
        _body = new CheckIn(
            _options.Ip ?? "",
            _options.Port ?? 0,
            _options.Revision,
            new CheckInTags(tags.Az ?? mesh.Value.Zone, tags.Region, tags.InstanceId ?? Environment.MachineName, tags.Canary, tags.LoadBalancingWeight));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.IsActive)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var changed = _lifecycle.GetChangeToken();
            try
            {
                await TurnAsync(changed, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // An exception out of ExecuteAsync would stop the host: report it and look again one interval later.
                _loopErrors.Report("registration", e);
                await WaitAsync(_options.Interval, changed, stoppingToken);
            }
        }
    }

    private async Task TurnAsync(Microsoft.Extensions.Primitives.IChangeToken changed, CancellationToken stoppingToken)
    {
        var state = _lifecycle.State;
        if (state == ServerState.Live)
        {
            await CheckInAsync(stoppingToken);
        }
        else if (state == ServerState.Draining && _registered)
        {
            // Not cancelled by stopping: shutdown drains first, and this is the deregistration it waits for.
            await DeregisterAsync(CancellationToken.None);
        }

        var retryDeregistration = state == ServerState.Draining && _registered;
        await WaitAsync(state == ServerState.Live || retryDeregistration ? NextInterval() : Timeout.InfiniteTimeSpan, changed, stoppingToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_registered)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ShutdownDeregisterTimeout);
            await DeregisterAsync(timeout.Token);
        }
    }

    /// <summary>The interval plus up to 10% jitter, so that hosts started together do not check in together.</summary>
    private TimeSpan NextInterval() => _options.Interval + (_options.Interval * 0.1 * _random.NextDouble());

    private async Task WaitAsync(TimeSpan delay, Microsoft.Extensions.Primitives.IChangeToken changed, CancellationToken stoppingToken)
    {
        using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        using var registration = changed.RegisterChangeCallback(static state => ((CancellationTokenSource)state!).Cancel(), wake);
        try
        {
            await Task.Delay(delay, _time, wake.Token);
        }
        catch (OperationCanceledException)
        {
            // The state changed, or the proxy is stopping: the loop looks again.
        }
    }

    private async Task CheckInAsync(CancellationToken cancellationToken)
    {
        // A check-in in flight may reach discovery even when its answer is lost (say, to shutdown): from now on the
        // host counts as registered, so that draining and shutdown deregister it.
        _registered = true;
        try
        {
            using var response = await _http.PostAsJsonAsync(_checkInUrl, _body, RegistrationJson.Default.CheckIn, cancellationToken);
            response.EnsureSuccessStatusCode();
            _checkIns.WithLabels("success").Inc();
            if (_failing)
            {
                _failing = false;
                LogCheckInRecovered(_logger, _checkInUrl);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _checkIns.WithLabels("failure").Inc();
            if (!_failing)
            {
                _failing = true;
                LogCheckInFailing(_logger, _checkInUrl, e.Message);
            }
        }
    }

    private async Task DeregisterAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.DeleteAsync(_registrationUrl, cancellationToken);
            if (response.StatusCode != System.Net.HttpStatusCode.NotFound)
            {
                response.EnsureSuccessStatusCode(); // 404: not registered (a check-in that never arrived) is what deregistering wants
            }

            _registered = false;
            _deregistrations.WithLabels("success").Inc();
            LogDeregistered(_logger, _registrationUrl);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            _deregistrations.WithLabels("failure").Inc();
            LogDeregistrationFailed(_logger, _registrationUrl, e.Message);
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _http.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Check-in with discovery at {Url} is failing: {Problem}")]
    private static partial void LogCheckInFailing(ILogger logger, string url, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Check-in with discovery at {Url} recovered")]
    private static partial void LogCheckInRecovered(ILogger logger, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deregistered from discovery: {Url}")]
    private static partial void LogDeregistered(ILogger logger, string url);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deregistration from discovery at {Url} failed: {Problem}")]
    private static partial void LogDeregistrationFailed(ILogger logger, string url, string problem);
}

/// <summary>The check-in body of the SDS v1 API.</summary>
internal sealed record CheckIn(
    [property: JsonPropertyName("ip")] string Ip,
    [property: JsonPropertyName("port")] int Port,
    [property: JsonPropertyName("revision")] string? Revision,
    [property: JsonPropertyName("tags")] CheckInTags Tags);

internal sealed record CheckInTags(
    [property: JsonPropertyName("az")] string? Az,
    [property: JsonPropertyName("region")] string? Region,
    [property: JsonPropertyName("instance_id")] string? InstanceId,
    [property: JsonPropertyName("canary")] bool Canary,
    [property: JsonPropertyName("load_balancing_weight")] int? LoadBalancingWeight);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CheckIn))]
internal sealed partial class RegistrationJson : JsonSerializerContext;
