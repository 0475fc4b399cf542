using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Routing;

/// <summary>
/// Validates the <c>ReverseProxy</c> section with YARP's own reader and validator before YARP sees it, and adds the
/// checks YARP leaves to request time: a route's cluster exists, destination addresses are absolute URLs, and a
/// route's listeners exist.
/// </summary>
internal sealed class ReverseProxyConfigValidator(IConfigValidator yarpValidator) : IConfigurationValidator
{
    public const string SectionName = "ReverseProxy";

    public void Validate(IConfiguration candidate, List<string> problems)
    {
        var section = candidate.GetSection(SectionName);
        var config = YarpConfigReader.Read(section, problems);
        if (config is null)
        {
            return;
        }

        var clusterIds = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var cluster in config.Clusters)
        {
            var key = $"{SectionName}:Clusters:{cluster.ClusterId}";
            clusterIds.Add(cluster.ClusterId);
            AddAll(problems, key, yarpValidator.ValidateClusterAsync(cluster).AsTask().GetAwaiter().GetResult());
            foreach (var (id, destination) in cluster.Destinations ?? new Dictionary<string, DestinationConfig>())
            {
                if (!IsHttpUrl(destination.Address) && !IsTcpUrl(destination.Address))
                {
                    problems.Add($"{key}:Destinations:{id}:Address: '{destination.Address}' is not an absolute http://, https://, tcp:// or tls:// URL");
                }
            }
        }

        var listeners = new HashSet<string>(
            candidate.GetSection($"{ProxyMeshOptions.SectionName}:Listeners").GetChildren().Select(listener => listener.Key),
            StringComparer.OrdinalIgnoreCase);
        foreach (var route in config.Routes)
        {
            var key = $"{SectionName}:Routes:{route.RouteId}";
            AddAll(problems, key, yarpValidator.ValidateRouteAsync(route).AsTask().GetAwaiter().GetResult());
            if (route.ClusterId is not null && !clusterIds.Contains(route.ClusterId))
            {
                problems.Add($"{key}:ClusterId: there is no cluster named '{route.ClusterId}'");
            }

            foreach (var name in ListenerBinding.ParseNames(route.Metadata))
            {
                if (!listeners.Contains(name))
                {
                    problems.Add($"{key}:Metadata:{ListenerBinding.RouteMetadataKey}: there is no listener named '{name}' "
                                 + $"(configured: {string.Join(", ", listeners.Order(StringComparer.OrdinalIgnoreCase))})");
                }
            }
        }
    }

    private static void AddAll(List<string> problems, string key, IList<Exception> errors)
    {
        foreach (var error in errors)
        {
            problems.Add($"{key}: {error.Message}");
        }
    }

    /// <summary>A TCP proxy destination; the TCP listener's validator checks host and port.</summary>
    private static bool IsTcpUrl(string? address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && (uri.Scheme == "tcp" || uri.Scheme == "tls");

    private static bool IsHttpUrl(string? address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
