using System.Collections.Concurrent;
using System.Collections.Immutable;
using ProxyMesh.Discovery.Configuration;
using ProxyMesh.Discovery.Observability;
using ProxyMesh.Discovery.Registrations;
using ProxyMesh.Discovery.Stores;

namespace ProxyMesh.Discovery.Caching;

/// <summary>
/// The registry in front of the store. Reads are answered from a per-service view kept for <c>Discovery:CacheTtl</c>,
/// so that a fleet of polling proxies costs one store read per service per TTL (concurrent misses share that one
/// read). Hosts older than <c>Discovery:HostTtl</c> are left out on every answer. This instance's own check-ins and
/// deregistrations update its views as they reach the store; other instances' changes show once a view expires.
/// When the store cannot be read, the last view is answered, marked stale, until the store answers again (tried
/// again after another cache TTL), with hosts as live as they were at the last good read.
/// </summary>
public sealed partial class ServiceViewCache
{
    private readonly ConcurrentDictionary<string, CachedView> _views = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<CachedView?>> _refreshes = new(StringComparer.Ordinal);
    private readonly IRegistrationStore _store;
    private readonly TimeProvider _time;
    private readonly DiscoveryMetrics _metrics;
    private readonly ILogger<ServiceViewCache> _logger;
    private readonly TimeSpan _cacheTtl;
    private readonly TimeSpan _hostTtl;
    private readonly Lock _sweepLock = new();
    private DateTimeOffset _nextSweep;

    public ServiceViewCache(IRegistrationStore store, DiscoveryOptions options, TimeProvider time, DiscoveryMetrics metrics, ILogger<ServiceViewCache> logger)
    {
        _store = store;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _cacheTtl = options.CacheTtl;
        _hostTtl = options.HostTtl;
    }

    /// <returns>The live hosts, or null when the store cannot be read and there is no earlier view to answer.</returns>
    public async Task<ServiceView?> GetAsync(string service)
    {
        var now = _time.GetUtcNow();
        if (_views.TryGetValue(service, out var cached) && now - cached.FetchedAt < _cacheTtl)
        {
            _metrics.CacheHit();
            return Answer(cached, now);
        }

        _metrics.CacheMiss();
        var refreshed = await RefreshAsync(service);
        return refreshed is null ? null : Answer(refreshed, now);
    }

    /// <exception cref="RegistrationStoreException">The store did not take the check-in.</exception>
    public async Task CheckInAsync(HostRegistration host, CancellationToken cancellationToken)
    {
        await CallStoreAsync(StoreOperation.Write, async () =>
        {
            await _store.PutAsync(host, cancellationToken);
            return true;
        });
        Update(host.Service, hosts => hosts.SetItem(host.Endpoint, host));
    }

    /// <returns>Whether the host was registered.</returns>
    /// <exception cref="RegistrationStoreException">The store did not take the deregistration.</exception>
    public async Task<bool> DeregisterAsync(string service, string endpoint, CancellationToken cancellationToken)
    {
        var removed = await CallStoreAsync(StoreOperation.Delete, () => _store.DeleteAsync(service, endpoint, cancellationToken));
        Update(service, hosts => hosts.Remove(endpoint));
        return removed;
    }

    /// <summary>Live hosts per service in the views held now, for services that have any.</summary>
    public IReadOnlyDictionary<string, int> LiveHostCounts()
    {
        var now = _time.GetUtcNow();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (service, view) in _views)
        {
            var live = view.Hosts.Values.Count(host => host.IsLiveAt(LivenessTime(view, now), _hostTtl));
            if (live > 0)
            {
                counts[service] = live;
            }
        }

        return counts;
    }

    private ServiceView Answer(CachedView view, DateTimeOffset now)
    {
        if (view.Stale)
        {
            _metrics.StaleAnswer();
        }

        var at = LivenessTime(view, now);
        return new ServiceView([.. view.Hosts.Values.Where(host => host.IsLiveAt(at, _hostTtl))], view.Stale);
    }

    /// <summary>A stale view keeps its hosts as live as they were at the last good read: fail static, as Envoy does.</summary>
    private static DateTimeOffset LivenessTime(CachedView view, DateTimeOffset now) => view.Stale ? view.LastGoodReadAt : now;

    /// <summary>One store read per service at a time; concurrent misses wait for it.</summary>
    private Task<CachedView?> RefreshAsync(string service)
    {
        var completion = new TaskCompletionSource<CachedView?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = _refreshes.GetOrAdd(service, completion.Task);
        if (running != completion.Task)
        {
            return running;
        }

        _ = ReadIntoAsync(service, completion);
        return completion.Task;
    }

    private async Task ReadIntoAsync(string service, TaskCompletionSource<CachedView?> completion)
    {
        try
        {
            completion.SetResult(await ReadAsync(service));
        }
#pragma warning disable CA1031 // Whatever failed, the waiting readers must hear of it.
        catch (Exception e)
#pragma warning restore CA1031
        {
            completion.SetException(e);
        }
        finally
        {
            _refreshes.TryRemove(new KeyValuePair<string, Task<CachedView?>>(service, completion.Task));
        }
    }

    private async Task<CachedView?> ReadAsync(string service)
    {
        var previous = _views.GetValueOrDefault(service);
        try
        {
            var hosts = await CallStoreAsync(StoreOperation.Read, () => _store.ListAsync(service, CancellationToken.None));
            var now = _time.GetUtcNow();
            var view = new CachedView(hosts.ToImmutableSortedDictionary(host => host.Endpoint, host => host, StringComparer.Ordinal), now, now, Stale: false);
            _views[service] = view;
            SweepIdleViews(now);
            return view;
        }
        catch (RegistrationStoreException)
        {
            if (previous is null)
            {
                return null;
            }

            // Answer the last view, and leave the store alone for another cache TTL.
            var stale = previous with { FetchedAt = _time.GetUtcNow(), Stale = true };
            _views[service] = stale;
            return stale;
        }
    }

    /// <summary>Applies this instance's own accepted change to its view; a stale view is dropped (the store answers again).</summary>
    private void Update(string service, Func<ImmutableSortedDictionary<string, HostRegistration>, ImmutableSortedDictionary<string, HostRegistration>> change)
    {
        while (_views.TryGetValue(service, out var view))
        {
            var done = view.Stale
                ? _views.TryRemove(new KeyValuePair<string, CachedView>(service, view))
                : _views.TryUpdate(service, view with { Hosts = change(view.Hosts) }, view);
            if (done)
            {
                return;
            }
        }
    }

    private async Task<T> CallStoreAsync<T>(StoreOperation operation, Func<Task<T>> call)
    {
        _metrics.StoreRequest(operation);
        try
        {
            return await call();
        }
        catch (RegistrationStoreException e)
        {
            _metrics.StoreError(operation);
            LogStoreError(_logger, operation, e.Message);
            throw;
        }
    }

    /// <summary>
    /// Forgets views nobody has read for a host TTL, so that memory and the hosts gauge follow the services in use.
    /// Runs only after a good read: while the store is down, every view is kept to answer from.
    /// </summary>
    private void SweepIdleViews(DateTimeOffset now)
    {
        lock (_sweepLock)
        {
            if (now < _nextSweep)
            {
                return;
            }

            _nextSweep = now + (_cacheTtl > TimeSpan.FromSeconds(1) ? _cacheTtl : TimeSpan.FromSeconds(1));
        }

        foreach (var (service, view) in _views)
        {
            if (now - view.FetchedAt > _cacheTtl + _hostTtl)
            {
                _views.TryRemove(new KeyValuePair<string, CachedView>(service, view));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Registration store {Operation} failed: {Reason}")]
    private static partial void LogStoreError(ILogger logger, StoreOperation operation, string reason);

    /// <summary>A service's registrations as last read (and updated by this instance's own changes since).</summary>
    private sealed record CachedView(
        ImmutableSortedDictionary<string, HostRegistration> Hosts,
        DateTimeOffset FetchedAt,
        DateTimeOffset LastGoodReadAt,
        bool Stale);
}
