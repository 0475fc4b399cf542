using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace ProxyMesh.Proxy.Tls;

/// <summary>
/// The identity of a TLS peer, as route and listener rules see it: the certificate's first SAN URI (a SPIFFE id such
/// as <c>spiffe://mesh/service/orders</c>), else its first SAN DNS name, else its subject.
/// </summary>
public static class PeerIdentity
{
    private const string SubjectAlternativeNameOid = "2.5.29.17";
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);
    private static readonly Asn1Tag DnsTag = new(TagClass.ContextSpecific, 2);

    public static string? Of(X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return null;
        }

        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value == SubjectAlternativeNameOid && FromAlternativeNames(extension.RawData) is { } name)
            {
                return name;
            }
        }

        return certificate.Subject;
    }

    /// <summary>The first URI, else the first DNS name, of a SubjectAltName extension (RFC 5280 §4.2.1.6).</summary>
    private static string? FromAlternativeNames(byte[] extension)
    {
        try
        {
            var names = new AsnReader(extension, AsnEncodingRules.DER).ReadSequence();
            string? dns = null;
            while (names.HasData)
            {
                var tag = names.PeekTag();
                if (tag.HasSameClassAndValue(UriTag))
                {
                    return names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag);
                }

                if (dns is null && tag.HasSameClassAndValue(DnsTag))
                {
                    dns = names.ReadCharacterString(UniversalTagNumber.IA5String, DnsTag);
                    continue;
                }

                names.ReadEncodedValue();
            }

            return dns;
        }
        catch (AsnContentException)
        {
            return null; // A malformed extension names no one; the subject still does.
        }
    }
}

/// <summary>Connection feature: the verified client certificate's identity on a TLS listener, computed once per connection.</summary>
public sealed class PeerIdentityFeature(X509Certificate2? certificate)
{
    private string? _identity;
    private bool _resolved;

    public X509Certificate2? Certificate { get; } = certificate;

    /// <summary>The peer's identity, or null when it presented no certificate.</summary>
    public string? Identity
    {
        get
        {
            if (!_resolved)
            {
                _identity = PeerIdentity.Of(Certificate);
                _resolved = true;
            }

            return _identity;
        }
    }
}
