using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using ProxyMesh.Proxy.Resilience;

namespace ProxyMesh.Proxy.Tls;

/// <summary>
/// TLS origination per cluster (policy <see cref="UpstreamTlsOptions"/>): the upstream certificate verified against the
/// cluster's CA or the system roots, and the client certificate presented for mutual TLS. Certificates are loaded once
/// per configuration version and read at each handshake, so a reload applies to new connections.
/// </summary>
public sealed class UpstreamTls(ClusterPolicies policies)
{
    private readonly ConditionalWeakTable<UpstreamTlsOptions, Material> _material = [];

    /// <summary>Client options for one TCP connection to <paramref name="host"/> of <paramref name="clusterId"/>.</summary>
    public SslClientAuthenticationOptions ClientOptions(string clusterId, string host)
    {
        var options = Options(clusterId);
        var material = MaterialOf(options);
        return new SslClientAuthenticationOptions
        {
            TargetHost = options.ServerName ?? host,
            ClientCertificates = material.ClientCertificates,
            RemoteCertificateValidationCallback = material.ValidateServer,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            EnabledSslProtocols = SslProtocols.None,
        };
    }

    /// <summary>Makes YARP's client for an HTTP cluster verify and authenticate as the cluster's <c>Tls</c> policy says.</summary>
    public void ConfigureHttpHandler(string clusterId, SocketsHttpHandler handler)
    {
        var ssl = handler.SslOptions;
        var yarpValidation = ssl.RemoteCertificateValidationCallback;
        ssl.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
        {
            var options = Options(clusterId);
            return options.CaPath is null && yarpValidation is not null
                ? yarpValidation(sender, certificate, chain, errors) // YARP's DangerousAcceptAnyServerCertificate
                : MaterialOf(options).ValidateServer(sender, certificate, chain, errors);
        };
        ssl.LocalCertificateSelectionCallback = (_, _, _, _, _) =>
            MaterialOf(Options(clusterId)).ClientCertificates is [var client, ..] ? client : null!;
    }

    private UpstreamTlsOptions Options(string clusterId) => policies.For<UpstreamTlsOptions>(clusterId, UpstreamTlsOptions.PolicyName);

    private Material MaterialOf(UpstreamTlsOptions options) => _material.GetValue(options, static options => new Material(options));

    /// <summary>The loaded certificates of one policy instance (validated before it could be served).</summary>
    private sealed class Material
    {
        private readonly X509Certificate2Collection? _roots;

        public Material(UpstreamTlsOptions options)
        {
            _roots = options.CaPath is { Length: > 0 } caPath ? CertificateFiles.LoadBundle(caPath) : null;
            ClientCertificates = options.CertificatePath is { Length: > 0 } path ? [CertificateFiles.Load(path, options.KeyPath)] : null;
        }

        public X509CertificateCollection? ClientCertificates { get; }

        public bool ValidateServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (_roots is null || certificate is null)
            {
                return errors == SslPolicyErrors.None;
            }

            // Only the chain is judged against the mesh CA; the name must still match.
            return (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0
                   && CertificateFiles.ChainsTo(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()), _roots, chain);
        }
    }
}
