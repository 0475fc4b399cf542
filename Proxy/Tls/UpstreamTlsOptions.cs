namespace ProxyMesh.Proxy.Tls;

/// <summary>
/// Policy <c>Tls</c> (<c>ProxyMesh:Defaults:Tls</c>, overridden by <c>ProxyMesh:Clusters:&lt;id&gt;:Tls</c>): how the proxy
/// originates TLS to a cluster's <c>https://</c> (HTTP) or <c>tls://</c> (TCP) destinations.
/// </summary>
public sealed class UpstreamTlsOptions
{
    public const string PolicyName = "Tls";

    /// <summary>PEM bundle of the CAs the upstream certificate must chain to; the system roots when empty.</summary>
    public string? CaPath { get; set; }

    /// <summary>Client certificate presented to the upstream (mutual TLS): PEM with <see cref="KeyPath"/>, or PFX.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM private key of <see cref="CertificatePath"/>.</summary>
    public string? KeyPath { get; set; }

    /// <summary>TCP clusters: the SNI name sent and verified instead of the destination's host.</summary>
    public string? ServerName { get; set; }
}
