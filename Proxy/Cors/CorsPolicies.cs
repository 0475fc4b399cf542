using System.Collections.Frozen;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.Primitives;
using ProxyMesh.Proxy.Configuration;

namespace ProxyMesh.Proxy.Cors;

/// <summary>
/// ASP.NET Core's <see cref="ICorsPolicyProvider"/> over the validated <c>ProxyMesh:Cors</c> section, rebuilt on every
/// accepted reload, so the CORS middleware answers preflights and decorates responses for the routes that name a
/// policy. A policy named <c>default</c> serves routes whose <c>CorsPolicy</c> is <c>default</c>.
/// </summary>
internal sealed class CorsPolicies : ICorsPolicyProvider, IDisposable
{
    /// <summary>What gRPC-Web clients (grpc-web, Grpc.Net.Client.Web, improbable-eng) send besides user metadata.</summary>
    public static readonly string[] GrpcWebRequestHeaders =
        ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "grpc-accept-encoding", "grpc-encoding"];

    /// <summary>What gRPC-Web clients read from a trailers-only answer's headers.</summary>
    public static readonly string[] GrpcWebResponseHeaders =
        ["grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding", "grpc-accept-encoding"];

    public const string DefaultPolicyName = "default";

    private readonly IConfiguration _validated;
    private readonly IConfiguration _live;
    private readonly IDisposable _subscription;
    private volatile Snapshot? _snapshot;

    /// <param name="validated">The validated configuration that requests are served from.</param>
    /// <param name="live">
    /// The raw configuration, consulted only by YARP's route validation (which asks with a bare context): while a
    /// reload is validated, a route may name a policy that only the candidate defines, and that this section's own
    /// validator checks in the same pass.
    /// </param>
    public CorsPolicies(IConfiguration validated, IConfiguration live)
    {
        _validated = validated;
        _live = live;
        _subscription = ChangeToken.OnChange(validated.GetReloadToken, () => _snapshot = null);
    }

    public Task<CorsPolicy?> GetPolicyAsync(HttpContext context, string? policyName)
    {
        var name = policyName ?? DefaultPolicyName;
        var snapshot = _snapshot ??= new Snapshot(Build(_validated));
        if (snapshot.Policies.TryGetValue(name, out var policy) || snapshot.Missing.ContainsKey(name))
        {
            return Task.FromResult(policy);
        }

        // A route may have been updated just ahead of this cache's invalidation: read the validated view again.
        snapshot = _snapshot = new Snapshot(Build(_validated));
        if (snapshot.Policies.TryGetValue(name, out policy))
        {
            return Task.FromResult<CorsPolicy?>(policy);
        }

        if (context.RequestServices is null && _live.GetSection($"{CorsPolicyOptions.SectionName}:{name}") is { } candidate && candidate.Exists())
        {
            return Task.FromResult<CorsPolicy?>(ToPolicy(candidate.Get<CorsPolicyOptions>() ?? new()));
        }

        snapshot.Missing.TryAdd(name, true); // e.g. a route naming "default" with no such policy: no CORS, cheaply
        return Task.FromResult<CorsPolicy?>(null);
    }

    private sealed record Snapshot(FrozenDictionary<string, CorsPolicy> Policies)
    {
        public System.Collections.Concurrent.ConcurrentDictionary<string, bool> Missing { get; } = new(StringComparer.OrdinalIgnoreCase);
    }

    private static FrozenDictionary<string, CorsPolicy> Build(IConfiguration configuration)
    {
        var policies = new Dictionary<string, CorsPolicy>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in configuration.GetSection(CorsPolicyOptions.SectionName).GetChildren())
        {
            policies[section.Key] = ToPolicy(section.Get<CorsPolicyOptions>() ?? new());
        }

        return policies.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

    public static CorsPolicy ToPolicy(CorsPolicyOptions options)
    {
        var builder = new CorsPolicyBuilder();
        if (options.AllowedOrigins.Contains("*"))
        {
            builder.AllowAnyOrigin();
        }
        else
        {
            builder.WithOrigins(options.AllowedOrigins);
        }

        builder.WithMethods([HttpMethods.Post, .. options.AllowedMethods]);
        if (options.AllowedHeaders.Contains("*"))
        {
            builder.AllowAnyHeader();
        }
        else
        {
            builder.WithHeaders([.. GrpcWebRequestHeaders, .. options.AllowedHeaders]);
        }

        builder.WithExposedHeaders([.. GrpcWebResponseHeaders, .. options.ExposedHeaders]);
        if (options.MaxAge is { } maxAge)
        {
            builder.SetPreflightMaxAge(TimeSpan.FromSeconds(maxAge));
        }

        if (options.AllowCredentials)
        {
            builder.AllowCredentials();
        }

        return builder.Build();
    }

    public void Dispose() => _subscription.Dispose();
}
