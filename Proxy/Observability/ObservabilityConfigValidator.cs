using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Observability.Tracing;

namespace ProxyMesh.Proxy.Observability;

/// <summary>Validates <c>ProxyMesh:Stats</c>, <c>ProxyMesh:AccessLog</c> and <c>ProxyMesh:Tracing</c>.</summary>
internal sealed class ObservabilityConfigValidator : IConfigurationValidator
{
    public void Validate(IConfiguration candidate, List<string> problems)
    {
        Bind<StatsOptions>(candidate, StatsOptions.SectionName, problems);
        if (Bind<AccessLogOptions>(candidate, AccessLogOptions.SectionName, problems) is { } accessLog)
        {
            Fraction(accessLog.SampleRate, $"{AccessLogOptions.SectionName}:SampleRate", problems);
            if (accessLog.QueueCapacity < 1)
            {
                problems.Add($"{AccessLogOptions.SectionName}:QueueCapacity: must be at least 1");
            }

            if (accessLog.Path.Length > 0 && Path.GetDirectoryName(Path.GetFullPath(accessLog.Path)) is { } directory && !Directory.Exists(directory))
            {
                problems.Add($"{AccessLogOptions.SectionName}:Path: directory '{directory}' does not exist");
            }
        }

        if (Bind<TracingOptions>(candidate, TracingOptions.SectionName, problems) is { Enabled: true } tracing)
        {
            Fraction(tracing.SamplingRatio, $"{TracingOptions.SectionName}:SamplingRatio", problems);
            if (!Uri.TryCreate(tracing.Endpoint, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            {
                problems.Add($"{TracingOptions.SectionName}:Endpoint: '{tracing.Endpoint}' is not an absolute http:// or https:// URL");
            }

            if (tracing.Protocol is not ("grpc" or "http/protobuf"))
            {
                problems.Add($"{TracingOptions.SectionName}:Protocol: '{tracing.Protocol}' must be grpc or http/protobuf");
            }

            if (tracing.ExportInterval <= TimeSpan.Zero)
            {
                problems.Add($"{TracingOptions.SectionName}:ExportInterval: must be positive");
            }
        }
    }

    private static T? Bind<T>(IConfiguration candidate, string section, List<string> problems)
        where T : class, new()
    {
        try
        {
            return candidate.GetSection(section).Get<T>() ?? new T();
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{section}: {e.Message}");
            return null;
        }
    }

    private static void Fraction(double value, string key, List<string> problems)
    {
        if (value is < 0 or > 1 || double.IsNaN(value))
        {
            problems.Add($"{key}: must be between 0 and 1");
        }
    }
}
