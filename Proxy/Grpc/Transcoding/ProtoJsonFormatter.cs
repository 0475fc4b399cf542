using System.Buffers;
using System.Text;
using Google.Protobuf.Reflection;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// Writes a protobuf message, read straight off the wire, as canonical proto3 JSON exactly as Google.Protobuf's
/// <c>JsonFormatter.Default</c> writes the same message from a generated class: fields in field-number order under
/// their json_name, default values of fields without presence left out, 64-bit integers as strings, bytes as base64,
/// enums by name (unknown numbers as numbers), maps in first-seen key order with the last value winning, repeated
/// fields packed or not, the last member of a oneof winning, repeated occurrences of a message field merged, and
/// unknown fields skipped. Well-known types go to <c>JsonFormatter</c> itself; <c>Any</c> is resolved in the pool.
/// </summary>
internal sealed class ProtoJsonFormatter(TypePool pool)
{
    private const int MaxDepth = 100;

    public void WriteMessage(JsonText json, MessageLayout layout, ReadOnlySpan<byte> wire) => WriteMessage(json, layout, wire, 0);

    /// <summary>Writes one field's value as JSON (<c>response_body</c>): the value, an array, a map object, or the default when absent.</summary>
    public void WriteField(JsonText json, MessageLayout layout, FieldLayout field, ReadOnlySpan<byte> wire)
    {
        var occurrences = Scan(layout, wire, out var count);
        try
        {
            var (start, length) = Effective(layout, occurrences, count, field);
            var values = occurrences.AsSpan(start, length);
            if (length > 0)
            {
                WriteValue(json, field, wire, values, 1);
            }
            else
            {
                WriteDefault(json, field);
            }
        }
        finally
        {
            ArrayPool<Occurrence>.Shared.Return(occurrences);
        }
    }

    private void WriteMessage(JsonText json, MessageLayout layout, ReadOnlySpan<byte> wire, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new InvalidDataException($"message nesting deeper than {MaxDepth}");
        }

        switch (layout.WellKnown)
        {
            case WellKnownKind.None:
                json.OpenObject();
                json.CloseObject(WriteFields(json, layout, wire, first: true, depth));
                return;
            case WellKnownKind.Any:
                WriteAny(json, wire, depth);
                return;
            default:
                json.Raw(Encoding.UTF8.GetBytes(WellKnownTypes.Format(layout.FullName, wire)));
                return;
        }
    }

    private bool WriteFields(JsonText json, MessageLayout layout, ReadOnlySpan<byte> wire, bool first, int depth)
    {
        var occurrences = Scan(layout, wire, out var count);
        try
        {
            var wrote = false;
            var index = 0;
            while (index < count)
            {
                var field = layout.Fields[occurrences[index].FieldIndex];
                var (start, length) = Effective(layout, occurrences, count, field);
                index += GroupLength(occurrences, count, index);
                var values = occurrences.AsSpan(start, length);
                if (!ShouldWrite(field, wire, values))
                {
                    continue;
                }

                if (!first || wrote)
                {
                    json.Separator();
                }

                json.Raw(field.JsonMemberName);
                WriteValue(json, field, wire, values, depth + 1);
                wrote = true;
            }

            return wrote;
        }
        finally
        {
            ArrayPool<Occurrence>.Shared.Return(occurrences);
        }
    }

    /// <summary>JsonFormatter leaves out empty repeated fields, absent ones, and default values of fields without presence.</summary>
    private static bool ShouldWrite(FieldLayout field, ReadOnlySpan<byte> wire, ReadOnlySpan<Occurrence> values)
    {
        if (values.IsEmpty)
        {
            return false;
        }

        if (field.IsRepeated && !field.IsMap)
        {
            foreach (var value in values)
            {
                if (value.Kind != WireKind.LengthDelimited || !field.IsPackable || value.Length > 0)
                {
                    return true;
                }
            }

            return false;
        }

        return field.IsMap || field.HasPresence || field.Type is FieldType.Message or FieldType.Group || !IsDefault(field, values[^1]);
    }

    private void WriteValue(JsonText json, FieldLayout field, ReadOnlySpan<byte> wire, ReadOnlySpan<Occurrence> values, int depth)
    {
        if (field.IsMap)
        {
            WriteMap(json, field, wire, values, depth);
        }
        else if (field.IsRepeated)
        {
            WriteRepeated(json, field, wire, values, depth);
        }
        else if (field.Type is FieldType.Message or FieldType.Group)
        {
            WriteMessage(json, field.Message!, MergedMessage(wire, values), depth);
        }
        else
        {
            var last = values[^1];
            WriteScalar(json, field, last.Value, wire.Slice(last.Start, last.Length));
        }
    }

    private void WriteRepeated(JsonText json, FieldLayout field, ReadOnlySpan<byte> wire, ReadOnlySpan<Occurrence> occurrences, int depth)
    {
        var items = 0;
        json.OpenArray();
        var elementKind = ExpectedKind(field.Type);
        foreach (var occurrence in occurrences)
        {
            if (field.IsPackable && occurrence.Kind == WireKind.LengthDelimited)
            {
                var packed = new WireReader(wire.Slice(occurrence.Start, occurrence.Length));
                while (!packed.End)
                {
                    var value = elementKind switch
                    {
                        WireKind.Fixed32 => packed.ReadFixed32(),
                        WireKind.Fixed64 => packed.ReadFixed64(),
                        _ => packed.ReadVarint(),
                    };
                    if (items++ > 0)
                    {
                        json.Separator();
                    }

                    WriteScalar(json, field, value, default);
                }

                continue;
            }

            if (items++ > 0)
            {
                json.Separator();
            }

            var bytes = wire.Slice(occurrence.Start, occurrence.Length);
            if (field.Type is FieldType.Message or FieldType.Group)
            {
                WriteMessage(json, field.Message!, bytes, depth);
            }
            else
            {
                WriteScalar(json, field, occurrence.Value, bytes);
            }
        }

        json.CloseArray(items > 0);
    }

    private void WriteMap(JsonText json, FieldLayout field, ReadOnlySpan<byte> wire, ReadOnlySpan<Occurrence> occurrences, int depth)
    {
        var entry = field.Message!;
        var keyField = entry.FieldByNumber(1)!;
        var valueField = entry.FieldByNumber(2)!;

        // MapField keeps a key where it was first added and takes the last value for it.
        var keys = new List<string>(occurrences.Length);
        var values = new List<(int Start, int Length, ulong Scalar, bool Present)>(occurrences.Length);
        var positions = new Dictionary<string, int>(occurrences.Length, StringComparer.Ordinal);
        foreach (var occurrence in occurrences)
        {
            var reader = new WireReader(wire.Slice(occurrence.Start, occurrence.Length));
            ulong keyScalar = 0;
            int keyStart = 0, keyLength = 0;
            (int Start, int Length, ulong Scalar, bool Present) value = default;
            while (!reader.End)
            {
                var tag = reader.ReadTag();
                var kind = (WireKind)(tag & 7);
                var number = (int)(tag >> 3);
                var target = number == 1 ? keyField : number == 2 ? valueField : null;
                if (target is null || kind != ExpectedKind(target.Type))
                {
                    reader.Skip(kind);
                    continue;
                }

                var (scalar, start, length) = ReadValue(ref reader, kind);
                if (number == 1)
                {
                    (keyScalar, keyStart, keyLength) = (scalar, start + occurrence.Start, length);
                }
                else
                {
                    value = (start + occurrence.Start, length, scalar, true);
                }
            }

            var key = MapKey(keyField, keyScalar, wire.Slice(keyStart, keyLength));
            if (positions.TryGetValue(key, out var position))
            {
                values[position] = value;
            }
            else
            {
                positions[key] = keys.Count;
                keys.Add(key);
                values.Add(value);
            }
        }

        json.OpenObject();
        for (var i = 0; i < keys.Count; i++)
        {
            if (i > 0)
            {
                json.Separator();
            }

            json.String(keys[i]);
            json.NameSeparator();
            var (start, length, scalar, present) = values[i];
            var bytes = present ? wire.Slice(start, length) : default;
            if (valueField.Type is FieldType.Message or FieldType.Group)
            {
                WriteMessage(json, valueField.Message!, bytes, depth);
            }
            else
            {
                WriteScalar(json, valueField, scalar, bytes);
            }
        }

        json.CloseObject(keys.Count > 0);
    }

    private void WriteAny(JsonText json, ReadOnlySpan<byte> wire, int depth)
    {
        string typeUrl = string.Empty;
        ReadOnlySpan<byte> payload = default;
        var reader = new WireReader(wire);
        while (!reader.End)
        {
            var tag = reader.ReadTag();
            var kind = (WireKind)(tag & 7);
            if (kind == WireKind.LengthDelimited && tag >> 3 is 1 or 2)
            {
                var start = reader.ReadLengthDelimited(out var length);
                if (tag >> 3 == 1)
                {
                    typeUrl = Encoding.UTF8.GetString(wire.Slice(start, length));
                }
                else
                {
                    payload = wire.Slice(start, length);
                }
            }
            else
            {
                reader.Skip(kind);
            }
        }

        var layout = pool.FindByTypeUrl(typeUrl)
            ?? throw new InvalidDataException($"google.protobuf.Any holds type '{typeUrl}', which is not in the descriptor set");
        json.OpenObject();
        json.Raw("\"@type\": "u8);
        json.String(typeUrl);
        if (layout.InWellKnownFile)
        {
            json.Raw(", \"value\": "u8);
            WriteMessage(json, layout, payload, depth + 1);
        }
        else
        {
            WriteFields(json, layout, payload, first: false, depth + 1);
        }

        json.CloseObject(true);
    }

    private static void WriteScalar(JsonText json, FieldLayout field, ulong value, ReadOnlySpan<byte> bytes)
    {
        switch (field.Type)
        {
            case FieldType.Double:
                json.Number(BitConverter.UInt64BitsToDouble(value));
                break;
            case FieldType.Float:
                json.Number(BitConverter.UInt32BitsToSingle((uint)value));
                break;
            case FieldType.Int64:
            case FieldType.SFixed64:
                json.QuotedNumber((long)value);
                break;
            case FieldType.SInt64:
                json.QuotedNumber((long)(value >> 1) ^ -(long)(value & 1));
                break;
            case FieldType.UInt64:
            case FieldType.Fixed64:
                json.QuotedNumber(value);
                break;
            case FieldType.Int32:
            case FieldType.SFixed32:
                json.Number((int)value);
                break;
            case FieldType.SInt32:
                json.Number((int)((uint)value >> 1) ^ -(int)((uint)value & 1));
                break;
            case FieldType.UInt32:
            case FieldType.Fixed32:
                json.Number((uint)value);
                break;
            case FieldType.Bool:
                json.Bool(value != 0);
                break;
            case FieldType.String:
                json.String(bytes);
                break;
            case FieldType.Bytes:
                json.Base64(bytes);
                break;
            case FieldType.Enum:
                var number = (int)value;
                if (field.Enum!.IsNullValue)
                {
                    json.Null();
                }
                else if (field.Enum.NameOf(number) is { } name)
                {
                    json.String(name);
                }
                else
                {
                    json.Number(number);
                }

                break;
            default:
                throw new InvalidDataException($"field {field.Descriptor.FullName} has unsupported type {field.Type}");
        }
    }

    private void WriteDefault(JsonText json, FieldLayout field)
    {
        if (field.IsMap)
        {
            json.Raw("{ }"u8);
        }
        else if (field.IsRepeated)
        {
            json.Raw("[ ]"u8);
        }
        else if (field.Type is FieldType.Message or FieldType.Group)
        {
            WriteMessage(json, field.Message!, default, 1);
        }
        else
        {
            WriteScalar(json, field, 0, default);
        }
    }

    private static string MapKey(FieldLayout key, ulong value, ReadOnlySpan<byte> bytes) => key.Type switch
    {
        FieldType.String => Encoding.UTF8.GetString(bytes),
        FieldType.Bool => value != 0 ? "true" : "false",
        FieldType.Int64 or FieldType.SFixed64 => ((long)value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        FieldType.SInt64 => ((long)(value >> 1) ^ -(long)(value & 1)).ToString(System.Globalization.CultureInfo.InvariantCulture),
        FieldType.UInt64 or FieldType.Fixed64 => value.ToString(System.Globalization.CultureInfo.InvariantCulture),
        FieldType.Int32 or FieldType.SFixed32 => ((int)value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        FieldType.SInt32 => ((int)((uint)value >> 1) ^ -(int)((uint)value & 1)).ToString(System.Globalization.CultureInfo.InvariantCulture),
        FieldType.UInt32 or FieldType.Fixed32 => ((uint)value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => throw new InvalidDataException($"map key type {key.Type} is not allowed"),
    };

    private static bool IsDefault(FieldLayout field, Occurrence occurrence) => field.Type switch
    {
        FieldType.String or FieldType.Bytes => occurrence.Length == 0,
        FieldType.Double => BitConverter.UInt64BitsToDouble(occurrence.Value) == 0.0,
        FieldType.Float => BitConverter.UInt32BitsToSingle((uint)occurrence.Value) == 0f,
        FieldType.Int32 or FieldType.SFixed32 or FieldType.SInt32 or FieldType.Enum or FieldType.UInt32 or FieldType.Fixed32 => (uint)occurrence.Value == 0,
        _ => occurrence.Value == 0,
    };

    /// <summary>
    /// The occurrences that make up a field's value: all of them, or for a oneof member only those after the last
    /// occurrence of any other member (setting a member clears the others); none if another member came last.
    /// </summary>
    private static (int Start, int Length) Effective(MessageLayout layout, Occurrence[] occurrences, int count, FieldLayout field)
    {
        var start = 0;
        while (start < count && occurrences[start].FieldIndex != field.Index)
        {
            start++;
        }

        if (start == count)
        {
            return (0, 0);
        }

        var length = GroupLength(occurrences, count, start);
        if (field.Oneof is null)
        {
            return (start, length);
        }

        var lastOther = -1;
        foreach (var member in field.Oneof.Fields)
        {
            if (member.FieldNumber == field.Number)
            {
                continue;
            }

            var other = layout.FieldByNumber(member.FieldNumber)!.Index;
            for (var i = 0; i < count; i++)
            {
                if (occurrences[i].FieldIndex == other)
                {
                    lastOther = Math.Max(lastOther, occurrences[i].Sequence);
                }
            }
        }

        var end = start + length;
        while (start < end && occurrences[start].Sequence < lastOther)
        {
            start++;
        }

        return (start, end - start);
    }

    private static int GroupLength(Occurrence[] occurrences, int count, int start)
    {
        var end = start + 1;
        while (end < count && occurrences[end].FieldIndex == occurrences[start].FieldIndex)
        {
            end++;
        }

        return end - start;
    }

    /// <summary>A message field seen more than once is the merge of all of them, which on the wire is their concatenation.</summary>
    private static ReadOnlySpan<byte> MergedMessage(ReadOnlySpan<byte> wire, ReadOnlySpan<Occurrence> occurrences)
    {
        if (occurrences.Length == 1)
        {
            return wire.Slice(occurrences[0].Start, occurrences[0].Length);
        }

        var total = 0;
        foreach (var occurrence in occurrences)
        {
            total += occurrence.Length;
        }

        var merged = new byte[total];
        var offset = 0;
        foreach (var occurrence in occurrences)
        {
            wire.Slice(occurrence.Start, occurrence.Length).CopyTo(merged.AsSpan(offset));
            offset += occurrence.Length;
        }

        return merged;
    }

    /// <summary>Every known field occurrence in wire order, then grouped by field (stable), from a pooled array.</summary>
    private static Occurrence[] Scan(MessageLayout layout, ReadOnlySpan<byte> wire, out int count)
    {
        var found = ArrayPool<Occurrence>.Shared.Rent(16);
        count = 0;
        var reader = new WireReader(wire);
        var sequence = 0;
        while (!reader.End)
        {
            var tag = reader.ReadTag();
            var kind = (WireKind)(tag & 7);
            var field = layout.FieldByNumber((int)(tag >> 3));
            if (field is null || !Accepts(field, kind))
            {
                reader.Skip(kind);
                continue;
            }

            var (value, start, length) = ReadValue(ref reader, kind);
            if (count == found.Length)
            {
                var larger = ArrayPool<Occurrence>.Shared.Rent(count * 2);
                found.AsSpan(0, count).CopyTo(larger);
                ArrayPool<Occurrence>.Shared.Return(found);
                found = larger;
            }

            found[count++] = new Occurrence(field.Index, sequence++, kind, value, start, length);
        }

        if (!IsGrouped(found, count))
        {
            var keys = new long[count];
            for (var i = 0; i < count; i++)
            {
                keys[i] = ((long)found[i].FieldIndex << 32) | (uint)found[i].Sequence;
            }

            Array.Sort(keys, found, 0, count);
        }

        return found;
    }

    private static bool IsGrouped(Occurrence[] found, int count)
    {
        for (var i = 1; i < count; i++)
        {
            if (found[i].FieldIndex < found[i - 1].FieldIndex)
            {
                return false;
            }
        }

        return true;
    }

    private static (ulong Value, int Start, int Length) ReadValue(ref WireReader reader, WireKind kind)
    {
        switch (kind)
        {
            case WireKind.Varint:
                return (reader.ReadVarint(), 0, 0);
            case WireKind.Fixed64:
                return (reader.ReadFixed64(), 0, 0);
            case WireKind.Fixed32:
                return (reader.ReadFixed32(), 0, 0);
            case WireKind.LengthDelimited:
                var start = reader.ReadLengthDelimited(out var length);
                return (0, start, length);
            default:
                throw new InvalidDataException($"unsupported protobuf wire type {(int)kind}");
        }
    }

    /// <summary>Whether the wire type fits the field (packed numbers also arrive length-delimited); anything else is an unknown field.</summary>
    private static bool Accepts(FieldLayout field, WireKind kind) =>
        kind == ExpectedKind(field.Type) || (field.IsRepeated && field.IsPackable && kind == WireKind.LengthDelimited);

    private static WireKind ExpectedKind(FieldType type) => type switch
    {
        FieldType.Double or FieldType.Fixed64 or FieldType.SFixed64 => WireKind.Fixed64,
        FieldType.Float or FieldType.Fixed32 or FieldType.SFixed32 => WireKind.Fixed32,
        FieldType.String or FieldType.Bytes or FieldType.Message => WireKind.LengthDelimited,
        FieldType.Group => (WireKind)3,
        _ => WireKind.Varint,
    };

    private readonly record struct Occurrence(int FieldIndex, int Sequence, WireKind Kind, ulong Value, int Start, int Length);
}
