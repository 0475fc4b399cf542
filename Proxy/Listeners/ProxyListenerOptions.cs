using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>One traffic listener: <c>ProxyMesh:Listeners:&lt;name&gt;</c>.</summary>
public sealed class ProxyListenerOptions
{
    /// <summary>Where to listen, e.g. <c>http://127.0.0.1:10000</c> or <c>https://0.0.0.0:443</c>.</summary>
    public string Url { get; set; } = "";

    /// <summary><c>Http1</c>, <c>Http2</c> or <c>Http1AndHttp2</c> (the default; cleartext detects h2c by its preface).</summary>
    public HttpProtocols Protocols { get; set; } = HttpProtocols.Http1AndHttp2;

    /// <summary>
    /// Whether callers may steer the proxy with Envoy's <c>x-envoy-*</c> request headers (retries, timeouts). By
    /// default only listeners bound to loopback trust them: the local application, never callers from outside.
    /// </summary>
    public bool? TrustControlHeaders { get; set; }

    /// <summary>
    /// Server certificate: an <c>https://</c> listener needs one (or <see cref="Certificates"/>); a <c>tcp://</c>
    /// listener with one terminates TLS. With <see cref="Certificates"/> it is the default when no SNI name matches.
    /// </summary>
    public CertificateOptions? Certificate { get; set; }

    /// <summary>More server certificates, each chosen when the client's SNI name matches one of its <see cref="CertificateOptions.ServerNames"/>.</summary>
    public List<CertificateOptions> Certificates { get; set; } = [];

    /// <summary>Whether a TLS listener asks callers for a certificate: <c>None</c> (the default), <c>Allow</c> or <c>Require</c>.</summary>
    public ClientCertificateRequirement ClientCertificate { get; set; } = ClientCertificateRequirement.None;

    /// <summary>PEM file of the CAs a client certificate must chain to; the system roots when empty.</summary>
    public string? ClientCaPath { get; set; }

    /// <summary>A TLS listener that terminates TLS: a certificate is configured.</summary>
    public bool TerminatesTls => Certificate is not null || Certificates.Count > 0;
}

/// <summary>Whether a TLS listener asks for, and insists on, a client certificate (mutual TLS).</summary>
public enum ClientCertificateRequirement
{
    None,
    Allow,
    Require,
}

/// <summary>A PFX/PKCS#12 (or PEM with <see cref="KeyPath"/>) certificate on disk.</summary>
public sealed class CertificateOptions
{
    public string Path { get; set; } = "";

    /// <summary>PEM private key file, when <see cref="Path"/> is a PEM certificate.</summary>
    public string? KeyPath { get; set; }

    public string? Password { get; set; }

    /// <summary>In a listener's <c>Certificates</c> list: the SNI names it serves, e.g. <c>db.mesh</c> or <c>*.mesh</c>.</summary>
    public List<string> ServerNames { get; set; } = [];
}
