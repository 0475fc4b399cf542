using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Grpc.Stats;

public static class GrpcStatsServiceCollectionExtensions
{
    /// <summary>Envoy's grpc_stats for all gRPC traffic through the proxy, plain and bridged.</summary>
    public static IServiceCollection AddProxyMeshGrpcStats(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddOptions<GrpcStatsOptions>().Bind(validatedConfiguration.GetSection(GrpcStatsOptions.SectionName));
        services.AddSingleton<IConfigurationValidator, GrpcStatsConfigValidator>();
        services.AddSingleton<GrpcStats>();
        return services;
    }

    /// <summary>Records gRPC calls; place after the gRPC bridges so that bridged calls are seen as the gRPC they become.</summary>
    public static IApplicationBuilder UseProxyMeshGrpcStats(this IApplicationBuilder app) => app.UseMiddleware<GrpcStatsMiddleware>();
}
