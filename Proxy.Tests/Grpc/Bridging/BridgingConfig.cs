using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>Proxy configurations for the bridging tests: one h2c cluster, routes told apart by host.</summary>
public static class BridgingConfig
{
    /// <summary>
    /// Routes: <c>web.test</c> (gRPC-Web, CORS policy <c>browser</c>), <c>bridge.test</c> (HTTP/1.1 bridge with protobuf
    /// upgrade) and everything else plain gRPC.
    /// </summary>
    public static ProxyConfig Create(string upstream, string allowedOrigin = "http://app.test")
    {
        var config = new ProxyConfig()
            .Cluster("echo", upstream, http2: true)
            .Route("web", "echo", hosts: ["web.test", "127.0.0.1"])
            .Route("bridge", "echo", hosts: ["bridge.test"])
            .Route("plain", "echo", hosts: ["plain.test"]);
        config.Routes["web"]!["Metadata"] = new JsonObject { ["ProxyMesh.GrpcWeb"] = "true" };
        config.Routes["web"]!["CorsPolicy"] = "browser";
        config.Routes["bridge"]!["Metadata"] = new JsonObject
        {
            ["ProxyMesh.GrpcHttp1Bridge"] = "true",
            ["ProxyMesh.GrpcHttp1Bridge.UpgradeProtobuf"] = "true",
        };
        config.Root["ProxyMesh"]!["Cors"] = new JsonObject
        {
            ["browser"] = new JsonObject
            {
                ["AllowedOrigins"] = new JsonArray(allowedOrigin),
                ["AllowedHeaders"] = new JsonArray("x-test-call"),
                ["ExposedHeaders"] = new JsonArray("x-failure-detail"),
                ["MaxAge"] = 600,
            },
        };
        return config;
    }
}
