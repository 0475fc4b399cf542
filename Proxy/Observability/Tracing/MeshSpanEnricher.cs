using System.Diagnostics;
using OpenTelemetry;

namespace ProxyMesh.Proxy.Observability.Tracing;

/// <summary>
/// Gives every upstream attempt's client span the mesh attributes its server span carries (request id, cluster,
/// route, zone), so that each attempt — retries included — reads on its own.
/// </summary>
internal sealed class MeshSpanEnricher : BaseProcessor<Activity>
{
    public const string RequestIdTag = "proxymesh.request_id";
    public const string ClusterTag = "proxymesh.cluster";
    public const string RouteTag = "proxymesh.route";
    public const string ZoneTag = "proxymesh.zone";
    public const string UpstreamHostTag = "proxymesh.upstream_host";
    public const string ResponseFlagsTag = "proxymesh.response_flags";
    public const string AttemptsTag = "proxymesh.upstream_attempts";

    private static readonly string[] Inherited = [RequestIdTag, ClusterTag, RouteTag, ZoneTag];

    public override void OnStart(Activity data)
    {
        if (data.Kind != ActivityKind.Client || data.Parent is not { } parent)
        {
            return;
        }

        foreach (var tag in Inherited)
        {
            if (parent.GetTagItem(tag) is { } value)
            {
                data.SetTag(tag, value);
            }
        }
    }
}
