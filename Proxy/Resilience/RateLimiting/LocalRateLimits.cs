using ProxyMesh.Proxy.Observability;
using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Prometheus;
using Yarp.ReverseProxy.Configuration;

namespace ProxyMesh.Proxy.Resilience.RateLimiting;

/// <summary>
/// Token buckets (Envoy's, refilled by a <see cref="TimeProvider"/> timer) per cluster,
/// and per route for routes with <c>ProxyMesh.RateLimit.*</c> metadata. A bucket is rebuilt (full) when its
/// effective settings change on reload, and kept as it is otherwise.
/// </summary>
public sealed class LocalRateLimits : IDisposable
{
    private readonly TimeProvider _time;
    private readonly Counter _rateLimited;
    private readonly ConcurrentDictionary<string, Bucket> _clusters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Bucket> _routes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (RouteConfig Route, bool Limited)> _routeHasLimit = new(StringComparer.Ordinal);
    private readonly Lock _replacing = new();

    public LocalRateLimits(TimeProvider time, CollectorRegistry registry)
    {
        _time = time;
        _rateLimited = StatsFactory.For(registry)
            .CreateCounter("proxymesh_rate_limited_total", "Requests refused by the local rate limit.", "cluster");
    }

    /// <summary>
    /// The bucket requests of <paramref name="route"/> to the cluster draw from, or null when no rate limit applies:
    /// resolved once per route and configuration version by the cluster's context.
    /// </summary>
    /// <param name="options">The cluster's <c>RateLimit</c> policy.</param>
    internal Bucket? For(RouteConfig route, string clusterId, RateLimitOptions options)
    {
        if (HasRateLimit(route) && route.Metadata is { } metadata)
        {
            if (_routes.TryGetValue(route.RouteId, out var routeBucket) && ReferenceEquals(routeBucket.Route, route) && ReferenceEquals(routeBucket.ClusterOptions, options))
            {
                return routeBucket.Options.Enabled ? routeBucket : null;
            }

            return Replace(_routes, route.RouteId, clusterId, WithRouteMetadata(options, metadata), route, options);
        }

        if (_clusters.TryGetValue(clusterId, out var bucket) && bucket.Options.SameBucketAs(options))
        {
            return bucket.Options.Enabled ? bucket : null;
        }

        return Replace(_clusters, clusterId, clusterId, options, null, options);
    }

    /// <summary>
    /// The slow path, after a reload or on first use: under a lock, so that two requests racing here build one bucket
    /// (a bucket built and then overwritten would keep its timer running forever).
    /// </summary>
    private Bucket? Replace(ConcurrentDictionary<string, Bucket> buckets, string key, string clusterId, RateLimitOptions options, RouteConfig? route, RateLimitOptions clusterOptions)
    {
        lock (_replacing)
        {
            if (buckets.TryGetValue(key, out var existing) && existing.Options.SameBucketAs(options))
            {
                // Same settings after a reload: keep the bucket (and its tokens), remember what it was built from.
                existing.Route = route;
                existing.ClusterOptions = clusterOptions;
                return options.Enabled ? existing : null;
            }

            var fresh = new Bucket(options, _time, _rateLimited.WithLabels(clusterId)) { Route = route, ClusterOptions = clusterOptions };
            buckets[key] = fresh;
            existing?.Dispose();
            return options.Enabled ? fresh : null;
        }
    }

    /// <summary>Whether the route has <c>ProxyMesh.RateLimit.*</c> metadata, looked at once per route object.</summary>
    private bool HasRateLimit(RouteConfig route)
    {
        if (_routeHasLimit.TryGetValue(route.RouteId, out var known) && ReferenceEquals(known.Route, route))
        {
            return known.Limited;
        }

        var limited = route.Metadata is { } metadata && metadata.Keys.Any(key => key.StartsWith(RateLimitOptions.RouteMetadataPrefix, StringComparison.Ordinal));
        _routeHasLimit[route.RouteId] = (route, limited);
        return limited;
    }

    /// <summary>The route's <c>ProxyMesh.RateLimit.*</c> metadata over its cluster's policy.</summary>
    internal static RateLimitOptions WithRouteMetadata(RateLimitOptions clusterOptions, IReadOnlyDictionary<string, string> metadata)
    {
        var options = new RateLimitOptions
        {
            Enabled = clusterOptions.Enabled,
            TokensPerFill = clusterOptions.TokensPerFill,
            FillInterval = clusterOptions.FillInterval,
            MaxTokens = clusterOptions.MaxTokens,
        };
        RouteMetadata(metadata).Bind(options);
        return options;
    }

    /// <summary>The route's <c>ProxyMesh.RateLimit.*</c> metadata as a configuration section (keys without the prefix).</summary>
    internal static IConfiguration RouteMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in metadata)
        {
            if (key.StartsWith(RateLimitOptions.RouteMetadataPrefix, StringComparison.Ordinal))
            {
                values[key[RateLimitOptions.RouteMetadataPrefix.Length..]] = value;
            }
        }

        return new ConfigurationBuilder().AddInMemoryCollection(values).Build();
    }

    public void Dispose()
    {
        foreach (var bucket in _clusters.Values)
        {
            bucket.Dispose();
        }

        foreach (var bucket in _routes.Values)
        {
            bucket.Dispose();
        }
    }

    /// <summary>
    /// One token bucket, as Envoy's: starts full, gains <c>TokensPerFill</c> (up to <c>MaxTokens</c>) every
    /// <c>FillInterval</c> on the <see cref="TimeProvider"/>'s timer; a request takes one token or is refused.
    /// (System.Threading.RateLimiting's TokenBucketRateLimiter takes no TimeProvider, and its manual replenishment
    /// scales by Stopwatch time, so it cannot follow a fake clock.) A disabled policy is remembered as a bucket
    /// without a timer.
    /// </summary>
    internal sealed class Bucket : IDisposable
    {
        private readonly System.Threading.ITimer? _timer;
        private readonly TimeProvider _time;
        private int _tokens;
        private long _nextFill;

        public Bucket(RateLimitOptions options, TimeProvider time, Counter.Child rateLimited)
        {
            Options = options;
            RateLimited = rateLimited;
            _time = time;
            if (!options.Enabled)
            {
                return;
            }

            _tokens = options.MaxTokens;
            _nextFill = time.GetTimestamp() + ToTimestamp(options.FillInterval);
            _timer = time.CreateTimer(static state => ((Bucket)state!).Fill(), this, options.FillInterval, options.FillInterval);
        }

        public RateLimitOptions Options { get; }

        public Counter.Child RateLimited { get; }

        /// <summary>The route this bucket was built for (route buckets only); a reload makes a new route object.</summary>
        public RouteConfig? Route { get; set; }

        public RateLimitOptions? ClusterOptions { get; set; }

        /// <summary>Takes a token if there is one: lock-free, allocation-free.</summary>
        public bool TryAcquire()
        {
            var current = Volatile.Read(ref _tokens);
            while (current > 0)
            {
                var seen = Interlocked.CompareExchange(ref _tokens, current - 1, current);
                if (seen == current)
                {
                    return true;
                }

                current = seen;
            }

            return false;
        }

        /// <summary>Whole seconds until the next fill, at least 1: the <c>retry-after</c> value.</summary>
        public int RetryAfterSeconds()
        {
            var remaining = _time.GetElapsedTime(_time.GetTimestamp(), Volatile.Read(ref _nextFill));
            return Math.Max(1, (int)Math.Ceiling(remaining.TotalSeconds));
        }

        private void Fill()
        {
            Volatile.Write(ref _nextFill, _time.GetTimestamp() + ToTimestamp(Options.FillInterval));
            var current = Volatile.Read(ref _tokens);
            while (true)
            {
                var filled = (int)Math.Min(Options.MaxTokens, (long)current + Options.TokensPerFill);
                var seen = Interlocked.CompareExchange(ref _tokens, filled, current);
                if (seen == current)
                {
                    return;
                }

                current = seen;
            }
        }

        private long ToTimestamp(TimeSpan interval) => (long)(interval.TotalSeconds * _time.TimestampFrequency);

        public void Dispose() => _timer?.Dispose();
    }
}
