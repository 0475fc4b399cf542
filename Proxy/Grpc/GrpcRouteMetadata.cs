using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Grpc;

/// <summary>Reads a route's gRPC bridging switches (<c>"true"</c> / <c>"false"</c> route metadata).</summary>
internal static class GrpcRouteMetadata
{
    /// <returns>The proxy route the request matched, or null for requests no proxy route serves (admin, metrics).</returns>
    public static RouteModel? RouteOf(HttpContext context) => context.GetEndpoint()?.Metadata.GetMetadata<RouteModel>();

    public static bool IsEnabled(IReadOnlyDictionary<string, string>? metadata, string key) =>
        metadata is not null && metadata.TryGetValue(key, out var value) && bool.TryParse(value, out var enabled) && enabled;

    /// <summary>Adds a problem for each of <paramref name="keys"/> that a route sets to anything but true or false.</summary>
    public static void ValidateSwitches(IConfiguration candidate, string[] keys, List<string> problems)
    {
        foreach (var route in candidate.GetSection("ReverseProxy:Routes").GetChildren())
        {
            foreach (var key in keys)
            {
                var value = route.GetSection("Metadata")[key];
                if (value is not null && !bool.TryParse(value, out _))
                {
                    problems.Add($"ReverseProxy:Routes:{route.Key}:Metadata:{key}: '{value}' must be true or false");
                }
            }
        }
    }
}
