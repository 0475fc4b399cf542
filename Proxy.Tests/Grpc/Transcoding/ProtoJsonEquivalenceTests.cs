using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using ProxyMesh.Proxy.Grpc.Transcoding;

namespace ProxyMesh.Proxy.Tests.Grpc.Transcoding;

/// <summary>
/// The descriptor walk, over a descriptor set protoc wrote, against Google.Protobuf's own JSON on the generated
/// classes: byte for byte on the way out, and message equality after JSON → wire on the way in.
/// </summary>
public sealed class ProtoJsonEquivalenceTests
{
    private const int Samples = 400;

    private static readonly JsonFormatter Reference = new(JsonFormatter.Settings.Default.WithTypeRegistry(
        TypeRegistry.FromMessages(Inner.Descriptor, Timestamp.Descriptor, Empty.Descriptor, Struct.Descriptor)));

    private readonly TypePool _pool = LibraryDescriptors.Pool();
    private readonly MessageLayout _everything;
    private readonly ProtoJsonFormatter _formatter;
    private readonly ProtoJsonParser _parser;

    public ProtoJsonEquivalenceTests()
    {
        _everything = _pool.LayoutOf(_pool.FindByTypeUrl("proxymesh.transcoding.Everything")!.Descriptor);
        _formatter = new ProtoJsonFormatter(_pool);
        _parser = new ProtoJsonParser(_pool);
    }

    [Fact]
    public void Random_messages_format_exactly_as_JsonFormatter_does()
    {
        var random = new RandomMessages(seed: 1301);
        for (var i = 0; i < Samples; i++)
        {
            var message = random.Next();
            Assert.Equal(Reference.Format(message), Format(message.ToByteArray()));
        }
    }

    [Fact]
    public void Merged_wire_forms_format_as_the_message_they_parse_to()
    {
        // Two messages back to back on the wire merge: the last scalar and oneof member win, repeated fields and
        // messages combine, map keys keep their first position with the last value.
        var random = new RandomMessages(seed: 4242);
        for (var i = 0; i < Samples / 2; i++)
        {
            // An Any merged with an Any of another type has the first's payload under the second's type: leave it out.
            var first = random.Next();
            first.WAny = null;
            var wire = first.ToByteArray().Concat(random.Next().ToByteArray()).ToArray();
            Assert.Equal(Reference.Format(Everything.Parser.ParseFrom(wire)), Format(wire));
        }
    }

    [Fact]
    public void JsonFormatter_output_parses_back_to_the_same_message()
    {
        var random = new RandomMessages(seed: 77);
        for (var i = 0; i < Samples; i++)
        {
            var message = random.Next();
            using var json = JsonDocument.Parse(Reference.Format(message));
            var wire = _parser.EncodeMessage(_everything, json.RootElement);
            Assert.Equal(message, Everything.Parser.ParseFrom(wire));
        }
    }

    [Fact]
    public void Unknown_fields_on_the_wire_are_skipped_as_JsonFormatter_skips_them()
    {
        var known = new Everything { FString = "x", FInt32 = 5 };
        var unknown = new byte[] { 0xF8, 0x07, 0x01, 0xA2, 0x06, 0x02, 0x68, 0x69 }; // fields 127 (varint) and 100 (bytes)
        Assert.Equal("{ \"fInt32\": 5, \"fString\": \"x\" }", Format(unknown.Concat(known.ToByteArray()).ToArray()));
    }

    [Theory]
    [InlineData("{ \"fInt64\": 5 }", "{ \"fInt64\": \"5\" }")]
    [InlineData("{ \"f_int64\": \"-9223372036854775808\" }", "{ \"fInt64\": \"-9223372036854775808\" }")]
    [InlineData("{ \"fInt32\": \"12\", \"fUint32\": 1e3 }", "{ \"fInt32\": 12, \"fUint32\": 1000 }")]
    [InlineData("{ \"fEnum\": 2, \"rEnum\": [\"BLUE\", -3, 7] }", "{ \"fEnum\": \"GREEN\", \"rEnum\": [ \"BLUE\", \"BLUE\", 7 ] }")]
    [InlineData("{ \"fBytes\": \"-_8\" }", "{ \"fBytes\": \"+/8=\" }")]
    [InlineData("{ \"fDouble\": \"NaN\", \"fFloat\": \"-Infinity\" }", "{ \"fDouble\": \"NaN\", \"fFloat\": \"-Infinity\" }")]
    [InlineData("{ \"fString\": null, \"wValue\": null, \"wInt32\": null }", "{ \"wValue\": null }")]
    [InlineData("{ \"customName\": 3, \"renamed\": 4 }", "{ \"customName\": 4 }")]
    [InlineData("{ \"oInt32\": 0, \"oString\": \"\" }", "{ \"oInt32\": 0, \"oString\": \"\" }")]
    [InlineData("{ \"mInt64String\": { \"-5\": \"a\" }, \"mBoolMessage\": { \"true\": {} } }", "{ \"mInt64String\": { \"-5\": \"a\" }, \"mBoolMessage\": { \"true\": { } } }")]
    [InlineData("{ \"wAny\": { \"@type\": \"type.googleapis.com/google.protobuf.Duration\", \"value\": \"1.5s\" } }", "{ \"wAny\": { \"@type\": \"type.googleapis.com/google.protobuf.Duration\", \"value\": \"1.500s\" } }")]
    [InlineData("{ \"wAny\": { \"@type\": \"type.googleapis.com/proxymesh.transcoding.Inner\", \"name\": \"n\" } }", "{ \"wAny\": { \"@type\": \"type.googleapis.com/proxymesh.transcoding.Inner\", \"name\": \"n\" } }")]
    public void Json_input_is_read_as_JsonParser_reads_it(string input, string canonical)
    {
        using var json = JsonDocument.Parse(input);
        Assert.Equal(canonical, Format(_parser.EncodeMessage(_everything, json.RootElement)));
    }

    [Theory]
    [InlineData("{ \"nope\": 1 }", "unknown field \"nope\"")]
    [InlineData("{ \"fInt32\": 1.5 }", "invalid value 1.5")]
    [InlineData("{ \"fInt32\": 3000000000 }", "invalid value 3000000000")]
    [InlineData("{ \"fEnum\": \"PURPLE\" }", "invalid value PURPLE")]
    [InlineData("{ \"fString\": 5 }", "invalid value 5")]
    [InlineData("{ \"cString\": \"a\", \"cInt64\": 1 }", "more than one field of oneof \"choice\"")]
    [InlineData("{ \"rInt32\": 5 }", "a repeated field is a JSON array")]
    [InlineData("{ \"wTimestamp\": \"yesterday\" }", "invalid google.protobuf.Timestamp")]
    [InlineData("{ \"wAny\": { \"@type\": \"type.googleapis.com/nowhere.Nothing\" } }", "not in the descriptor set")]
    [InlineData("[1]", "expected a JSON object")]
    public void Invalid_json_input_is_refused_with_the_reason(string input, string reason)
    {
        using var json = JsonDocument.Parse(input);
        var error = Assert.Throws<TranscodingException>(() => _parser.EncodeMessage(_everything, json.RootElement));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    private string Format(byte[] wire)
    {
        var json = new JsonText();
        _formatter.WriteMessage(json, _everything, wire);
        return Encoding.UTF8.GetString(json.Written.Span);
    }
}
