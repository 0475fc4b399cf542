using ProxyMesh.Proxy.Observability;
using System.Collections.Concurrent;
using Prometheus;

namespace ProxyMesh.Proxy.Grpc.Web;

/// <summary><c>proxymesh_grpc_web_malformed_total{cluster}</c>: gRPC-Web calls refused because their body could not be decoded.</summary>
internal sealed class GrpcWebStats(CollectorRegistry registry)
{
    private readonly Counter _malformed = StatsFactory.For(registry).CreateCounter(
        "proxymesh_grpc_web_malformed_total", "gRPC-Web calls answered INTERNAL by the proxy because their grpc-web-text body was not valid base64.", "cluster");

    private readonly ConcurrentDictionary<string, Counter.Child> _byCluster = new();

    public void RecordMalformed(string cluster) => _byCluster.GetOrAdd(cluster, static (name, counter) => counter.WithLabels(name), _malformed).Inc();
}
