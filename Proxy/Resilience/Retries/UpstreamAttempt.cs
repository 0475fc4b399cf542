using Microsoft.AspNetCore.Http.Features;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// One request's attempts, as a per-request feature (a single object for all attempts). It is the request lifetime
/// YARP sees — aborted when the client goes away, as usual, or when the route or per-try timeout expires, which cuts
/// an attempt short without touching the client connection — and it tells the response transform whether another
/// attempt may follow, receiving its verdict: a retriable response is held back (its body suppressed) when a retry
/// will replace it.
/// </summary>
internal sealed class UpstreamAttempt(IHttpRequestLifetimeFeature client, RetryConditions conditions, int[] statusCodes) : IHttpRequestLifetimeFeature
{
    public RetryConditions Conditions { get; } = conditions;

    public int[] StatusCodes { get; } = statusCodes;

    /// <summary>Set by the router before each attempt.</summary>
    public bool MayRetry { get; set; }

    /// <summary>Set by the response transform when the response matched the conditions (held back when <see cref="MayRetry"/>).</summary>
    public bool RetriableResponse { get; set; }

    /// <summary>The current attempt's cancellation: client gone, or a timeout.</summary>
    public CancellationToken Aborted { get; set; }

    /// <summary>Retries made so far.</summary>
    public int Retries { get; set; }

    /// <summary>True while a retry holds a place in the cluster's retry budget (until that attempt ends).</summary>
    public bool HoldsRetryBudget { get; set; }

    /// <summary>The hosts tried, for the next attempt to avoid.</summary>
    public List<Yarp.ReverseProxy.Model.DestinationState>? Tried { get; set; }

    CancellationToken IHttpRequestLifetimeFeature.RequestAborted
    {
        get => Aborted;
        set => throw new NotSupportedException("An attempt's lifetime is set by the router.");
    }

    /// <summary>The client went away (as opposed to a timeout cutting the attempt short): outlier detection does not count it.</summary>
    public bool ClientGone => client.RequestAborted.IsCancellationRequested;

    public void Abort() => client.Abort();
}
