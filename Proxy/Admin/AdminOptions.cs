namespace ProxyMesh.Proxy.Admin;

/// <summary><c>ProxyMesh:Admin</c>: the admin listener, loopback only unless configured otherwise.</summary>
public sealed class AdminOptions
{
    public const string DefaultUrl = "http://127.0.0.1:9901";

    /// <summary>Cluster metadata (<c>"true"</c>) that lets the cluster's destinations point at the admin listener.</summary>
    public const string AllowAdminDestinationMetadataKey = "ProxyMesh.AllowAdminDestination";

    /// <summary>Where the admin listener binds (read at start-up).</summary>
    public string Url { get; set; } = DefaultUrl;

    /// <summary>
    /// Must be true for a <see cref="Url"/> that is not loopback: the admin API drains and describes this sidecar, so
    /// exposing it beyond this machine (or pod) is a decision, never a default (read at start-up).
    /// </summary>
    public bool AllowNonLoopback { get; set; }

    /// <summary>Bearer token that <c>POST</c> endpoints and <c>/config_dump</c> require when set.</summary>
    public string? Token { get; set; }

    /// <summary>A file holding the token (e.g. a mounted secret), read at start-up and on every configuration reload.</summary>
    public string? TokenFile { get; set; }
}
