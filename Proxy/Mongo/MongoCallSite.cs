using System.Text;
using System.Text.Json;

namespace ProxyMesh.Proxy.Mongo;

/// <summary>
/// The call site of a query, from its <c>comment</c>: the comment itself, or, when it is Envoy's JSON form
/// (<c>{"hostname": …, "httpUniqueId": …, "callingFunction": "…"}</c>), its <c>callingFunction</c>.
/// </summary>
internal static class MongoCallSite
{
    /// <summary>Longest call site used as a label value, in characters; longer ones count as <c>other</c>.</summary>
    public const int MaxLength = 128;

    private static readonly byte[] CallingFunction = "callingFunction"u8.ToArray();

    /// <returns>The call site's length in <paramref name="destination"/>, or -1 when it cannot be a label value.</returns>
    public static int Read(ReadOnlySpan<byte> comment, Span<char> destination)
    {
        if (comment.Length > 0 && comment[0] == (byte)'{' && TryCallingFunction(comment, destination, out var length))
        {
            return length;
        }

        return comment.Length > 0 && Encoding.UTF8.TryGetChars(comment, destination, out length) ? length : -1;
    }

    private static bool TryCallingFunction(ReadOnlySpan<byte> json, Span<char> destination, out int length)
    {
        length = -1;
        Span<char> unescaped = stackalloc char[MaxLength * 6];
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1 || !reader.ValueTextEquals(CallingFunction))
                {
                    continue;
                }

                if (reader.Read() && reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length <= unescaped.Length)
                {
                    var count = reader.CopyString(unescaped);
                    length = count <= destination.Length ? CopyTo(unescaped[..count], destination) : -1;
                }

                return true;
            }
        }
        catch (JsonException)
        {
            // Not JSON after all: the comment itself is the call site.
        }

        return false;
    }

    private static int CopyTo(ReadOnlySpan<char> source, Span<char> destination)
    {
        source.CopyTo(destination);
        return source.Length;
    }
}
