using Microsoft.Extensions.Configuration;
using ProxyMesh.Proxy.Resilience;

namespace ProxyMesh.Proxy.Tests.Resilience;

public sealed class ClusterPoliciesTests
{
    private sealed class SamplePolicy
    {
        public int Attempts { get; set; } = 1;

        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

        public List<string> On { get; set; } = [];
    }

    [Fact]
    public void Cluster_keys_override_defaults_key_by_key_and_code_defaults_fill_the_rest()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ProxyMesh:Defaults:Sample:Attempts"] = "3",
            ["ProxyMesh:Clusters:orders:Sample:Timeout"] = "00:00:02",
        }).Build();

        var orders = ClusterPolicies.Bind<SamplePolicy>(configuration, "orders", "Sample");
        var other = ClusterPolicies.Bind<SamplePolicy>(configuration, "payments", "Sample");

        Assert.Equal((3, TimeSpan.FromSeconds(2)), (orders.Attempts, orders.Timeout));
        Assert.Equal((3, TimeSpan.FromSeconds(15)), (other.Attempts, other.Timeout));
        Assert.Equal(1, ClusterPolicies.Bind<SamplePolicy>(new ConfigurationBuilder().Build(), "orders", "Sample").Attempts);
    }
}
