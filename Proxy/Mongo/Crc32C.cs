using System.Buffers.Binary;
using System.Numerics;

namespace ProxyMesh.Proxy.Mongo;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of OP_MSG's <c>checksumPresent</c>: start from <see cref="Initial"/>, update
/// with each run of bytes, and compare <see cref="Final"/> with the value the message carries.
/// <see cref="BitOperations.Crc32C(uint, ulong)"/> uses the CPU's CRC32 instruction where there is one.
/// </summary>
internal static class Crc32C
{
    public const uint Initial = uint.MaxValue;

    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }

    public static uint Final(uint crc) => ~crc;
}
