using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Otlp;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>A server span per downstream request and a client span per upstream attempt reach an OTLP collector; W3C context flows.</summary>
public sealed class TracingTests : IAsyncLifetime
{
    private OtlpCollector _collector = null!;
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _collector = await OtlpCollector.StartAsync();
        _backend = await Backend.StartAsync(app => app.Run(context => context.Response.WriteAsync(context.Request.Headers["traceparent"].ToString())));
        var config = new ProxyConfig().Cluster("app", _backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Tracing"] = new JsonObject
        {
            ["Enabled"] = true,
            ["Endpoint"] = _collector.Address,
            ["Protocol"] = "grpc",
            ["ExportInterval"] = "00:00:00.200",
        };
        _proxy = await RunningProxy.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
        await _collector.DisposeAsync();
    }

    private async Task<(string UpstreamTraceparent, Span Server, Span Client)> TraceAsync(string? traceparent)
    {
        using var client = Clients.Http1(_proxy.Ingress);
        var id = Guid.NewGuid().ToString();
        using var request = client.Request(HttpMethod.Get, "/traced");
        request.Headers.Add("x-request-id", id);
        if (traceparent is not null)
        {
            request.Headers.Add("traceparent", traceparent);
        }

        using var response = await client.SendAsync(request);
        var upstream = await response.Content.ReadAsStringAsync();

        Span? server = null;
        Span? clientSpan = null;
        await Eventually.AssertAsync(
            () =>
            {
                var mine = _collector.Spans.Where(span => OtlpCollector.Attribute(span, "proxymesh.request_id") == id).ToArray();
                server = mine.FirstOrDefault(span => span.Kind == Span.Types.SpanKind.Server);
                clientSpan = mine.FirstOrDefault(span => span.Kind == Span.Types.SpanKind.Client);
                return Task.FromResult(server is not null && clientSpan is not null);
            },
            "the proxy's server and client spans reach the collector");
        return (upstream, server!, clientSpan!);
    }

    [Fact]
    public async Task Each_request_exports_a_server_span_and_a_client_span_per_upstream_attempt()
    {
        var (upstreamTraceparent, server, client) = await TraceAsync(traceparent: null);

        Assert.Equal(server.TraceId, client.TraceId);
        Assert.Equal(server.SpanId, client.ParentSpanId);
        Assert.Equal("app", OtlpCollector.Attribute(server, "proxymesh.cluster"));
        Assert.Equal("app", OtlpCollector.Attribute(client, "proxymesh.cluster"));
        Assert.Equal("zone-a", OtlpCollector.Attribute(server, "proxymesh.zone"));

        // W3C trace context goes upstream: the upstream's parent is the proxy's client span.
        var parts = upstreamTraceparent.Split('-');
        Assert.Equal(Convert.ToHexStringLower(server.TraceId.ToByteArray()), parts[1]);
        Assert.Equal(Convert.ToHexStringLower(client.SpanId.ToByteArray()), parts[2]);
    }

    [Fact]
    public async Task Each_retry_is_a_client_span_of_its_own()
    {
        var config = new ProxyConfig().Cluster("flaky", [$"http://127.0.0.1:{ProxyProcess.FreePort()}", _backend.Address]).Route("flaky", "flaky");
        config.Clusters["flaky"]!["LoadBalancingPolicy"] = "FirstAlphabetical";
        config.Root["ProxyMesh"]!["Tracing"] = new JsonObject { ["Enabled"] = true, ["Endpoint"] = _collector.Address, ["ExportInterval"] = "00:00:00.200" };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        var id = Guid.NewGuid().ToString();
        using var request = client.Request(HttpMethod.Get, "/retried");
        request.Headers.Add("x-request-id", id);
        (await client.SendAsync(request)).Dispose();

        Span[] attempts = [];
        Span? server = null;
        await Eventually.AssertAsync(
            () =>
            {
                var mine = _collector.Spans.Where(span => OtlpCollector.Attribute(span, "proxymesh.request_id") == id).ToArray();
                server = mine.FirstOrDefault(span => span.Kind == Span.Types.SpanKind.Server);
                attempts = mine.Where(span => span.Kind == Span.Types.SpanKind.Client).ToArray();
                return Task.FromResult(server is not null && attempts.Length == 2);
            },
            "two client spans, one per attempt");
        Assert.All(attempts, attempt => Assert.Equal(server!.SpanId, attempt.ParentSpanId));
    }

    [Fact]
    public async Task A_callers_trace_context_is_continued()
    {
        const string traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        const string parentId = "00f067aa0ba902b7";
        var (upstreamTraceparent, server, _) = await TraceAsync($"00-{traceId}-{parentId}-01");

        Assert.Equal(traceId, Convert.ToHexStringLower(server.TraceId.ToByteArray()));
        Assert.Equal(parentId, Convert.ToHexStringLower(server.ParentSpanId.ToByteArray()));
        Assert.StartsWith($"00-{traceId}-", upstreamTraceparent, StringComparison.Ordinal);
    }
}
