using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Logging.Console;
using ProxyMesh.Proxy.Admin;
using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Cors;
using ProxyMesh.Proxy.Discovery;
using ProxyMesh.Proxy.Grpc.Bridge;
using ProxyMesh.Proxy.Grpc.Framing;
using ProxyMesh.Proxy.Grpc.Stats;
using ProxyMesh.Proxy.Grpc.Web;
using ProxyMesh.Proxy.Grpc.Transcoding;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.LoadBalancing;
using ProxyMesh.Proxy.LoadBalancing.ZoneAware;
using ProxyMesh.Proxy.Mongo;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience;
using ProxyMesh.Proxy.Resilience.Overload;
using ProxyMesh.Proxy.Routing;
using ProxyMesh.Proxy.Tcp;
using ProxyMesh.Proxy.Tls;

namespace ProxyMesh.Proxy;

/// <summary>Composes the sidecar: one <c>Add…</c> per capability, then its middleware and endpoints.</summary>
public static class ProxyMeshApplication
{
    /// <summary>
    /// Lowest-priority defaults, in code rather than an embedded appsettings.json so that nothing (least of all a route)
    /// is inherited by a deployment's own configuration: the framework logs warnings and up (request diagnostics not at
    /// all), log lines carry scopes.
    /// </summary>
    private static readonly Dictionary<string, string?> LoggingDefaults = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        // Enabled at any level, this logger makes ASP.NET Core start an Activity per request and HttpClient one per
        // upstream call (about 1 KB each, even with tracing off); it logs nothing above Information. Request ids reach
        // log lines through ProxyMesh's own scope instead (ObservabilityMiddleware).
        ["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "None",
        ["Logging:LogLevel:Yarp"] = "Warning",
        // YARP logs a warning with a stack trace for every failed upstream attempt; UpstreamFailureLog logs one line per
        // cluster and outcome a minute instead.
        ["Logging:LogLevel:Yarp.ReverseProxy.Forwarder.HttpForwarder"] = "Error",
        ["Logging:Console:FormatterOptions:IncludeScopes"] = "true",
    };

    /// <param name="args">Command-line arguments.</param>
    /// <param name="contentRoot">Where appsettings.json is read from; the current directory by default.</param>
    /// <param name="replaceServices">Swaps in services such as a fake <see cref="TimeProvider"/>, as tests do.</param>
    /// <exception cref="InvalidConfigurationException">The configuration cannot be served.</exception>
    public static WebApplication Build(string[] args, string? contentRoot = null, Action<IServiceCollection>? replaceServices = null)
    {
        var builder = CreateBuilder(args, contentRoot);
        var configuration = builder.AddProxyMeshConfiguration(args);
        builder.Services.AddProxyMeshObservability(configuration);
        builder.Services.AddProxyMeshListeners();
        builder.Services.AddProxyMeshRouting(configuration);
        builder.Services.AddProxyMeshDiscovery(configuration);
        builder.Services.AddProxyMeshResilience();
        builder.Services.AddProxyMeshLoadBalancing();
        builder.Services.AddProxyMeshZoneAwareRouting(configuration);
        builder.Services.AddProxyMeshClusterContexts();
        builder.Services.AddProxyMeshTls();
        builder.Services.AddProxyMeshTcp();
        builder.Services.AddProxyMeshMongo();
        builder.Services.AddProxyMeshGrpcTranscoding(configuration);
        builder.Services.AddProxyMeshAdmin();
        builder.Services.AddProxyMeshCors(configuration);
        builder.Services.AddProxyMeshGrpcFraming(configuration);
        builder.Services.AddProxyMeshGrpcWeb();
        builder.Services.AddProxyMeshGrpcHttp1Bridge();
        builder.Services.AddProxyMeshGrpcStats(configuration);
        builder.Services.AddProxyMeshOverload(configuration);
        replaceServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseProxyMeshConfiguration();
        app.UseRouteAuthorization();
        app.UseDownstreamTrust();
        app.UseProxyMeshObservability();
        app.UseProxyMeshCors();
        app.UseProxyMeshGrpcWeb();
        app.UseProxyMeshGrpcHttp1Bridge();
        app.UseProxyMeshGrpcStats();
        app.MapProxyMeshAdmin();
        app.MapProxyMeshMetrics();
        app.MapProxyMeshRoutes();
        return app;
    }

    private static WebApplicationBuilder CreateBuilder(string[] args, string? contentRoot)
    {
        try
        {
            // The slim builder loads only what a sidecar uses (docs/performance.md, Memory): no QUIC transport, IIS
            // integration, forwarded-headers switch, hosting startups, debug or EventSource loggers.
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = contentRoot });
            builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = LoggingDefaults });
            builder.WebHost.UseKestrelHttpsConfiguration(); // TLS listeners (ServerTls)
            builder.Services.AddRouting(); // regex and alpha constraints in route paths, as the full builder has them
            // The slim builder forces the simple console formatter; a deployment's Logging:Console:FormatterName wins again.
            builder.Services.Configure<ConsoleLoggerOptions>(builder.Configuration.GetSection("Logging:Console"));
            return builder;
        }
        catch (InvalidDataException e) when (e.InnerException is FormatException)
        {
            // The host reads appsettings*.json before ProxyMesh can guard them; report it as any other bad file.
            var innermost = e.GetBaseException();
            throw new InvalidConfigurationException([$"{FileNameIn(e.Message)}: invalid JSON: {e.Message} {innermost.Message}"]);
        }
    }

    private static string FileNameIn(string message)
    {
        var start = message.IndexOf('\'');
        var end = message.LastIndexOf('\'');
        return end > start ? Path.GetFileName(message[(start + 1)..end]) : "configuration file";
    }
}
