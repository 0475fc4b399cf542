using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Configuration;

/// <summary>The real executable refuses a bad configuration with one clear line per problem, naming the key.</summary>
public sealed class StartupValidationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", Guid.NewGuid().ToString("N"));

    public StartupValidationTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    public static TheoryData<string, string> BadConfigurations => new()
    {
        { """{"ProxyMesh":{"Listeners":{"ingress":{"Url":"http://example.com:80"}}}}""", "ProxyMesh:Listeners:ingress:Url: 'http://example.com:80' has host 'example.com'" },
        { """{"ProxyMesh":{"Listeners":{"ingress":{"Url":"http://127.0.0.1:0","Protocols":"Http9"}}}}""", "ProxyMesh:Listeners:ingress:Protocols: 'Http9' is not supported; use Http1, Http2 or Http1AndHttp2" },
        { """{"ProxyMesh":{"Listeners":{}}}""", "ProxyMesh:Listeners: no listener is configured" },
        { """{"ProxyMesh":{"Admin":{"Url":"ftp://127.0.0.1:9"}}}""", "ProxyMesh:Admin:Url: 'ftp://127.0.0.1:9' must start with http:// or https://" },
        { """{"ReverseProxy":{"Routes":{"r1":{"ClusterId":"nowhere","Match":{"Path":"/x"}}}}}""", "ReverseProxy:Routes:r1:ClusterId: there is no cluster named 'nowhere'" },
        { """{"ReverseProxy":{"Routes":{"r1":{"ClusterId":"c1"}},"Clusters":{"c1":{"Destinations":{"d":{"Address":"http://127.0.0.1:1"}}}}}}""", "ReverseProxy:Routes:r1: " },
        { """{"ReverseProxy":{"Clusters":{"c1":{"HttpRequest":{"Version":"abc"}}}}}""", "ReverseProxy:Clusters:c1: " },
        { """{"ReverseProxy":{"Clusters":{"c1":{"Destinations":{"d":{"Address":"not a url"}}}}}}""", "ReverseProxy:Clusters:c1:Destinations:d:Address: 'not a url' is not an absolute" },
        { """{"ReverseProxy":{"Routes":{"r1":{"ClusterId":"c1","Match":{"Path":"/x"},"Metadata":{"ProxyMesh.Listeners":"sideways"}}},"Clusters":{"c1":{"Destinations":{"d":{"Address":"http://127.0.0.1:1"}}}}}}""", "ReverseProxy:Routes:r1:Metadata:ProxyMesh.Listeners: there is no listener named 'sideways'" },
        { """{"ProxyMesh": """, "appsettings.json: invalid JSON: " },
        { """{"ReverseProxy":{"Clusters":{"orders":{"Metadata":{"ProxyMesh.Discovery":"orders"}}}}}""", "ReverseProxy:Clusters:orders:Metadata:ProxyMesh.Discovery: discovery clusters need ProxyMesh:Discovery:Url" },
        { """{"ProxyMesh":{"Discovery":{"Url":"http://127.0.0.1:1"}},"ReverseProxy":{"Clusters":{"orders":{"Metadata":{"ProxyMesh.Discovery":"orders"},"Destinations":{"d":{"Address":"http://127.0.0.1:2"}}}}}}""", "ReverseProxy:Clusters:orders:Destinations: a discovery cluster gets its destinations from discovery" },
        { """{"ProxyMesh":{"Discovery":{"Url":"http://127.0.0.1:1"}},"ReverseProxy":{"Clusters":{"orders":{"Metadata":{"ProxyMesh.Discovery":"orders/../x"}}}}}""", "ReverseProxy:Clusters:orders:Metadata:ProxyMesh.Discovery: 'orders/../x' is not a service name" },
        { """{"ProxyMesh":{"Discovery":{"RefreshInterval":"-00:00:01"}}}""", "ProxyMesh:Discovery:RefreshInterval: must be positive" },
        { """{"ProxyMesh":{"Registration":{"Ip":"my-host","Port":10000,"DiscoveryUrl":"http://127.0.0.1:1"}}}""", "ProxyMesh:Registration:Ip: 'my-host' is not an IP address" },
        { """{"ProxyMesh":{"Registration":{"Ip":"10.0.0.1","Port":10000}}}""", "ProxyMesh:Registration:DiscoveryUrl: needs an absolute http:// URL" },
        { """{"ProxyMesh":{"LocalCluster":"nope"}}""", "ProxyMesh:LocalCluster: there is no cluster named 'nope'" },
        { """{"ReverseProxy":{"Clusters":{"c1":{"LoadBalancingPolicy":"ZoneAware","Metadata":{"ProxyMesh.ZoneAware.Inner":"Fastest"},"Destinations":{"d":{"Address":"http://127.0.0.1:1"}}}}}}""", "ReverseProxy:Clusters:c1:Metadata:ProxyMesh.ZoneAware.Inner: 'Fastest' must be LeastRequest, Random or RoundRobin" },
    };

    [Theory]
    [MemberData(nameof(BadConfigurations))]
    public async Task Invalid_configuration_fails_start_up_with_one_line_naming_the_key(string settings, string expected)
    {
        await File.WriteAllTextAsync(Path.Combine(_directory, "appsettings.json"), WithDefaults(settings));
        await using var proxy = ProxyProcess.Start(_directory, []);

        Assert.Equal(1, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var lines = proxy.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith("ProxyMesh: invalid configuration: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_config_file_fails_start_up()
    {
        await using var proxy = ProxyProcess.Start(_directory, ["--config", "missing.json"]);
        Assert.Equal(1, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var line = Assert.Single(proxy.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"ProxyMesh: invalid configuration: --config: file '{Path.Combine(_directory, "missing.json")}' does not exist", line);
    }

    [Fact]
    public async Task A_port_in_use_fails_start_up_with_one_line()
    {
        using var blocker = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        blocker.Start();
        var port = ((System.Net.IPEndPoint)blocker.LocalEndpoint).Port;
        await File.WriteAllTextAsync(
            Path.Combine(_directory, "appsettings.json"),
            WithDefaults("""{"ProxyMesh":{"Listeners":{"ingress":{"Url":"http://127.0.0.1:PORT"}}}}""".Replace("PORT", port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)));
        await using var proxy = ProxyProcess.Start(_directory, []);
        Assert.Equal(1, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var line = Assert.Single(proxy.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("ProxyMesh: cannot listen: ", line, StringComparison.Ordinal);
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), line, StringComparison.Ordinal);
    }

    /// <summary>Merges a fragment over a valid configuration on free loopback ports.</summary>
    private static string WithDefaults(string fragment)
    {
        var defaults = new ProxyConfig();
        defaults.Root["Logging"]!["LogLevel"]!["Default"] = "None";
        return defaults.ToJsonWith(fragment);
    }
}
