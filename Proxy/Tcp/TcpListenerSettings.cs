using Microsoft.Extensions.Primitives;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Tls;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// The TCP listeners' settings as of the current validated configuration, bound once per configuration version so a
/// new connection costs one dictionary lookup.
/// </summary>
internal sealed class TcpListenerSettings : IDisposable
{
    private readonly IConfiguration _configuration;
    private readonly Dictionary<string, ITcpFilterFactory> _factories;
    private readonly IDisposable _subscription;
    private volatile Dictionary<string, TcpListenerSnapshot>? _listeners;

    public TcpListenerSettings(ValidatedConfiguration configuration, IEnumerable<ITcpFilterFactory> factories)
    {
        _configuration = configuration.View;
        _factories = factories.ToDictionary(factory => factory.Name, StringComparer.OrdinalIgnoreCase);
        _subscription = ChangeToken.OnChange(_configuration.GetReloadToken, () => _listeners = null);
    }

    /// <summary>Bound on first use: the container builds this before the configuration gate has validated anything.</summary>
    public TcpListenerSnapshot? For(string listenerName) => (_listeners ??= Bind()).GetValueOrDefault(listenerName);

    private Dictionary<string, TcpListenerSnapshot> Bind()
    {
        var listeners = new Dictionary<string, TcpListenerSnapshot>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in _configuration.GetSection($"{ProxyMeshOptions.SectionName}:Listeners").GetChildren())
        {
            if (!IsTcp(section))
            {
                continue;
            }

            var options = section.Get<TcpListenerOptions>() ?? new TcpListenerOptions();
            var filters = new ITcpFilterFactory[options.Filters.Count];
            for (var i = 0; i < filters.Length; i++)
            {
                // Validation has refused unknown names before this configuration could be served.
                filters[i] = _factories[options.Filters[i]];
            }

            listeners[section.Key] = new TcpListenerSnapshot(section.Key, section, options, filters, Tls.AllowedCallers.Parse(options.AllowedCallers));
        }

        return listeners;
    }

    public static bool IsTcp(IConfigurationSection listener) =>
        ListenerAddress.TryParse(listener[nameof(ProxyListenerOptions.Url)], out var address, out _, allowTcp: true) && address!.IsTcp;

    public void Dispose() => _subscription.Dispose();
}

/// <summary>One TCP listener's settings in one configuration version.</summary>
internal sealed record TcpListenerSnapshot(
    string Name, IConfigurationSection Section, TcpListenerOptions Options, ITcpFilterFactory[] Filters, AllowedCallers? AllowedCallers);
