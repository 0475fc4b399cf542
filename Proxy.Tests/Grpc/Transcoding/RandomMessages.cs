using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>Seeded random <see cref="Everything"/> messages reaching every field kind and the awkward values of each.</summary>
public sealed class RandomMessages(int seed)
{
    private static readonly string[] Pieces =
    [
        "a", "Z", "0", " ", "\"", "\\", "/", "<", ">", "&", "'", "=", "\n", "\t", "\r", "\b", "\f", "\u0000", "\u001f", "\u007f",
        "\u0080", "\u009f", "\u00a0", "\u00ad", "é", "ß", "日本", "\u0600", "\u06dd", "\u070f", "\u17b4", "\u200b", "\u2028",
        "\u2029", "\u202e", "\u2060", "\u206f", "\ufeff", "\ufff9", "\ufffb", "\U0001F600", "\U00010348", "plain text",
    ];

    private static readonly double[] SpecialDoubles =
    [
        0.1, -1.5, 1e300, -1e-300, double.Epsilon, double.MaxValue, double.MinValue, 123456789.123456789, 1.0 / 3,
        double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, 5e-324, 1e21, 1e-7, 100,
    ];

    private static readonly float[] SpecialFloats = [0.1f, -1.5f, float.MaxValue, float.MinValue, float.Epsilon, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-7f, 3.4e38f, 16777217f];

    private readonly Random _random = new(seed);

    public Everything Next()
    {
        var m = new Everything();
        if (Chance()) m.FDouble = NonNegativeZero(Double());
        if (Chance()) m.FFloat = NonNegativeZero(Float());
        if (Chance()) m.FInt32 = Int32();
        if (Chance()) m.FInt64 = Int64();
        if (Chance()) m.FUint32 = (uint)Int32();
        if (Chance()) m.FUint64 = (ulong)Int64();
        if (Chance()) m.FSint32 = Int32();
        if (Chance()) m.FSint64 = Int64();
        if (Chance()) m.FFixed32 = (uint)Int32();
        if (Chance()) m.FFixed64 = (ulong)Int64();
        if (Chance()) m.FSfixed32 = Int32();
        if (Chance()) m.FSfixed64 = Int64();
        if (Chance()) m.FBool = _random.Next(2) == 1;
        if (Chance()) m.FString = Text();
        if (Chance()) m.FBytes = Bytes();
        if (Chance()) m.FEnum = Enum();
        if (Chance()) m.FMessage = Inner(2);

        for (var i = Count(); i > 0; i--) m.RDouble.Add(Double());
        for (var i = Count(); i > 0; i--) m.RFloat.Add(Float());
        for (var i = Count(); i > 0; i--) m.RInt32.Add(Int32());
        for (var i = Count(); i > 0; i--) m.RInt64.Add(Int64());
        for (var i = Count(); i > 0; i--) m.RUint32.Add((uint)Int32());
        for (var i = Count(); i > 0; i--) m.RUint64.Add((ulong)Int64());
        for (var i = Count(); i > 0; i--) m.RSint32.Add(Int32());
        for (var i = Count(); i > 0; i--) m.RSint64.Add(Int64());
        for (var i = Count(); i > 0; i--) m.RFixed32.Add((uint)Int32());
        for (var i = Count(); i > 0; i--) m.RFixed64.Add((ulong)Int64());
        for (var i = Count(); i > 0; i--) m.RSfixed32.Add(Int32());
        for (var i = Count(); i > 0; i--) m.RSfixed64.Add(Int64());
        for (var i = Count(); i > 0; i--) m.RBool.Add(_random.Next(2) == 1);
        for (var i = Count(); i > 0; i--) m.RString.Add(Text());
        for (var i = Count(); i > 0; i--) m.RBytes.Add(Bytes());
        for (var i = Count(); i > 0; i--) m.REnum.Add(Enum());
        for (var i = Count(); i > 0; i--) m.RMessage.Add(Inner(1));
        for (var i = Count(); i > 0; i--) m.RUnpacked.Add(Int32());

        for (var i = Count(); i > 0; i--) m.MStringInt32[Text()] = Int32();
        for (var i = Count(); i > 0; i--) m.MInt64String[Int64()] = Text();
        for (var i = Count(); i > 0; i--) m.MBoolMessage[_random.Next(2) == 1] = Inner(1);
        for (var i = Count(); i > 0; i--) m.MUint32Enum[(uint)Int32()] = Enum();
        for (var i = Count(); i > 0; i--) m.MSint64Bytes[Int64()] = Bytes();
        for (var i = Count(); i > 0; i--) m.MStringValue[Text()] = Value(2);
        for (var i = Count(); i > 0; i--) m.MFixed32Double[(uint)Int32()] = Double();
        for (var i = Count(); i > 0; i--) m.MStringWrapper[Text()] = Int32();

        switch (_random.Next(5))
        {
            case 1: m.CString = Text(); break;
            case 2: m.CMessage = Inner(1); break;
            case 3: m.CInt64 = Int64(); break;
            case 4: m.CTimestamp = Timestamp(); break;
        }

        if (Chance()) m.OInt32 = _random.Next(3) == 0 ? 0 : Int32();
        if (Chance()) m.OString = _random.Next(3) == 0 ? string.Empty : Text();
        if (Chance()) m.OEnum = Enum();

        if (Chance()) m.WTimestamp = Timestamp();
        if (Chance()) m.WDuration = Duration();
        if (Chance()) m.WDouble = NonNegativeZero(Double()); // Google.Protobuf itself writes a DoubleValue of -0 as empty.
        if (Chance()) m.WFloat = NonNegativeZero(Float());
        if (Chance()) m.WInt64 = Int64();
        if (Chance()) m.WUint64 = (ulong)Int64();
        if (Chance()) m.WInt32 = Int32();
        if (Chance()) m.WUint32 = (uint)Int32();
        if (Chance()) m.WBool = _random.Next(2) == 1;
        if (Chance()) m.WString = Text();
        if (Chance()) m.WBytes = Bytes();
        if (Chance()) m.WStruct = Struct(2);
        if (Chance()) m.WValue = Value(2);
        if (Chance()) m.WList = List(2);
        if (Chance()) m.WFieldMask = new FieldMask { Paths = { "f_string", "f_message.name", "w_timestamp" } };
        if (Chance()) m.WEmpty = new Empty();
        if (Chance()) m.WAny = AnyValue();
        for (var i = Count(); i > 0; i--) m.WTimestamps.Add(Timestamp());
        for (var i = Count(); i > 0; i--) m.WAnys.Add(AnyValue());

        if (Chance()) m.Renamed = Int32();
        if (Chance()) m.FieldWithDigits2X = Text();
        if (Chance()) m.Highest = Int32();
        return m;
    }

    public Inner Inner(int depth)
    {
        var inner = new Inner();
        if (Chance()) inner.Name = Text();
        if (Chance()) inner.Value = Int32();
        if (depth > 0)
        {
            for (var i = Count(); i > 0; i--) inner.Children.Add(Inner(depth - 1));
            for (var i = Count(); i > 0; i--) inner.ByName[Text()] = Inner(depth - 1);
        }

        return inner;
    }

    private Any AnyValue() => _random.Next(4) switch
    {
        0 => Any.Pack(Inner(1)),
        1 => Any.Pack(Timestamp()),
        2 => Any.Pack(new Empty()),
        _ => Any.Pack(Struct(1)),
    };

    private bool Chance() => _random.Next(2) == 0;

    private int Count() => _random.Next(4) == 0 ? 0 : _random.Next(1, 5);

    private int Int32() => _random.Next(6) switch
    {
        0 => int.MinValue,
        1 => int.MaxValue,
        2 => -_random.Next(1000),
        _ => _random.Next(),
    };

    private long Int64() => _random.Next(6) switch
    {
        0 => long.MinValue,
        1 => long.MaxValue,
        2 => -_random.NextInt64(1_000_000_000_000),
        _ => _random.NextInt64(),
    };

    private double Double() => _random.Next(3) == 0 ? (_random.NextDouble() - 0.5) * Math.Pow(10, _random.Next(-20, 20)) : SpecialDoubles[_random.Next(SpecialDoubles.Length)];

    private float Float() => _random.Next(3) == 0 ? (float)((_random.NextDouble() - 0.5) * Math.Pow(10, _random.Next(-10, 10))) : SpecialFloats[_random.Next(SpecialFloats.Length)];

    // proto3 JSON leaves a default value out, so -0.0 in a field without presence cannot come back as -0.0.
    private static double NonNegativeZero(double value) => value == 0 ? 0 : value;

    private static float NonNegativeZero(float value) => value == 0 ? 0 : value;

    private Color Enum() => _random.Next(6) switch
    {
        0 => Color.Unspecified,
        1 => Color.Red,
        2 => Color.Green,
        3 => Color.Blue,
        4 => (Color)42,
        _ => (Color)(-100),
    };

    public string Text()
    {
        var builder = new StringBuilder();
        for (var i = _random.Next(0, 6); i > 0; i--)
        {
            builder.Append(Pieces[_random.Next(Pieces.Length)]);
        }

        return builder.ToString();
    }

    private ByteString Bytes()
    {
        var bytes = new byte[_random.Next(0, 20)];
        _random.NextBytes(bytes);
        return ByteString.CopyFrom(bytes);
    }

    private Timestamp Timestamp() => new()
    {
        Seconds = _random.NextInt64(-62135596800, 253402300799),
        Nanos = _random.Next(4) switch { 0 => 0, 1 => 1_000_000 * _random.Next(1000), 2 => 1000 * _random.Next(1_000_000), _ => _random.Next(1_000_000_000) },
    };

    private Duration Duration()
    {
        var seconds = _random.NextInt64(-315576000000, 315576000000);
        var nanos = _random.Next(1_000_000_000);
        return new Duration { Seconds = seconds, Nanos = seconds < 0 ? -nanos : seconds > 0 ? nanos : 0 };
    }

    private Struct Struct(int depth)
    {
        var value = new Struct();
        for (var i = Count(); i > 0; i--)
        {
            value.Fields["k" + Text()] = Value(depth - 1);
        }

        return value;
    }

    private ListValue List(int depth)
    {
        var list = new ListValue();
        for (var i = Count(); i > 0; i--)
        {
            list.Values.Add(Value(depth - 1));
        }

        return list;
    }

    private Value Value(int depth) => _random.Next(depth > 0 ? 6 : 4) switch
    {
        0 => Google.Protobuf.WellKnownTypes.Value.ForNull(),
        1 => Google.Protobuf.WellKnownTypes.Value.ForBool(_random.Next(2) == 1),
        2 => Google.Protobuf.WellKnownTypes.Value.ForNumber(Math.Round((_random.NextDouble() - 0.5) * 1e6, 3)),
        3 => Google.Protobuf.WellKnownTypes.Value.ForString(Text()),
        4 => Google.Protobuf.WellKnownTypes.Value.ForStruct(Struct(depth - 1)),
        _ => Google.Protobuf.WellKnownTypes.Value.ForList(List(depth - 1).Values.ToArray()),
    };
}
