using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Resilience;

namespace ProxyMesh.Proxy.Tls;

/// <summary>
/// Validates TLS settings before they are served: every listener certificate and CA bundle loads, and each cluster's
/// <c>Tls</c> policy names files that load (a client certificate needs its key when PEM).
/// </summary>
internal sealed class TlsConfigValidator : ClusterPolicyValidator<UpstreamTlsOptions>
{
    protected override string Policy => UpstreamTlsOptions.PolicyName;

    public override void Validate(IConfiguration candidate, List<string> problems)
    {
        base.Validate(candidate, problems);
        foreach (var section in candidate.GetSection($"{ProxyMeshOptions.SectionName}:Listeners").GetChildren())
        {
            ProxyListenerOptions listener;
            try
            {
                listener = section.Get<ProxyListenerOptions>() ?? new ProxyListenerOptions();
            }
            catch (InvalidOperationException)
            {
                continue; // ProxyMeshOptionsValidator names the unreadable key.
            }

            ValidateListener(listener, section.Path, problems);
        }
    }

    private static void ValidateListener(ProxyListenerOptions listener, string key, List<string> problems)
    {
        // A missing file is reported by ProxyMeshOptionsValidator; one that exists must load.
        if (listener.Certificate is { Path.Length: > 0 } defaultCertificate && File.Exists(defaultCertificate.Path)
            && (defaultCertificate.KeyPath is null || File.Exists(defaultCertificate.KeyPath)))
        {
            CertificateFiles.TryLoad(() => CertificateFiles.Load(defaultCertificate).Dispose(), $"{key}:Certificate", problems);
        }

        for (var i = 0; i < listener.Certificates.Count; i++)
        {
            var certificate = listener.Certificates[i];
            var certificateKey = $"{key}:Certificates:{i}";
            if (string.IsNullOrWhiteSpace(certificate.Path))
            {
                problems.Add($"{certificateKey}:Path: a certificate file is required");
                continue;
            }

            if (certificate.ServerNames.Count == 0)
            {
                problems.Add($"{certificateKey}:ServerNames: list the SNI names this certificate serves (or make it the listener's Certificate)");
            }

            CertificateFiles.TryLoad(() => CertificateFiles.Load(certificate).Dispose(), certificateKey, problems);
        }

        if (!listener.TerminatesTls)
        {
            if (listener.ClientCertificate != ClientCertificateRequirement.None || listener.ClientCaPath is not null)
            {
                problems.Add($"{key}:ClientCertificate: client certificates need TLS; configure a Certificate");
            }

            return;
        }

        if (listener.ClientCaPath is { Length: > 0 } caPath)
        {
            CertificateFiles.TryLoad(() => CertificateFiles.LoadBundle(caPath), $"{key}:ClientCaPath", problems);
        }
    }

    protected override void Check(UpstreamTlsOptions options, string prefix, List<string> problems)
    {
        if (options.CaPath is { Length: > 0 } caPath)
        {
            CertificateFiles.TryLoad(() => CertificateFiles.LoadBundle(caPath), $"{prefix}:CaPath", problems);
        }

        if (options.CertificatePath is { Length: > 0 } path)
        {
            CertificateFiles.TryLoad(() => CertificateFiles.Load(path, options.KeyPath).Dispose(), $"{prefix}:CertificatePath", problems);
        }
        else if (options.KeyPath is not null)
        {
            problems.Add($"{prefix}:KeyPath: a key needs a CertificatePath");
        }
    }
}
