using System.Net;
using ProxyMesh.Proxy.Discovery;

namespace ProxyMesh.Proxy.Tests.Discovery;

/// <summary>Envoy's discovery/health matrix, decided per host on every discovery answer.</summary>
public sealed class DiscoveredMembershipTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Grace = TimeSpan.FromMinutes(10);

    private static DiscoveredHost Host(int last) => new(IPAddress.Parse($"10.0.0.{last}"), 8080);

    private static Func<string, HostHealth> All(HostHealth health) => _ => health;

    [Fact]
    public void New_hosts_become_destinations_and_a_repeat_answer_changes_nothing()
    {
        var membership = new DiscoveredMembership("http");
        Assert.Equal(MembershipUpdate.Changed, membership.Apply([Host(1), Host(2)], Start, All(HostHealth.NotChecked), Grace));
        Assert.Equal(["10.0.0.1:8080", "10.0.0.2:8080"], membership.Destinations.Keys.Order());
        Assert.Equal(MembershipUpdate.Unchanged, membership.Apply([Host(2), Host(1)], Start.AddSeconds(30), All(HostHealth.NotChecked), Grace));
    }

    [Fact]
    public void Changed_tags_update_the_destination()
    {
        var membership = new DiscoveredMembership("http");
        membership.Apply([Host(1)], Start, All(HostHealth.NotChecked), Grace);
        Assert.Equal(MembershipUpdate.Changed, membership.Apply([Host(1) with { Zone = "b" }], Start, All(HostHealth.NotChecked), Grace));
        Assert.Equal("b", membership.Destinations["10.0.0.1:8080"].Metadata!["zone"]);
    }

    [Fact]
    public void An_empty_answer_keeps_the_last_hosts()
    {
        var membership = new DiscoveredMembership("http");
        membership.Apply([Host(1)], Start, All(HostHealth.NotChecked), Grace);
        Assert.Equal(MembershipUpdate.Empty, membership.Apply([], Start.AddSeconds(30), All(HostHealth.NotChecked), Grace));
        Assert.Single(membership.Destinations);
    }

    [Fact]
    public void An_absent_host_without_health_checks_is_removed_at_once()
    {
        var membership = new DiscoveredMembership("http");
        membership.Apply([Host(1), Host(2)], Start, All(HostHealth.NotChecked), Grace);
        Assert.Equal(MembershipUpdate.Changed, membership.Apply([Host(1)], Start.AddSeconds(30), All(HostHealth.NotChecked), Grace));
        Assert.Equal(["10.0.0.1:8080"], membership.Destinations.Keys);
    }

    [Fact]
    public void An_absent_host_passing_health_checks_stays_until_the_grace_ends()
    {
        var membership = new DiscoveredMembership("http");
        membership.Apply([Host(1), Host(2)], Start, All(HostHealth.Healthy), Grace);

        Assert.Equal(MembershipUpdate.Unchanged, membership.Apply([Host(1)], Start.AddMinutes(5), All(HostHealth.Healthy), Grace));
        Assert.Equal(2, membership.Destinations.Count);

        Assert.Equal(MembershipUpdate.Changed, membership.Apply([Host(1)], Start.AddMinutes(10), All(HostHealth.Healthy), Grace));
        Assert.Equal(["10.0.0.1:8080"], membership.Destinations.Keys);
    }

    [Fact]
    public void An_absent_host_failing_health_checks_is_removed()
    {
        var membership = new DiscoveredMembership("http");
        membership.Apply([Host(1), Host(2)], Start, All(HostHealth.Healthy), Grace);
        membership.Apply([Host(1)], Start.AddSeconds(30), All(HostHealth.Healthy), Grace);

        Assert.Equal(MembershipUpdate.Changed, membership.Apply([Host(1)], Start.AddSeconds(60), id => id == "10.0.0.2:8080" ? HostHealth.Unhealthy : HostHealth.Healthy, Grace));
        Assert.Equal(["10.0.0.1:8080"], membership.Destinations.Keys);
    }

    [Fact]
    public void A_present_host_failing_health_checks_stays_a_destination()
    {
        var membership = new DiscoveredMembership("https");
        membership.Apply([Host(1)], Start, All(HostHealth.Unhealthy), Grace);
        Assert.Equal(MembershipUpdate.Unchanged, membership.Apply([Host(1)], Start.AddSeconds(30), All(HostHealth.Unhealthy), Grace));
        Assert.Equal("https://10.0.0.1:8080", membership.Destinations["10.0.0.1:8080"].Address);
    }
}
