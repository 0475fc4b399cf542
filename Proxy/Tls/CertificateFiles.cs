using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ProxyMesh.Proxy.Listeners;

namespace ProxyMesh.Proxy.Tls;

/// <summary>Loads certificates and CA bundles from disk, turning every failure into one readable problem.</summary>
internal static class CertificateFiles
{
    /// <summary>A PEM certificate with its PEM key, or a PFX/PKCS#12 file (optionally with a password).</summary>
    public static X509Certificate2 Load(string path, string? keyPath, string? password = null)
    {
        var certificate = keyPath is not null
            ? X509Certificate2.CreateFromPemFile(path, keyPath)
            : X509CertificateLoader.LoadPkcs12FromFile(path, password);
        if (keyPath is not null)
        {
            // An ephemeral PEM key cannot be used by SslStream on every platform; a PKCS#12 round trip makes it persistable.
            using (certificate)
            {
                return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
            }
        }

        return certificate;
    }

    public static X509Certificate2 Load(CertificateOptions options) => Load(options.Path, options.KeyPath, options.Password);

    /// <summary>Every certificate in a PEM bundle.</summary>
    public static X509Certificate2Collection LoadBundle(string path)
    {
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPemFile(path);
        if (bundle.Count == 0)
        {
            throw new CryptographicException($"'{path}' holds no PEM certificate");
        }

        return bundle;
    }

    /// <summary>Loads with <paramref name="load"/>; on failure adds "<paramref name="key"/>: cannot load …" and returns false.</summary>
    public static bool TryLoad(Action load, string key, ICollection<string> problems)
    {
        try
        {
            load();
            return true;
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            problems.Add($"{key}: cannot load: {e.Message}");
            return false;
        }
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> chains to one of <paramref name="roots"/> (a private mesh CA), ignoring the
    /// system roots and revocation (a mesh CA publishes no CRL).
    /// </summary>
    public static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection roots, X509Chain? presented)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            // Intermediates the peer sent along.
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(certificate);
    }
}
