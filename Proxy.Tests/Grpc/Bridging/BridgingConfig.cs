using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Grpc.Bridging;

/// <summary>Proxy configurations for the bridging tests: one h2c cluster, routes told apart by host.</summary>
public static class BridgingConfig
{
    /// <summary>
    /// Routes, each to a cluster of its own (all the same upstream) so that stats tell them apart: on the ingress
    /// listener <c>web</c> (gRPC-Web, CORS policy <c>browser</c>; any host) and <c>bridge</c> (host <c>bridge.test</c>:
    /// HTTP/1.1 bridge with protobuf upgrade), <c>plain.test</c> (no bridging); on the egress listener plain gRPC.
    /// </summary>
    public static ProxyConfig Create(string upstream, string allowedOrigin = "http://app.test")
    {
        var config = new ProxyConfig()
            .Cluster("echo-web", upstream, http2: true)
            .Cluster("echo-bridge", upstream, http2: true)
            .Cluster("echo-plain", upstream, http2: true)
            .Route("web", "echo-web", listeners: "ingress")
            .Route("bridge", "echo-bridge", listeners: "ingress", hosts: ["bridge.test"])
            .Route("untranslated", "echo-plain", listeners: "ingress", hosts: ["plain.test"])
            .Route("plain", "echo-plain", listeners: "egress");
        ((JsonObject)config.Routes["web"]!["Metadata"]!)["ProxyMesh.GrpcWeb"] = "true";
        config.Routes["web"]!["CorsPolicy"] = "browser";
        ((JsonObject)config.Routes["bridge"]!["Metadata"]!)["ProxyMesh.GrpcHttp1Bridge"] = "true";
        ((JsonObject)config.Routes["bridge"]!["Metadata"]!)["ProxyMesh.GrpcHttp1Bridge.UpgradeProtobuf"] = "true";
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
