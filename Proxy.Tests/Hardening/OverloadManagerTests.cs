using Microsoft.Extensions.Time.Testing;
using Prometheus;
using ProxyMesh.Proxy.Resilience.Overload;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>The heap limit judged on what is live, so the proxy does not shed for good once the load is gone.</summary>
public sealed class OverloadManagerTests
{
    private const long Megabyte = 1024 * 1024;

    [Fact]
    public void Over_the_limit_only_with_garbage_the_heap_is_collected_and_requests_admitted()
    {
        // After an overload the heap holds its garbage until a collection; shedding allocates too little to bring one.
        var heap = new ModelHeap { Live = 20 * Megabyte, Garbage = 200 * Megabyte };
        var time = new FakeTimeProvider();
        using var manager = NewManager(heap, time, limit: 100 * Megabyte);

        Assert.True(manager.TryAdmit(out _));
        Assert.True(manager.AdmitConnection());
        Assert.Equal(1, heap.Collections);
    }

    [Fact]
    public void Over_the_limit_with_live_data_requests_are_shed_until_it_is_freed()
    {
        var heap = new ModelHeap { Live = 150 * Megabyte, Garbage = 50 * Megabyte };
        var time = new FakeTimeProvider();
        using var manager = NewManager(heap, time, limit: 100 * Megabyte);

        Assert.False(manager.TryAdmit(out var reason));
        Assert.Equal("heap", reason);
        Assert.False(manager.AdmitConnection());

        // The in-flight requests that held it end; their memory is garbage until the next check collects it.
        heap.Garbage += heap.Live - 20 * Megabyte;
        heap.Live = 20 * Megabyte;
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(manager.TryAdmit(out _));
        Assert.True(manager.AdmitConnection());
    }

    [Fact]
    public void Under_the_limit_nothing_is_collected()
    {
        var heap = new ModelHeap { Live = 20 * Megabyte, Garbage = 30 * Megabyte };
        var time = new FakeTimeProvider();
        using var manager = NewManager(heap, time, limit: 100 * Megabyte);
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.True(manager.TryAdmit(out _));
        Assert.Equal(0, heap.Collections);
    }

    private static OverloadManager NewManager(ModelHeap heap, TimeProvider time, long limit) => new(
        new StaticOptionsMonitor<OverloadOptions>(new OverloadOptions { MaxHeapBytes = limit, CheckInterval = TimeSpan.FromSeconds(1) }),
        new CollectorRegistry(), time, () => heap.Live + heap.Garbage, heap.Collect);

    /// <summary>A heap as the GC reports it: live objects plus garbage until a collection.</summary>
    private sealed class ModelHeap
    {
        public long Live { get; set; }

        public long Garbage { get; set; }

        public int Collections { get; private set; }

        public void Collect()
        {
            Garbage = 0;
            Collections++;
        }
    }
}
