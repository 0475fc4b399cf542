using System.IO.Compression;
using Snappier;
using ZstdSharp;

namespace ProxyMesh.Proxy.Mongo;

/// <summary>
/// The compressors of OP_COMPRESSED (https://github.com/mongodb/specifications/blob/master/source/compression/OP_COMPRESSED.md):
/// noop, snappy (Snappier), zlib (System.IO.Compression) and zstd (ZstdSharp) — the managed libraries MongoDB's own
/// .NET driver uses. Used only when a listener sets <c>Mongo:Decompress</c>.
/// </summary>
internal static class MongoCompressors
{
    public const byte Noop = 0;
    public const byte Snappy = 1;
    public const byte Zlib = 2;
    public const byte Zstd = 3;

    /// <summary>The <c>compressor</c> label values, indexed by compressor id; an id beyond them is <c>unknown</c>.</summary>
    public static readonly string[] Labels = ["noop", "snappy", "zlib", "zstd", "unknown"];

    [ThreadStatic]
    private static Decompressor? t_zstd;

    public static int LabelIndex(byte compressorId) => compressorId <= Zstd ? compressorId : Labels.Length - 1;

    /// <summary>Decompresses a whole payload into <paramref name="destination"/>, which it must fill exactly.</summary>
    /// <returns>false when the payload is corrupt or its size is not the announced one.</returns>
    public static bool TryDecompress(byte compressorId, byte[] source, int sourceLength, Span<byte> destination)
    {
        try
        {
            switch (compressorId)
            {
                case Noop:
                    if (sourceLength != destination.Length)
                    {
                        return false;
                    }

                    source.AsSpan(0, sourceLength).CopyTo(destination);
                    return true;
                case Snappy:
                    return Snappier.Snappy.GetUncompressedLength(source.AsSpan(0, sourceLength)) == destination.Length
                        && Snappier.Snappy.Decompress(source.AsSpan(0, sourceLength), destination) == destination.Length;
                case Zlib:
                    using (var zlib = new ZLibStream(new MemoryStream(source, 0, sourceLength, writable: false), CompressionMode.Decompress))
                    {
                        return zlib.ReadAtLeast(destination, destination.Length, throwOnEndOfStream: false) == destination.Length
                            && zlib.ReadByte() < 0;
                    }

                case Zstd:
                    t_zstd ??= new Decompressor();
                    return t_zstd.Unwrap(source.AsSpan(0, sourceLength), destination) == destination.Length;
                default:
                    return false;
            }
        }
        catch (Exception e) when (e is InvalidDataException or ZstdException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            return false;
        }
    }
}
