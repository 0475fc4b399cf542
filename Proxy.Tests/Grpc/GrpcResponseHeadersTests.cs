using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc;

/// <summary>
/// When a gRPC answer's headers reach the client: at once when the upstream sends them ahead of its first message (a
/// caller may wait for them before sending), and together with the first message when both are already there.
/// </summary>
public sealed class GrpcResponseHeadersTests : IAsyncLifetime
{
    /// <summary>One uncompressed gRPC message of 2 bytes (field 1 = 1).</summary>
    private static readonly byte[] Message = [0, 0, 0, 0, 2, 0x08, 0x01];

    private readonly TaskCompletionSource _firstMessage = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Backend _upstream = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _upstream = await Backend.StartAsync(
            app =>
            {
                app.MapPost("/gated.Gated/Stream", async context =>
                {
                    context.Response.ContentType = "application/grpc";
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    await _firstMessage.Task.WaitAsync(context.RequestAborted);
                    await AnswerAsync(context);
                });
                app.MapPost("/gated.Gated/Unary", AnswerAsync);
            },
            HttpProtocols.Http2);
        _proxy = await RunningProxy.StartAsync(new ProxyConfig().Cluster("gated", _upstream.Address, http2: true).Route("grpc", "gated"));
    }

    public async Task DisposeAsync()
    {
        _firstMessage.TrySetCanceled();
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Fact]
    public async Task Headers_sent_ahead_of_the_first_message_reach_the_client_before_it()
    {
        using var client = Clients.H2c(_proxy.Ingress);
        using var response = await client.SendAsync(Call("/gated.Gated/Stream"), HttpCompletionOption.ResponseHeadersRead)
            .WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);

        _firstMessage.SetResult();
        Assert.Equal(Message, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
    }

    [Fact]
    public async Task Answers_whose_message_is_already_there_arrive_whole()
    {
        using var client = Clients.H2c(_proxy.Ingress);
        for (var call = 0; call < 20; call++)
        {
            using var response = await client.SendAsync(Call("/gated.Gated/Unary"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Message, await response.Content.ReadAsByteArrayAsync());
            Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        }
    }

    private static async Task AnswerAsync(HttpContext context)
    {
        await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
        if (!context.Response.HasStarted)
        {
            context.Response.ContentType = "application/grpc";
        }

        await context.Response.Body.WriteAsync(Message, context.RequestAborted);
        context.Response.AppendTrailer("grpc-status", "0");
    }

    private static HttpRequestMessage Call(string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(Message),
        };
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        return request;
    }
}
