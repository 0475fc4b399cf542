namespace ProxyMesh.Proxy.Admin;

/// <summary>
/// Whether this sidecar should receive new work: live once its listeners are up and its configuration loaded,
/// draining after <c>POST /healthcheck/fail</c> or once shutdown begins. Draining only fails <c>/ready</c>:
/// requests keep being served until the process stops, so in-flight and late callers are never cut off.
/// </summary>
public sealed class ProxyLifecycle(TimeProvider time)
{
    private readonly long _startTimestamp = time.GetTimestamp();
    private volatile bool _started;
    private volatile bool _healthCheckFailed;
    private volatile bool _stopping;

    public ServerState State =>
        !_started ? ServerState.PreInitializing
        : _healthCheckFailed || _stopping ? ServerState.Draining
        : ServerState.Live;

    public TimeSpan Uptime => time.GetElapsedTime(_startTimestamp);

    public void MarkStarted() => _started = true;

    public void MarkStopping() => _stopping = true;

    /// <summary>Envoy's <c>/healthcheck/fail</c>: report not ready so that callers stop sending new work.</summary>
    public void FailHealthChecks() => _healthCheckFailed = true;

    /// <summary>Envoy's <c>/healthcheck/ok</c>: undo <see cref="FailHealthChecks"/>.</summary>
    public void RestoreHealthChecks() => _healthCheckFailed = false;

    public static string Describe(ServerState state) => state switch
    {
        ServerState.PreInitializing => "PRE_INITIALIZING",
        ServerState.Live => "LIVE",
        _ => "DRAINING",
    };
}
