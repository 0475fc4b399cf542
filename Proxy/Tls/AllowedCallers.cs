namespace ProxyMesh.Proxy.Tls;

/// <summary>
/// A list of callers allowed in, as written in route metadata <c>ProxyMesh.AllowedCallers</c> or a TCP listener's
/// <c>AllowedCallers</c>: comma-separated names. A name matches a peer identity equal to it, or whose last path segment
/// it is (<c>orders</c> matches <c>spiffe://mesh/service/orders</c>); a caller without a certificate matches nothing.
/// </summary>
public sealed class AllowedCallers
{
    /// <summary>Route metadata key.</summary>
    public const string RouteMetadataKey = "ProxyMesh.AllowedCallers";

    private readonly string[] _names;

    private AllowedCallers(string[] names) => _names = names;

    /// <returns>null when <paramref name="list"/> is empty: everyone is allowed.</returns>
    public static AllowedCallers? Parse(string? list)
    {
        var names = list?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        return names.Length == 0 ? null : new AllowedCallers(names);
    }

    public bool Allows(string? identity)
    {
        if (identity is null)
        {
            return false;
        }

        var slash = identity.LastIndexOf('/');
        var lastSegment = slash >= 0 ? identity.AsSpan(slash + 1) : identity.AsSpan();
        foreach (var name in _names)
        {
            if (string.Equals(name, identity, StringComparison.Ordinal) || lastSegment.Equals(name, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
