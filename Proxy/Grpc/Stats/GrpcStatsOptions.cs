namespace ProxyMesh.Proxy.Grpc.Stats;

/// <summary><c>ProxyMesh:GrpcStats</c>: bounds on the per-method gRPC series.</summary>
public sealed class GrpcStatsOptions
{
    public const string SectionName = "ProxyMesh:GrpcStats";

    /// <summary>
    /// Distinct service/method pairs labelled per cluster; calls to further ones are labelled <c>other</c>. Method names
    /// come from request paths, which callers choose, so the cap keeps the series count bounded.
    /// </summary>
    public int MaxMethodsPerCluster { get; set; } = 1000;
}
