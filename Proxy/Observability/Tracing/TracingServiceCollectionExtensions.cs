using System.Runtime.CompilerServices;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Observability.Tracing;

internal static class TracingServiceCollectionExtensions
{
    /// <summary>ASP.NET Core's server spans and HttpClient's client spans (one per upstream attempt), exported over OTLP.</summary>
    public static IServiceCollection AddProxyMeshTracing(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        TracingOptions tracing;
        try
        {
            tracing = validatedConfiguration.GetSection(TracingOptions.SectionName).Get<TracingOptions>() ?? new TracingOptions();
        }
        catch (InvalidOperationException)
        {
            // Reported with its key by the configuration validation that runs before anything serves.
            return services;
        }

        if (!tracing.Enabled || !Uri.TryCreate(tracing.Endpoint, UriKind.Absolute, out var endpoint))
        {
            return services;
        }

        var serviceName = validatedConfiguration[$"{ProxyMeshOptions.SectionName}:ServiceName"] ?? new ProxyMeshOptions().ServiceName;
        AddOtlpExport(services, tracing, endpoint, serviceName);
        return services;
    }

    /// <summary>Its own method so that OpenTelemetry's assemblies load only when tracing is on (docs/performance.md, Memory).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AddOtlpExport(IServiceCollection services, TracingOptions tracing, Uri endpoint, string serviceName)
    {
        services.AddSingleton<TraceExport>();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName))
            .WithTracing(builder => builder
                .AddSource("Microsoft.AspNetCore", "System.Net.Http")
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(tracing.SamplingRatio)))
                .AddProcessor(new MeshSpanEnricher())
                .AddOtlpExporter(exporter =>
                {
                    exporter.Endpoint = endpoint;
                    exporter.Protocol = tracing.Protocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                    exporter.BatchExportProcessorOptions.ScheduledDelayMilliseconds = (int)tracing.ExportInterval.TotalMilliseconds;
                }));
    }
}
