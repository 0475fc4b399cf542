using Prometheus;

namespace ProxyMesh.Proxy.Observability;

/// <summary>HTTP requests refused by a route's caller identity rule (<c>ProxyMesh.AllowedCallers</c>), like Envoy's RBAC <c>denied</c> stat.</summary>
public sealed class CallerIdentityStats(CollectorRegistry registry)
{
    private readonly Counter _denied = StatsFactory.For(registry).CreateCounter(
        "proxymesh_downstream_rq_caller_denied_total", "HTTP requests answered 403 because the caller's certificate identity is not allowed on the route.", "listener", "route");

    public Counter.Child Denied(string listener, string route) => _denied.WithLabels(listener, route);
}
