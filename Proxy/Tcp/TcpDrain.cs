using System.Collections.Concurrent;
using Microsoft.Extensions.Primitives;
using ProxyMesh.Proxy.Admin;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Draining for TCP listeners: once the proxy drains (<c>POST /healthcheck/fail</c>, or shutdown) new connections are
/// closed as soon as they are accepted, and each listener's open connections may go on for its <c>DrainTimeout</c>,
/// after which they are closed. <c>POST /healthcheck/ok</c> before the deadline ends the drain.
/// </summary>
internal sealed class TcpDrain : IDisposable
{
    private readonly ProxyLifecycle _lifecycle;
    private readonly TcpListenerSettings _settings;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _deadlines = new(StringComparer.OrdinalIgnoreCase);
    private readonly IDisposable _subscription;
    private readonly Lock _lock = new();
    private bool _draining;

    public TcpDrain(ProxyLifecycle lifecycle, TcpListenerSettings settings, TimeProvider time)
    {
        _lifecycle = lifecycle;
        _settings = settings;
        _time = time;
        _subscription = ChangeToken.OnChange(lifecycle.GetChangeToken, Update);
    }

    public bool IsDraining => _lifecycle.State == ServerState.Draining;

    /// <summary>Cancelled at the drain deadline of <paramref name="listener"/>; register on it at connection start.</summary>
    public CancellationToken DeadlineOf(string listener)
    {
        lock (_lock)
        {
            return Deadline(listener).Token;
        }
    }

    private CancellationTokenSource Deadline(string listener)
    {
        var deadline = _deadlines.GetOrAdd(listener, static (_, time) => new CancellationTokenSource(Timeout.InfiniteTimeSpan, time), _time);
        if (deadline.IsCancellationRequested && !_draining)
        {
            // The last drain closed its connections; the next one needs a fresh deadline.
            deadline = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
            _deadlines[listener] = deadline;
        }

        return deadline;
    }

    private void Update()
    {
        lock (_lock)
        {
            var draining = IsDraining;
            if (draining == _draining)
            {
                return;
            }

            _draining = draining;
            foreach (var listener in _deadlines.Keys)
            {
                var deadline = Deadline(listener);
                deadline.CancelAfter(draining ? _settings.For(listener)?.Options.DrainTimeout ?? TimeSpan.Zero : Timeout.InfiniteTimeSpan);
            }
        }
    }

    public void Dispose()
    {
        _subscription.Dispose();
        foreach (var deadline in _deadlines.Values)
        {
            deadline.Dispose();
        }
    }
}
