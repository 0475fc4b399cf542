using Microsoft.Extensions.Configuration;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Tests.Configuration;

public sealed class ProxyMeshOptionsValidatorTests
{
    private static List<string> Validate(params (string Key, string Value)[] settings)
    {
        var data = new Dictionary<string, string?>
        {
            ["ProxyMesh:Listeners:ingress:Url"] = "http://127.0.0.1:10000",
        };
        foreach (var (key, value) in settings)
        {
            data[key] = value;
        }

        var problems = new List<string>();
        new ProxyMeshOptionsValidator().Validate(new ConfigurationBuilder().AddInMemoryCollection(data).Build(), problems);
        return problems;
    }

    [Fact]
    public void Defaults_with_one_listener_are_valid() => Assert.Empty(Validate());

    [Theory]
    [InlineData("ProxyMesh:Listeners:admin:Url", "http://127.0.0.1:10001", "ProxyMesh:Listeners:admin: the name 'admin' is reserved")]
    [InlineData("ProxyMesh:Listeners:egress:Url", "http://127.0.0.1:10000", "ProxyMesh:Listeners:ingress:Url: port 10000 is already used by ProxyMesh:Listeners:egress")]
    [InlineData("ProxyMesh:Admin:Url", "http://127.0.0.1:10000", "ProxyMesh:Admin:Url: port 10000 is already used")]
    [InlineData("ProxyMesh:Listeners:egress:Url", "https://127.0.0.1:443", "ProxyMesh:Listeners:egress:Certificate:Path: an https:// listener needs a certificate file")]
    [InlineData("ProxyMesh:Listeners:egress:Url", "http://localhost:0", "ProxyMesh:Listeners:egress:Url: port 0 (any free port) needs an IP address")]
    [InlineData("ProxyMesh:Listeners:egress:Url", "http://127.0.0.1", "ProxyMesh:Listeners:egress:Url: 'http://127.0.0.1' has no port")]
    [InlineData("ProxyMesh:Listeners:egress:Url", "http://127.0.0.1:70000", "ProxyMesh:Listeners:egress:Url: 'http://127.0.0.1:70000' has an invalid port")]
    [InlineData("ProxyMesh:Listeners:egress:Protocols", "Http3", "ProxyMesh:Listeners:egress:Protocols: 'Http3' is not supported")]
    [InlineData("ProxyMesh:Admin:Url", "https://127.0.0.1:9901", "ProxyMesh:Admin:Url: the admin listener is plain http")]
    [InlineData("ProxyMesh:ServiceName", " ", "ProxyMesh:ServiceName: must not be empty")]
    public void Each_problem_names_its_key(string key, string value, string expected)
    {
        var problem = Assert.Single(Validate((key, value)));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://0.0.0.0:80")]
    [InlineData("http://*:80")]
    [InlineData("http://[::1]:80")]
    [InlineData("http://localhost:80")]
    public void Container_and_ipv6_addresses_are_accepted(string url) =>
        Assert.Empty(Validate(("ProxyMesh:Listeners:ingress:Url", url)));
}
