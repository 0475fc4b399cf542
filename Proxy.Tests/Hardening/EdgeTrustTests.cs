using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// Envoy's edge sanitizing: on a listener that does not trust its callers (an ingress reachable from outside) the
/// caller's x-request-id is replaced, x-forwarded-* describe the real connection, and every x-envoy-* header is
/// removed; on a trusted listener (the local application on loopback) they pass as sent.
/// </summary>
public sealed class EdgeTrustTests : IAsyncLifetime
{
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartAsync(app => app.Run(context =>
        {
            var headers = context.Request.Headers
                .Where(header => header.Key.StartsWith("x-", StringComparison.OrdinalIgnoreCase))
                .ToDictionary(header => header.Key.ToLowerInvariant(), header => header.Value.ToString());
            return context.Response.WriteAsJsonAsync(headers);
        }));
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app");
        config.Listeners["ingress"]!["TrustDownstream"] = false;
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    private static async Task<(Dictionary<string, string> Upstream, string? ReturnedId)> SendAsync(Uri listener)
    {
        using var client = Clients.Http1(listener);
        using var request = client.Request(HttpMethod.Get, "/");
        request.Headers.Add("x-request-id", "11111111-2222-3333-4444-555555555555");
        request.Headers.Add("x-forwarded-for", "203.0.113.7");
        request.Headers.Add("x-forwarded-proto", "https");
        request.Headers.Add("x-forwarded-host", "evil.example");
        request.Headers.Add("x-envoy-internal", "true");
        request.Headers.Add("x-envoy-force-trace", "true");
        request.Headers.Add("x-envoy-decorator-operation", "steal");
        using var response = await client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var upstream = JsonSerializer.Deserialize<Dictionary<string, string>>(await response.Content.ReadAsStringAsync())!;
        return (upstream, response.Headers.TryGetValues("x-request-id", out var ids) ? ids.Single() : null);
    }

    [Fact]
    public async Task An_untrusted_listener_replaces_the_request_id_and_forwarded_headers_and_strips_envoy_headers()
    {
        var (upstream, returned) = await SendAsync(_proxy.Ingress);

        Assert.NotEqual("11111111-2222-3333-4444-555555555555", upstream["x-request-id"]);
        Assert.True(Guid.TryParse(upstream["x-request-id"], out _));
        Assert.Equal(upstream["x-request-id"], returned);
        Assert.Equal("203.0.113.7, 127.0.0.1", upstream["x-forwarded-for"]);
        Assert.Equal("http", upstream["x-forwarded-proto"]);
        Assert.Equal(_proxy.Ingress.Authority, upstream["x-forwarded-host"]);
        Assert.DoesNotContain(upstream.Keys, key => key.StartsWith("x-envoy-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_trusted_listener_keeps_what_the_local_application_sent()
    {
        var (upstream, returned) = await SendAsync(_proxy.Egress);

        Assert.Equal("11111111-2222-3333-4444-555555555555", upstream["x-request-id"]);
        Assert.Equal("11111111-2222-3333-4444-555555555555", returned);
        Assert.Equal("true", upstream["x-envoy-force-trace"]);
        Assert.Equal("steal", upstream["x-envoy-decorator-operation"]);
        Assert.Equal("203.0.113.7", upstream["x-forwarded-for"]);
    }

    /// <summary>
    /// Envoy's x-forwarded-for rules, seen by curl: an edge listener (use_remote_address: true, xff_num_trusted_hops: 0)
    /// appends the address it saw to what the caller sent; a trusted one (use_remote_address: false) leaves the header
    /// as the local application sent it, and adds none when it sent none.
    /// </summary>
    [Theory]
    [InlineData(false, "198.51.100.1, 198.51.100.2", "198.51.100.1, 198.51.100.2, 127.0.0.1")]
    [InlineData(false, null, "127.0.0.1")]
    [InlineData(true, "198.51.100.1", "198.51.100.1")]
    [InlineData(true, null, null)]
    public async Task X_forwarded_for_is_appended_at_the_edge_and_left_alone_on_a_trusted_listener(bool trusted, string? sent, string? expected)
    {
        var listener = trusted ? _proxy.Egress : _proxy.Ingress;
        List<string> arguments = [new Uri(listener, "/").ToString()];
        if (sent is not null)
        {
            arguments.AddRange(["-H", $"X-Forwarded-For: {sent}"]);
        }

        var (exitCode, output) = await Curl.RunAsync([.. arguments]);

        Assert.True(exitCode == 0, output);
        var upstream = JsonSerializer.Deserialize<Dictionary<string, string>>(output)!;
        Assert.Equal(expected, upstream.GetValueOrDefault("x-forwarded-for"));
    }

    [Theory]
    [InlineData("http://127.0.0.1:10000", null, null, true)]
    [InlineData("http://localhost:10000", null, null, true)]
    [InlineData("http://[::1]:10000", null, null, true)]
    [InlineData("http://0.0.0.0:10000", null, null, false)]
    [InlineData("http://10.0.0.5:10000", null, null, false)]
    [InlineData("http://0.0.0.0:10000", true, null, true)]
    [InlineData("http://127.0.0.1:10000", false, null, false)]
    [InlineData("http://0.0.0.0:10000", null, true, true)]
    [InlineData("http://127.0.0.1:10000", true, false, true)]
    public void Trust_defaults_to_loopback_and_TrustControlHeaders_is_an_alias(string url, bool? trustDownstream, bool? trustControlHeaders, bool trusted) =>
        Assert.Equal(trusted, new ProxyListenerOptions { Url = url, TrustDownstream = trustDownstream, TrustControlHeaders = trustControlHeaders }.TrustsDownstream);
}
