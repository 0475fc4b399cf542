using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace ProxyMesh.Proxy.Tests.Deploy;

/// <summary>YAML documents as JSON nodes (scalars as strings, merge keys applied, tags such as <c>!Ref</c> kept as <c>"!Ref value"</c>).</summary>
public static class Yaml
{
    public static IReadOnlyList<JsonObject> LoadAll(string path)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(path))
        {
            stream.Load(reader);
        }

        return stream.Documents.Where(document => document.RootNode is YamlMappingNode).Select(document => (JsonObject)Convert(document.RootNode)!).ToArray();
    }

    public static JsonObject Load(string path) => LoadAll(path).Single();

    /// <summary>A path such as <c>spec.template.spec.containers</c>; null when any step is missing.</summary>
    public static JsonNode? At(this JsonNode? node, string path)
    {
        foreach (var step in path.Split('.'))
        {
            node = node is JsonObject obj ? obj[step] : null;
        }

        return node;
    }

    public static string Text(this JsonNode? node, string path) =>
        (string?)node.At(path) ?? throw new Xunit.Sdk.XunitException($"'{path}' is missing");

    public static IEnumerable<JsonObject> Items(this JsonNode? node, string path) =>
        node.At(path) is JsonArray array ? array.OfType<JsonObject>() : [];

    private static JsonNode? Convert(YamlNode node)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                var tag = scalar.Tag.IsEmpty || !scalar.Tag.Value.StartsWith('!') || scalar.Tag.Value.StartsWith("tag:", StringComparison.Ordinal) ? "" : scalar.Tag.Value + " ";
                return scalar.Value is null ? null : JsonValue.Create(tag + scalar.Value);
            case YamlSequenceNode sequence:
                return new JsonArray(sequence.Children.Select(Convert).ToArray());
            case YamlMappingNode mapping:
                var result = new JsonObject();
                foreach (var (key, value) in mapping.Children)
                {
                    var name = ((YamlScalarNode)key).Value!;
                    if (name == "<<" && Convert(value) is JsonObject merged)
                    {
                        foreach (var (mergedKey, mergedValue) in merged)
                        {
                            result[mergedKey] ??= mergedValue?.DeepClone();
                        }

                        continue;
                    }

                    result[name] = Convert(value);
                }

                return result;
            default:
                return null;
        }
    }
}
