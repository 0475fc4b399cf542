using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Tcp.Transport;

namespace ProxyMesh.Proxy.Tcp;

/// <summary>
/// Validates every <c>tcp://</c> listener: its cluster exists and has TCP destinations (or discovery), its filters are
/// known (and their options valid), timeouts and attempts are in range, and <c>AllowedCallers</c> has mutual TLS to
/// judge by. Also keeps HTTP routes off TCP clusters.
/// </summary>
internal sealed class TcpConfigValidator(IEnumerable<ITcpFilterFactory> factories) : IConfigurationValidator
{
    private readonly Dictionary<string, ITcpFilterFactory> _factories = factories.ToDictionary(factory => factory.Name, StringComparer.OrdinalIgnoreCase);

    public void Validate(IConfiguration candidate, List<string> problems)
    {
        ValidateTransport(candidate.GetSection(TcpTransportOptions.SectionName), problems);
        var clusters = candidate.GetSection("ReverseProxy:Clusters");
        var tcpClusters = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var listener in candidate.GetSection($"{ProxyMeshOptions.SectionName}:Listeners").GetChildren())
        {
            if (!TcpListenerSettings.IsTcp(listener))
            {
                continue;
            }

            TcpListenerOptions options;
            try
            {
                options = listener.Get<TcpListenerOptions>() ?? new TcpListenerOptions();
            }
            catch (InvalidOperationException e)
            {
                problems.Add($"{listener.Path}: {(e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}")}");
                continue;
            }

            ValidateListener(listener, options, clusters, problems);
            tcpClusters.Add(options.Cluster);
        }

        foreach (var route in candidate.GetSection("ReverseProxy:Routes").GetChildren())
        {
            if (route["ClusterId"] is { } clusterId && !tcpClusters.Contains(clusterId) && HasTcpDestination(clusters.GetSection(clusterId)))
            {
                problems.Add($"{route.Path}:ClusterId: cluster '{clusterId}' has tcp:// or tls:// destinations; HTTP routes need http:// or https://");
            }
        }
    }

    private static void ValidateTransport(IConfigurationSection section, List<string> problems)
    {
        TcpTransportOptions transport;
        try
        {
            transport = section.Get<TcpTransportOptions>() ?? new TcpTransportOptions();
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{section.Path}: {(e.InnerException is null ? e.Message : $"{e.Message} {e.InnerException.Message}")}");
            return;
        }

        if (transport.ReceiveBufferSize is < 1024 or > 16 * 1024 * 1024)
        {
            problems.Add($"{section.Path}:ReceiveBufferSize: must be between 1024 and 16777216 (bytes)");
        }

        if (transport.MaxReadBufferSize <= 0)
        {
            problems.Add($"{section.Path}:MaxReadBufferSize: must be positive (bytes)");
        }
    }

    private void ValidateListener(IConfigurationSection listener, TcpListenerOptions options, IConfigurationSection clusters, List<string> problems)
    {
        var key = listener.Path;
        var cluster = clusters.GetSection(options.Cluster);
        if (string.IsNullOrWhiteSpace(options.Cluster))
        {
            problems.Add($"{key}:Cluster: a tcp:// listener needs a cluster from ReverseProxy:Clusters");
        }
        else if (!cluster.Exists())
        {
            problems.Add($"{key}:Cluster: there is no cluster named '{options.Cluster}' in ReverseProxy:Clusters");
        }
        else
        {
            foreach (var destination in cluster.GetSection("Destinations").GetChildren())
            {
                if (!TcpUpstreamAddress.TryParse(destination["Address"], out _))
                {
                    problems.Add($"{destination.Path}:Address: '{destination["Address"]}' is not tcp://host:port or tls://host:port (cluster of TCP listener '{listener.Key}')");
                }
            }
        }

        foreach (var name in options.Filters)
        {
            if (!_factories.TryGetValue(name, out var factory))
            {
                problems.Add($"{key}:Filters: unknown filter '{name}' (known: {(_factories.Count == 0 ? "none" : string.Join(", ", _factories.Keys.Order(StringComparer.OrdinalIgnoreCase)))})");
                continue;
            }

            factory.Validate(listener.Key, listener, problems);
        }

        if (options.IdleTimeout < TimeSpan.Zero)
        {
            problems.Add($"{key}:IdleTimeout: must not be negative (00:00:00 disables it)");
        }

        if (options.MaxConnectionDuration < TimeSpan.Zero)
        {
            problems.Add($"{key}:MaxConnectionDuration: must not be negative (00:00:00 disables it)");
        }

        if (options.DrainTimeout < TimeSpan.Zero)
        {
            problems.Add($"{key}:DrainTimeout: must not be negative");
        }

        if (options.MaxConnectAttempts < 1)
        {
            problems.Add($"{key}:MaxConnectAttempts: must be 1 or more");
        }

        if (!string.IsNullOrWhiteSpace(options.AllowedCallers)
            && !string.Equals(listener[nameof(ProxyListenerOptions.ClientCertificate)], nameof(ClientCertificateRequirement.Require), StringComparison.OrdinalIgnoreCase))
        {
            problems.Add($"{key}:AllowedCallers: callers are known by their certificate; set ClientCertificate to Require (and a Certificate)");
        }
    }

    private static bool HasTcpDestination(IConfigurationSection cluster)
    {
        foreach (var destination in cluster.GetSection("Destinations").GetChildren())
        {
            var address = destination["Address"];
            if (address is not null && (address.StartsWith(TcpUpstreamAddress.TcpScheme, StringComparison.OrdinalIgnoreCase)
                                        || address.StartsWith(TcpUpstreamAddress.TlsScheme, StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }
}
