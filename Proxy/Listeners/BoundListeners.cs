using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>The listeners Kestrel was configured with, and (once started) the addresses they are bound to.</summary>
public sealed class BoundListeners
{
    private readonly ConcurrentDictionary<string, Bound> _listeners = new(StringComparer.OrdinalIgnoreCase);

    public IEnumerable<string> Names => _listeners.Keys;

    /// <param name="scheme">How the listener's bound addresses are written: <c>http</c>, <c>https</c> or <c>tcp</c>.</param>
    internal void Add(string name, string scheme, ListenOptions listenOptions) =>
        _listeners.AddOrUpdate(
            name,
            _ => new Bound(scheme, [listenOptions]),
            (_, existing) => existing with { Endpoints = [.. existing.Endpoints, listenOptions] });

    /// <summary>The bound addresses of a listener, e.g. <c>http://127.0.0.1:10000</c> or <c>tcp://127.0.0.1:27017</c>; port 0 shows the port Kestrel picked.</summary>
    public IReadOnlyList<string> UrlsOf(string name)
    {
        if (!_listeners.TryGetValue(name, out var bound))
        {
            return [];
        }

        var scheme = bound.Scheme;
        var urls = new List<string>(bound.Endpoints.Length);
        foreach (var endpoint in bound.Endpoints)
        {
            if (endpoint.EndPoint is IPEndPoint ip)
            {
                urls.Add($"{scheme}://{new IPEndPoint(ip.Address, ip.Port)}");
            }
        }

        return urls;
    }

    /// <summary>The first bound address of a listener as a base URI.</summary>
    public Uri UriOf(string name) =>
        UrlsOf(name) is [var first, ..] ? new Uri(first) : throw new KeyNotFoundException($"No listener named '{name}'");

    private sealed record Bound(string Scheme, ListenOptions[] Endpoints);
}
