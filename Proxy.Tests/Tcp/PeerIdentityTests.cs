using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ProxyMesh.Proxy.Tls;

namespace ProxyMesh.Proxy.Tests.Tcp;

/// <summary>Which name of a certificate is the caller's identity, and which callers a list admits.</summary>
public sealed class PeerIdentityTests
{
    [Fact]
    public void The_san_uri_wins_over_dns_names_and_the_subject()
    {
        using var certificate = Create("CN=orders-host", names => { names.AddDnsName("orders.mesh"); names.AddUri(new Uri("spiffe://mesh/service/orders")); });
        Assert.Equal("spiffe://mesh/service/orders", PeerIdentity.Of(certificate));
    }

    [Fact]
    public void Without_a_uri_the_first_dns_name_is_the_identity()
    {
        using var certificate = Create("CN=orders-host", names => { names.AddIpAddress(System.Net.IPAddress.Loopback); names.AddDnsName("orders.mesh"); });
        Assert.Equal("orders.mesh", PeerIdentity.Of(certificate));
    }

    [Fact]
    public void Without_alternative_names_the_subject_is_the_identity()
    {
        using var certificate = Create("CN=orders-host, O=Mesh", configure: null);
        Assert.Equal("CN=orders-host, O=Mesh", PeerIdentity.Of(certificate));
        Assert.Null(PeerIdentity.Of(null));
    }

    [Theory]
    [InlineData("orders,users", "spiffe://mesh/service/orders", true)]
    [InlineData("orders, users", "spiffe://mesh/service/users", true)]
    [InlineData("orders", "spiffe://mesh/service/orders-admin", false)]
    [InlineData("spiffe://mesh/service/orders", "spiffe://mesh/service/orders", true)]
    [InlineData("orders.mesh", "orders.mesh", true)]
    [InlineData("orders", "orders.mesh", false)]
    [InlineData("orders", null, false)]
    public void A_caller_list_matches_whole_identities_or_their_last_segment(string list, string? identity, bool allowed) =>
        Assert.Equal(allowed, AllowedCallers.Parse(list)!.Allows(identity));

    [Fact]
    public void An_empty_caller_list_is_no_rule() => Assert.Null(AllowedCallers.Parse(" , "));

    private static X509Certificate2 Create(string subject, Action<SubjectAlternativeNameBuilder>? configure)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (configure is not null)
        {
            var names = new SubjectAlternativeNameBuilder();
            configure(names);
            request.CertificateExtensions.Add(names.Build());
        }

        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }
}
