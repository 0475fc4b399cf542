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
internal sealed class RoundRobinPolicy : ILoadBalancingPolicy, IHostPicker
{
    /// <summary>Longest schedule kept: larger weight sums are scaled down to fit (proportions within rounding).</summary>
    internal const int MaxCycle = 1 << 16;

    private readonly SnapshotCache<Schedule> _schedules = new(static (_, destinations) => new Schedule(new DestinationWeights(destinations)));

    public string Name => LoadBalancingPolicyNames.RoundRobin;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations) =>
        Pick(cluster, availableDestinations, context.Request, null, TriedHosts.Of(context));

    public DestinationState? Pick(ClusterState cluster, IReadOnlyList<DestinationState> available, HttpRequest? request, string? hashKey, TriedHosts? tried)
    {
        if (available.Count == 0)
        {
            return null;
        }

        var schedule = _schedules.For(cluster, available, out var slot);
        return schedule.Destinations[IndexIn(schedule, ref slot.Ticket, TriedHosts.Effective(tried, available))];
    }

    /// <summary>
    /// The next host of the schedule, skipping <paramref name="tried"/> hosts (each host appears in every cycle, so one
    /// cycle at most).
    /// </summary>
    internal static int IndexIn(Schedule schedule, ref long ticket, TriedHosts? tried)
    {
        var index = schedule.At(Interlocked.Increment(ref ticket));
        if (tried is null)
        {
            return index;
        }

        for (var step = 0; step < schedule.CycleLength && tried.Contains(schedule.Destinations[index]); step++)
        {
            index = schedule.At(Interlocked.Increment(ref ticket));
        }

        return index;
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

        public int CycleLength => Order?.Length ?? Destinations.Length;

        /// <summary>The destination index of a ticket.</summary>
        public int At(long ticket) =>
            Order is { } order ? order[(int)((ulong)ticket % (ulong)order.Length)] : (int)((ulong)ticket % (ulong)Destinations.Length);

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
