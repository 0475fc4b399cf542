namespace ProxyMesh.Proxy.Discovery;

/// <summary><c>ProxyMesh:Discovery</c>: where the discovery service is and how often to ask it.</summary>
public sealed class DiscoveryOptions
{
    public const string SectionName = "ProxyMesh:Discovery";

    /// <summary>Base URL of the discovery service (SDS v1 REST API), e.g. <c>http://127.0.0.1:8080</c>.</summary>
    public string? Url { get; set; }

    /// <summary>Time between polls; each poll waits this plus uniform jitter in [0, this], as Envoy's SDS did.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one poll may take before it counts as a failure.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a host that disappeared from discovery keeps receiving traffic while its active health checks pass.
    /// </summary>
    public TimeSpan AbsentHostGrace { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Largest answer read, in bytes; a larger one is rejected unread (counted as <c>update_rejected</c>) and the
    /// last known hosts keep serving. Bounds the memory one poll can take.
    /// </summary>
    public int MaxAnswerBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Most host entries an answer may list; more reject the whole answer (as <see cref="MaxAnswerBytes"/>).</summary>
    public int MaxHosts { get; set; } = 100_000;
}
