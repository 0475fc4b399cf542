using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Grpc.Web;

public static class GrpcWebServiceCollectionExtensions
{
    /// <summary>gRPC-Web to gRPC on routes with <c>ProxyMesh.GrpcWeb: true</c> metadata.</summary>
    public static IServiceCollection AddProxyMeshGrpcWeb(this IServiceCollection services)
    {
        services.AddSingleton<GrpcWebStats>();
        services.AddSingleton<ITransformProvider>(new GrpcTrailersTransformProvider([GrpcWebMiddleware.RouteSwitch]));
        services.AddSingleton<IConfigurationValidator>(new GrpcRouteSwitchValidator([GrpcWebMiddleware.RouteSwitch]));
        return services;
    }

    /// <summary>Translates gRPC-Web calls on the way in and out; place after CORS, before gRPC stats.</summary>
    public static IApplicationBuilder UseProxyMeshGrpcWeb(this IApplicationBuilder app) => app.UseMiddleware<GrpcWebMiddleware>();
}
