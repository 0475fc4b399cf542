using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Counts an open TCP connection as an active request on its host (YARP's <see cref="DestinationState.ConcurrentRequestCount"/>),
/// as Envoy's TCP connection pool counts each proxied connection in the host's <c>rq_active</c>: least-request policies
/// then balance TCP connections, and <c>upstream_rq_active</c> shows them. YARP increments the count atomically only
/// inside its HTTP forwarder; its public setter is a plain write, so TCP updates are serialised per host here. They
/// could race YARP's own only on a cluster that both HTTP routes and a TCP listener use, which a TCP cluster's
/// <c>tcp://</c>/<c>tls://</c> destinations rule out.
/// </summary>
internal static class HostLoad
{
    public static void Enter(DestinationState host)
    {
        lock (host)
        {
            host.ConcurrentRequestCount++;
        }
    }

    public static void Leave(DestinationState host)
    {
        lock (host)
        {
            host.ConcurrentRequestCount--;
        }
    }
}
