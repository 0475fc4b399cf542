using Prometheus;
using ProxyMesh.Discovery.Stores;

namespace ProxyMesh.Discovery.Observability;

/// <summary>
/// The discovery service's stats, in Prometheus form: <c>discovery_</c> prefix, <c>_total</c> counters, labels with a
/// fixed set of values (and <c>service</c> on the hosts gauge only, one series per service with live hosts).
/// </summary>
public sealed class DiscoveryMetrics
{
    private readonly Counter.Child _checkInsAccepted;
    private readonly Counter.Child _checkInsRejected;
    private readonly Counter _deregistrations;
    private readonly Counter _reads;
    private readonly Counter _cacheHits;
    private readonly Counter _cacheMisses;
    private readonly Counter _staleAnswers;
    private readonly Counter _storeRequests;
    private readonly Counter _storeErrors;
    private readonly Gauge _hosts;

    public DiscoveryMetrics(CollectorRegistry registry)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        var checkIns = factory.CreateCounter(
            "discovery_check_ins_total", "Host check-ins: accepted, or rejected as malformed (400).", ["result"]);
        _checkInsAccepted = checkIns.WithLabels("accepted");
        _checkInsRejected = checkIns.WithLabels("rejected");
        _deregistrations = factory.CreateCounter("discovery_deregistrations_total", "Hosts deregistered.");
        _reads = factory.CreateCounter("discovery_reads_total", "Service reads answered (GET /v1/registration/{service}).");
        _cacheHits = factory.CreateCounter("discovery_cache_hits_total", "Service reads answered from the in-memory view without reading the store.");
        _cacheMisses = factory.CreateCounter("discovery_cache_misses_total", "Service reads that found no fresh in-memory view and went to the store.");
        _staleAnswers = factory.CreateCounter(
            "discovery_stale_answers_total", "Service reads answered from the last view (\"stale\": true) because the store could not be read.");
        _storeRequests = factory.CreateCounter("discovery_store_requests_total", "Requests to the registration store, by operation.", ["operation"]);
        _storeErrors = factory.CreateCounter(
            "discovery_store_errors_total", "Store requests that failed (unreachable, throttled, erroring), by operation.", ["operation"]);
        foreach (var operation in Enum.GetValues<StoreOperation>())
        {
            _storeRequests.WithLabels(Label(operation));
            _storeErrors.WithLabels(Label(operation));
        }

        _hosts = factory.CreateGauge("discovery_hosts", "Live hosts per service in this instance's views.", ["service"]);
    }

    public void CheckInAccepted() => _checkInsAccepted.Inc();

    public void CheckInRejected() => _checkInsRejected.Inc();

    public void Deregistered() => _deregistrations.Inc();

    public void Read() => _reads.Inc();

    public void CacheHit() => _cacheHits.Inc();

    public void CacheMiss() => _cacheMisses.Inc();

    public void StaleAnswer() => _staleAnswers.Inc();

    public void StoreRequest(StoreOperation operation) => _storeRequests.WithLabels(Label(operation)).Inc();

    public void StoreError(StoreOperation operation) => _storeErrors.WithLabels(Label(operation)).Inc();

    /// <summary>Sets the hosts gauge to these counts and drops the series of every service not among them.</summary>
    public void SetHostCounts(IReadOnlyDictionary<string, int> hostsByService)
    {
        foreach (var labels in _hosts.GetAllLabelValues())
        {
            if (!hostsByService.ContainsKey(labels[0]))
            {
                _hosts.RemoveLabelled(labels);
            }
        }

        foreach (var (service, count) in hostsByService)
        {
            _hosts.WithLabels(service).Set(count);
        }
    }

    private static string Label(StoreOperation operation) => operation switch
    {
        StoreOperation.Read => "read",
        StoreOperation.Write => "write",
        _ => "delete",
    };
}
