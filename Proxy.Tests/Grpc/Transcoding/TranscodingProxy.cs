using System.Text.Json.Nodes;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>The Library service on a real h2c Kestrel upstream behind a proxy whose route transcodes JSON for it.</summary>
public sealed class TranscodingProxy : IAsyncLifetime
{
    public const int LargeMessageLimit = 16 * 1024 * 1024;

    public Backend Upstream { get; private set; } = null!;

    public RunningProxy Proxy { get; private set; } = null!;

    public static async Task<Backend> StartUpstreamAsync() =>
        await Backend.StartAsync(
            app => app.MapGrpcService<LibraryService>(),
            HttpProtocols.Http2,
            services => services.AddGrpc(options =>
            {
                options.MaxReceiveMessageSize = LargeMessageLimit;
                options.MaxSendMessageSize = LargeMessageLimit;
            }));

    /// <summary>A proxy configuration with the <c>library</c> transcoder and a transcoded route to <paramref name="upstream"/>.</summary>
    public static ProxyConfig Config(string upstream, string descriptorSet, string services = "proxymesh.transcoding.Library")
    {
        var config = new ProxyConfig().Cluster("library", upstream, http2: true).Route("library", "library");
        ((JsonObject)config.Routes["library"]!)["Metadata"] = new JsonObject { ["ProxyMesh.GrpcTranscoding"] = "library" };
        config.Root["ProxyMesh"]!["GrpcTranscoding"] = new JsonObject
        {
            ["library"] = new JsonObject { ["DescriptorSet"] = descriptorSet, ["Services"] = new JsonArray(services) },
        };
        return config;
    }

    public async Task InitializeAsync()
    {
        Upstream = await StartUpstreamAsync();
        Proxy = await RunningProxy.StartAsync(Config(Upstream.Address, LibraryDescriptors.Path));
    }

    public async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Upstream.DisposeAsync();
    }

    public GrpcChannel Channel() => GrpcChannel.ForAddress(Proxy.Ingress, new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler { UseProxy = false },
        MaxReceiveMessageSize = LargeMessageLimit,
        MaxSendMessageSize = LargeMessageLimit,
    });

    /// <summary>Calls the proxy with curl; returns the HTTP status, content type and body.</summary>
    public async Task<(int Status, string ContentType, string Body)> CurlAsync(string method, string pathAndQuery, string? body = null, params string[] extra)
    {
        var arguments = new List<string> { "-X", method, "-w", "\n%{http_code} %{content_type}", new Uri(Proxy.Ingress, pathAndQuery).AbsoluteUri };
        string? bodyFile = null;
        if (body is not null)
        {
            bodyFile = Path.Combine(Proxy.Directory, $"body-{Guid.NewGuid():N}.json");
            await File.WriteAllTextAsync(bodyFile, body);
            arguments.AddRange(["-H", "content-type: application/json", "--data-binary", "@" + bodyFile]);
        }

        arguments.AddRange(extra);
        var (exitCode, output) = await Curl.RunAsync([.. arguments]);
        if (bodyFile is not null)
        {
            File.Delete(bodyFile);
        }

        Assert.True(exitCode == 0, $"curl exited with {exitCode}: {output}");
        var newline = output.LastIndexOf('\n');
        var trailer = output[(newline + 1)..].Split(' ', 2);
        return (int.Parse(trailer[0], System.Globalization.CultureInfo.InvariantCulture), trailer.Length > 1 ? trailer[1] : string.Empty, output[..newline]);
    }
}
