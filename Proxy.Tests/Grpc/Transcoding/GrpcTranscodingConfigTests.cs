using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>Transcoders are checked with the rest of the configuration: a clear error at start, a rejected reload keeps serving.</summary>
public sealed class GrpcTranscodingConfigTests
{
    private const string Upstream = "http://127.0.0.1:1";

    [Fact]
    public async Task A_missing_descriptor_set_stops_the_start_naming_the_key()
    {
        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() =>
            RunningProxy.StartAsync(TranscodingProxy.Config(Upstream, "/nonexistent/library.pb")));

        Assert.Contains(error.Problems, problem => problem.StartsWith("ProxyMesh:GrpcTranscoding:library:DescriptorSet: cannot read '/nonexistent/library.pb'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_that_is_not_a_descriptor_set_is_refused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"not-a-set-{Guid.NewGuid():N}.pb");
        await File.WriteAllTextAsync(path, "this is not protobuf at all");
        try
        {
            var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(TranscodingProxy.Config(Upstream, path)));
            Assert.Contains(error.Problems, problem => problem.StartsWith("ProxyMesh:GrpcTranscoding:library:DescriptorSet: cannot read", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_set_written_without_its_imports_says_how_to_write_it()
    {
        var path = LibraryDescriptors.Compile(Path.Combine(AppContext.BaseDirectory, "Protos"), "transcoding.proto", includeImports: false);

        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(TranscodingProxy.Config(Upstream, path)));

        Assert.Contains(error.Problems, problem => problem.Contains("--include_imports", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_service_missing_from_the_set_is_named()
    {
        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() =>
            RunningProxy.StartAsync(TranscodingProxy.Config(Upstream, LibraryDescriptors.Path, services: "proxymesh.transcoding.Shop")));

        Assert.Contains(
            "ProxyMesh:GrpcTranscoding:library:Services: 'proxymesh.transcoding.Shop' is not in the descriptor set (services there: proxymesh.transcoding.Library)",
            error.Problems);
    }

    [Fact]
    public async Task A_route_naming_an_unknown_transcoder_is_refused()
    {
        var config = TranscodingProxy.Config(Upstream, LibraryDescriptors.Path);
        config.Routes["library"]!["Metadata"]!["ProxyMesh.GrpcTranscoding"] = "shop";

        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(config));

        Assert.Contains("ReverseProxy:Routes:library:Metadata:ProxyMesh.GrpcTranscoding: there is no transcoder named 'shop' under ProxyMesh:GrpcTranscoding (configured: library)", error.Problems);
    }

    [Fact]
    public async Task Http_rules_that_do_not_compile_are_each_reported()
    {
        var directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"bad-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "bad.proto"), """
            syntax = "proto3";
            package bad;
            import "google/api/annotations.proto";
            service Bad {
              rpc UnknownVariable(Req) returns (Req) { option (google.api.http) = { get: "/v1/{missing}" }; }
              rpc UnknownBody(Req) returns (Req) { option (google.api.http) = { post: "/v1/b" body: "nope" }; }
              rpc MidDoubleStar(Req) returns (Req) { option (google.api.http) = { get: "/v1/{name=**}/x" }; }
              rpc UnknownResponseBody(Req) returns (Req) { option (google.api.http) = { get: "/v1/r" response_body: "gone" }; }
              rpc Upload(stream Req) returns (Req) { option (google.api.http) = { post: "/v1/upload" body: "*" }; }
            }
            message Req { string name = 1; }
            """);
        var path = LibraryDescriptors.Compile(directory, "bad.proto");

        var error = await Assert.ThrowsAsync<InvalidConfigurationException>(() => RunningProxy.StartAsync(TranscodingProxy.Config(Upstream, path, services: "bad.Bad")));

        Assert.Contains("ProxyMesh:GrpcTranscoding:library: bad.Bad.UnknownVariable: path variable 'missing' in '/v1/{missing}': bad.Req has no field 'missing'", error.Problems);
        Assert.Contains("ProxyMesh:GrpcTranscoding:library: bad.Bad.UnknownBody: body 'nope' is not a top-level field of bad.Req", error.Problems);
        Assert.Contains("ProxyMesh:GrpcTranscoding:library: bad.Bad.MidDoubleStar: path template '/v1/{name=**}/x': '**' is only allowed as the last segment", error.Problems);
        Assert.Contains("ProxyMesh:GrpcTranscoding:library: bad.Bad.UnknownResponseBody: response_body 'gone' is not a top-level field of bad.Req", error.Problems);
        Assert.Contains("ProxyMesh:GrpcTranscoding:library: bad.Bad.Upload: client and bidirectional streaming methods cannot be transcoded", error.Problems);
    }

    [Fact]
    public async Task A_bad_reload_is_rejected_and_transcoding_keeps_serving()
    {
        await using var upstream = await TranscodingProxy.StartUpstreamAsync();
        await using var proxy = await RunningProxy.StartAsync(TranscodingProxy.Config(upstream.Address, LibraryDescriptors.Path));
        using var client = Clients.Http1(proxy.Ingress);
        Assert.Equal("{ \"name\": \"shelves/1\", \"theme\": \"fiction\", \"bookCount\": \"9007199254740993\" }", await client.GetStringAsync("/v1/shelves/1"));

        await proxy.RewriteSettingsAsync(TranscodingProxy.Config(upstream.Address, LibraryDescriptors.Path, services: "proxymesh.transcoding.Gone"));

        await Eventually.AssertAsync(async () => await MetricsScrape.ValueAsync(proxy, "proxymesh_config_update_rejected_total") == 1, "the reload is rejected");
        Assert.Equal("{ \"name\": \"shelves/2\", \"theme\": \"fiction\", \"bookCount\": \"9007199254740993\" }", await client.GetStringAsync("/v1/shelves/2"));
    }

    [Fact]
    public async Task An_unreachable_upstream_answers_a_json_status()
    {
        await using var proxy = await RunningProxy.StartAsync(TranscodingProxy.Config(Upstream, LibraryDescriptors.Path));
        using var client = Clients.Http1(proxy.Ingress);

        var response = await client.GetAsync("/v1/shelves/1");

        Assert.True((int)response.StatusCode >= 500, $"status {(int)response.StatusCode}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("{ \"code\": 14, \"message\": \"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_are_counted_by_result_per_transcoder()
    {
        await using var upstream = await TranscodingProxy.StartUpstreamAsync();
        await using var proxy = await RunningProxy.StartAsync(TranscodingProxy.Config(upstream.Address, LibraryDescriptors.Path));
        using var client = Clients.Http1(proxy.Ingress);

        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/v1/shelves/1")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await client.GetAsync("/v1/shelves/missing")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, (await client.GetAsync("/v1/shelves/1/books?nosuch=1")).StatusCode);

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_grpc_transcoding_rq_total", "transcoder=\"library\",result=\"transcoded\"", 2);
        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_grpc_transcoding_rq_total", "transcoder=\"library\",result=\"invalid_request\"", 1);
        Assert.Equal(0, await MetricsScrape.ValueAsync(proxy, "proxymesh_grpc_transcoding_rq_total", "transcoder=\"library\",result=\"invalid_response\""));
        using var admin = Clients.Http1(proxy.Admin);
        Assert.Equal(string.Empty, await Promtool.CheckMetricsAsync(await admin.GetStringAsync("/metrics")));
    }

    [Fact]
    public async Task IgnoreUnknownQueryParameters_lets_unknown_parameters_through()
    {
        await using var upstream = await TranscodingProxy.StartUpstreamAsync();
        var config = TranscodingProxy.Config(upstream.Address, LibraryDescriptors.Path);
        config.Root["ProxyMesh"]!["GrpcTranscoding"]!["library"]!["IgnoreUnknownQueryParameters"] = true;
        await using var proxy = await RunningProxy.StartAsync(config);
        using var client = Clients.Http1(proxy.Ingress);

        var body = await client.GetStringAsync("/v1/shelves/1/books?utm_source=mail&pageSize=4");

        Assert.Equal(4, ListBooksResponse.Parser.ParseJson(body).Echo.PageSize);
    }
}
