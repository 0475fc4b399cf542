using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>The well-known types whose JSON form is not a plain object of their fields.</summary>
internal enum WellKnownKind
{
    None,
    Wrapper,
    Timestamp,
    Duration,
    FieldMask,
    Struct,
    Value,
    ListValue,
    Any,
}

/// <summary>
/// Hands the well-known types with a special JSON form to Google.Protobuf's own <c>JsonFormatter</c> and
/// <c>JsonParser</c> through their generated classes, so their JSON is exactly the library's. <c>Any</c> is the
/// exception: its payload type comes from the loaded descriptor set, so the transcoder writes it itself.
/// </summary>
internal static class WellKnownTypes
{
    private static readonly Dictionary<string, MessageDescriptor> Generated = new(StringComparer.Ordinal)
    {
        [Timestamp.Descriptor.FullName] = Timestamp.Descriptor,
        [Duration.Descriptor.FullName] = Duration.Descriptor,
        [FieldMask.Descriptor.FullName] = FieldMask.Descriptor,
        [Struct.Descriptor.FullName] = Struct.Descriptor,
        [Value.Descriptor.FullName] = Value.Descriptor,
        [ListValue.Descriptor.FullName] = ListValue.Descriptor,
        [DoubleValue.Descriptor.FullName] = DoubleValue.Descriptor,
        [FloatValue.Descriptor.FullName] = FloatValue.Descriptor,
        [Int64Value.Descriptor.FullName] = Int64Value.Descriptor,
        [UInt64Value.Descriptor.FullName] = UInt64Value.Descriptor,
        [Int32Value.Descriptor.FullName] = Int32Value.Descriptor,
        [UInt32Value.Descriptor.FullName] = UInt32Value.Descriptor,
        [BoolValue.Descriptor.FullName] = BoolValue.Descriptor,
        [StringValue.Descriptor.FullName] = StringValue.Descriptor,
        [BytesValue.Descriptor.FullName] = BytesValue.Descriptor,
    };

    private static readonly HashSet<string> WellKnownFiles = new(StringComparer.Ordinal)
    {
        "google/protobuf/any.proto", "google/protobuf/api.proto", "google/protobuf/duration.proto",
        "google/protobuf/empty.proto", "google/protobuf/field_mask.proto", "google/protobuf/source_context.proto",
        "google/protobuf/struct.proto", "google/protobuf/timestamp.proto", "google/protobuf/type.proto",
        "google/protobuf/wrappers.proto",
    };

    public static bool IsWellKnownFile(FileDescriptor file) => file.Package == "google.protobuf" && WellKnownFiles.Contains(file.Name);

    public static WellKnownKind KindOf(string fullName) => fullName switch
    {
        "google.protobuf.Timestamp" => WellKnownKind.Timestamp,
        "google.protobuf.Duration" => WellKnownKind.Duration,
        "google.protobuf.FieldMask" => WellKnownKind.FieldMask,
        "google.protobuf.Struct" => WellKnownKind.Struct,
        "google.protobuf.Value" => WellKnownKind.Value,
        "google.protobuf.ListValue" => WellKnownKind.ListValue,
        "google.protobuf.Any" => WellKnownKind.Any,
        "google.protobuf.DoubleValue" or "google.protobuf.FloatValue" or "google.protobuf.Int64Value"
            or "google.protobuf.UInt64Value" or "google.protobuf.Int32Value" or "google.protobuf.UInt32Value"
            or "google.protobuf.BoolValue" or "google.protobuf.StringValue" or "google.protobuf.BytesValue" => WellKnownKind.Wrapper,
        _ => WellKnownKind.None,
    };

    /// <summary>The JSON of a well-known value (not Any), as JsonFormatter writes it.</summary>
    public static string Format(string fullName, ReadOnlySpan<byte> wire)
    {
        var message = Generated[fullName].Parser.ParseFrom(wire);
        return JsonFormatter.Default.Format(message);
    }

    /// <summary>The wire form of a well-known value (not Any) from its JSON, as JsonParser reads it.</summary>
    public static byte[] Parse(string fullName, string json)
    {
        try
        {
            return JsonParser.Default.Parse(json, Generated[fullName]).ToByteArray();
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new TranscodingException($"invalid {fullName}: {e.Message}");
        }
        catch (InvalidJsonException e)
        {
            throw new TranscodingException($"invalid {fullName}: {e.Message}");
        }
        catch (FormatException e)
        {
            throw new TranscodingException($"invalid {fullName}: {e.Message}");
        }
    }
}

/// <summary>A request that cannot be transcoded: the client gets 400 with this message.</summary>
internal sealed class TranscodingException(string message) : Exception(message);
