using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Grpc.Stats;

/// <summary>Validates <c>ProxyMesh:GrpcStats</c>.</summary>
internal sealed class GrpcStatsConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        GrpcStatsOptions? options;
        try
        {
            options = candidate.GetSection(GrpcStatsOptions.SectionName).Get<GrpcStatsOptions>();
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{GrpcStatsOptions.SectionName}: {e.Message}");
            return;
        }

        if (options is { MaxMethodsPerCluster: < 0 })
        {
            problems.Add($"{GrpcStatsOptions.SectionName}:MaxMethodsPerCluster: must be 0 or more");
        }
    }
}
