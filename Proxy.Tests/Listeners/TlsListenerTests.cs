using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Listeners;

/// <summary>An https:// listener loads its certificate from the listener config and negotiates HTTP/2 or HTTP/1.1 with ALPN.</summary>
public sealed class TlsListenerTests : IAsyncLifetime
{
    private readonly string _certificatePath = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"{Guid.NewGuid():N}.pfx");
    private string _thumbprint = "";
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_certificatePath)!);
        using (var key = RSA.Create(2048))
        {
            var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            _thumbprint = certificate.GetCertHashString();
            await File.WriteAllBytesAsync(_certificatePath, certificate.Export(X509ContentType.Pfx, "pfx-password"));
        }

        _backend = await Backend.StartEchoAsync();
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app");
        config.Listeners["secure"] = new JsonObject
        {
            ["Url"] = "https://127.0.0.1:0",
            ["Certificate"] = new JsonObject { ["Path"] = _certificatePath, ["Password"] = "pfx-password" },
        };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
        File.Delete(_certificatePath);
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Alpn_picks_the_protocol_and_the_request_is_https(string version)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == _thumbprint },
        };
        using var client = new HttpClient(handler)
        {
            BaseAddress = _proxy.Listeners.UriOf("secure"),
            DefaultRequestVersion = Version.Parse(version),
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        using var response = await client.PostAsync("/tls", new StringContent("sealed"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Version.Parse(version), response.Version);
        Assert.Equal("sealed", await response.Content.ReadAsStringAsync());
        Assert.Equal("https", response.Headers.GetValues("x-backend-forwarded-proto").Single());
    }

    [Fact]
    public async Task Config_dump_redacts_the_certificate_password()
    {
        using var admin = Clients.Http1(_proxy.Admin);
        var dump = await admin.GetStringAsync("/config_dump");
        Assert.Contains(_certificatePath, dump, StringComparison.Ordinal);
        Assert.DoesNotContain("pfx-password", dump, StringComparison.Ordinal);
    }
}
