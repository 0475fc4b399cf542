using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;
using ProxyMesh.Proxy.Tests.Otlp;

namespace ProxyMesh.Proxy.Tests.Observability;

/// <summary>The OTLP/HTTP exporter, and the sampling ratio for new traces while a caller's decision is followed.</summary>
public sealed class TracingExportTests
{
    [Fact]
    public async Task Spans_reach_an_otlp_http_protobuf_collector()
    {
        await using var collector = await OtlpCollector.StartHttpAsync();
        await using var backend = await Backend.StartEchoAsync();
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app");
        config.Root["ProxyMesh"]!["Tracing"] = new JsonObject
        {
            ["Enabled"] = true,
            ["Endpoint"] = collector.Address + "/v1/traces",
            ["Protocol"] = "http/protobuf",
            ["ExportInterval"] = "00:00:00.200",
        };
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);
        var id = Guid.NewGuid().ToString();
        using var request = client.Request(HttpMethod.Get, "/over-http");
        request.Headers.Add("x-request-id", id);
        (await client.SendAsync(request)).Dispose();

        await Eventually.AssertAsync(
            () => Task.FromResult(collector.Spans.Any(span => span.Kind == Span.Types.SpanKind.Server && OtlpCollector.Attribute(span, "proxymesh.request_id") == id)),
            "the server span arrives over OTLP/HTTP");
    }

    /// <summary>
    /// The proxy runs as its own process: OpenTelemetry's listeners are process-wide, so another tracing proxy in the
    /// test process would record (and so export) every activity whatever this one's ratio says.
    /// </summary>
    [Theory]
    [InlineData(0.0, 0, 0)]
    [InlineData(0.5, 65, 135)] // 200 × 0.5 = 100, ± 5 standard deviations
    public async Task New_traces_are_sampled_at_the_ratio_and_a_sampled_caller_is_always_followed(double ratio, int fewest, int most)
    {
        await using var collector = await OtlpCollector.StartAsync();
        await using var backend = await Backend.StartEchoAsync();
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var ingress = ProxyProcess.FreePort();
        var config = new ProxyConfig().Cluster("app", backend.Address).Route("app", "app");
        config.Listeners["ingress"]!["Url"] = $"http://127.0.0.1:{ingress}";
        config.Listeners["egress"]!["Url"] = $"http://127.0.0.1:{ProxyProcess.FreePort()}";
        config.Root["ProxyMesh"]!["Admin"]!["Url"] = $"http://127.0.0.1:{ProxyProcess.FreePort()}";
        config.Root["ProxyMesh"]!["Tracing"] = new JsonObject
        {
            ["Enabled"] = true,
            ["Endpoint"] = collector.Address,
            ["Protocol"] = "grpc",
            ["SamplingRatio"] = ratio,
            ["ExportInterval"] = "00:00:00.200",
        };
        await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), config.ToJson());
        await using var proxy = ProxyProcess.Start(directory, []);
        // No trace context from this process: another test's in-process tracer would make every call "sampled by the caller".
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, ActivityHeadersPropagator = null })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{ingress}"),
        };
        await Eventually.AssertAsync(async () => (await client.GetAsync("/warm-up")).IsSuccessStatusCode, "the proxy serves");

        var ids = new HashSet<string>();
        for (var i = 0; i < 200; i++)
        {
            var id = Guid.NewGuid().ToString();
            ids.Add(id);
            using var request = client.Request(HttpMethod.Get, "/sampled");
            request.Headers.Add("x-request-id", id);
            (await client.SendAsync(request)).Dispose();
        }

        // A caller's sampled decision is followed whatever the ratio; its spans end after all the others, and the
        // batch exporter sends spans in the order they end, so once it arrives every earlier span has been sent.
        var marker = Guid.NewGuid().ToString();
        using (var request = client.Request(HttpMethod.Get, "/marker"))
        {
            request.Headers.Add("x-request-id", marker);
            request.Headers.Add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
            (await client.SendAsync(request)).Dispose();
        }

        await Eventually.AssertAsync(
            () => Task.FromResult(collector.Spans.Any(span => OtlpCollector.Attribute(span, "proxymesh.request_id") == marker)),
            "the caller-sampled request is exported");
        var sampled = collector.Spans
            .Where(span => span.Kind == Span.Types.SpanKind.Server && ids.Contains(OtlpCollector.Attribute(span, "proxymesh.request_id")))
            .Select(span => span.TraceId)
            .Distinct()
            .Count();
        Assert.InRange(sampled, fewest, most);
        Directory.Delete(directory, recursive: true);
    }
}
