namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>Envoy's response flags: why a request did not get an ordinary upstream response.</summary>
internal static class ResponseFlags
{
    public const string None = "-";

    /// <returns>
    /// The flag of a local reply made before any attempt (<c>RL</c>, <c>UO</c>, …), else that of the last upstream
    /// attempt's outcome (<see cref="AttemptOutcomes.Flag"/>), else <c>NR</c> (no route), <c>DC</c> or <c>-</c>.
    /// </returns>
    public static string Of(HttpContext context)
    {
        if (context.Features.Get<ResponseFlagFeature>() is { } local)
        {
            return local.Flag;
        }

        if (context.Features.Get<IUpstreamAttemptFeature>() is { Outcome: not AttemptOutcome.None } attempt)
        {
            var flag = AttemptOutcomes.Flag(attempt.Outcome);
            return ReferenceEquals(flag, None) && context.RequestAborted.IsCancellationRequested ? "DC" : flag;
        }

        return context.GetEndpoint() is null && context.Response.StatusCode == StatusCodes.Status404NotFound ? "NR"
            : context.RequestAborted.IsCancellationRequested ? "DC"
            : None;
    }
}

/// <summary>Set by the proxy's own local replies: the flag that explains them.</summary>
internal sealed class ResponseFlagFeature(string flag)
{
    /// <summary><c>UO</c>: upstream overflow, a circuit breaker refused the request.</summary>
    public static readonly ResponseFlagFeature UpstreamOverflow = new("UO");

    /// <summary><c>RL</c>: the local rate limit refused the request.</summary>
    public static readonly ResponseFlagFeature RateLimited = new("RL");

    /// <summary><c>UH</c>: no healthy upstream host.</summary>
    public static readonly ResponseFlagFeature NoHealthyUpstream = new("UH");

    /// <summary><c>UT</c>: the upstream did not answer in time.</summary>
    public static readonly ResponseFlagFeature UpstreamTimeout = new("UT");

    /// <summary><c>DPE</c>: the downstream request was malformed (e.g. its <c>grpc-timeout</c>).</summary>
    public static readonly ResponseFlagFeature DownstreamProtocolError = new("DPE");

    /// <summary><c>-</c>: a local reply for which Envoy sets no flag (e.g. a body over the route's limit).</summary>
    public static readonly ResponseFlagFeature NoFlag = new(ResponseFlags.None);

    public string Flag { get; } = flag;
}
