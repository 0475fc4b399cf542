using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>
/// The hosts one request (or one TCP connection) has tried already. ProxyMesh's policies skip them against the state
/// they cached for the cluster's full host list — ring hash walks on to the next distinct host on the ring, weighted
/// policies draw among the rest, zone-aware routing skips them within the zone — so a retry rebuilds nothing. When
/// every available host has been tried the exclusion is dropped, as Envoy's previous-hosts retry predicate gives up
/// after its attempts. The HTTP path carries it as a request feature; <see cref="Of"/> reads it.
/// </summary>
public sealed class TriedHosts
{
    private readonly List<DestinationState> _hosts;

    public TriedHosts()
        : this([])
    {
    }

    /// <param name="hosts">A live list: hosts added to it later are excluded too.</param>
    public TriedHosts(List<DestinationState> hosts) => _hosts = hosts;

    public int Count => _hosts.Count;

    public void Add(DestinationState host) => _hosts.Add(host);

    public bool Contains(DestinationState host)
    {
        foreach (var tried in _hosts)
        {
            if (ReferenceEquals(tried, host))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The request's tried hosts, or null before its first retry.</summary>
    public static TriedHosts? Of(HttpContext context) => context.Features.Get<TriedHosts>();

    /// <summary>
    /// <paramref name="tried"/> when it excludes some but not all of <paramref name="candidates"/>; otherwise null
    /// (nothing to skip, or nothing would be left).
    /// </summary>
    public static TriedHosts? Effective(TriedHosts? tried, IReadOnlyList<DestinationState> candidates)
    {
        if (tried is null || tried.Count == 0)
        {
            return null;
        }

        for (var i = 0; i < candidates.Count; i++)
        {
            if (!tried.Contains(candidates[i]))
            {
                return tried;
            }
        }

        return null;
    }

    /// <summary>
    /// A new list of the candidates not tried yet (all of them when none is left): for YARP's own policies, which know
    /// nothing of exclusions. ProxyMesh's policies never need it.
    /// </summary>
    public static IReadOnlyList<DestinationState> Untried(IReadOnlyList<DestinationState> candidates, TriedHosts tried)
    {
        var untried = new List<DestinationState>(candidates.Count);
        foreach (var candidate in candidates)
        {
            if (!tried.Contains(candidate))
            {
                untried.Add(candidate);
            }
        }

        return untried.Count > 0 ? untried : candidates;
    }
}
