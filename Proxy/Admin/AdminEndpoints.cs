using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Admin;

/// <summary>Envoy's admin endpoints that a sidecar needs, served on the admin listener only.</summary>
internal static class AdminEndpoints
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // read by people and tools, never embedded in HTML
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    private static readonly string Version =
        typeof(AdminEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    public static IEndpointRouteBuilder MapAdminEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var admin = endpoints.MapGroup("").WithMetadata(ListenerBinding.Admin);
        admin.MapGet("/", Index);
        admin.MapGet("/ready", Ready);
        admin.MapGet("/server_info", ServerInfo);
        admin.MapGet("/clusters", Clusters);
        admin.MapGet("/config_dump", ConfigDump);
        admin.MapPost("/healthcheck/fail", (ProxyLifecycle lifecycle) =>
        {
            lifecycle.FailHealthChecks();
            return Results.Text("OK\n");
        });
        admin.MapPost("/healthcheck/ok", (ProxyLifecycle lifecycle) =>
        {
            lifecycle.RestoreHealthChecks();
            return Results.Text("OK\n");
        });
        return endpoints;
    }

    private static IResult Index() => Results.Text(
        """
        ProxyMesh admin
          GET  /ready              200 when live, 503 before start-up completes and while draining
          GET  /server_info        version, state, uptime, service, zone, listeners
          GET  /clusters           clusters and destinations (?format=json)
          GET  /config_dump        effective listeners, routes and clusters, secrets redacted
          GET  /metrics            Prometheus metrics
          POST /healthcheck/fail   start draining: /ready answers 503, traffic is still served
          POST /healthcheck/ok     stop draining

        """);

    private static IResult Ready(ProxyLifecycle lifecycle)
    {
        var state = lifecycle.State;
        return Results.Text(ProxyLifecycle.Describe(state) + "\n", statusCode: state == ServerState.Live ? 200 : 503);
    }

    private static IResult ServerInfo(ProxyLifecycle lifecycle, IOptions<ProxyMeshOptions> options, BoundListeners listeners)
    {
        var mesh = options.Value;
        var uptime = lifecycle.Uptime;
        return Results.Json(
            new
            {
                version = Version,
                state = ProxyLifecycle.Describe(lifecycle.State),
                uptime_current_epoch = $"{(long)uptime.TotalSeconds}s",
                uptime_seconds = Math.Round(uptime.TotalSeconds, 3),
                service = mesh.ServiceName,
                zone = mesh.Zone,
                listeners = listeners.Names.ToDictionary(name => name, listeners.UrlsOf),
            },
            Json);
    }

    private static IResult Clusters(HttpRequest request, IProxyStateLookup state)
    {
        var clusters = state.GetClusters().OrderBy(cluster => cluster.ClusterId, StringComparer.Ordinal).ToArray();
        if (request.Query["format"] == "json")
        {
            return Results.Json(
                new
                {
                    cluster_statuses = clusters.Select(cluster => new
                    {
                        name = cluster.ClusterId,
                        host_statuses = cluster.Destinations.Values.OrderBy(d => d.DestinationId, StringComparer.Ordinal).Select(destination => new
                        {
                            destination = destination.DestinationId,
                            address = destination.Model.Config.Address,
                            zone = destination.Model.Config.Metadata?.GetValueOrDefault("zone"),
                            health_flags = HealthFlags(cluster, destination),
                            health = new
                            {
                                active = destination.Health.Active.ToString(),
                                passive = destination.Health.Passive.ToString(),
                            },
                            rq_active = destination.ConcurrentRequestCount,
                        }),
                    }),
                },
                Json);
        }

        // Envoy's text form: cluster::host::stat::value, one line each.
        var text = new StringBuilder();
        foreach (var cluster in clusters)
        {
            foreach (var destination in cluster.Destinations.Values.OrderBy(d => d.DestinationId, StringComparer.Ordinal))
            {
                var prefix = $"{cluster.ClusterId}::{destination.DestinationId}::";
                text.Append(prefix).Append("address::").Append(destination.Model.Config.Address).Append('\n');
                text.Append(prefix).Append("health_flags::").Append(HealthFlags(cluster, destination)).Append('\n');
                text.Append(prefix).Append("rq_active::").Append(destination.ConcurrentRequestCount).Append('\n');
            }
        }

        return Results.Text(text.ToString());
    }

    /// <summary>Envoy's health flags: <c>healthy</c>, or the reasons a destination is not taking traffic.</summary>
    private static string HealthFlags(ClusterState cluster, DestinationState destination)
    {
        var flags = new StringBuilder();
        if (destination.Health.Active == DestinationHealth.Unhealthy)
        {
            flags.Append("/failed_active_hc");
        }

        if (destination.Health.Passive == DestinationHealth.Unhealthy)
        {
            flags.Append("/failed_outlier_check");
        }

        if (flags.Length == 0 && !cluster.DestinationsState.AvailableDestinations.Contains(destination))
        {
            flags.Append("/unavailable");
        }

        return flags.Length == 0 ? "healthy" : flags.ToString();
    }

    private static IResult ConfigDump(IOptions<ProxyMeshOptions> options, BoundListeners listeners, IProxyStateLookup state)
    {
        var mesh = options.Value;
        var dump = JsonSerializer.SerializeToNode(
            new
            {
                ServiceName = mesh.ServiceName,
                Zone = mesh.Zone,
                Listeners = mesh.Listeners.ToDictionary(
                    pair => pair.Key,
                    pair => new { pair.Value.Url, pair.Value.Protocols, pair.Value.Certificate, Bound = listeners.UrlsOf(pair.Key) }),
                Admin = new { mesh.Admin.Url, Bound = listeners.UrlsOf(ProxyMeshOptionsValidator.AdminListenerName) },
                Routes = state.GetRoutes().Select(route => route.Config).OrderBy(route => route.RouteId, StringComparer.Ordinal),
                Clusters = state.GetClusters().Select(cluster => cluster.Model.Config).OrderBy(cluster => cluster.ClusterId, StringComparer.Ordinal),
            },
            Json);
        ConfigRedactor.Redact(dump);
        return Results.Text(dump!.ToJsonString(Json), "application/json");
    }
}
