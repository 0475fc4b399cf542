using ProxyMesh.Proxy.Admin;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Configuration;

/// <summary>The <c>ProxyMesh</c> configuration section: who this sidecar is and where it listens.</summary>
public sealed class ProxyMeshOptions
{
    public const string SectionName = "ProxyMesh";

    /// <summary>The service this sidecar runs beside.</summary>
    public string ServiceName { get; set; } = "unknown";

    /// <summary>The zone (availability zone) this sidecar runs in.</summary>
    public string Zone { get; set; } = "unknown";

    /// <summary>Traffic listeners by name (e.g. <c>ingress</c>, <c>egress</c>).</summary>
    public Dictionary<string, ProxyListenerOptions> Listeners { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public AdminOptions Admin { get; set; } = new();

    /// <summary>Header timeout and minimum body data rate for every listener (Kestrel's defaults unless set).</summary>
    public ListenerLimitsOptions Limits { get; set; } = new();

    /// <summary>
    /// After SIGTERM, how long requests in flight may take to complete before they are cut off and the process exits
    /// (the host's shutdown timeout; Envoy's <c>--drain-time-s</c> plays this part).
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
