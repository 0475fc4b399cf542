namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// Connection feature naming the listener a connection arrived on. One immutable instance per listener,
/// shared by all its connections; requests see it through the connection's feature collection.
/// </summary>
public sealed class ProxyListenerFeature(string name, bool isAdmin)
{
    public string Name { get; } = name;

    /// <summary>True for the admin listener, which serves admin endpoints and never proxies.</summary>
    public bool IsAdmin { get; } = isAdmin;
}
