using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>
/// JSON/REST through the proxy to a real gRPC upstream with curl: every binding kind, canonical JSON back, gRPC
/// errors as HTTP statuses with <c>google.rpc.Status</c> bodies, bad requests refused, large messages, and plain gRPC
/// on the same route untouched.
/// </summary>
public sealed class GrpcTranscodingEndToEndTests(TranscodingProxy library) : IClassFixture<TranscodingProxy>
{
    private static readonly JsonFormatter Reference = new(JsonFormatter.Settings.Default.WithTypeRegistry(
        TypeRegistry.FromMessages(Inner.Descriptor, Timestamp.Descriptor, Empty.Descriptor, Struct.Descriptor)));

    [Fact]
    public async Task Get_binds_the_path_variable_and_answers_canonical_json()
    {
        var (status, contentType, body) = await library.CurlAsync("GET", "/v1/shelves/1");

        Assert.Equal(200, status);
        Assert.Equal("application/json", contentType);
        Assert.Equal("{ \"name\": \"shelves/1\", \"theme\": \"fiction\", \"bookCount\": \"9007199254740993\" }", body);
    }

    [Fact]
    public async Task Query_parameters_fill_scalar_nested_repeated_enum_and_wrapper_fields()
    {
        var (status, _, body) = await library.CurlAsync("GET",
            "/v1/shelves/7/books?pageSize=5&filter.author=Frank%20Herbert&filter.tags=a&filter.tags=b&colors=RED&colors=2&max_pages=3&descending=true&afterId=18446744073709551615");

        Assert.Equal(200, status);
        var echo = ListBooksResponse.Parser.ParseJson(body).Echo;
        Assert.Equal("shelves/7", echo.Parent);
        Assert.Equal(5, echo.PageSize);
        Assert.Equal("Frank Herbert", echo.Filter.Author);
        Assert.Equal(["a", "b"], echo.Filter.Tags);
        Assert.Equal([Color.Red, Color.Green], echo.Colors);
        Assert.Equal(3, echo.MaxPages);
        Assert.True(echo.Descending);
        Assert.Equal(ulong.MaxValue, echo.AfterId);
    }

    [Fact]
    public async Task An_additional_binding_reaches_the_same_method()
    {
        var (status, _, body) = await library.CurlAsync("GET", "/v1/books?page_size=2");

        Assert.Equal(200, status);
        var response = ListBooksResponse.Parser.ParseJson(body);
        Assert.Equal(2, response.Echo.PageSize);
        Assert.Equal(string.Empty, response.Echo.Parent);
        Assert.Equal("BLUE", JsonDocument.Parse(body).RootElement.GetProperty("books")[0].GetProperty("color").GetString());
    }

    [Fact]
    public async Task Post_maps_the_body_to_a_field_and_query_and_path_to_the_rest()
    {
        const string book = """{"title":"Dune","author":"Frank Herbert","year":1965,"color":"GREEN","published":"1965-08-01T00:00:00Z","tags":["sf","classic"],"cover":"AAEC","labels":{"lang":"en"},"pages":"896"}""";

        var (status, _, body) = await library.CurlAsync("POST", "/v1/shelves/2/books?requestId=abc", book);

        Assert.Equal(200, status);
        Assert.Equal(
            "{ \"name\": \"shelves/2/books/abc\", \"title\": \"Dune\", \"author\": \"Frank Herbert\", \"year\": 1965, \"color\": \"GREEN\", "
            + "\"published\": \"1965-08-01T00:00:00Z\", \"tags\": [ \"sf\", \"classic\" ], \"cover\": \"AAEC\", \"labels\": { \"lang\": \"en\" }, \"pages\": \"896\" }",
            body);
    }

    [Fact]
    public async Task Patch_binds_a_nested_path_variable_and_a_field_mask_from_the_query()
    {
        var (status, _, body) = await library.CurlAsync("PATCH", "/v1/shelves/1/books/9?updateMask=title,author", """{"title":"New","name":"ignored"}""");

        Assert.Equal(200, status);
        var book = Book.Parser.ParseJson(body);
        Assert.Equal("shelves/1/books/9", book.Name); // the path wins over the body
        Assert.Equal("New", book.Title);
        Assert.Equal("title,author", book.Labels["mask"]);
    }

    [Fact]
    public async Task Delete_answers_an_empty_object()
    {
        var (status, _, body) = await library.CurlAsync("DELETE", "/v1/shelves/1/books/9");

        Assert.Equal(200, status);
        Assert.Equal("{ }", body);
    }

    [Fact]
    public async Task Response_body_and_a_custom_verb_answer_only_that_field()
    {
        var (status, _, body) = await library.CurlAsync("GET", "/v1/shelves/1/books/2:title");

        Assert.Equal(200, status);
        Assert.Equal("\"title of shelves/1/books/2\"", body);
    }

    [Fact]
    public async Task A_double_star_template_takes_the_rest_of_the_path()
    {
        var (status, _, body) = await library.CurlAsync("GET", "/v1/files/docs/2024/report%20final.txt");

        Assert.Equal(200, status);
        Assert.Equal("{ \"path\": \"docs/2024/report final.txt\" }", body);
    }

    [Fact]
    public async Task Server_streaming_answers_a_json_array()
    {
        var (status, _, body) = await library.CurlAsync("GET", "/v1/shelves/3/books:stream?pageSize=3");

        Assert.Equal(200, status);
        Assert.Equal(
            "[ { \"name\": \"shelves/3/books/0\", \"year\": 2000 }, { \"name\": \"shelves/3/books/1\", \"year\": 2001 }, { \"name\": \"shelves/3/books/2\", \"year\": 2002 } ]",
            body);
    }

    [Fact]
    public async Task A_stream_that_fails_after_messages_is_cut_short_not_closed()
    {
        var (exitCode, output) = await Curl.RunAsync(new Uri(library.Proxy.Ingress, "/v1/shelves/3/books:stream?pageSize=2&filter.author=fail").ToString());

        // The connection is reset (what was already sent may be dropped by the client's kernel with it): curl fails.
        Assert.NotEqual(0, exitCode);
        Assert.DoesNotContain(" ]", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_that_fails_before_any_message_answers_the_mapped_status()
    {
        var (status, _, body) = await library.CurlAsync("GET", "/v1/shelves/3/books:stream?pageSize=0&filter.author=fail");

        Assert.Equal(409, status);
        Assert.Equal("{ \"code\": 10, \"message\": \"stream failed on purpose\" }", body);
    }

    [Fact]
    public async Task Every_field_kind_comes_back_exactly_as_JsonFormatter_writes_it()
    {
        var random = new RandomMessages(seed: 2026);
        for (var i = 0; i < 25; i++)
        {
            var message = random.Next();
            var json = Reference.Format(message);

            var (status, _, body) = await library.CurlAsync("POST", "/v1/echo", json);

            Assert.Equal(200, status);
            Assert.Equal(json, body);
        }
    }

    [Fact]
    public async Task Put_additional_binding_lets_the_path_override_the_body()
    {
        var (status, _, body) = await library.CurlAsync("PUT", "/v1/echo/from%2Fpath", """{"fString":"from body","fInt64":"-5"}""");

        Assert.Equal(200, status);
        Assert.Equal("{ \"fInt64\": \"-5\", \"fString\": \"from/path\" }", body);
    }

    [Theory]
    [InlineData(StatusCode.InvalidArgument, 400)]
    [InlineData(StatusCode.NotFound, 404)]
    [InlineData(StatusCode.AlreadyExists, 409)]
    [InlineData(StatusCode.PermissionDenied, 403)]
    [InlineData(StatusCode.ResourceExhausted, 429)]
    [InlineData(StatusCode.FailedPrecondition, 400)]
    [InlineData(StatusCode.Unimplemented, 501)]
    [InlineData(StatusCode.Internal, 500)]
    [InlineData(StatusCode.Unavailable, 503)]
    [InlineData(StatusCode.DeadlineExceeded, 504)]
    [InlineData(StatusCode.Unauthenticated, 401)]
    [InlineData(StatusCode.Cancelled, 499)]
    public async Task A_grpc_error_becomes_its_http_status_with_a_status_body(StatusCode code, int httpStatus)
    {
        var (status, contentType, body) = await library.CurlAsync("POST", "/v1/fail", $$"""{"code":{{(int)code}},"message":"no <luck> today"}""");

        Assert.Equal(httpStatus, status);
        Assert.Equal("application/json", contentType);
        Assert.Equal($"{{ \"code\": {(int)code}, \"message\": \"no \\u003cluck\\u003e today\" }}", body);
    }

    [Fact]
    public async Task A_trailers_only_not_found_answers_404()
    {
        var (status, _, body) = await library.CurlAsync("GET", "/v1/shelves/missing");

        Assert.Equal(404, status);
        Assert.Equal("{ \"code\": 5, \"message\": \"shelf shelves/missing does not exist\" }", body);
    }

    [Fact]
    public async Task Error_details_from_grpc_status_details_bin_are_rendered_with_their_types()
    {
        var (status, _, body) = await library.CurlAsync("POST", "/v1/fail", """{"code":9,"message":"locked","withDetails":true}""");

        Assert.Equal(400, status);
        Assert.Equal(
            "{ \"code\": 9, \"message\": \"locked\", \"details\": [ "
            + "{ \"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\", \"reason\": \"BOOK_LOCKED\", \"domain\": \"library.example\", \"metadata\": { \"shelf\": \"1\" } }, "
            + "{ \"@type\": \"type.googleapis.com/google.rpc.BadRequest\", \"fieldViolations\": [ { \"field\": \"title\", \"description\": \"too long\" } ] } ] }",
            body);
    }

    [Theory]
    [InlineData("POST", "/v1/echo", """{"fString":"x","noSuchField":1}""", "proxymesh.transcoding.Everything: unknown field \\\"noSuchField\\\"")]
    [InlineData("POST", "/v1/echo", """{"fInt32":"twelve"}""", "invalid value twelve")]
    [InlineData("POST", "/v1/echo", """{"fString": """, "request body is not valid JSON")]
    [InlineData("GET", "/v1/shelves/1/books?nosuch=1", null, "query parameter 'nosuch' names no field")]
    [InlineData("GET", "/v1/shelves/1/books?pageSize=big", null, "invalid value big")]
    [InlineData("POST", "/v1/echo?fString=x", "{}", "query parameter 'fString': the body maps to the whole request message")]
    public async Task A_request_that_cannot_be_transcoded_gets_400_with_the_reason(string method, string path, string? body, string reason)
    {
        var (status, contentType, answer) = await library.CurlAsync(method, path, body);

        Assert.Equal(400, status);
        Assert.Equal("application/json", contentType);
        Assert.StartsWith("{ \"code\": 3, \"message\": \"", answer, StringComparison.Ordinal);
        Assert.Contains(reason, answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Large_messages_cross_both_ways()
    {
        var payload = new byte[4 * 1024 * 1024];
        new Random(13).NextBytes(payload);
        var json = Reference.Format(new Everything { FBytes = ByteString.CopyFrom(payload), FString = new string('x', 100_000) });

        var (status, _, body) = await library.CurlAsync("POST", "/v1/echo", json);

        Assert.Equal(200, status);
        Assert.Equal(json, body);
    }

    [Fact]
    public async Task Plain_grpc_on_the_transcoded_route_passes_through()
    {
        using var channel = library.Channel();
        var client = new Library.LibraryClient(channel);

        Assert.Equal("shelves/5", (await client.GetShelfAsync(new GetShelfRequest { Name = "shelves/5" })).Name);
        await client.PingAsync(new Empty());
        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.GetShelfAsync(new GetShelfRequest { Name = "shelves/missing" }));
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }
}
