using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using ProxyMesh.Proxy.Tests.Infrastructure;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Tests.Resilience.HealthChecks;

/// <summary>
/// Active health checks of an <c>https</c> host go over TLS verified against the cluster's <c>Tls:CaPath</c>, as its
/// traffic does: a real Kestrel upstream with a certificate from a test CA.
/// </summary>
public sealed class HealthCheckTlsTests : IAsyncLifetime, IDisposable
{
    private readonly TestCertificates _certificates = new();
    private WebApplication _upstream = null!;
    private Uri _address = null!;
    private int _checks;

    public async Task InitializeAsync()
    {
        (_upstream, var port) = await TlsBackend.StartAsync(_certificates, app => app.MapGet("/health", () =>
        {
            Interlocked.Increment(ref _checks);
            return "ok";
        }));
        _address = new Uri($"https://127.0.0.1:{port}");
    }

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    public void Dispose() => _certificates.Dispose();

    private ProxyConfig Config(string caPath)
    {
        var config = HealthCheckTests.WithHealthCheck(new ProxyConfig().Cluster("app", _address.ToString()).Route("app", "app"), "app", new JsonObject
        {
            ["Type"] = "Http",
            ["Path"] = "/health",
            ["Interval"] = "00:00:00.100",
            ["NoTrafficInterval"] = "00:00:00.100",
            ["UnhealthyThreshold"] = 2,
            ["HealthyThreshold"] = 1,
        });
        config.ClusterPolicies("app")["Tls"] = new JsonObject { ["CaPath"] = caPath };
        return config;
    }

    [Fact]
    public async Task A_host_checked_over_tls_trusted_by_the_clusters_ca_is_healthy()
    {
        await using var proxy = await RunningProxy.StartAsync(Config(_certificates.CaPath));
        await Eventually.AssertAsync(
            () => Task.FromResult(HealthCheckTests.ActiveHealth(proxy, "d0") == DestinationHealth.Healthy),
            "the https host checked healthy");
        Assert.True(Volatile.Read(ref _checks) > 0);
    }

    [Fact]
    public async Task A_host_whose_certificate_the_clusters_ca_did_not_issue_fails_its_checks()
    {
        using var otherCa = new TestCertificates("Another CA");
        await using var proxy = await RunningProxy.StartAsync(Config(otherCa.CaPath));
        await Eventually.AssertAsync(
            () => Task.FromResult(HealthCheckTests.ActiveHealth(proxy, "d0") == DestinationHealth.Unhealthy),
            "the https host with an untrusted certificate checked unhealthy");
        Assert.Equal(0, Volatile.Read(ref _checks));
    }
}
