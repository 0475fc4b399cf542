using ProxyMesh.Proxy.Resilience;

namespace ProxyMesh.Proxy.Discovery;

/// <summary>Validates policy <c>Discovery</c> in <c>ProxyMesh:Defaults</c> and <c>ProxyMesh:Clusters:&lt;cluster&gt;</c>: known keys, booleans.</summary>
internal sealed class DiscoveredAddressPolicyValidator : ClusterPolicyValidator<DiscoveredAddressPolicy>
{
    protected override string Policy => DiscoveredAddressPolicy.PolicyName;

    protected override void Check(DiscoveredAddressPolicy options, string prefix, List<string> problems)
    {
    }
}
