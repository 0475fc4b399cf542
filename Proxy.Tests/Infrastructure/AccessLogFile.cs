using System.Text.Json;

namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Reads a proxy's access log file: one JSON object per line.</summary>
public static class AccessLogFile
{
    public static IReadOnlyList<JsonElement> Read(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var entries = new List<JsonElement>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                using var document = JsonDocument.Parse(line);
                entries.Add(document.RootElement.Clone());
            }
        }

        return entries;
    }

    /// <summary>Waits until the file holds at least <paramref name="count"/> entries.</summary>
    public static async Task<IReadOnlyList<JsonElement>> WaitForAsync(string path, int count)
    {
        IReadOnlyList<JsonElement> entries = [];
        await Eventually.AssertAsync(() => Task.FromResult((entries = Read(path)).Count >= count), $"{count} access log entries in {path}");
        return entries;
    }
}
