using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>
/// A private CA made at test time, and certificates it issues, written as PEM files (certificate and key) into a
/// directory of their own: what a mesh's certificate authority hands each sidecar.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly X509Certificate2 _ca;

    public TestCertificates(string name = "ProxyMesh Test CA")
    {
        Directory = Path.Combine(Path.GetTempPath(), "proxymesh-tests", $"certs-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        CaPath = Path.Combine(Directory, "ca.pem");
        File.WriteAllText(CaPath, _ca.ExportCertificatePem());
    }

    public string Directory { get; }

    /// <summary>PEM file of the CA certificate.</summary>
    public string CaPath { get; }

    /// <summary>Issues a certificate for <paramref name="dnsNames"/> (and 127.0.0.1), optionally with a SPIFFE-style URI SAN.</summary>
    /// <returns>Paths of the PEM certificate and PEM key.</returns>
    public (string CertificatePath, string KeyPath) Issue(string fileName, string subject, string[] dnsNames, string? uri = null, bool server = true)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (uri is not null)
        {
            names.AddUri(new Uri(uri));
        }

        foreach (var dns in dnsNames)
        {
            names.AddDnsName(dns);
        }

        if (server)
        {
            names.AddIpAddress(IPAddress.Loopback);
        }

        if (uri is not null || dnsNames.Length > 0 || server)
        {
            request.CertificateExtensions.Add(names.Build());
        }

        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        var serial = new byte[12];
        RandomNumberGenerator.Fill(serial);
        using var certificate = request.Create(_ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), serial);
        var certificatePath = Path.Combine(Directory, $"{fileName}.pem");
        var keyPath = Path.Combine(Directory, $"{fileName}.key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    /// <summary>Loads an issued certificate with its key, for a .NET client to present.</summary>
    public static X509Certificate2 Load((string CertificatePath, string KeyPath) files)
    {
        using var pem = X509Certificate2.CreateFromPemFile(files.CertificatePath, files.KeyPath);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>The CA certificate, for a .NET client's custom trust.</summary>
    public X509Certificate2 Ca => _ca;

    public void Dispose()
    {
        _ca.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory left behind is harmless.
        }
    }
}
