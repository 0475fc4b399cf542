using System.Globalization;
using ProxyMesh.Proxy.Discovery;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>The destinations a policy picks among, with their weights, read once per destination-set change.</summary>
internal sealed class DestinationWeights
{
    public DestinationWeights(IReadOnlyList<DestinationState> destinations)
    {
        Destinations = new DestinationState[destinations.Count];
        Weights = new int[destinations.Count];
        Cumulative = new long[destinations.Count];
        long total = 0;
        var first = destinations.Count > 0 ? WeightOf(destinations[0]) : 1;
        Uniform = true;
        for (var i = 0; i < destinations.Count; i++)
        {
            Destinations[i] = destinations[i];
            Weights[i] = WeightOf(destinations[i]);
            Uniform &= Weights[i] == first;
            total += Weights[i];
            Cumulative[i] = total;
        }

        Total = total;
    }

    public DestinationState[] Destinations { get; }

    /// <summary>A per-cluster cache of these, for policies that need nothing else.</summary>
    public static SnapshotCache<DestinationWeights> Cache() => new(static (_, destinations) => new DestinationWeights(destinations));

    public int[] Weights { get; }

    /// <summary>Running sums of <see cref="Weights"/>: destination i owns [Cumulative[i-1], Cumulative[i]).</summary>
    public long[] Cumulative { get; }

    public long Total { get; }

    /// <summary>All weights are equal: policies may ignore them.</summary>
    public bool Uniform { get; }

    /// <summary>Destination metadata <c>weight</c> (Envoy's <c>load_balancing_weight</c>): an integer ≥ 1; 1 when absent or invalid.</summary>
    public static int WeightOf(DestinationState destination) =>
        destination.Model?.Config.Metadata is { } metadata
        && metadata.TryGetValue(DiscoveryMetadata.Weight, out var text)
        && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var weight)
        && weight >= 1
            ? weight
            : 1;

    /// <summary>The destination owning <paramref name="point"/> in [0, <see cref="Total"/>): the first running sum above it.</summary>
    public int IndexAt(long point) => SortedSearch.FirstAbove(Cumulative, point);

    /// <summary>A destination drawn in proportion to weight.</summary>
    public int Draw(Random random) =>
        Uniform ? random.Next(Destinations.Length) : IndexAt(random.NextInt64(Total));

    /// <summary>
    /// A destination drawn in proportion to weight among those neither tried nor <paramref name="alsoExcluded"/>, or -1
    /// when none is left. Redrawing on a hit is exact (the conditional distribution) and cheap while few hosts are
    /// excluded; after a few misses the remaining weight is walked instead.
    /// </summary>
    public int DrawExcluding(Random random, TriedHosts tried, int alsoExcluded = -1)
    {
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var index = Draw(random);
            if (index != alsoExcluded && !tried.Contains(Destinations[index]))
            {
                return index;
            }
        }

        long remaining = 0;
        for (var i = 0; i < Destinations.Length; i++)
        {
            if (i != alsoExcluded && !tried.Contains(Destinations[i]))
            {
                remaining += Weights[i];
            }
        }

        if (remaining == 0)
        {
            return -1;
        }

        var point = random.NextInt64(remaining);
        for (var i = 0; i < Destinations.Length; i++)
        {
            if (i == alsoExcluded || tried.Contains(Destinations[i]))
            {
                continue;
            }

            if (point < Weights[i])
            {
                return i;
            }

            point -= Weights[i];
        }

        return -1;
    }

    /// <summary>A destination other than <paramref name="excluded"/>, drawn in proportion to weight among the rest.</summary>
    public int DrawOther(Random random, int excluded)
    {
        if (Uniform)
        {
            var other = random.Next(Destinations.Length - 1);
            return other >= excluded ? other + 1 : other;
        }

        var point = random.NextInt64(Total - Weights[excluded]);
        var excludedStart = Cumulative[excluded] - Weights[excluded];
        return IndexAt(point >= excludedStart ? point + Weights[excluded] : point);
    }
}
