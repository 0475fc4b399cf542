using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// Rejects a configuration whose transcoders cannot be served: a missing or unreadable descriptor set, a service
/// not in it, an HTTP rule that does not compile (bad template, unknown field), or a route naming a transcoder
/// that does not exist. A rejected reload keeps the last good configuration.
/// </summary>
internal sealed class GrpcTranscodingConfigValidator(IHostEnvironment environment) : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var options in GrpcTranscoderOptions.ReadAll(candidate, problems))
        {
            names.Add(options.Name);
            GrpcTranscoder.Load(options, environment.ContentRootPath, problems);
        }

        foreach (var route in candidate.GetSection("ReverseProxy:Routes").GetChildren())
        {
            var name = route[$"Metadata:{GrpcTranscoderOptions.RouteMetadataKey}"];
            if (name is not null && !names.Contains(name))
            {
                var configured = names.Count == 0 ? "none" : string.Join(", ", names.Order(StringComparer.OrdinalIgnoreCase));
                problems.Add($"ReverseProxy:Routes:{route.Key}:Metadata:{GrpcTranscoderOptions.RouteMetadataKey}: "
                             + $"there is no transcoder named '{name}' under {GrpcTranscoderOptions.SectionName} (configured: {configured})");
            }
        }
    }
}
