using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace ProxyMesh.Proxy.Configuration;

/// <summary>
/// A JSON configuration file, reloaded on change, that keeps its last good contents when a reload finds the file
/// missing or malformed. The stock JSON source empties its data in that case, which would silently drop every route.
/// </summary>
internal sealed class GuardedJsonFileConfigurationSource(string fullPath, bool optional, string displayName, ConfigUpdateStats stats)
    : IConfigurationSource
{
    public string FullPath { get; } = fullPath;

    public bool Optional { get; } = optional;

    public string DisplayName { get; } = displayName;

    public ConfigUpdateStats Stats { get; } = stats;

    /// <summary>Lets editors finish writing before the file is read, as the stock JSON source does.</summary>
    public TimeSpan ReloadDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new GuardedJsonFileConfigurationProvider(this);
}

internal sealed class GuardedJsonFileConfigurationProvider : ConfigurationProvider, IDisposable
{
    private readonly GuardedJsonFileConfigurationSource _source;
    private readonly PhysicalFileProvider? _files;
    private readonly IDisposable? _watch;
    private readonly Lock _reloadLock = new();

    public GuardedJsonFileConfigurationProvider(GuardedJsonFileConfigurationSource source)
    {
        _source = source;
        var directory = Path.GetDirectoryName(source.FullPath);
        if (directory is not null && Directory.Exists(directory))
        {
            _files = new PhysicalFileProvider(directory);
            var fileName = Path.GetFileName(source.FullPath);
            _watch = ChangeToken.OnChange(() => _files.Watch(fileName), () => _ = ReloadAfterDelayAsync());
        }
    }

    public override void Load()
    {
        if (!File.Exists(_source.FullPath))
        {
            if (!_source.Optional)
            {
                throw new InvalidConfigurationException([$"{_source.DisplayName}: file '{_source.FullPath}' does not exist"]);
            }

            Data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            return;
        }

        Data = Parse(out var problem) ?? throw new InvalidConfigurationException([$"{_source.DisplayName}: {problem}"]);
    }

    private async Task ReloadAfterDelayAsync()
    {
        await Task.Delay(_source.ReloadDelay);
        lock (_reloadLock)
        {
            if (!File.Exists(_source.FullPath))
            {
                if (Data.Count > 0)
                {
                    _source.Stats.RecordRejection([$"{_source.DisplayName}: file '{_source.FullPath}' disappeared"]);
                }

                return;
            }

            var data = Parse(out var problem);
            if (data is null)
            {
                _source.Stats.RecordRejection([$"{_source.DisplayName}: {problem}"]);
                return;
            }

            if (!SameData(data, Data))
            {
                Data = data;
                OnReload();
            }
        }
    }

    private IDictionary<string, string?>? Parse(out string problem)
    {
        try
        {
            using var stream = new FileStream(_source.FullPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            problem = "";
            return JsonDocumentParser.Parse(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidDataException
                                      or System.Text.Json.JsonException)
        {
            problem = $"invalid JSON in '{_source.FullPath}': {(e.InnerException ?? e).Message}";
            return null;
        }
    }

    internal static bool SameData(IDictionary<string, string?> left, IDictionary<string, string?> right)
    {
        if (left.Count != right.Count)
        {
            return false;
        }

        foreach (var (key, value) in left)
        {
            if (!right.TryGetValue(key, out var other) || !string.Equals(value, other, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    public void Dispose()
    {
        _watch?.Dispose();
        _files?.Dispose();
    }

    /// <summary>Reuses the framework's JSON flattening (keys like <c>A:B:0</c>) without its file handling.</summary>
    private sealed class JsonDocumentParser(JsonStreamConfigurationSource source) : JsonStreamConfigurationProvider(source)
    {
        public static IDictionary<string, string?> Parse(Stream stream)
        {
            var parser = new JsonDocumentParser(new JsonStreamConfigurationSource());
            parser.Load(stream);
            return parser.Data;
        }
    }
}
