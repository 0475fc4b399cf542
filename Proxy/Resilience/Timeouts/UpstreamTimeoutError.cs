using Yarp.ReverseProxy.Forwarder;

namespace ProxyMesh.Proxy.Resilience.Timeouts;

/// <summary>Reports a route or per-try timeout the way YARP reports its own: as <see cref="ForwarderError.RequestTimedOut"/>.</summary>
internal sealed class UpstreamTimeoutError(TimeSpan timeout) : IForwarderErrorFeature
{
    public ForwarderError Error => ForwarderError.RequestTimedOut;

    public Exception Exception { get; } = new TimeoutException($"The upstream did not answer within {timeout.TotalMilliseconds:0} ms.");
}
