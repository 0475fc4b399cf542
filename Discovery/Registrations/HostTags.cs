namespace ProxyMesh.Discovery.Registrations;

/// <summary>
/// A host's tags as lyft's discovery and Envoy's SDS v1 know them. Every tag is optional; absent tags are left out of
/// answers.
/// </summary>
public sealed record HostTags(string? Az = null, string? Region = null, string? InstanceId = null, bool? Canary = null, int? LoadBalancingWeight = null)
{
    public static readonly HostTags None = new();

    public const int MinWeight = 1;
    public const int MaxWeight = 100;
}
