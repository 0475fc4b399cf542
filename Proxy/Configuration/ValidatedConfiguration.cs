using Microsoft.Extensions.Primitives;

namespace ProxyMesh.Proxy.Configuration;

/// <summary>
/// The configuration ProxyMesh serves from: a copy of the live <c>ProxyMesh</c> and <c>ReverseProxy</c> sections that
/// only changes when every <see cref="IConfigurationValidator"/> accepts the new contents. An invalid reload is
/// rejected, logged and counted, and the last good configuration keeps serving; nothing downstream ever sees it.
/// </summary>
public sealed class ValidatedConfiguration : IDisposable
{
    private static readonly string[] GuardedSections = [ProxyMeshOptions.SectionName, "ReverseProxy"];

    private readonly IConfiguration _live;
    private readonly SnapshotProvider _snapshot;
    private readonly ConfigurationRoot _view;
    private readonly ConfigUpdateStats _stats;
    private readonly Lock _updateLock = new();
    private IConfigurationValidator[] _validators = [];
    private IDisposable? _subscription;

    public ValidatedConfiguration(IConfiguration live, ConfigUpdateStats stats)
    {
        _live = live;
        _stats = stats;
        _snapshot = new SnapshotProvider(ReadGuardedSections(live));
        _view = new ConfigurationRoot([_snapshot]);
    }

    /// <summary>The validated view; its reload token fires only for accepted updates.</summary>
    public IConfiguration View => _view;

    /// <summary>
    /// Validates the configuration the process started with and, from then on, every reload.
    /// </summary>
    /// <exception cref="InvalidConfigurationException">The start-up configuration is invalid.</exception>
    public void Activate(IEnumerable<IConfigurationValidator> validators)
    {
        lock (_updateLock)
        {
            _validators = validators.ToArray();
            var current = ReadGuardedSections(_live);
            var problems = Validate(current);
            if (problems.Count > 0)
            {
                throw new InvalidConfigurationException(problems);
            }

            if (!GuardedJsonFileConfigurationProvider.SameData(current, _snapshot.Current))
            {
                _snapshot.Replace(current);
            }
        }

        _subscription ??= ChangeToken.OnChange(_live.GetReloadToken, OnLiveChanged);
    }

    private void OnLiveChanged()
    {
        lock (_updateLock)
        {
            var candidate = ReadGuardedSections(_live);
            if (GuardedJsonFileConfigurationProvider.SameData(candidate, _snapshot.Current))
            {
                return;
            }

            var problems = Validate(candidate);
            if (problems.Count > 0)
            {
                _stats.RecordRejection(problems);
                return;
            }

            // Counted first: applying it can make the new routes serve before this thread returns.
            _stats.RecordSuccess();
            _snapshot.Replace(candidate);
        }
    }

    private List<string> Validate(Dictionary<string, string?> data)
    {
        var candidate = new ConfigurationBuilder().AddInMemoryCollection(data).Build();
        var problems = new List<string>();
        foreach (var validator in _validators)
        {
            validator.Validate(candidate, problems);
        }

        return problems;
    }

    private static Dictionary<string, string?> ReadGuardedSections(IConfiguration configuration)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in GuardedSections)
        {
            foreach (var (key, value) in configuration.GetSection(section).AsEnumerable())
            {
                if (value is not null)
                {
                    data[key] = value;
                }
            }
        }

        return data;
    }

    public void Dispose()
    {
        _subscription?.Dispose();
        _view.Dispose();
    }

    private sealed class SnapshotProvider : ConfigurationProvider
    {
        public SnapshotProvider(Dictionary<string, string?> data) => Data = data;

        public IDictionary<string, string?> Current => Data;

        public void Replace(Dictionary<string, string?> data)
        {
            Data = data;
            OnReload();
        }
    }
}
