using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>Transcoding to a gRPC server that is not .NET: @grpc/grpc-js, which answers errors trailers-only.</summary>
public sealed class GrpcTranscodingNodeUpstreamTests : IClassFixture<NodeLibraryServer>, IAsyncLifetime
{
    private readonly NodeLibraryServer _node;
    private RunningProxy _proxy = null!;
    private HttpClient _client = null!;

    public GrpcTranscodingNodeUpstreamTests(NodeLibraryServer node) => _node = node;

    public async Task InitializeAsync()
    {
        _proxy = await RunningProxy.StartAsync(TranscodingProxy.Config(_node.Address, LibraryDescriptors.Path));
        _client = Clients.Http1(_proxy.Ingress);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _proxy.DisposeAsync();
    }

    [Fact]
    public async Task Get_answers_canonical_json()
    {
        Assert.Equal("{ \"name\": \"shelves/4\", \"theme\": \"node\", \"bookCount\": \"9007199254740993\" }", await _client.GetStringAsync("/v1/shelves/4"));
    }

    [Fact]
    public async Task A_trailers_only_error_from_grpc_js_answers_404_with_a_status_body()
    {
        var response = await _client.GetAsync("/v1/shelves/missing");

        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("{ \"code\": 5, \"message\": \"shelf shelves/missing does not exist\" }", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Post_with_a_body_field_and_query_and_path_fields()
    {
        using var content = new StringContent("""{"title":"Dune","published":"1965-08-01T00:00:00Z","pages":"896","color":"BLUE"}""", System.Text.Encoding.UTF8, "application/json");

        var response = await _client.PostAsync("/v1/shelves/2/books?requestId=n1", content);

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            "{ \"name\": \"shelves/2/books/n1\", \"title\": \"Dune\", \"color\": \"BLUE\", \"published\": \"1965-08-01T00:00:00Z\", \"pages\": \"896\" }",
            await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Server_streaming_answers_a_json_array()
    {
        Assert.Equal(
            "[ { \"name\": \"shelves/3/books/0\", \"year\": 2000 }, { \"name\": \"shelves/3/books/1\", \"year\": 2001 } ]",
            await _client.GetStringAsync("/v1/shelves/3/books:stream?pageSize=2"));
    }

    [Fact]
    public async Task A_message_with_every_kind_of_field_comes_back_as_JsonFormatter_writes_it()
    {
        var message = new Everything
        {
            FDouble = 1.5, FFloat = -2.25f, FInt32 = -7, FInt64 = long.MinValue, FUint64 = ulong.MaxValue, FSint32 = -3, FBool = true,
            FString = "h\u00e9llo <world>", FBytes = ByteString.CopyFrom(1, 2, 3), FEnum = Color.Blue, FMessage = new Inner { Name = "n", Value = 4 },
            RInt32 = { 1, -2, 3 }, RString = { "a", "b" }, REnum = { Color.Red, Color.Green },
            MStringInt32 = { ["x"] = 1 }, MUint32Enum = { [7] = Color.Green }, CString = "chosen", OInt32 = 0,
            WTimestamp = Timestamp.FromDateTime(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc)), WDuration = Duration.FromTimeSpan(TimeSpan.FromSeconds(1.5)),
            WInt32 = 9, WString = "wrapped", WStruct = new Struct { Fields = { ["k"] = Value.ForString("v") } }, WFieldMask = new FieldMask { Paths = { "f_string" } },
        };
        var json = JsonFormatter.Default.Format(message);
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");

        var response = await _client.PostAsync("/v1/echo", content);

        Assert.Equal(json, await response.Content.ReadAsStringAsync());
    }
}
