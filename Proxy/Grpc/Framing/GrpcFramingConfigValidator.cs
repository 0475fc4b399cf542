using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Grpc.Framing;

/// <summary>Validates <c>ProxyMesh:Grpc</c>.</summary>
internal sealed class GrpcFramingConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        GrpcFramingOptions? options;
        try
        {
            options = candidate.GetSection(GrpcFramingOptions.SectionName).Get<GrpcFramingOptions>();
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{GrpcFramingOptions.SectionName}: {e.Message}");
            return;
        }

        if (options is { MaxMessageBytes: < 1 })
        {
            problems.Add($"{GrpcFramingOptions.SectionName}:MaxMessageBytes: must be at least 1");
        }
    }
}
