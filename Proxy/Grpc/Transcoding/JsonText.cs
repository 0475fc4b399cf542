using System.Buffers;
using System.Globalization;
using System.Text;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// UTF-8 JSON text in exactly the layout Google.Protobuf's <c>JsonFormatter</c> (default settings) writes:
/// <c>{ "a": 1, "b": [ 2, 3 ] }</c>, <c>{ }</c> and <c>[ ]</c> when empty, and its string escaping (control
/// characters, <c>&lt;</c>, <c>&gt;</c>, the C1 range, surrogate pairs and a set of invisible characters as
/// <c>\uXXXX</c>). Matching it byte for byte lets the tests compare with <c>JsonFormatter</c> directly.
/// </summary>
internal sealed class JsonText
{
    private static readonly byte[][] AsciiEscapes = BuildAsciiEscapes();
    private static readonly byte[] Hex = "0123456789abcdef"u8.ToArray();

    private readonly ArrayBufferWriter<byte> _buffer;

    public JsonText(int initialCapacity = 256) => _buffer = new ArrayBufferWriter<byte>(initialCapacity);

    public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;

    public int Length => _buffer.WrittenCount;

    public void Clear() => _buffer.Clear();

    public void Raw(ReadOnlySpan<byte> utf8) => _buffer.Write(utf8);

    public void Raw(byte b)
    {
        _buffer.GetSpan(1)[0] = b;
        _buffer.Advance(1);
    }

    /// <summary>Text that needs no escaping (numbers, base64, literals), written as it is.</summary>
    public void Ascii(string text)
    {
        var span = _buffer.GetSpan(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            span[i] = (byte)text[i];
        }

        _buffer.Advance(text.Length);
    }

    public void OpenObject() => Raw("{ "u8);

    public void CloseObject(bool hadMembers) => Raw(hadMembers ? " }"u8 : "}"u8);

    public void OpenArray() => Raw("[ "u8);

    public void CloseArray(bool hadItems) => Raw(hadItems ? " ]"u8 : "]"u8);

    public void Separator() => Raw(", "u8);

    public void NameSeparator() => Raw(": "u8);

    public void Number(int value) => Format(value);

    public void Number(uint value) => Format(value);

    public void QuotedNumber(long value)
    {
        Raw((byte)'"');
        Format(value);
        Raw((byte)'"');
    }

    public void QuotedNumber(ulong value)
    {
        Raw((byte)'"');
        Format(value);
        Raw((byte)'"');
    }

    /// <summary>As <c>JsonFormatter</c>: the round-trip format, with NaN and the infinities as strings.</summary>
    public void Number(double value) => FloatingPoint(value.ToString("r", CultureInfo.InvariantCulture));

    public void Number(float value) => FloatingPoint(value.ToString("r", CultureInfo.InvariantCulture));

    public void Bool(bool value) => Raw(value ? "true"u8 : "false"u8);

    public void Null() => Raw("null"u8);

    public void Base64(ReadOnlySpan<byte> bytes)
    {
        Raw((byte)'"');
        var length = ((bytes.Length + 2) / 3) * 4;
        var span = _buffer.GetSpan(length);
        System.Buffers.Text.Base64.EncodeToUtf8(bytes, span, out _, out var written);
        _buffer.Advance(written);
        Raw((byte)'"');
    }

    /// <summary>A string given as UTF-8 (as it comes off the wire); plain ASCII is copied without decoding.</summary>
    public void String(ReadOnlySpan<byte> utf8)
    {
        foreach (var b in utf8)
        {
            if (b >= 0x80 || AsciiEscapes[b].Length > 1)
            {
                String(Encoding.UTF8.GetString(utf8));
                return;
            }
        }

        Raw((byte)'"');
        Raw(utf8);
        Raw((byte)'"');
    }

    public void String(string text)
    {
        Raw((byte)'"');
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c < 0x80)
            {
                Raw(AsciiEscapes[c]);
            }
            else if (c < 0xa0)
            {
                HexEscape(c);
            }
            else if (char.IsHighSurrogate(c))
            {
                if (i + 1 == text.Length || !char.IsLowSurrogate(text[i + 1]))
                {
                    throw new InvalidDataException("string holds an unpaired surrogate");
                }

                HexEscape(c);
                HexEscape(text[++i]);
            }
            else if (char.IsLowSurrogate(c))
            {
                throw new InvalidDataException("string holds an unpaired surrogate");
            }
            else if (IsEscapedInvisible(c))
            {
                HexEscape(c);
            }
            else
            {
                var count = Encoding.UTF8.GetBytes([c], utf8);
                Raw(utf8[..count]);
            }
        }

        Raw((byte)'"');
    }

    private static bool IsEscapedInvisible(char c) =>
        c is '\u00ad' or '\u06dd' or '\u070f' or '\u17b4' or '\u17b5' or '\ufeff' or (>= '\ufff9' and <= '\ufffb')
            or (>= '\u0600' and <= '\u0603') or (>= '\u200b' and <= '\u200f') or (>= '\u2028' and <= '\u202e')
            or (>= '\u2060' and <= '\u2064') or (>= '\u206a' and <= '\u206f');

    private void HexEscape(char c)
    {
        var span = _buffer.GetSpan(6);
        span[0] = (byte)'\\';
        span[1] = (byte)'u';
        span[2] = Hex[(c >> 12) & 0xf];
        span[3] = Hex[(c >> 8) & 0xf];
        span[4] = Hex[(c >> 4) & 0xf];
        span[5] = Hex[c & 0xf];
        _buffer.Advance(6);
    }

    private void FloatingPoint(string text)
    {
        var quoted = text is "NaN" or "Infinity" or "-Infinity";
        if (quoted)
        {
            Raw((byte)'"');
        }

        Ascii(text);
        if (quoted)
        {
            Raw((byte)'"');
        }
    }

    private void Format<T>(T value)
        where T : IUtf8SpanFormattable
    {
        var span = _buffer.GetSpan(24);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        _buffer.Advance(written);
    }

    private static byte[][] BuildAsciiEscapes()
    {
        var escapes = new byte[128][];
        for (var c = 0; c < 128; c++)
        {
            escapes[c] = c switch
            {
                '\b' => "\\b"u8.ToArray(),
                '\t' => "\\t"u8.ToArray(),
                '\n' => "\\n"u8.ToArray(),
                '\f' => "\\f"u8.ToArray(),
                '\r' => "\\r"u8.ToArray(),
                '"' => "\\\""u8.ToArray(),
                '\\' => "\\\\"u8.ToArray(),
                '<' => "\\u003c"u8.ToArray(),
                '>' => "\\u003e"u8.ToArray(),
                < 0x20 or 0x7f => Encoding.ASCII.GetBytes($"\\u{c:x4}"),
                _ => [(byte)c],
            };
        }

        return escapes;
    }
}
