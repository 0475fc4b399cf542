using Google.Api;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// Builds the files of a <c>FileDescriptorSet</c> (as <c>protoc --include_imports --descriptor_set_out</c> writes
/// it), dependencies first, with the <c>google.api.http</c> method option registered so the HTTP rules can be read.
/// </summary>
internal static class DescriptorSetReader
{
    /// <exception cref="InvalidDataException">The set is not a descriptor set, or misses an imported file.</exception>
    public static IReadOnlyList<FileDescriptor> Read(byte[] bytes)
    {
        var set = FileDescriptorSet.Parser.ParseFrom(bytes);
        if (set.File.Count == 0)
        {
            throw new InvalidDataException("the file holds no FileDescriptorProto (is it a FileDescriptorSet?)");
        }

        var byName = new Dictionary<string, FileDescriptorProto>(StringComparer.Ordinal);
        foreach (var file in set.File)
        {
            byName.TryAdd(file.Name, file);
        }

        var ordered = new List<ByteString>(byName.Count);
        var state = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var name in byName.Keys)
        {
            Visit(name, byName, state, ordered, via: null);
        }

        var registry = new ExtensionRegistry { AnnotationsExtensions.Http };
        return FileDescriptor.BuildFromByteStrings(ordered, registry);
    }

    private static void Visit(string name, Dictionary<string, FileDescriptorProto> byName, Dictionary<string, bool> state, List<ByteString> ordered, string? via)
    {
        if (state.TryGetValue(name, out var done))
        {
            if (!done)
            {
                throw new InvalidDataException($"import cycle through '{name}'");
            }

            return;
        }

        if (!byName.TryGetValue(name, out var file))
        {
            throw new InvalidDataException($"'{via}' imports '{name}', which the set does not hold (run protoc with --include_imports)");
        }

        state[name] = false;
        foreach (var dependency in file.Dependency)
        {
            Visit(dependency, byName, state, ordered, name);
        }

        state[name] = true;
        ordered.Add(file.ToByteString());
    }
}
