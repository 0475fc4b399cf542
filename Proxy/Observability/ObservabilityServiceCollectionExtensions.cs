using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Prometheus;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Observability.Tracing;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Observability;

public static class ObservabilityServiceCollectionExtensions
{
    /// <summary>
    /// Stats for every hop: a metrics registry per proxy instance (so several proxies in one process keep separate
    /// stats) whose series all carry the sidecar's identity as <c>source_service</c> and <c>source_zone</c>, and the
    /// current trace as exemplar only when tracing is on.
    /// </summary>
    public static IServiceCollection AddProxyMeshObservability(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddSingleton<IConfigurationValidator, ObservabilityConfigValidator>();
        services.AddSingleton<ITransformProvider, RequestIdTransformProvider>();
        services.TryAddSingleton(Random.Shared);
        services.AddSingleton<IExternalScopeProvider>(provider =>
            new RequestIdLogScope(RequestIdLogScope.FactoryDefault(provider.GetRequiredService<IOptions<LoggerFactoryOptions>>().Value)));
        services.AddOptions<StatsOptions>().Bind(validatedConfiguration.GetSection(StatsOptions.SectionName));
        services.AddSingleton<UpstreamHostStats>();
        services.AddOptions<AccessLogOptions>().Bind(validatedConfiguration.GetSection(AccessLogOptions.SectionName));
        services.AddSingleton<AccessLogQueue>();
        services.AddSingleton<AccessLogRecorder>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IAccessLogSink>(provider => provider.GetRequiredService<IOptions<AccessLogOptions>>().Value.Path is { Length: > 0 } path
            ? new FileSink(path, provider.GetRequiredService<TimeProvider>())
            : new StandardOutputSink());
        services.AddHostedService<AccessLogWriter>();
        services.AddProxyMeshTracing(validatedConfiguration);
        var tracingEnabled = bool.TryParse(validatedConfiguration[$"{TracingOptions.SectionName}:{nameof(TracingOptions.Enabled)}"], out var enabled) && enabled;

        services.AddSingleton(provider =>
        {
            var mesh = provider.GetRequiredService<IOptions<ProxyMeshOptions>>().Value;
            var registry = Metrics.NewCustomRegistry();
            registry.SetStaticLabels(new Dictionary<string, string>
            {
                ["source_service"] = mesh.ServiceName,
                ["source_zone"] = mesh.Zone,
            });
            DotNetStats.Register(registry);
            if (tracingEnabled)
            {
                StatsFactory.EnableExemplars(registry);
            }

            return registry;
        });
        services.AddSingleton<ConfigUpdateMetrics>();
        services.AddSingleton<BackgroundLoopErrors>();
        services.AddSingleton<DownstreamStats>();
        services.AddSingleton<UpstreamStats>();
        services.AddSingleton<UpstreamConnectionStats>();
        return services;
    }

    /// <summary>Request ids, downstream request stats and the access log, for every request.</summary>
    public static IApplicationBuilder UseProxyMeshObservability(this IApplicationBuilder app)
    {
        app.UseMiddleware<ObservabilityMiddleware>();
        return app;
    }

    /// <summary>
    /// The proxy pipeline's first step when tracing is on: the mesh attributes and the upstream outcome on the request's
    /// span. With tracing off nothing is exported, so the step is left out of the pipeline.
    /// </summary>
    public static IReverseProxyApplicationBuilder UseUpstreamSpans(this IReverseProxyApplicationBuilder proxy)
    {
        if (proxy.ApplicationServices.GetService<TraceExport>() is not null)
        {
            proxy.UseMiddleware<UpstreamSpanMiddleware>();
        }

        return proxy;
    }

    /// <summary><c>GET /metrics</c> (Prometheus text format) and <c>GET /stats</c> (Envoy-style text) on the admin listener.</summary>
    public static IEndpointRouteBuilder MapProxyMeshMetrics(this IEndpointRouteBuilder endpoints)
    {
        var registry = endpoints.ServiceProvider.GetRequiredService<CollectorRegistry>();
        endpoints.ServiceProvider.GetRequiredService<ConfigUpdateMetrics>();
        endpoints.MapMetrics("/metrics", registry).WithMetadata(ListenerBinding.Admin);
        endpoints.MapGet("/stats", (HttpContext context) => StatsTextView.WriteAsync(registry, context.Response, context.RequestAborted))
            .WithMetadata(ListenerBinding.Admin);
        return endpoints;
    }
}
