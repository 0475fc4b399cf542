using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Observability.AccessLog;
using ProxyMesh.Proxy.Tcp;

namespace ProxyMesh.Proxy.Mongo;

/// <summary>The <c>Mongo</c> network filter: Envoy's <c>envoy.filters.network.mongo_proxy</c>, reading today's drivers too.</summary>
internal sealed class MongoFilterFactory(
    MongoStats stats,
    TimeProvider time,
    Random random,
    AccessLogQueue accessLog,
    IOptions<AccessLogOptions> accessLogOptions,
    ILogger<MongoFilter> logger) : ITcpFilterFactory
{
    public const string FilterName = "Mongo";

    private readonly Shared _shared = new(stats, time, random, accessLog, accessLogOptions.Value.Enabled, logger);

    public string Name => FilterName;

    public void Validate(string listenerName, IConfigurationSection listener, ICollection<string> problems)
    {
        var path = $"{listener.Path}:{MongoFilterOptions.SectionName}";
        try
        {
            MongoFilterOptions.Of(listener).Validate(path, problems);
        }
        catch (InvalidOperationException e)
        {
            problems.Add($"{path}: {e.Message}");
        }
    }

    public ITcpFilter Create(TcpFilterContext context) => new MongoFilter(_shared, OptionsOf(context.Listener), context);

    /// <summary>The listener's options; defaults should a reload have slipped an unreadable value past validation.</summary>
    private static MongoFilterOptions OptionsOf(IConfigurationSection listener)
    {
        try
        {
            return MongoFilterOptions.Of(listener);
        }
        catch (InvalidOperationException)
        {
            return new MongoFilterOptions();
        }
    }

    /// <summary>What every connection's filter shares.</summary>
    internal sealed record Shared(MongoStats Stats, TimeProvider Time, Random Random, AccessLogQueue AccessLog, bool AccessLogEnabled, ILogger Logger);
}
