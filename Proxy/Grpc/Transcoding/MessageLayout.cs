using System.Text;
using Google.Protobuf.Reflection;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// What the transcoder needs to know about one message type, worked out once when a descriptor set is loaded: its
/// fields in field-number order (the order <c>JsonFormatter</c> writes them), lookups by field number (wire to JSON)
/// and by JSON or proto name (JSON to wire), and the nested layouts resolved to objects so a request never looks a
/// type up by name.
/// </summary>
internal sealed class MessageLayout
{
    private const int DenseLookupLimit = 4096;

    private readonly int[]? _denseIndex;
    private readonly Dictionary<int, int>? _sparseIndex;
    private readonly Dictionary<string, FieldLayout> _byName = new(StringComparer.Ordinal);

    public MessageLayout(MessageDescriptor descriptor)
    {
        Descriptor = descriptor;
        WellKnown = WellKnownTypes.KindOf(descriptor.FullName);
        InWellKnownFile = WellKnownTypes.IsWellKnownFile(descriptor.File);
        Fields = descriptor.Fields.InFieldNumberOrder().Select((field, index) => new FieldLayout(field, index)).ToArray();
        var max = Fields.Length == 0 ? 0 : Fields[^1].Number;
        if (max < DenseLookupLimit)
        {
            _denseIndex = new int[max + 1];
            Array.Fill(_denseIndex, -1);
            foreach (var field in Fields)
            {
                _denseIndex[field.Number] = field.Index;
            }
        }
        else
        {
            _sparseIndex = Fields.ToDictionary(field => field.Number, field => field.Index);
        }

        foreach (var field in Fields)
        {
            _byName[field.Descriptor.JsonName] = field;
            _byName.TryAdd(field.Descriptor.Name, field);
        }
    }

    public MessageDescriptor Descriptor { get; }

    public string FullName => Descriptor.FullName;

    public WellKnownKind WellKnown { get; }

    /// <summary>Declared in one of google/protobuf's well-known type files; inside an <c>Any</c> such a value goes under <c>"value"</c>.</summary>
    public bool InWellKnownFile { get; }

    public FieldLayout[] Fields { get; }

    /// <summary>The field with this number, or null for a field this descriptor does not know (skipped, as JsonFormatter does).</summary>
    public FieldLayout? FieldByNumber(int number)
    {
        int index;
        if (_denseIndex is not null)
        {
            index = (uint)number < (uint)_denseIndex.Length ? _denseIndex[number] : -1;
        }
        else if (!_sparseIndex!.TryGetValue(number, out index))
        {
            index = -1;
        }

        return index < 0 ? null : Fields[index];
    }

    /// <summary>The field a JSON member names: its json_name (lowerCamelCase by default) or its proto name, as JsonParser accepts.</summary>
    public FieldLayout? FieldByName(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Resolves every message-typed field to its layout; called once all layouts of a pool exist.</summary>
    internal void Link(Func<MessageDescriptor, MessageLayout> layoutOf)
    {
        foreach (var field in Fields)
        {
            field.Link(layoutOf);
        }
    }
}

/// <summary>One field of a <see cref="MessageLayout"/>.</summary>
internal sealed class FieldLayout
{
    public FieldLayout(FieldDescriptor descriptor, int index)
    {
        Descriptor = descriptor;
        Index = index;
        Number = descriptor.FieldNumber;
        Type = descriptor.FieldType;
        IsRepeated = descriptor.IsRepeated;
        IsMap = descriptor.IsMap;
        // Descriptors report proto3's packed default for any repeated field; only scalars can be packed.
        IsPacked = descriptor.IsRepeated && descriptor.IsPacked && Type is not (FieldType.String or FieldType.Bytes or FieldType.Message or FieldType.Group);
        HasPresence = descriptor.HasPresence;
        Oneof = descriptor.RealContainingOneof;
        JsonMemberName = Encoding.UTF8.GetBytes(QuotedName(descriptor.JsonName) + ": ");
        if (Type == FieldType.Enum)
        {
            Enum = new EnumLayout(descriptor.EnumType);
        }
    }

    public FieldDescriptor Descriptor { get; }

    /// <summary>Position in the message's field-number order.</summary>
    public int Index { get; }

    public int Number { get; }

    public FieldType Type { get; }

    public bool IsRepeated { get; }

    public bool IsMap { get; }

    public bool IsPacked { get; }

    public bool HasPresence { get; }

    public OneofDescriptor? Oneof { get; }

    /// <summary><c>"jsonName": </c> as JsonFormatter writes it, ready to copy.</summary>
    public byte[] JsonMemberName { get; }

    public EnumLayout? Enum { get; }

    /// <summary>The message type's layout (for a map field, the entry's).</summary>
    public MessageLayout? Message { get; private set; }

    /// <summary>True for scalar types that proto3 packs when repeated (numbers, bools, enums).</summary>
    public bool IsPackable => Type is not (FieldType.String or FieldType.Bytes or FieldType.Message or FieldType.Group);

    internal void Link(Func<MessageDescriptor, MessageLayout> layoutOf)
    {
        if (Type is FieldType.Message or FieldType.Group)
        {
            Message = layoutOf(Descriptor.MessageType);
        }
    }

    private static string QuotedName(string name)
    {
        var text = new JsonText(name.Length + 2);
        text.String(name);
        return Encoding.UTF8.GetString(text.Written.Span);
    }
}

/// <summary>An enum's value names by number (the first declared wins for aliases) and numbers by name.</summary>
internal sealed class EnumLayout
{
    private readonly Dictionary<int, string> _names = [];
    private readonly Dictionary<string, int> _numbers = new(StringComparer.Ordinal);

    public EnumLayout(EnumDescriptor descriptor)
    {
        FullName = descriptor.FullName;
        IsNullValue = FullName == "google.protobuf.NullValue";
        foreach (var value in descriptor.Values)
        {
            _names.TryAdd(value.Number, value.Name);
            _numbers.TryAdd(value.Name, value.Number);
        }
    }

    public string FullName { get; }

    /// <summary><c>google.protobuf.NullValue</c>, which JSON spells <c>null</c>.</summary>
    public bool IsNullValue { get; }

    public string? NameOf(int number) => _names.GetValueOrDefault(number);

    public bool TryGetNumber(string name, out int number) => _numbers.TryGetValue(name, out number);
}
