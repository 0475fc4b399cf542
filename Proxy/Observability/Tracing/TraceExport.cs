namespace ProxyMesh.Proxy.Observability.Tracing;

/// <summary>
/// Registered when spans are exported. Asking for it rather than for OpenTelemetry's <c>TracerProvider</c> keeps
/// OpenTelemetry's assemblies unloaded while tracing is off (docs/performance.md, Memory).
/// </summary>
internal sealed class TraceExport;
