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
    /// Whether this listener's callers are trusted, as Envoy's internal requests are (<c>use_remote_address</c> and
    /// <c>internal_address_config</c>): trusted callers' <c>x-request-id</c>, <c>x-forwarded-*</c> and <c>x-envoy-*</c>
    /// headers are kept and their <c>x-envoy-*</c> overrides (retries, timeouts) honoured; an untrusted caller's
    /// request id is replaced, its forwarded headers describe the real connection, and every <c>x-envoy-*</c> header is
    /// removed. By default only listeners bound to loopback trust their callers: the local application, never
    /// callers from outside.
    /// </summary>
    public bool? TrustDownstream { get; set; }

    /// <summary>The earlier name of <see cref="TrustDownstream"/>, still accepted; <see cref="TrustDownstream"/> wins when both are set.</summary>
    public bool? TrustControlHeaders { get; set; }

    /// <summary>The effective trust: <see cref="TrustDownstream"/>, else <see cref="TrustControlHeaders"/>, else whether the listener is on loopback.</summary>
    public bool TrustsDownstream =>
        TrustDownstream ?? TrustControlHeaders ?? (ListenerAddress.TryParse(Url, out var address, out _) && address!.IsLoopback);

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
