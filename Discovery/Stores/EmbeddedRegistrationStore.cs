using System.Text.Json;
using ProxyMesh.Discovery.Configuration;
using ProxyMesh.Discovery.Registrations;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Discovery.Stores;

/// <summary>
/// Registrations in memory, persisted to one JSON file so that a restart loses nothing: a change is acknowledged only
/// once the file holding it is written (atomically, through a temporary file). Concurrent changes share one write.
/// Registrations expired for longer than the host TTL are dropped when the file is written, as DynamoDB's TTL would.
/// </summary>
internal sealed class EmbeddedRegistrationStore : IRegistrationStore, IDisposable
{
    private readonly string _path;
    private readonly TimeSpan _hostTtl;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<string, HostRegistration>> _services = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writing = new(1, 1);
    private long _version;
    private long _writtenVersion;

    /// <exception cref="InvalidConfigurationException">The file cannot be read or its folder cannot be created.</exception>
    public EmbeddedRegistrationStore(DiscoveryOptions options, TimeProvider time)
    {
        _path = options.Embedded.Path;
        _hostTtl = options.HostTtl;
        _time = time;
        Load();
    }

    public Task<IReadOnlyList<HostRegistration>> ListAsync(string service, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            IReadOnlyList<HostRegistration> hosts = _services.TryGetValue(service, out var byEndpoint) ? [.. byEndpoint.Values] : [];
            return Task.FromResult(hosts);
        }
    }

    public Task PutAsync(HostRegistration host, CancellationToken cancellationToken)
    {
        long version;
        lock (_lock)
        {
            if (!_services.TryGetValue(host.Service, out var byEndpoint))
            {
                _services[host.Service] = byEndpoint = new Dictionary<string, HostRegistration>(StringComparer.Ordinal);
            }

            byEndpoint[host.Endpoint] = host;
            version = ++_version;
        }

        return WriteAsync(version);
    }

    public async Task<bool> DeleteAsync(string service, string endpoint, CancellationToken cancellationToken)
    {
        long version;
        lock (_lock)
        {
            if (!_services.TryGetValue(service, out var byEndpoint) || !byEndpoint.Remove(endpoint))
            {
                return false;
            }

            if (byEndpoint.Count == 0)
            {
                _services.Remove(service);
            }

            version = ++_version;
        }

        await WriteAsync(version);
        return true;
    }

    /// <summary>Returns once the file holds every change up to <paramref name="version"/>.</summary>
    private async Task WriteAsync(long version)
    {
        await _writing.WaitAsync();
        try
        {
            if (_writtenVersion >= version)
            {
                return; // a write that started after this change already carried it
            }

            HostRegistration[] hosts;
            long snapshotVersion;
            lock (_lock)
            {
                DropExpired(_time.GetUtcNow());
                hosts = [.. _services.Values.SelectMany(byEndpoint => byEndpoint.Values)];
                snapshotVersion = _version;
            }

            var temporary = _path + ".tmp";
            await using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
            {
                await JsonSerializer.SerializeAsync(file, new RegistrationsFile(hosts), RegistrationJson.Options);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, _path, overwrite: true);
            _writtenVersion = snapshotVersion;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RegistrationStoreException($"cannot write '{_path}': {e.Message}", e);
        }
        finally
        {
            _writing.Release();
        }
    }

    private void DropExpired(DateTimeOffset now)
    {
        foreach (var (service, byEndpoint) in _services.ToArray())
        {
            foreach (var (endpoint, host) in byEndpoint.ToArray())
            {
                if (!host.IsLiveAt(now, _hostTtl))
                {
                    byEndpoint.Remove(endpoint);
                }
            }

            if (byEndpoint.Count == 0)
            {
                _services.Remove(service);
            }
        }
    }

    private void Load()
    {
        const string key = $"{DiscoveryOptions.SectionName}:{nameof(DiscoveryOptions.Embedded)}:{nameof(EmbeddedStoreOptions.Path)}";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            if (!File.Exists(_path))
            {
                return;
            }

            using var file = File.OpenRead(_path);
            var contents = JsonSerializer.Deserialize<RegistrationsFile>(file, RegistrationJson.Options)
                ?? throw new JsonException("the file holds null");
            foreach (var host in contents.Hosts)
            {
                if (!_services.TryGetValue(host.Service, out var byEndpoint))
                {
                    _services[host.Service] = byEndpoint = new Dictionary<string, HostRegistration>(StringComparer.Ordinal);
                }

                byEndpoint[host.Endpoint] = host;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidConfigurationException([$"{key}: cannot use '{_path}': {e.Message}"]);
        }
        catch (JsonException e)
        {
            throw new InvalidConfigurationException([$"{key}: '{_path}' is not a registrations file: {e.Message}"]);
        }
    }

    public void Dispose() => _writing.Dispose();

    /// <summary>The file's contents.</summary>
    private sealed record RegistrationsFile(IReadOnlyList<HostRegistration> Hosts);
}
