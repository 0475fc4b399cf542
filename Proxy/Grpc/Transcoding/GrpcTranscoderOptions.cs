namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// One named transcoder, <c>ProxyMesh:GrpcTranscoding:&lt;name&gt;</c>: the descriptor set to read, the services it
/// exposes, and how strict it is with query parameters.
/// </summary>
internal sealed record GrpcTranscoderOptions(string Name, string? DescriptorSet, IReadOnlyList<string> Services, bool IgnoreUnknownQueryParameters)
{
    public const string SectionName = "ProxyMesh:GrpcTranscoding";

    /// <summary>The route metadata key naming the transcoder a route uses.</summary>
    public const string RouteMetadataKey = "ProxyMesh.GrpcTranscoding";

    public static List<GrpcTranscoderOptions> ReadAll(IConfiguration configuration, List<string> problems)
    {
        var all = new List<GrpcTranscoderOptions>();
        foreach (var section in configuration.GetSection(SectionName).GetChildren())
        {
            var key = $"{SectionName}:{section.Key}";
            var services = section.GetSection("Services").GetChildren().Select(service => service.Value ?? string.Empty).ToList();
            var ignore = false;
            var ignoreText = section["IgnoreUnknownQueryParameters"];
            if (ignoreText is not null && !bool.TryParse(ignoreText, out ignore))
            {
                problems.Add($"{key}:IgnoreUnknownQueryParameters: '{ignoreText}' is not true or false");
            }

            all.Add(new GrpcTranscoderOptions(section.Key, section["DescriptorSet"], services, ignore));
        }

        return all;
    }
}
