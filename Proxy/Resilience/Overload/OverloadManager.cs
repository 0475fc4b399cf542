using Microsoft.Extensions.Options;
using Prometheus;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Resilience.Overload;

/// <summary>
/// Measures the managed heap every <see cref="OverloadOptions.CheckInterval"/> and counts requests in flight; says
/// whether a new connection or request is admitted. Stats: <c>proxymesh_overload_heap_bytes</c>,
/// <c>proxymesh_overload_active</c> (1 while the heap is over its limit), <c>proxymesh_overload_shed_total{reason}</c>
/// and <c>proxymesh_overload_connections_refused_total</c>.
/// </summary>
internal sealed class OverloadManager : IConnectionAdmission, IDisposable
{
    private const string HeapReason = "heap";
    private const string MaxActiveRequestsReason = "max_active_requests";
    private readonly IOptionsMonitor<OverloadOptions> _options;
    private readonly Func<long> _heapBytes;
    private readonly Action _collect;
    private readonly System.Threading.ITimer _timer;
    private readonly Gauge _heap;
    private readonly Gauge _active;
    private readonly Counter.Child _shedHeap;
    private readonly Counter.Child _shedActive;
    private readonly Counter _refused;
    private volatile bool _overHeap;
    private int _inFlight;
    private int _connections;

    /// <param name="heapBytes">The managed heap's size, garbage since the last collection included.</param>
    /// <param name="collect">A full garbage collection.</param>
    public OverloadManager(
        IOptionsMonitor<OverloadOptions> options, CollectorRegistry registry, TimeProvider time, Func<long>? heapBytes = null, Action? collect = null)
    {
        _options = options;
        _heapBytes = heapBytes ?? (static () => GC.GetTotalMemory(forceFullCollection: false));
        _collect = collect ?? (static () => GC.Collect());
        var factory = Metrics.WithCustomRegistry(registry);
        _heap = factory.CreateGauge("proxymesh_overload_heap_bytes", "Managed heap size at the last overload check; the live heap, after a collection, when it was over MaxHeapBytes.");
        _active = factory.CreateGauge("proxymesh_overload_active", "1 while the heap is over ProxyMesh:Overload:MaxHeapBytes: new connections refused, new requests shed.");
        var shed = factory.CreateCounter("proxymesh_overload_shed_total", "Requests shed with 503 and x-envoy-overloaded by the overload manager.", "reason");
        _shedHeap = shed.WithLabels(HeapReason);
        _shedActive = shed.WithLabels(MaxActiveRequestsReason);
        _refused = factory.CreateCounter("proxymesh_overload_connections_refused_total", "New traffic connections closed at once while the heap is over its limit or MaxConnections are open.");
        Check();
        _timer = time.CreateTimer(static state => ((OverloadManager)state!).Check(), this, options.CurrentValue.CheckInterval, options.CurrentValue.CheckInterval);
    }

    private void Check()
    {
        var heap = _heapBytes();
        var limit = _options.CurrentValue.MaxHeapBytes;
        if (limit > 0 && heap > limit)
        {
            // The figure includes the garbage made since the last collection. While the proxy sheds it allocates little,
            // so no collection may come to free it, and it would shed for good after the load is gone: collect, then judge
            // what is live. A full collection at most once per CheckInterval, and only while over the limit.
            _collect();
            heap = _heapBytes();
        }

        _overHeap = limit > 0 && heap > limit;
        _heap.Set(heap);
        _active.Set(_overHeap ? 1 : 0);
    }

    public bool AdmitConnection()
    {
        if (!_overHeap)
        {
            var max = _options.CurrentValue.MaxConnections;
            if (Interlocked.Increment(ref _connections) <= max || max == 0)
            {
                return true;
            }

            Interlocked.Decrement(ref _connections);
        }

        _refused.Inc();
        return false;
    }

    public void ReleaseConnection() => Interlocked.Decrement(ref _connections);

    /// <summary>Requests shed since start, for all reasons.</summary>
    public long ShedCount => (long)(_shedHeap.Value + _shedActive.Value);

    /// <summary>
    /// Admits a request (the caller then owes <see cref="Release"/>), or counts it shed and says why not, as the
    /// <c>reason</c> label of <c>proxymesh_overload_shed_total</c>.
    /// </summary>
    public bool TryAdmit(out string reason)
    {
        if (_overHeap)
        {
            _shedHeap.Inc();
            reason = HeapReason;
            return false;
        }

        var max = _options.CurrentValue.MaxActiveRequests;
        if (Interlocked.Increment(ref _inFlight) > max && max > 0)
        {
            Interlocked.Decrement(ref _inFlight);
            _shedActive.Inc();
            reason = MaxActiveRequestsReason;
            return false;
        }

        reason = "";
        return true;
    }

    public void Release() => Interlocked.Decrement(ref _inFlight);

    public void Dispose() => _timer.Dispose();
}
