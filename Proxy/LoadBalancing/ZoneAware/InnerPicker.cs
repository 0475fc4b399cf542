namespace ProxyMesh.Proxy.LoadBalancing.ZoneAware;

/// <summary>The policy that picks a host within the zone chosen (cluster metadata <c>ProxyMesh.ZoneAware.Inner</c>).</summary>
public enum InnerPolicy
{
    /// <summary>Power of two choices over the hosts' requests in flight (Envoy's default least request).</summary>
    LeastRequest,
    Random,
    RoundRobin,
}

internal static class InnerPicker
{
    /// <returns>The index of the host picked in <paramref name="bucket"/>, which has at least one host.</returns>
    public static int Pick(InnerPolicy policy, ZoneBucket bucket, Random random)
    {
        var hosts = bucket.Hosts;
        var count = hosts.Length;
        if (count == 1)
        {
            return 0;
        }

        switch (policy)
        {
            case InnerPolicy.Random:
                return random.Next(count);
            case InnerPolicy.RoundRobin:
                return (int)((uint)Interlocked.Increment(ref bucket.Cursor) % (uint)count);
            default:
                var first = random.Next(count);
                var second = random.Next(count - 1);
                if (second >= first)
                {
                    second++;
                }

                return hosts[first].ConcurrentRequestCount <= hosts[second].ConcurrentRequestCount ? first : second;
        }
    }
}
