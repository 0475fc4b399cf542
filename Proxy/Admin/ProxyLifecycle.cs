using Microsoft.Extensions.Primitives;

namespace ProxyMesh.Proxy.Admin;

/// <summary>
/// Whether this sidecar should receive new work: live once its listeners are up and its configuration loaded,
/// draining after <c>POST /healthcheck/fail</c> or once shutdown begins. Draining only fails <c>/ready</c>:
/// requests keep being served until the process stops, so in-flight and late callers are never cut off.
/// </summary>
public sealed class ProxyLifecycle(TimeProvider time) : IDisposable
{
    private readonly long _startTimestamp = time.GetTimestamp();
    private readonly Lock _changeLock = new();
    private CancellationTokenSource _changed = new();
    private volatile bool _started;
    private volatile bool _healthCheckFailed;
    private volatile bool _stopping;

    public ServerState State =>
        !_started ? ServerState.PreInitializing
        : _healthCheckFailed || _stopping ? ServerState.Draining
        : ServerState.Live;

    public TimeSpan Uptime => time.GetElapsedTime(_startTimestamp);

    /// <summary>Fires when <see cref="State"/> may have changed.</summary>
    public IChangeToken GetChangeToken()
    {
        lock (_changeLock)
        {
            return new CancellationChangeToken(_changed.Token);
        }
    }

    public void MarkStarted()
    {
        _started = true;
        NotifyChanged();
    }

    public void MarkStopping()
    {
        _stopping = true;
        NotifyChanged();
    }

    /// <summary>Envoy's <c>/healthcheck/fail</c>: report not ready so that callers stop sending new work.</summary>
    public void FailHealthChecks()
    {
        _healthCheckFailed = true;
        NotifyChanged();
    }

    /// <summary>Envoy's <c>/healthcheck/ok</c>: undo <see cref="FailHealthChecks"/>.</summary>
    public void RestoreHealthChecks()
    {
        _healthCheckFailed = false;
        NotifyChanged();
    }

    private void NotifyChanged()
    {
        CancellationTokenSource previous;
        lock (_changeLock)
        {
            previous = _changed;
            _changed = new CancellationTokenSource();
        }

        previous.Cancel();
        previous.Dispose();
    }

    public void Dispose()
    {
        lock (_changeLock)
        {
            _changed.Dispose();
        }
    }

    public static string Describe(ServerState state) => state switch
    {
        ServerState.PreInitializing => "PRE_INITIALIZING",
        ServerState.Live => "LIVE",
        _ => "DRAINING",
    };
}
