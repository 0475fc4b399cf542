namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// The <c>x-request-id</c> that ties one call chain's logs and traces together across the mesh, and the sampling
/// decision derived from it: a hash of the id, so every hop keeps or drops the same requests.
/// </summary>
public static class RequestId
{
    public const string Header = "x-request-id";

    private const int MaxLength = 128;

    /// <summary>1–128 characters of letters, digits and <c>-._:+/=</c>: UUIDs, ULIDs, hex and base64 ids pass.</summary>
    public static bool IsWellFormed(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '.' or '_' or ':' or '+' or '/' or '='))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A new random UUIDv4 (RFC 9562) in its 36-character text form, from <paramref name="random"/>: a request id needs
    /// uniqueness, not the cryptographic randomness (and system call) of <see cref="Guid.NewGuid"/>.
    /// </summary>
    public static string NewUuid(Random random) => string.Create(36, random, static (text, random) =>
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        bytes[6] = (byte)(bytes[6] & 0x0F | 0x40); // version 4
        bytes[8] = (byte)(bytes[8] & 0x3F | 0x80); // variant 10
        var position = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            if (i is 4 or 6 or 8 or 10)
            {
                text[position++] = '-';
            }

            text[position++] = HexDigits[bytes[i] >> 4];
            text[position++] = HexDigits[bytes[i] & 0xF];
        }
    });

    private const string HexDigits = "0123456789abcdef";

    /// <summary>Whether a request with this id falls in the sampled fraction <paramref name="rate"/> (0 to 1).</summary>
    public static bool IsSampled(string id, double rate) => rate >= 1 || (rate > 0 && Fraction(id) < rate);

    /// <summary>The id's position in [0, 1): 64-bit FNV-1a of its characters, the same in every process and language.</summary>
    public static double Fraction(string id)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in id)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return (hash >> 11) * (1.0 / (1UL << 53));
    }
}
