using Google.Protobuf.Reflection;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// Every message type of a set of files as a linked <see cref="MessageLayout"/>, found by full name where the JSON
/// names a type (<c>Any</c>'s <c>@type</c>).
/// </summary>
internal sealed class TypePool
{
    private readonly Dictionary<string, MessageLayout> _byName = new(StringComparer.Ordinal);

    public TypePool(IEnumerable<FileDescriptor> files)
    {
        foreach (var file in files)
        {
            foreach (var message in file.MessageTypes)
            {
                AddWithNested(message);
            }
        }

        foreach (var layout in _byName.Values)
        {
            layout.Link(LayoutOf);
        }
    }

    public MessageLayout LayoutOf(MessageDescriptor descriptor) =>
        _byName.TryGetValue(descriptor.FullName, out var layout)
            ? layout
            : throw new InvalidOperationException($"message type {descriptor.FullName} is not in the descriptor set");

    /// <summary>The type an <c>Any</c> type URL names (the part after the last '/'), or null.</summary>
    public MessageLayout? FindByTypeUrl(string typeUrl)
    {
        var slash = typeUrl.LastIndexOf('/');
        return _byName.GetValueOrDefault(slash < 0 ? typeUrl : typeUrl[(slash + 1)..]);
    }

    private void AddWithNested(MessageDescriptor message)
    {
        // A type defined in two files of the set keeps its first definition.
        _byName.TryAdd(message.FullName, new MessageLayout(message));
        foreach (var nested in message.NestedTypes)
        {
            AddWithNested(nested);
        }
    }
}
