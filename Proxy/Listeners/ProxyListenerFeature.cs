namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// Connection feature naming the listener a connection arrived on. One immutable instance per listener,
/// shared by all its connections; requests see it through the connection's feature collection.
/// </summary>
public sealed class ProxyListenerFeature(string name, bool isAdmin, bool trustsDownstream = false)
{
    public string Name { get; } = name;

    /// <summary>True for the admin listener, which serves admin endpoints and never proxies.</summary>
    public bool IsAdmin { get; } = isAdmin;

    /// <summary>Whether this listener's callers are trusted (see <see cref="ProxyListenerOptions.TrustDownstream"/>).</summary>
    public bool TrustsDownstream { get; } = trustsDownstream;

    /// <summary>Whether requests on this listener may carry <c>x-envoy-*</c> overrides: the same as <see cref="TrustsDownstream"/>.</summary>
    public bool TrustsControlHeaders => TrustsDownstream;
}
