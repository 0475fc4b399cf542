using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Grpc;

/// <summary>A route's gRPC bridging switch must read true or false: a typo must not silently leave a bridge off.</summary>
internal sealed class GrpcRouteSwitchValidator(string[] keys) : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems) => GrpcRouteMetadata.ValidateSwitches(candidate, keys, problems);
}
