using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>
/// Envoy's ring hash, for sticky routing: every host owns <c>weight × R</c> points (weights in units of their greatest
/// common divisor, the ring capped at <see cref="MaxRingSize"/>) on a 64-bit ring (xxHash64 of
/// <c>"{address}_{i}"</c>), and a request goes to the owner of the first point at or after the xxHash64 of its key — the
/// cluster's <see cref="LoadBalancingPolicyNames.HashCookie"/> cookie if configured, else its
/// <see cref="LoadBalancingPolicyNames.HashHeader"/> header (default <c>x-request-id</c>); a request without a key
/// goes to a random host. R is 128, or more for small clusters so that the ring has at least 1024 points (Envoy's
/// minimum ring size), computed from all the cluster's destinations — healthy or not — so that a host leaving the
/// available set moves only its own keys. The ring is built once per destination-set change; a pick is a hash and a
/// binary search.
/// </summary>
internal sealed class RingHashPolicy(Random random) : ILoadBalancingPolicy, IHostPicker
{
    internal const int MinRingSize = 1024;

    internal const int PointsPerWeight = 128;

    /// <summary>Largest ring (Envoy's default <c>maximum_ring_size</c> is 8M; 1M points here take 16 MB).</summary>
    internal const int MaxRingSize = 1 << 20;

    private readonly SnapshotCache<Ring> _rings = new(static (cluster, destinations) => new Ring(cluster, destinations));

    public string Name => LoadBalancingPolicyNames.RingHash;

    /// <summary>Rings built so far: once per destination-set change, never per retry.</summary>
    internal long RingBuilds => _rings.Builds;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations) =>
        Pick(cluster, availableDestinations, context.Request, null, TriedHosts.Of(context));

    /// <summary>
    /// The owner of the key's point; a host already tried is skipped by walking on to the next point owned by a host
    /// not tried yet, as Envoy's ring hash does for retries (the ring itself stays as it is).
    /// </summary>
    public DestinationState? Pick(ClusterState cluster, IReadOnlyList<DestinationState> available, HttpRequest? request, string? hashKey, TriedHosts? tried)
    {
        if (available.Count == 0)
        {
            return null;
        }

        var ring = _rings.For(cluster, available);
        var key = hashKey ?? (request is null ? null : ring.KeyOf(request));
        var index = key is null ? random.Next(ring.Owners.Length) : ring.IndexOf(Hash(key));
        return TriedHosts.Effective(tried, available) is { } skip ? ring.FirstUntried(index, skip) : ring.Owners[index];
    }

    internal static ulong Hash(string key) => XxHash64.HashToUInt64(MemoryMarshal.AsBytes(key.AsSpan()));

    internal sealed class Ring
    {
        private readonly string? _cookie;
        private readonly string _header;

        public Ring(ClusterState cluster, IReadOnlyList<DestinationState> destinations)
        {
            var metadata = cluster.Model?.Config.Metadata;
            _cookie = metadata?.GetValueOrDefault(LoadBalancingPolicyNames.HashCookie) is { Length: > 0 } cookie ? cookie : null;
            _header = metadata?.GetValueOrDefault(LoadBalancingPolicyNames.HashHeader) is { Length: > 0 } header
                ? header
                : LoadBalancingPolicyNames.DefaultHashHeader;

            var scale = Scale.Of(cluster.DestinationsState?.AllDestinations ?? destinations);
            long count = 0;
            foreach (var destination in destinations)
            {
                count += scale.PointsOf(destination);
            }

            Points = new ulong[count];
            Owners = new DestinationState[count];
            var next = 0;
            foreach (var destination in destinations)
            {
                var address = destination.Model?.Config.Address ?? destination.DestinationId;
                var points = scale.PointsOf(destination);
                for (var i = 0; i < points; i++)
                {
                    Points[next] = Hash(string.Create(CultureInfo.InvariantCulture, $"{address}_{i}"));
                    Owners[next++] = destination;
                }
            }

            Array.Sort(Points, Owners);
        }

        /// <summary>Sorted point hashes.</summary>
        public ulong[] Points { get; }

        /// <summary>The destination owning each point.</summary>
        public DestinationState[] Owners { get; }

        public string? KeyOf(HttpRequest request)
        {
            if (_cookie is not null && request.Cookies[_cookie] is { Length: > 0 } cookie)
            {
                return cookie;
            }

            return request.Headers.TryGetValue(_header, out var values) && values.Count > 0 && values[0] is { Length: > 0 } value
                ? value
                : null;
        }

        /// <summary>The first point at or after <paramref name="hash"/>, wrapping around.</summary>
        public int IndexOf(ulong hash)
        {
            if (hash == 0)
            {
                return 0;
            }

            var index = SortedSearch.FirstAbove(Points, hash - 1);
            return Points[index] >= hash ? index : 0;
        }

        /// <summary>The owner of the first point from <paramref name="index"/> on, wrapping around, that was not tried.</summary>
        public DestinationState FirstUntried(int index, TriedHosts tried)
        {
            for (var step = 0; step < Owners.Length; step++)
            {
                var owner = Owners[(index + step) % Owners.Length];
                if (!tried.Contains(owner))
                {
                    return owner;
                }
            }

            return Owners[index];
        }

        /// <summary>
        /// How many points a weight gets, from all the cluster's destinations (so that health changes leave it alone):
        /// weights in units of their greatest common divisor, <see cref="PointsPerWeight"/> per unit or more to reach
        /// <see cref="MinRingSize"/>, scaled down (at least one point per host) if the ring would exceed <see cref="MaxRingSize"/>.
        /// </summary>
        private readonly record struct Scale(int Unit, long PerUnit, double Factor)
        {
            public static Scale Of(IReadOnlyList<DestinationState> all)
            {
                var unit = 0;
                long total = 0;
                foreach (var destination in all)
                {
                    var weight = DestinationWeights.WeightOf(destination);
                    unit = (int)System.Numerics.BigInteger.GreatestCommonDivisor(unit, weight);
                    total += weight;
                }

                unit = Math.Max(unit, 1);
                var units = Math.Max(total / unit, 1);
                var perUnit = Math.Max(PointsPerWeight, (MinRingSize + units - 1) / units);
                var size = (double)units * perUnit;
                return new Scale(unit, perUnit, size > MaxRingSize ? MaxRingSize / size : 1);
            }

            public int PointsOf(DestinationState destination) =>
                (int)Math.Max(1, Math.Round(DestinationWeights.WeightOf(destination) / Unit * PerUnit * Factor));
        }
    }
}
