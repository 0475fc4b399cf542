using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Routing;

namespace ProxyMesh.Proxy.Tests.Hardening;

/// <summary>
/// The request body wrappers (the route's body limit, the access log's byte count) see every byte whichever way the
/// body is read, and are read-only.
/// </summary>
public sealed class RequestBodyWrapperTests
{
    private const int BodyLength = 10_000;

    public static TheoryData<string> ReadForms => ["array", "span", "memory", "array async", "copy"];

    [Theory]
    [MemberData(nameof(ReadForms))]
    public async Task The_access_log_counts_every_byte_of_the_body(string form)
    {
        var observation = new RequestObservation(new StreamResponseBodyFeature(Stream.Null), DateTimeOffset.UnixEpoch, 0);
        var body = new CountingRequestBody(new MemoryStream(new byte[BodyLength]), observation);

        Assert.Equal(BodyLength, await ReadToEndAsync(body, form));
        Assert.Equal(BodyLength, observation.BytesReceived);
        AssertReadOnly(body);
    }

    [Theory]
    [MemberData(nameof(ReadForms))]
    public async Task The_route_limit_passes_a_body_at_the_limit_and_refuses_one_byte_more(string form)
    {
        var atLimit = new LimitedRequestBody(new MemoryStream(new byte[BodyLength]), BodyLength);
        Assert.Equal(BodyLength, await ReadToEndAsync(atLimit, form));
        Assert.False(atLimit.Exceeded);
        AssertReadOnly(atLimit);

        var over = new LimitedRequestBody(new MemoryStream(new byte[BodyLength + 1]), BodyLength);
        var refused = await Assert.ThrowsAsync<BadHttpRequestException>(() => ReadToEndAsync(over, form));
        Assert.Equal(StatusCodes.Status413PayloadTooLarge, refused.StatusCode);
        Assert.True(over.Exceeded);
    }

    private static async Task<long> ReadToEndAsync(Stream body, string form)
    {
        if (form == "copy")
        {
            var copy = new MemoryStream();
            await body.CopyToAsync(copy);
            return copy.Length;
        }

        var buffer = new byte[333];
        long total = 0;
        while (true)
        {
            var read = form switch
            {
                "array" => body.Read(buffer, 0, buffer.Length),
                "span" => body.Read(buffer.AsSpan()),
                "memory" => await body.ReadAsync(buffer.AsMemory()),
#pragma warning disable CA1835 // the array form is the one under test here
                _ => await body.ReadAsync(buffer, 0, buffer.Length),
#pragma warning restore CA1835
            };
            if (read == 0)
            {
                return total;
            }

            total += read;
        }
    }

    private static void AssertReadOnly(Stream body)
    {
        Assert.True(body.CanRead);
        Assert.False(body.CanWrite);
        Assert.False(body.CanSeek);
        Assert.Throws<NotSupportedException>(() => body.Write([1], 0, 1));
        Assert.Throws<NotSupportedException>(() => body.Seek(0, SeekOrigin.Begin));
        Assert.Throws<NotSupportedException>(() => body.Length);
    }
}
