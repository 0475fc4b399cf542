using ProxyMesh.Proxy.Observability;
using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;
using Prometheus;

namespace ProxyMesh.Proxy.Grpc.Stats;

/// <summary>
/// Envoy's grpc_stats per cluster, service and method: calls by numeric <c>grpc_status</c>, messages each way, and
/// call time. Label children are created once per method (and status) and cached, so recording a known method
/// allocates nothing; the methods labelled per cluster are capped, the rest share the <c>other</c> series.
/// </summary>
internal sealed class GrpcStats
{
    public const string Other = "other";

    private readonly Counter _calls;
    private readonly Counter _requestMessages;
    private readonly Counter _responseMessages;
    private readonly Histogram _time;
    private readonly int _maxMethodsPerCluster;
    private readonly ConcurrentDictionary<string, ClusterSeries> _clusters = new(StringComparer.Ordinal);

    public GrpcStats(CollectorRegistry registry, IOptions<GrpcStatsOptions> options)
    {
        var factory = StatsFactory.For(registry);
        string[] labels = ["cluster", "grpc_service", "grpc_method"];
        _calls = factory.CreateCounter(
            "proxymesh_grpc_rq_total", "gRPC calls completed, by gRPC status (from trailers, or headers of a trailers-only answer).", [.. labels, "grpc_status"]);
        _requestMessages = factory.CreateCounter("proxymesh_grpc_request_message_total", "gRPC messages sent by callers.", labels);
        _responseMessages = factory.CreateCounter("proxymesh_grpc_response_message_total", "gRPC messages sent back by upstreams.", labels);
        _time = factory.CreateHistogram(
            "proxymesh_grpc_rq_time_seconds",
            "gRPC call time through the proxy, from the request to the end of the response.",
            new HistogramConfiguration { LabelNames = labels, Buckets = Observability.LatencyBuckets.Seconds });
        _maxMethodsPerCluster = options.Value.MaxMethodsPerCluster;
    }

    /// <param name="path">The request path, <c>/package.Service/Method</c>.</param>
    public MethodSeries For(string cluster, string? path) =>
        _clusters.GetOrAdd(cluster, static (name, stats) => new ClusterSeries(stats, name), this).For(path ?? "");

    private sealed class ClusterSeries(GrpcStats stats, string cluster)
    {
        private readonly ConcurrentDictionary<string, MethodSeries> _methods = new(StringComparer.Ordinal);
        private readonly Lock _addLock = new();
        private MethodSeries? _other;
        private int _count;

        public MethodSeries For(string path)
        {
            if (_methods.TryGetValue(path, out var known))
            {
                return known;
            }

            // Past the cap, unknown paths cost no allocation: they are not even split.
            if (Volatile.Read(ref _count) >= stats._maxMethodsPerCluster || !TrySplit(path, out var service, out var method))
            {
                return OtherSeries;
            }

            lock (_addLock)
            {
                if (_methods.TryGetValue(path, out known))
                {
                    return known;
                }

                if (_count >= stats._maxMethodsPerCluster)
                {
                    return OtherSeries;
                }

                var series = new MethodSeries(stats, cluster, service, method);
                _methods[path] = series;
                Volatile.Write(ref _count, _count + 1);
                return series;
            }
        }

        private MethodSeries OtherSeries => _other ??= new MethodSeries(stats, cluster, Other, Other);

        /// <summary>A gRPC path is <c>/service/method</c>, both parts non-empty.</summary>
        private static bool TrySplit(string path, out string service, out string method)
        {
            service = method = "";
            var slash = path.IndexOf('/', 1);
            if (path.Length < 4 || path[0] != '/' || slash < 2 || slash == path.Length - 1 || path.IndexOf('/', slash + 1) >= 0)
            {
                return false;
            }

            service = path[1..slash];
            method = path[(slash + 1)..];
            return true;
        }
    }

    public sealed class MethodSeries
    {
        private static readonly string[] StatusLabels =
            Enumerable.Range(0, GrpcProtocol.MaxStatusCode + 1).Select(code => code.ToString(CultureInfo.InvariantCulture)).ToArray();

        private readonly Counter.Child?[] _byStatus = new Counter.Child?[GrpcProtocol.MaxStatusCode + 1];
        private readonly GrpcStats _stats;
        private readonly string[] _labels;

        public MethodSeries(GrpcStats stats, string cluster, string service, string method)
        {
            _stats = stats;
            _labels = [cluster, service, method];
            RequestMessages = stats._requestMessages.WithLabels(_labels);
            ResponseMessages = stats._responseMessages.WithLabels(_labels);
            Time = stats._time.WithLabels(_labels);
        }

        public Counter.Child RequestMessages { get; }

        public Counter.Child ResponseMessages { get; }

        public Histogram.Child Time { get; }

        public void Record(int grpcStatus, long requestMessages, long responseMessages, double seconds)
        {
            Calls(grpcStatus).Inc();
            RequestMessages.Inc(requestMessages);
            ResponseMessages.Inc(responseMessages);
            Time.Observe(seconds);
        }

        private Counter.Child Calls(int grpcStatus) =>
            _byStatus[grpcStatus] ??= _stats._calls.WithLabels(_labels[0], _labels[1], _labels[2], StatusLabels[grpcStatus]);
    }
}
