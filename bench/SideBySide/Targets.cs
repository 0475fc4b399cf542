using System.Globalization;

namespace ProxyMesh.Bench.SideBySide;

/// <summary>The ports and files every target shares: the backends and the work folder.</summary>
internal sealed record BenchEnvironment(string WorkDirectory, int BackendPort, int GrpcBackendPort, string RepositoryRoot);

/// <summary>nginx serving the small and 64 KiB responses: the backend, and the "direct" target.</summary>
internal sealed class NginxBackend : Target
{
    private readonly BenchEnvironment env;

    public NginxBackend(BenchEnvironment env)
        : base("direct", "nginx serving the backend responses, no proxy")
    {
        this.env = env;
        Http1Port = env.BackendPort;
        H2cPort = env.GrpcBackendPort;
        File.WriteAllBytes(Path.Combine(env.WorkDirectory, "64k.bin"), new byte[64 * 1024]);
    }

    protected override ChildProcess Launch()
    {
        var dir = Path.Combine(env.WorkDirectory, "nginx-backend");
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "nginx.conf");
        File.WriteAllText(config, $$"""
            worker_processes 1;
            daemon off;
            user root;
            pid {{dir}}/nginx.pid;
            error_log {{dir}}/error.log warn;
            events { worker_connections 8192; }
            http {
              access_log off;
              keepalive_requests 1000000;
              server {
                listen 127.0.0.1:{{env.BackendPort}} reuseport;
                location = /small { default_type text/plain; return 200 "ok"; }
                location = /64k { default_type application/octet-stream; alias {{env.WorkDirectory}}/64k.bin; }
              }
            }
            """);
        return ChildProcess.Start("nginx", ["-p", dir, "-c", config], Path.Combine(dir, "out.log"));
    }
}

/// <summary>nginx as a reverse proxy: HTTP/1.1 on one port, h2c (and gRPC via grpc_pass) on another.</summary>
internal sealed class NginxProxy : Target
{
    private readonly BenchEnvironment env;

    public NginxProxy(BenchEnvironment env)
        : base("nginx", "nginx 1.22 as reverse proxy, upstream keep-alive 64, access log off")
    {
        this.env = env;
        Http1Port = ChildProcess.FreePort();
        H2cPort = ChildProcess.FreePort();
    }

    protected override ChildProcess Launch()
    {
        var dir = Path.Combine(env.WorkDirectory, "nginx-proxy");
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "nginx.conf");
        const string http = "proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";";
        File.WriteAllText(config, $$"""
            worker_processes auto;
            daemon off;
            user root;
            pid {{dir}}/nginx.pid;
            error_log {{dir}}/error.log warn;
            events { worker_connections 8192; }
            http {
              access_log off;
              keepalive_requests 1000000;
              http2_max_requests 1000000;
              upstream backend { server 127.0.0.1:{{env.BackendPort}}; keepalive 64; keepalive_requests 1000000; }
              upstream grpcbackend { server 127.0.0.1:{{env.GrpcBackendPort}}; keepalive 64; keepalive_requests 1000000; }
              server {
                listen 127.0.0.1:{{Http1Port}};
                location / { {{http}} }
              }
              server {
                listen 127.0.0.1:{{H2cPort}} http2;
                location /bench.Bench/ { grpc_pass grpc://grpcbackend; }
                location / { {{http}} }
              }
            }
            """);
        return ChildProcess.Start("nginx", ["-p", dir, "-c", config], Path.Combine(dir, "out.log"));
    }
}

/// <summary>haproxy in HTTP mode: HTTP/1.1 on one port, h2c on another, gRPC to an h2 backend.</summary>
internal sealed class Haproxy : Target
{
    private readonly BenchEnvironment env;

    public Haproxy(BenchEnvironment env)
        : base("haproxy", "haproxy 2.6, mode http, connection reuse always")
    {
        this.env = env;
        Http1Port = ChildProcess.FreePort();
        H2cPort = ChildProcess.FreePort();
    }

    protected override ChildProcess Launch()
    {
        var dir = Path.Combine(env.WorkDirectory, "haproxy");
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "haproxy.cfg");
        File.WriteAllText(config, $"""
            global
              maxconn 8000
            defaults
              mode http
              timeout connect 5s
              timeout client 60s
              timeout server 60s
            frontend h1
              bind 127.0.0.1:{Http1Port}
              default_backend backend
            frontend h2c
              bind 127.0.0.1:{H2cPort} proto h2
              use_backend grpc if {"{"} path_beg /bench.Bench/ {"}"}
              default_backend backend
            backend backend
              http-reuse always
              server s1 127.0.0.1:{env.BackendPort}
            backend grpc
              http-reuse always
              server g1 127.0.0.1:{env.GrpcBackendPort} proto h2

            """);
        return ChildProcess.Start("haproxy", ["-db", "-f", config], Path.Combine(dir, "out.log"));
    }
}

/// <summary>The gRPC backend (a mode of this program), started beside nginx.</summary>
internal sealed class GrpcBackendProcess(BenchEnvironment env)
{
    public ChildProcess Start() => ChildProcess.Start(
        "dotnet",
        [typeof(GrpcBackend).Assembly.Location, GrpcBackend.Mode, env.GrpcBackendPort.ToString(CultureInfo.InvariantCulture)],
        Path.Combine(env.WorkDirectory, "grpc-backend.log"),
        new Dictionary<string, string> { ["DOTNET_gcServer"] = "1" });
}

/// <summary>Plain YARP (bench/PlainYarp): YARP's defaults, no features, no logging.</summary>
internal sealed class PlainYarp : Target
{
    private readonly BenchEnvironment env;
    private readonly string assembly;

    public PlainYarp(BenchEnvironment env, string assembly)
        : base("yarp", "plain YARP 2.3 (bench/PlainYarp): defaults, no logging")
    {
        this.env = env;
        this.assembly = assembly;
        Http1Port = ChildProcess.FreePort();
        H2cPort = ChildProcess.FreePort();
    }

    public override bool IsDotNet => true;

    protected override ChildProcess Launch() => ChildProcess.Start(
        "dotnet",
        [assembly, Str(Http1Port), Str(H2cPort!.Value), Str(env.BackendPort), Str(env.GrpcBackendPort)],
        Path.Combine(env.WorkDirectory, "yarp.log"));

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>ProxyMesh as published, with its shipped appsettings.json and a bench config layered over it.</summary>
internal sealed class ProxyMesh : Target
{
    private readonly BenchEnvironment env;
    private readonly string publishDirectory;
    private readonly bool minimal;
    private readonly int egressPort = ChildProcess.FreePort();
    private readonly int adminPort = ChildProcess.FreePort();

    public ProxyMesh(BenchEnvironment env, string publishDirectory, bool minimal)
        : base(
            minimal ? "proxymesh-minimal" : "proxymesh",
            minimal
                ? "ProxyMesh, every optional feature off (access log, retries, route timeout, info logging)"
                : "ProxyMesh, shipped defaults (access log to stdout → file, stats, request id, retries, breakers, outlier detection)")
    {
        this.env = env;
        this.publishDirectory = publishDirectory;
        this.minimal = minimal;
        Http1Port = ChildProcess.FreePort();
        H2cPort = Http1Port; // h2c is detected on the HTTP/1.1 port
    }

    public override bool IsDotNet => true;

    protected override ChildProcess Launch()
    {
        var config = Path.Combine(env.WorkDirectory, $"{Name}.json");
        var optional = minimal
            ? """
              "AccessLog": { "Enabled": false },
              "Defaults": { "Retry": { "NumRetries": 0 }, "Timeouts": { "Route": "00:00:00" } },
              """
            : "";
        var logging = minimal ? """, "Logging": { "LogLevel": { "Default": "Warning" } }""" : "";
        File.WriteAllText(config, $$"""
            {
              "ProxyMesh": {
                {{optional}}
                "Listeners": {
                  "ingress": { "Url": "http://127.0.0.1:{{Http1Port}}" },
                  "egress": { "Url": "http://127.0.0.1:{{egressPort}}" }
                },
                "Admin": { "Url": "http://127.0.0.1:{{adminPort}}" }
              },
              "ReverseProxy": {
                "Routes": {
                  "bench-grpc": { "ClusterId": "bench-grpc", "Match": { "Path": "/bench.Bench/{**method}" } },
                  "bench-http": { "ClusterId": "bench-http", "Match": { "Path": "/{**catch-all}" } }
                },
                "Clusters": {
                  "bench-http": { "Destinations": { "backend": { "Address": "http://127.0.0.1:{{env.BackendPort}}" } } },
                  "bench-grpc": {
                    "Destinations": { "backend": { "Address": "http://127.0.0.1:{{env.GrpcBackendPort}}" } },
                    "HttpRequest": { "Version": "2", "VersionPolicy": "RequestVersionExact" }
                  }
                }
              }{{logging}}
            }
            """);
        return ChildProcess.Start(
            "/bin/sh",
            ["-c", $"cd '{publishDirectory}' && exec dotnet ProxyMesh.Proxy.dll --config '{config}'"],
            Path.Combine(env.WorkDirectory, $"{Name}.log"));
    }
}
