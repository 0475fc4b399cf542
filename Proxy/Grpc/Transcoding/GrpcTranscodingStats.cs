using ProxyMesh.Proxy.Observability;
using Prometheus;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// <c>proxymesh_grpc_transcoding_rq_total{transcoder,result}</c>: requests a transcoder took on, by what became of
/// them: <c>transcoded</c> (sent upstream as gRPC), <c>invalid_request</c> (refused with 400 before reaching the
/// upstream) and <c>invalid_response</c> (the upstream's answer could not be turned into JSON). Transcoder names come
/// from configuration, never from the request.
/// </summary>
internal sealed class GrpcTranscodingStats(CollectorRegistry registry)
{
    private readonly Counter _requests = StatsFactory.For(registry).CreateCounter(
        "proxymesh_grpc_transcoding_rq_total", "Requests handled by a JSON/gRPC transcoder, by result.", "transcoder", "result");

    public Series For(string transcoder) => new(_requests, transcoder);

    /// <summary>The series of one transcoder, resolved once per configuration version.</summary>
    public sealed class Series(Counter requests, string transcoder)
    {
        public Counter.Child Transcoded { get; } = requests.WithLabels(transcoder, "transcoded");

        public Counter.Child InvalidRequest { get; } = requests.WithLabels(transcoder, "invalid_request");

        public Counter.Child InvalidResponse { get; } = requests.WithLabels(transcoder, "invalid_response");
    }
}
