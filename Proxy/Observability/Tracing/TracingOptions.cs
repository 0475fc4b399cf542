namespace ProxyMesh.Proxy.Observability.Tracing;

/// <summary><c>ProxyMesh:Tracing</c>: OpenTelemetry spans exported over OTLP; off unless enabled.</summary>
public sealed class TracingOptions
{
    public const string SectionName = "ProxyMesh:Tracing";

    public bool Enabled { get; set; }

    /// <summary>The OTLP collector, e.g. <c>http://127.0.0.1:4317</c> (gRPC) or <c>http://127.0.0.1:4318/v1/traces</c> (HTTP).</summary>
    public string Endpoint { get; set; } = "http://127.0.0.1:4317";

    /// <summary><c>grpc</c> or <c>http/protobuf</c>.</summary>
    public string Protocol { get; set; } = "grpc";

    /// <summary>Fraction of new traces sampled (0 to 1; 1 keeps all). A caller's sampling decision is followed.</summary>
    public double SamplingRatio { get; set; } = 1.0;

    /// <summary>How often batched spans are exported.</summary>
    public TimeSpan ExportInterval { get; set; } = TimeSpan.FromSeconds(5);
}
