using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

public static class GrpcTranscodingServiceCollectionExtensions
{
    /// <summary>
    /// JSON ⇄ gRPC transcoding (Envoy's grpc_json_transcoder): transcoders under <c>ProxyMesh:GrpcTranscoding</c>,
    /// validated with the rest of the configuration, used by routes with <c>ProxyMesh.GrpcTranscoding</c> metadata.
    /// </summary>
    public static IServiceCollection AddProxyMeshGrpcTranscoding(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddSingleton<IConfigurationValidator, GrpcTranscodingConfigValidator>();
        services.AddSingleton<GrpcTranscodingStats>();
        services.AddSingleton(provider => new GrpcTranscoders(
            validatedConfiguration,
            provider.GetRequiredService<IHostEnvironment>(),
            provider.GetRequiredService<GrpcTranscodingStats>(),
            provider.GetRequiredService<ILogger<GrpcTranscoders>>()));
        return services;
    }

    /// <summary>The proxy pipeline's transcoding step; it acts only on endpoints <see cref="AddGrpcTranscodingMetadata"/> marked.</summary>
    public static IReverseProxyApplicationBuilder UseGrpcTranscoding(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<GrpcTranscodingMiddleware>();
        return proxy;
    }

    /// <summary>An endpoint convention: marks the endpoints of routes whose metadata names a transcoder.</summary>
    public static void AddGrpcTranscodingMetadata(IEndpointConventionBuilder endpoint, RouteConfig route)
    {
        if (route.Metadata?.TryGetValue(GrpcTranscoderOptions.RouteMetadataKey, out var name) == true && !string.IsNullOrEmpty(name))
        {
            endpoint.WithMetadata(new GrpcTranscodingRoute(name));
        }
    }
}
