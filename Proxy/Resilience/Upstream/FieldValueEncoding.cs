using System.Buffers;
using System.Text;

namespace ProxyMesh.Proxy.Resilience.Upstream;

/// <summary>
/// The encoding SocketsHttpHandler decodes upstream header and trailer values with (its
/// <c>ResponseHeaderEncodingSelector</c>). It decodes as the handler would on its own — Latin-1, or the cluster's
/// configured <c>ResponseHeaderEncoding</c> — but writes a NUL, CR or LF byte as its Unicode control picture (␀, ␍, ␊).
/// The handler replaces those three characters with a space after decoding (RFC 9110 §5.5 allows that), which would hide
/// them from <see cref="UpstreamResponseHeaderGuard"/>: an HTTP/2 field value may not hold them at all (RFC 9113 §8.2.1:
/// the response is malformed), and Envoy refuses a NUL in an HTTP/1.1 value too. The pictures survive that replacement,
/// so the guard sees — and refuses — what the upstream really sent. Values without them decode exactly as before.
/// </summary>
internal sealed class FieldValueEncoding : Encoding
{
    public const char NulPicture = '\u2400';
    public const char CarriageReturnPicture = '\u240D';
    public const char LineFeedPicture = '\u240A';

    private static readonly SearchValues<byte> Marked = SearchValues.Create("\0\r\n"u8);

    private readonly Encoding _inner;

    /// <param name="inner">The encoding the handler would use: Latin-1 by default, else the cluster's.</param>
    public FieldValueEncoding(Encoding inner)
        : base(inner.CodePage, EncoderFallback.ExceptionFallback, DecoderFallback.ReplacementFallback) => _inner = inner;

    /// <summary>Latin-1, SocketsHttpHandler's default for response header values.</summary>
    public static FieldValueEncoding Latin1Values { get; } = new(Latin1);

    /// <summary>
    /// For <c>Location</c> SocketsHttpHandler tries UTF-8 before Latin-1 when no encoding is configured (servers send
    /// either); this does the same.
    /// </summary>
    public static FieldValueEncoding LocationValues { get; } = new(new Utf8ThenLatin1());

    public override int GetByteCount(char[] chars, int index, int count) => _inner.GetByteCount(chars, index, count);

    public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex) =>
        _inner.GetBytes(chars, charIndex, charCount, bytes, byteIndex);

    public override int GetCharCount(byte[] bytes, int index, int count) => _inner.GetCharCount(bytes, index, count);

    // Through the span overloads: the encodings' pointer overloads may be the base ones, which copy into arrays.
    public override unsafe int GetCharCount(byte* bytes, int count) => _inner.GetCharCount(new ReadOnlySpan<byte>(bytes, count));

    public override int GetCharCount(ReadOnlySpan<byte> bytes) => _inner.GetCharCount(bytes);

    public override int GetChars(byte[] bytes, int byteIndex, int byteCount, char[] chars, int charIndex) =>
        GetChars(bytes.AsSpan(byteIndex, byteCount), chars.AsSpan(charIndex));

    public override unsafe int GetChars(byte* bytes, int byteCount, char* chars, int charCount) =>
        GetChars(new ReadOnlySpan<byte>(bytes, byteCount), new Span<char>(chars, charCount));

    public override int GetChars(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        var written = _inner.GetChars(bytes, chars);
        if (bytes.ContainsAny(Marked))
        {
            // Each of the three is one byte and one char in Latin-1 and in UTF-8 alike, so it is found where it was.
            var decoded = chars[..written];
            decoded.Replace('\0', NulPicture);
            decoded.Replace('\r', CarriageReturnPicture);
            decoded.Replace('\n', LineFeedPicture);
        }

        return written;
    }

    public override int GetMaxByteCount(int charCount) => _inner.GetMaxByteCount(charCount);

    public override int GetMaxCharCount(int byteCount) => _inner.GetMaxCharCount(byteCount);

    /// <summary>UTF-8 when the bytes are valid UTF-8, else Latin-1: SocketsHttpHandler's own rule for <c>Location</c>.</summary>
    private sealed class Utf8ThenLatin1 : Encoding
    {
        private static readonly Encoding StrictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);

        public Utf8ThenLatin1()
            : base(Latin1.CodePage)
        {
        }

        public override int GetByteCount(char[] chars, int index, int count) => Latin1.GetByteCount(chars, index, count);

        public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex) =>
            Latin1.GetBytes(chars, charIndex, charCount, bytes, byteIndex);

        public override int GetCharCount(byte[] bytes, int index, int count) => GetCharCount(bytes.AsSpan(index, count));

        public override unsafe int GetCharCount(byte* bytes, int count) => GetCharCount(new ReadOnlySpan<byte>(bytes, count));

        public override int GetChars(byte[] bytes, int byteIndex, int byteCount, char[] chars, int charIndex) =>
            GetChars(bytes.AsSpan(byteIndex, byteCount), chars.AsSpan(charIndex));

        public override unsafe int GetChars(byte* bytes, int byteCount, char* chars, int charCount) =>
            GetChars(new ReadOnlySpan<byte>(bytes, byteCount), new Span<char>(chars, charCount));

        public override int GetChars(ReadOnlySpan<byte> bytes, Span<char> chars) =>
            (IsUtf8(bytes) ? StrictUtf8 : Latin1).GetChars(bytes, chars);

        public override int GetMaxByteCount(int charCount) => Latin1.GetMaxByteCount(charCount);

        public override int GetMaxCharCount(int byteCount) => Latin1.GetMaxCharCount(byteCount);

        public override int GetCharCount(ReadOnlySpan<byte> bytes) => (IsUtf8(bytes) ? StrictUtf8 : Latin1).GetCharCount(bytes);

        private static bool IsUtf8(ReadOnlySpan<byte> bytes) => System.Text.Unicode.Utf8.IsValid(bytes);
    }
}
