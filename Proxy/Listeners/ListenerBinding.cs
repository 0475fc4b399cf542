namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// Endpoint metadata restricting an endpoint to some listeners, as Envoy keeps a route table per listener.
/// Enforced by <see cref="ListenerBindingMatcherPolicy"/>.
/// </summary>
public sealed class ListenerBinding
{
    /// <summary>Route metadata key naming the listeners (comma-separated) a route serves on.</summary>
    public const string RouteMetadataKey = "ProxyMesh.Listeners";

    private readonly string[] _listenerNames;
    private readonly bool _admin;

    private ListenerBinding(string[] listenerNames, bool admin)
    {
        _listenerNames = listenerNames;
        _admin = admin;
    }

    /// <summary>Admin endpoints: the admin listener only.</summary>
    public static ListenerBinding Admin { get; } = new([], admin: true);

    /// <summary>A route with no binding: every traffic listener, never the admin listener.</summary>
    public static ListenerBinding AnyTrafficListener { get; } = new([], admin: false);

    public IReadOnlyList<string> ListenerNames => _listenerNames;

    public static ListenerBinding ForRouteMetadata(IReadOnlyDictionary<string, string>? metadata)
    {
        var names = ParseNames(metadata);
        return names.Length == 0 ? AnyTrafficListener : new ListenerBinding(names, admin: false);
    }

    public static string[] ParseNames(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue(RouteMetadataKey, out var value)
            ? value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [];

    public bool Admits(ProxyListenerFeature? listener)
    {
        if (listener is null)
        {
            return false;
        }

        if (_admin || listener.IsAdmin)
        {
            return _admin && listener.IsAdmin;
        }

        if (_listenerNames.Length == 0)
        {
            return true;
        }

        foreach (var name in _listenerNames)
        {
            if (string.Equals(name, listener.Name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
