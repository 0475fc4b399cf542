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

    /// <summary>Server certificate for an <c>https://</c> listener.</summary>
    public CertificateOptions? Certificate { get; set; }
}

/// <summary>A PFX/PKCS#12 (or PEM with <see cref="KeyPath"/>) certificate on disk.</summary>
public sealed class CertificateOptions
{
    public string Path { get; set; } = "";

    /// <summary>PEM private key file, when <see cref="Path"/> is a PEM certificate.</summary>
    public string? KeyPath { get; set; }

    public string? Password { get; set; }
}
