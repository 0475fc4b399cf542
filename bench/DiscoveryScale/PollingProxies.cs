using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using HdrHistogram;

namespace ProxyMesh.Bench.DiscoveryScale;

/// <summary>
/// The simulated proxies: one poller per (proxy, service), on the proxies' real schedule — a first poll at a random
/// moment, then every RefreshInterval plus uniform jitter in [0, interval] after the previous answer — compressed.
/// At most <see cref="ScaleOptions.MaxInFlight"/> polls are in flight; a poll waiting for a slot is late, and the
/// wait is recorded apart from the GET's own latency.
/// </summary>
internal sealed class PollingProxies : IDisposable
{
    private readonly Fleet _fleet;
    private readonly HttpClient _client;
    private readonly Uri _discovery;
    private readonly TimeSpan _interval;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<int, PropagationProbe> _probes = new();
    private readonly LongConcurrentHistogram _latency = NewHistogram();
    private readonly LongConcurrentHistogram _wait = NewHistogram();
    private volatile bool _measuring;
    private long _errors;

    public PollingProxies(Fleet fleet, HttpClient client, Uri discovery, TimeSpan interval, int maxInFlight)
    {
        _fleet = fleet;
        _client = client;
        _discovery = discovery;
        _interval = interval;
        _slots = new SemaphoreSlim(maxInFlight, maxInFlight);
    }

    /// <summary>GET latency (ticks of <see cref="Stopwatch"/>) of polls completed while measuring.</summary>
    public HistogramBase Latency => _latency;

    /// <summary>Time polls waited for an in-flight slot while measuring.</summary>
    public HistogramBase Wait => _wait;

    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>Whether polls are recorded in <see cref="Latency"/> and <see cref="Wait"/>.</summary>
    public bool Measuring
    {
        get => _measuring;
        set => _measuring = value;
    }

    /// <summary>The pollers of one service: (proxy index) of each proxy that polls it.</summary>
    public IReadOnlyList<int> ProxiesPolling(int service) =>
        [.. Enumerable.Range(0, _fleet.ServicesOfProxy.Length).Where(p => _fleet.ServicesOfProxy[p].Contains(service))];

    public void Watch(PropagationProbe probe) => _probes[probe.Service] = probe;

    /// <summary>Runs every poller until <paramref name="cancellationToken"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_fleet.ServicesOfProxy.SelectMany((services, proxy) => services.Select(service => PollForeverAsync(proxy, service, cancellationToken))));

    private async Task PollForeverAsync(int proxy, int service, CancellationToken cancellationToken)
    {
        var uri = new Uri(_discovery, $"/v1/registration/{_fleet.Services[service]}");
        try
        {
            // Proxies start at different moments: the first poll falls anywhere in one full period.
            await Task.Delay(_interval * 2 * Random.Shared.NextDouble(), cancellationToken);
            while (!cancellationToken.IsCancellationRequested)
            {
                await PollOnceAsync(proxy, service, uri, cancellationToken);
                await Task.Delay(_interval + (_interval * Random.Shared.NextDouble()), cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task PollOnceAsync(int proxy, int service, Uri uri, CancellationToken cancellationToken)
    {
        var queued = Stopwatch.GetTimestamp();
        await _slots.WaitAsync(cancellationToken);
        var started = Stopwatch.GetTimestamp();
        byte[] body;
        try
        {
            using var response = await _client.GetAsync(uri, cancellationToken);
            body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref _errors);
                return;
            }
        }
        catch (HttpRequestException)
        {
            Interlocked.Increment(ref _errors);
            return;
        }
        finally
        {
            _slots.Release();
        }

        var done = Stopwatch.GetTimestamp();
        if (_measuring)
        {
            _latency.RecordValue(done - started);
            _wait.RecordValue(started - queued);
        }

        if (_probes.TryGetValue(service, out var probe) && body.AsSpan().IndexOf(probe.Marker) >= 0)
        {
            probe.Seen(proxy, done);
        }
    }

    public void Dispose() => _slots.Dispose();

    private static LongConcurrentHistogram NewHistogram() => new(1, Stopwatch.Frequency * 60, 3);
}

/// <summary>A host registered mid-run, and the proxies polling its service that have not seen it yet.</summary>
internal sealed class PropagationProbe
{
    private readonly HashSet<int> _waiting;
    private readonly TaskCompletionSource<long> _allSeen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _registeredAt;

    public PropagationProbe(int service, string ip, bool viaOtherInstance, IEnumerable<int> proxies)
    {
        Service = service;
        Ip = ip;
        ViaOtherInstance = viaOtherInstance;
        Marker = Encoding.UTF8.GetBytes($"\"{ip}\"");
        _waiting = [.. proxies];
    }

    public int Service { get; }

    public string Ip { get; }

    /// <summary>Checked in through another discovery instance than the one the proxies poll.</summary>
    public bool ViaOtherInstance { get; }

    public byte[] Marker { get; }

    public int Proxies { get; private set; }

    /// <summary>Completes with the <see cref="Stopwatch"/> time at which the last proxy saw the host.</summary>
    public Task<long> AllSeen => _allSeen.Task;

    /// <summary>Call once the check-in was answered 200: propagation is timed from then.</summary>
    public void Registered(long timestamp)
    {
        lock (_waiting)
        {
            Proxies = _waiting.Count;
            Volatile.Write(ref _registeredAt, timestamp);
        }
    }

    public long RegisteredAt => Volatile.Read(ref _registeredAt);

    public void Seen(int proxy, long timestamp)
    {
        lock (_waiting)
        {
            // A poll may see the host just before its check-in is answered: that counts too.
            if (_waiting.Remove(proxy) && _waiting.Count == 0)
            {
                _allSeen.TrySetResult(timestamp);
            }
        }
    }
}
