using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>The policy that picks a host within the zone chosen (cluster metadata <c>ProxyMesh.ZoneAware.Inner</c>).</summary>
public enum InnerPolicy
{
    /// <summary>Weighted power of two choices over the hosts' requests in flight (<c>ProxyMesh.LeastRequest</c>).</summary>
    LeastRequest,

    /// <summary>Weighted random (<c>ProxyMesh.Random</c>).</summary>
    Random,

    /// <summary>Smooth weighted round robin (<c>ProxyMesh.RoundRobin</c>).</summary>
    RoundRobin,
}

/// <summary>
/// The pick within one zone bucket, delegated to ProxyMesh's weighted policies over the bucket's hosts: their
/// weights (destination metadata <c>weight</c>) are honoured, and tried hosts skipped. Built with the routing table.
/// </summary>
internal sealed class InnerPicker
{
    private readonly InnerPolicy _policy;
    private readonly DestinationWeights _weights;
    private readonly RoundRobinPolicy.Schedule? _schedule;
    private long _ticket = -1;

    public InnerPicker(InnerPolicy policy, DestinationState[] hosts)
    {
        _policy = policy;
        _weights = new DestinationWeights(hosts);
        _schedule = policy == InnerPolicy.RoundRobin ? new RoundRobinPolicy.Schedule(_weights) : null;
    }

    /// <returns>The index of the host picked in the bucket, which has at least one host.</returns>
    /// <param name="tried">Hosts to skip; it must leave one of the bucket's hosts.</param>
    public int Pick(Random random, TriedHosts? tried) => _policy switch
    {
        InnerPolicy.Random => RandomPolicy.IndexIn(_weights, random, tried),
        InnerPolicy.RoundRobin => RoundRobinPolicy.IndexIn(_schedule!, ref _ticket, tried),
        _ => LeastRequestPolicy.IndexIn(_weights, random, tried),
    };
}
