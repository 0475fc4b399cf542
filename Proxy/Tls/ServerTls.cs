using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Tls;

/// <summary>
/// TLS termination on a listener (HTTP or TCP): the server certificate chosen by the client's SNI name, and, for mutual
/// TLS, the client certificate verified against the listener's CA (<c>ClientCaPath</c>) or the system roots. Each
/// connection then carries a <see cref="PeerIdentityFeature"/>.
/// </summary>
internal static class ServerTls
{
    /// <summary>Adds TLS to a listener's connection pipeline; call after middleware that must see every connection.</summary>
    /// <param name="applicationProtocols">ALPN protocols to offer (HTTP listeners); null for a TCP listener.</param>
    /// <remarks>
    /// Certificates are loaded at the first handshake: Kestrel is configured before the configuration gate has
    /// validated anything, and the gate reports every bad file with its key (and stops start-up) before any connection.
    /// </remarks>
    public static void Use(ListenOptions listenOptions, ProxyListenerOptions listener, string key, List<SslApplicationProtocol>? applicationProtocols)
    {
        var handshake = new Lazy<Handshake>(() => Build(listener, key, applicationProtocols));
        listenOptions.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = context => ValueTask.FromResult(handshake.Value.For(context.ClientHelloInfo.ServerName)),
        });
        listenOptions.Use(next => connection =>
        {
            var tls = connection.Features.Get<ITlsConnectionFeature>();
            connection.Features.Set(new PeerIdentityFeature(tls?.ClientCertificate));
            return next(connection);
        });
    }

    /// <summary>The ALPN list Kestrel would offer for <paramref name="protocols"/>.</summary>
    public static List<SslApplicationProtocol> AlpnFor(HttpProtocols protocols) => protocols switch
    {
        HttpProtocols.Http1 => [SslApplicationProtocol.Http11],
        HttpProtocols.Http2 => [SslApplicationProtocol.Http2],
        _ => [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
    };

    private static Handshake Build(ProxyListenerOptions listener, string key, List<SslApplicationProtocol>? applicationProtocols)
    {
        X509Certificate2Collection? clientRoots = null;
        if (listener.ClientCaPath is { Length: > 0 } caPath)
        {
            clientRoots = Load(() => CertificateFiles.LoadBundle(caPath), $"{key}:ClientCaPath");
        }

        SslServerAuthenticationOptions Options(CertificateOptions certificate, string certificateKey)
        {
            var loaded = Load(() => CertificateFiles.Load(certificate), certificateKey);
            return new SslServerAuthenticationOptions
            {
                ServerCertificateContext = SslStreamCertificateContext.Create(loaded, additionalCertificates: null, offline: true),
                ApplicationProtocols = applicationProtocols,
                ClientCertificateRequired = listener.ClientCertificate != ClientCertificateRequirement.None,
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                    ValidateClient(listener.ClientCertificate, clientRoots, certificate as X509Certificate2, chain, errors),
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
        }

        var byName = new List<(string Name, SslServerAuthenticationOptions Options)>();
        for (var i = 0; i < listener.Certificates.Count; i++)
        {
            var options = Options(listener.Certificates[i], $"{key}:Certificates:{i}");
            foreach (var name in listener.Certificates[i].ServerNames)
            {
                byName.Add((name, options));
            }
        }

        var fallback = listener.Certificate is not null
            ? Options(listener.Certificate, $"{key}:Certificate")
            : byName.Count > 0 ? byName[0].Options : Options(listener.Certificates[0], $"{key}:Certificates:0");
        return new Handshake([.. byName], fallback);
    }

    private static bool ValidateClient(
        ClientCertificateRequirement requirement, X509Certificate2Collection? roots, X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            return requirement != ClientCertificateRequirement.Require;
        }

        return roots is null ? errors == SslPolicyErrors.None : CertificateFiles.ChainsTo(certificate, roots, chain);
    }

    private static T Load<T>(Func<T> load, string key)
    {
        var problems = new List<string>();
        T? loaded = default;
        if (!CertificateFiles.TryLoad(() => loaded = load(), key, problems))
        {
            throw new InvalidConfigurationException(problems);
        }

        return loaded!;
    }

    /// <summary>The handshake options per SNI name: exact names first, then <c>*.</c> wildcards of one label, then the default.</summary>
    private sealed class Handshake((string Name, SslServerAuthenticationOptions Options)[] byName, SslServerAuthenticationOptions fallback)
    {
        public SslServerAuthenticationOptions For(string? serverName)
        {
            if (string.IsNullOrEmpty(serverName))
            {
                return fallback;
            }

            foreach (var (name, options) in byName)
            {
                if (string.Equals(name, serverName, StringComparison.OrdinalIgnoreCase))
                {
                    return options;
                }
            }

            var dot = serverName.IndexOf('.');
            if (dot > 0)
            {
                var parent = serverName.AsSpan(dot);
                foreach (var (name, options) in byName)
                {
                    if (name.StartsWith("*.", StringComparison.Ordinal) && parent.Equals(name.AsSpan(1), StringComparison.OrdinalIgnoreCase))
                    {
                        return options;
                    }
                }
            }

            return fallback;
        }
    }
}
