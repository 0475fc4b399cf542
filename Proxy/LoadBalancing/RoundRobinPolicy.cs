using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.LoadBalancing;

/// <summary>
/// Weighted round robin. The order is nginx's smooth weighted round robin (each step: every host gains its weight, the
/// host with the most credit is picked and pays the total), precomputed once per destination-set change into a
/// schedule of one cycle, so a pick is one interlocked increment and an array read. Over a full cycle (the sum of the
/// weights divided by their greatest common divisor) every host gets exactly its weight; equal weights are plain round robin.
/// </summary>
internal sealed class RoundRobinPolicy : ILoadBalancingPolicy
{
    /// <summary>Longest schedule kept: larger weight sums are scaled down to fit (proportions within rounding).</summary>
    internal const int MaxCycle = 1 << 16;

    private readonly SnapshotCache<Schedule> _schedules = new(static (_, destinations) => new Schedule(new DestinationWeights(destinations)));

    public string Name => LoadBalancingPolicyNames.RoundRobin;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (availableDestinations.Count == 0)
        {
            return null;
        }

        var schedule = _schedules.For(cluster, availableDestinations, out var slot);
        var ticket = (ulong)slot.NextTicket();
        return schedule.Destinations[schedule.Order is { } order ? order[(int)(ticket % (ulong)order.Length)] : (int)(ticket % (ulong)schedule.Destinations.Length)];
    }

    internal sealed class Schedule
    {
        public Schedule(DestinationWeights weights)
        {
            Destinations = weights.Destinations;
            if (!weights.Uniform)
            {
                Order = SmoothWeightedCycle(weights.Weights);
            }
        }

        public DestinationState[] Destinations { get; }

        /// <summary>One cycle of destination indexes; null when weights are equal.</summary>
        public int[]? Order { get; }

        private static int[] SmoothWeightedCycle(int[] weights)
        {
            var reduced = Reduce(weights);
            long total = 0;
            foreach (var weight in reduced)
            {
                total += weight;
            }

            var order = new int[total];
            var credit = new long[reduced.Length];
            for (var step = 0; step < order.Length; step++)
            {
                var best = 0;
                for (var i = 0; i < reduced.Length; i++)
                {
                    credit[i] += reduced[i];
                    if (credit[i] > credit[best])
                    {
                        best = i;
                    }
                }

                credit[best] -= total;
                order[step] = best;
            }

            return order;
        }

        /// <summary>Weights divided by their greatest common divisor, then scaled down if their sum exceeds <see cref="MaxCycle"/>.</summary>
        private static int[] Reduce(int[] weights)
        {
            var divisor = 0;
            long sum = 0;
            foreach (var weight in weights)
            {
                divisor = Gcd(divisor, weight);
                sum += weight;
            }

            var scale = sum / divisor > MaxCycle ? (double)MaxCycle / sum : 1.0 / divisor;
            var reduced = new int[weights.Length];
            for (var i = 0; i < weights.Length; i++)
            {
                reduced[i] = Math.Max(1, (int)(weights[i] * scale));
            }

            return reduced;
        }

        private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
    }
}
