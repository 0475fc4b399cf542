using ProxyMesh.Proxy.Configuration;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxyMesh.Proxy.Grpc.Bridge;

public static class GrpcHttp1BridgeServiceCollectionExtensions
{
    /// <summary>Envoy's grpc_http1_bridge on routes with <c>ProxyMesh.GrpcHttp1Bridge: true</c> metadata.</summary>
    public static IServiceCollection AddProxyMeshGrpcHttp1Bridge(this IServiceCollection services)
    {
        services.AddSingleton<ITransformProvider>(new GrpcTrailersTransformProvider([Http1BridgeMiddleware.RouteSwitch]));
        services.AddSingleton<IConfigurationValidator>(
            new GrpcRouteSwitchValidator([Http1BridgeMiddleware.RouteSwitch, Http1BridgeMiddleware.UpgradeProtobufSwitch]));
        return services;
    }

    /// <summary>Bridges HTTP/1.1 gRPC calls; place before gRPC stats.</summary>
    public static IApplicationBuilder UseProxyMeshGrpcHttp1Bridge(this IApplicationBuilder app) => app.UseMiddleware<Http1BridgeMiddleware>();
}
