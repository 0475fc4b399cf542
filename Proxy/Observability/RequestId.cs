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
