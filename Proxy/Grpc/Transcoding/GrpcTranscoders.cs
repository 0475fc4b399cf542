using Microsoft.Extensions.Primitives;

namespace ProxyMesh.Proxy.Grpc.Transcoding;

/// <summary>
/// The transcoders of the validated configuration, rebuilt when it changes. A transcoder that fails to load on a
/// reload (its file changed after validation) keeps its previous version, and the failure is logged.
/// </summary>
internal sealed partial class GrpcTranscoders : IDisposable
{
    private readonly IConfiguration _configuration;
    private readonly string _contentRoot;
    private readonly ILogger<GrpcTranscoders> _logger;
    private readonly Lock _rebuildLock = new();
    private readonly IDisposable _subscription;
    private Snapshot _current = new(new Dictionary<string, GrpcTranscoder>(StringComparer.OrdinalIgnoreCase));

    private readonly GrpcTranscodingStats _stats;

    public GrpcTranscoders(IConfiguration validatedConfiguration, IHostEnvironment environment, GrpcTranscodingStats stats, ILogger<GrpcTranscoders> logger)
    {
        _stats = stats;
        _configuration = validatedConfiguration;
        _contentRoot = environment.ContentRootPath;
        _logger = logger;
        Rebuild();
        _subscription = ChangeToken.OnChange(_configuration.GetReloadToken, Rebuild);
    }

    /// <summary>The transcoders as of the latest accepted configuration; compare by reference to see a new version.</summary>
    public Snapshot Current => Volatile.Read(ref _current);

    private void Rebuild()
    {
        lock (_rebuildLock)
        {
            var problems = new List<string>();
            var previous = Current.Transcoders;
            var next = new Dictionary<string, GrpcTranscoder>(StringComparer.OrdinalIgnoreCase);
            foreach (var options in GrpcTranscoderOptions.ReadAll(_configuration, problems))
            {
                var before = problems.Count;
                var transcoder = GrpcTranscoder.Load(options, _contentRoot, problems);
                if (transcoder is not null)
                {
                    transcoder.Stats = _stats.For(options.Name);
                    next[options.Name] = transcoder;
                }
                else if (previous.TryGetValue(options.Name, out var kept))
                {
                    next[options.Name] = kept;
                }

                for (var i = before; i < problems.Count; i++)
                {
                    LogLoadFailed(_logger, problems[i]);
                }
            }

            Volatile.Write(ref _current, new Snapshot(next));
        }
    }

    public void Dispose() => _subscription.Dispose();

    [LoggerMessage(Level = LogLevel.Error, Message = "gRPC transcoder not reloaded, the previous version keeps serving: {Problem}")]
    private static partial void LogLoadFailed(ILogger logger, string problem);

    public sealed class Snapshot(Dictionary<string, GrpcTranscoder> transcoders)
    {
        public Dictionary<string, GrpcTranscoder> Transcoders { get; } = transcoders;
    }
}

/// <summary>
/// Endpoint metadata of a route with <c>ProxyMesh.GrpcTranscoding</c>: the transcoder's name, resolved once per
/// configuration version rather than per request.
/// </summary>
internal sealed class GrpcTranscodingRoute(string name)
{
    private Resolved? _resolved;

    public string Name { get; } = name;

    public GrpcTranscoder? Resolve(GrpcTranscoders transcoders)
    {
        var snapshot = transcoders.Current;
        var resolved = Volatile.Read(ref _resolved);
        if (resolved is null || !ReferenceEquals(resolved.Snapshot, snapshot))
        {
            resolved = new Resolved(snapshot, snapshot.Transcoders.GetValueOrDefault(Name));
            Volatile.Write(ref _resolved, resolved);
        }

        return resolved.Transcoder;
    }

    private sealed record Resolved(GrpcTranscoders.Snapshot Snapshot, GrpcTranscoder? Transcoder);
}
