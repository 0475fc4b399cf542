using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Configuration;

/// <summary>
/// A value resolved once per route of one configuration version, found again by a reference comparison over a small
/// array (a cluster has few routes): no hashing or locking per request. Owned by a per-version object, so routes of
/// older versions go with it.
/// </summary>
internal sealed class PerRouteCache<T>(Func<RouteConfig, T> resolve)
{
    private readonly Lock _adding = new();
    private volatile Entry[] _entries = [];

    public T For(RouteConfig route)
    {
        foreach (var entry in _entries)
        {
            if (ReferenceEquals(entry.Route, route))
            {
                return entry.Value;
            }
        }

        lock (_adding)
        {
            foreach (var entry in _entries)
            {
                if (ReferenceEquals(entry.Route, route))
                {
                    return entry.Value;
                }
            }

            var value = resolve(route);
            _entries = [.. _entries, new Entry(route, value)];
            return value;
        }
    }

    private sealed record Entry(RouteConfig Route, T Value);
}
