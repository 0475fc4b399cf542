using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

// Plain YARP as its own docs set it up, the baseline of the side-by-side benchmark: no features, no logging.
// Arguments: <http1 port> <h2c port> <backend http port> <backend gRPC (h2c) port>.
if (args.Length != 4 || !int.TryParse(args[0], out var http1Port) || !int.TryParse(args[1], out var h2cPort))
{
    Console.Error.WriteLine("usage: ProxyMesh.Bench.PlainYarp <http1 port> <h2c port> <backend port> <gRPC backend port>");
    return 2;
}

var builder = WebApplication.CreateBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, http1Port, listen => listen.Protocols = HttpProtocols.Http1);
    kestrel.Listen(IPAddress.Loopback, h2cPort, listen => listen.Protocols = HttpProtocols.Http2);
});

RouteConfig[] routes =
[
    new() { RouteId = "grpc", ClusterId = "grpc", Match = new() { Path = "/bench.Bench/{**method}" } },
    new() { RouteId = "http", ClusterId = "http", Match = new() { Path = "/{**catch-all}" } },
];
ClusterConfig[] clusters =
[
    new()
    {
        ClusterId = "http",
        Destinations = new Dictionary<string, DestinationConfig> { ["backend"] = new() { Address = $"http://127.0.0.1:{args[2]}" } },
    },
    new()
    {
        ClusterId = "grpc",
        Destinations = new Dictionary<string, DestinationConfig> { ["backend"] = new() { Address = $"http://127.0.0.1:{args[3]}" } },
        HttpRequest = new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact },
    },
];
builder.Services.AddReverseProxy().LoadFromMemory(routes, clusters);

var app = builder.Build();
app.MapReverseProxy();
await app.RunAsync();
return 0;
