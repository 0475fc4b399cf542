using System.Globalization;
using System.Numerics;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// Encodes proto3 JSON into the protobuf wire format with <see cref="CodedOutputStream"/>, accepting what
/// Google.Protobuf's <c>JsonParser</c> accepts: json_name or proto field names, integers as JSON numbers or strings,
/// 64-bit integers as strings, floating point specials as strings, bytes as standard or URL-safe base64, enums by
/// name or number, maps as objects, <c>null</c> as "not set". Unknown fields are an error (400), as JsonParser's
/// default and Envoy's transcoder treat them. Well-known types go to <c>JsonParser</c> itself.
/// </summary>
internal sealed class ProtoJsonParser(TypePool pool)
{
    private const int MaxDepth = 100;
    private const int StagingBufferSize = 256;

    public byte[] EncodeMessage(MessageLayout layout, JsonElement element) => EncodeMessage(layout, element, 0);

    /// <summary>A body bound to one top-level field (<c>body: "field"</c>): that field's wire form alone.</summary>
    public byte[] EncodeField(FieldLayout field, JsonElement element) => Encode(output => WriteField(output, field, element, 1));

    /// <summary>
    /// Text values (path variables, query parameters) for a field path <c>a.b.c</c>, as a message fragment that the
    /// wire format merges into the rest of the request: singular fields take the last value, repeated ones all.
    /// </summary>
    public static byte[] EncodeBoundValues(IReadOnlyList<FieldLayout> path, IReadOnlyList<string> values)
    {
        var leaf = path[^1];
        var bytes = Encode(output =>
        {
            foreach (var value in values)
            {
                WriteTextValue(output, leaf, value, ScalarMode.Tagged);
            }
        });
        for (var i = path.Count - 2; i >= 0; i--)
        {
            var inner = bytes;
            var number = path[i].Number;
            bytes = Encode(output =>
            {
                output.WriteTag(number, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(UnsafeByteOperations.UnsafeWrap(inner));
            });
        }

        return bytes;
    }

    private byte[] EncodeMessage(MessageLayout layout, JsonElement element, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new TranscodingException($"JSON nesting deeper than {MaxDepth}");
        }

        switch (layout.WellKnown)
        {
            case WellKnownKind.None:
                break;
            case WellKnownKind.Any:
                return EncodeAny(element, depth);
            default:
                return WellKnownTypes.Parse(layout.FullName, element.GetRawText());
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new TranscodingException($"{layout.FullName}: expected a JSON object, got {element.ValueKind}");
        }

        return Encode(output => WriteFields(output, layout, element, depth, skipTypeMember: false));
    }

    private void WriteFields(CodedOutputStream output, MessageLayout layout, JsonElement element, int depth, bool skipTypeMember)
    {
        List<OneofDescriptor>? setOneofs = null;
        foreach (var member in element.EnumerateObject())
        {
            if (skipTypeMember && member.NameEquals("@type"))
            {
                continue;
            }

            var field = layout.FieldByName(member.Name)
                ?? throw new TranscodingException($"{layout.FullName}: unknown field \"{member.Name}\"");
            var isValue = field.Message?.WellKnown == WellKnownKind.Value && !field.IsRepeated;
            if (member.Value.ValueKind == JsonValueKind.Null && !isValue)
            {
                continue;
            }

            if (field.Oneof is { } oneof)
            {
                setOneofs ??= [];
                if (setOneofs.Contains(oneof))
                {
                    throw new TranscodingException($"{layout.FullName}: more than one field of oneof \"{oneof.Name}\" is set");
                }

                setOneofs.Add(oneof);
            }

            WriteField(output, field, member.Value, depth);
        }
    }

    private void WriteField(CodedOutputStream output, FieldLayout field, JsonElement value, int depth)
    {
        if (field.IsMap)
        {
            if (value.ValueKind != JsonValueKind.Object)
            {
                throw new TranscodingException($"{field.Descriptor.FullName}: a map is a JSON object, got {value.ValueKind}");
            }

            var entry = field.Message!;
            var keyField = entry.FieldByNumber(1)!;
            var valueField = entry.FieldByNumber(2)!;
            foreach (var member in value.EnumerateObject())
            {
                if (member.Value.ValueKind == JsonValueKind.Null && valueField.Message?.WellKnown != WellKnownKind.Value)
                {
                    throw new TranscodingException($"{field.Descriptor.FullName}: map value for key \"{member.Name}\" is null");
                }

                var bytes = Encode(entryOutput =>
                {
                    WriteTextValue(entryOutput, keyField, member.Name, ScalarMode.OmitDefault);
                    WriteSingle(entryOutput, valueField, member.Value, depth + 1, ScalarMode.OmitDefault);
                });
                output.WriteTag(field.Number, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(UnsafeByteOperations.UnsafeWrap(bytes));
            }

            return;
        }

        if (field.IsRepeated)
        {
            if (value.ValueKind != JsonValueKind.Array)
            {
                throw new TranscodingException($"{field.Descriptor.FullName}: a repeated field is a JSON array, got {value.ValueKind}");
            }

            if (field.IsPacked)
            {
                var packed = Encode(packedOutput =>
                {
                    foreach (var item in value.EnumerateArray())
                    {
                        WriteSingle(packedOutput, field, item, depth, ScalarMode.ValueOnly);
                    }
                });
                if (packed.Length > 0)
                {
                    output.WriteTag(field.Number, WireFormat.WireType.LengthDelimited);
                    output.WriteBytes(UnsafeByteOperations.UnsafeWrap(packed));
                }

                return;
            }

            foreach (var item in value.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.Null && field.Message?.WellKnown != WellKnownKind.Value)
                {
                    throw new TranscodingException($"{field.Descriptor.FullName}: repeated field holds null");
                }

                WriteSingle(output, field, item, depth, ScalarMode.Tagged);
            }

            return;
        }

        WriteSingle(output, field, value, depth, field.HasPresence ? ScalarMode.Tagged : ScalarMode.OmitDefault);
    }

    private void WriteSingle(CodedOutputStream output, FieldLayout field, JsonElement value, int depth, ScalarMode mode)
    {
        if (field.Type is FieldType.Message or FieldType.Group)
        {
            var bytes = EncodeMessage(field.Message!, value, depth + 1);
            output.WriteTag(field.Number, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(UnsafeByteOperations.UnsafeWrap(bytes));
            return;
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.Number:
                if (field.Type is FieldType.String or FieldType.Bytes or FieldType.Bool)
                {
                    throw Invalid(field, value.GetRawText());
                }

                WriteScalar(output, field, value.GetRawText(), mode);
                break;
            case JsonValueKind.String:
                WriteScalar(output, field, value.GetString()!, mode);
                break;
            case JsonValueKind.True:
            case JsonValueKind.False:
                if (field.Type != FieldType.Bool)
                {
                    throw Invalid(field, value.GetRawText());
                }

                WriteScalar(output, field, value.ValueKind == JsonValueKind.True ? "true" : "false", mode);
                break;
            case JsonValueKind.Null when field.Enum?.IsNullValue == true:
                WriteScalar(output, field, "0", mode);
                break;
            case JsonValueKind.Null:
                throw new TranscodingException($"{field.Descriptor.FullName}: null is not a value here");
            default:
                throw Invalid(field, value.GetRawText());
        }
    }

    /// <summary>A path variable or query parameter: scalars from their text, well-known message types from their JSON string form.</summary>
    private static void WriteTextValue(CodedOutputStream output, FieldLayout field, string text, ScalarMode mode)
    {
        if (field.Type is not (FieldType.Message or FieldType.Group))
        {
            WriteScalar(output, field, text, mode);
            return;
        }

        var kind = field.Message!.WellKnown;
        if (kind is not (WellKnownKind.Wrapper or WellKnownKind.Timestamp or WellKnownKind.Duration or WellKnownKind.FieldMask))
        {
            throw new TranscodingException($"{field.Descriptor.FullName} is a message; it cannot take a path or query value");
        }

        var json = field.Message.FullName == "google.protobuf.BoolValue" && text is "true" or "false" ? text : JsonSerializer.Serialize(text);
        var bytes = WellKnownTypes.Parse(field.Message.FullName, json);
        output.WriteTag(field.Number, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(UnsafeByteOperations.UnsafeWrap(bytes));
    }

    /// <summary>
    /// One scalar from its text. Like generated code, a field without presence leaves its default value out, so
    /// that re-encoded messages (an <c>Any</c>'s payload) come out byte for byte as the generated serializer writes them.
    /// </summary>
    private static void WriteScalar(CodedOutputStream output, FieldLayout field, string text, ScalarMode mode)
    {
        switch (field.Type)
        {
            case FieldType.Double:
            {
                var v = ParseDouble(field, text);
                if (mode == ScalarMode.OmitDefault && BitConverter.DoubleToInt64Bits(v) == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Fixed64, mode);
                output.WriteDouble(v);
                return;
            }

            case FieldType.Float:
            {
                var v = ParseFloat(field, text);
                if (mode == ScalarMode.OmitDefault && BitConverter.SingleToInt32Bits(v) == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Fixed32, mode);
                output.WriteFloat(v);
                return;
            }

            case FieldType.Int64:
            {
                var v = ParseInteger<long>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Varint, mode);
                output.WriteInt64(v);
                return;
            }

            case FieldType.SInt64:
            {
                var v = ParseInteger<long>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Varint, mode);
                output.WriteSInt64(v);
                return;
            }

            case FieldType.SFixed64:
            {
                var v = ParseInteger<long>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Fixed64, mode);
                output.WriteSFixed64(v);
                return;
            }

            case FieldType.UInt64:
            {
                var v = ParseInteger<ulong>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Varint, mode);
                output.WriteUInt64(v);
                return;
            }

            case FieldType.Fixed64:
            {
                var v = ParseInteger<ulong>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Fixed64, mode);
                output.WriteFixed64(v);
                return;
            }

            case FieldType.Int32:
            {
                var v = ParseInteger<int>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Varint, mode);
                output.WriteInt32(v);
                return;
            }

            case FieldType.SInt32:
            {
                var v = ParseInteger<int>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Varint, mode);
                output.WriteSInt32(v);
                return;
            }

            case FieldType.SFixed32:
            {
                var v = ParseInteger<int>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Fixed32, mode);
                output.WriteSFixed32(v);
                return;
            }

            case FieldType.UInt32:
            {
                var v = ParseInteger<uint>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Varint, mode);
                output.WriteUInt32(v);
                return;
            }

            case FieldType.Fixed32:
            {
                var v = ParseInteger<uint>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Fixed32, mode);
                output.WriteFixed32(v);
                return;
            }

            case FieldType.Bool:
            {
                var v = text switch { "true" => true, "false" => false, _ => throw Invalid(field, text) };
                if (mode == ScalarMode.OmitDefault && !v)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Varint, mode);
                output.WriteBool(v);
                return;
            }

            case FieldType.String:
            {
                var v = text;
                if (mode == ScalarMode.OmitDefault && v.Length == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.LengthDelimited, mode);
                output.WriteString(v);
                return;
            }

            case FieldType.Bytes:
            {
                var v = ParseBase64(field, text);
                if (mode == ScalarMode.OmitDefault && v.Length == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.LengthDelimited, mode);
                output.WriteBytes(UnsafeByteOperations.UnsafeWrap(v));
                return;
            }

            case FieldType.Enum:
            {
                var v = field.Enum!.TryGetNumber(text, out var number) ? number : ParseInteger<int>(field, text);
                if (mode == ScalarMode.OmitDefault && v == 0)
                {
                    return;
                }

                Tag(output, field, WireFormat.WireType.Varint, mode);
                output.WriteEnum(v);
                return;
            }

            default:
                throw new TranscodingException($"{field.Descriptor.FullName}: unsupported field type {field.Type}");
        }
    }

    private static void Tag(CodedOutputStream output, FieldLayout field, WireFormat.WireType wireType, ScalarMode mode)
    {
        if (mode != ScalarMode.ValueOnly)
        {
            output.WriteTag(field.Number, wireType);
        }
    }

    private static float ParseFloat(FieldLayout field, string text)
    {
        // Out of range only if it rounds to infinity: float.MaxValue's shortest text reads back a little above it.
        var value = ParseDouble(field, text);
        var single = (float)value;
        return float.IsInfinity(single) && double.IsFinite(value) ? throw Invalid(field, text) : single;
    }

    private byte[] EncodeAny(JsonElement element, int depth)
    {
        if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty("@type", out var typeUrlElement)
            || typeUrlElement.ValueKind != JsonValueKind.String)
        {
            throw new TranscodingException("google.protobuf.Any: expected a JSON object with an \"@type\" string");
        }

        var typeUrl = typeUrlElement.GetString()!;
        var layout = pool.FindByTypeUrl(typeUrl)
            ?? throw new TranscodingException($"google.protobuf.Any: type '{typeUrl}' is not in the descriptor set");
        byte[] payload;
        if (layout.InWellKnownFile)
        {
            payload = element.TryGetProperty("value", out var value)
                ? EncodeMessage(layout, value, depth + 1)
                : [];
        }
        else
        {
            payload = Encode(output => WriteFields(output, layout, element, depth + 1, skipTypeMember: true));
        }

        return Encode(output =>
        {
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteString(typeUrl);
            if (payload.Length > 0)
            {
                output.WriteTag(2, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(UnsafeByteOperations.UnsafeWrap(payload));
            }
        });
    }

    private static byte[] Encode(Action<CodedOutputStream> write)
    {
        // Most messages and map entries are small: a small staging buffer instead of the default 4 KiB per nesting level.
        using var buffer = new MemoryStream();
        using (var output = new CodedOutputStream(buffer, StagingBufferSize, leaveOpen: true))
        {
            write(output);
        }

        return buffer.ToArray();
    }

    private static double ParseDouble(FieldLayout field, string text) => text switch
    {
        "NaN" => double.NaN,
        "Infinity" => double.PositiveInfinity,
        "-Infinity" => double.NegativeInfinity,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw Invalid(field, text),
    };

    /// <summary>Integers as JsonParser takes them: plain digits, or a number in exponent or decimal form that is whole and in range.</summary>
    private static T ParseInteger<T>(FieldLayout field, string text)
        where T : struct, IBinaryInteger<T>
    {
        if (T.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        if (decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
            && decimal.Truncate(number) == number)
        {
            try
            {
                return T.CreateChecked(number);
            }
            catch (OverflowException)
            {
                throw Invalid(field, text);
            }
        }

        throw Invalid(field, text);
    }

    private static byte[] ParseBase64(FieldLayout field, string text)
    {
        var normalized = text.Replace('-', '+').Replace('_', '/');
        var padding = (4 - normalized.Length % 4) % 4;
        if (padding is 1 or 2 or 3)
        {
            normalized += new string('=', padding);
        }

        try
        {
            return Convert.FromBase64String(normalized);
        }
        catch (FormatException)
        {
            throw Invalid(field, text);
        }
    }

    /// <summary>How a scalar is written: with its tag, with its tag unless it is the default, or bare (inside a packed run).</summary>
    private enum ScalarMode
    {
        Tagged,
        OmitDefault,
        ValueOnly,
    }

    private static TranscodingException Invalid(FieldLayout field, string text)
    {
        var shown = text.Length > 64 ? text[..64] + "…" : text;
        return new TranscodingException($"{field.Descriptor.FullName}: invalid value {shown} for a {TypeName(field)} field");
    }

    private static string TypeName(FieldLayout field) => field.Type switch
    {
        FieldType.Enum => $"enum {field.Enum!.FullName}",
        _ => field.Type.ToString().ToLowerInvariant(),
    };
}
