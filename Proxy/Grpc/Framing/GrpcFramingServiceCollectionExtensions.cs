using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Grpc.Framing;

public static class GrpcFramingServiceCollectionExtensions
{
    /// <summary><c>ProxyMesh:Grpc</c>: the message limit and frame checks of gRPC-Web and the HTTP/1.1 bridge.</summary>
    public static IServiceCollection AddProxyMeshGrpcFraming(this IServiceCollection services, IConfiguration validatedConfiguration)
    {
        services.AddOptions<GrpcFramingOptions>().Bind(validatedConfiguration.GetSection(GrpcFramingOptions.SectionName));
        services.AddSingleton<IConfigurationValidator, GrpcFramingConfigValidator>();
        services.AddSingleton<GrpcFraming>();
        return services;
    }
}
