using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience.CircuitBreakers;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// One request's upstream attempts, as a per-request feature: a single object, reset at the start of each attempt.
/// It records the attempt — its host, timings, upstream status and its one <see cref="AttemptOutcome"/> — and is the
/// request lifetime YARP sees: aborted when the client goes away, as usual, or when the route, gRPC or per-try
/// deadline expires, which cuts the attempt short without touching the client connection. At response headers it takes
/// the retry decision (<see cref="TryHoldForRetry"/>): only a response a retry will surely replace is held back. It also
/// carries what the router's attempts share (one object per request rather than two).
/// </summary>
internal sealed class UpstreamAttempt(
    IHttpRequestLifetimeFeature client,
    RetryConditions conditions,
    int[] statusCodes,
    int maxRetries,
    ReplayableRequestBody? body,
    ClusterCircuitBreaker budget,
    RetryStats.Series retryStats) : IHttpRequestLifetimeFeature, IHttpResetFeature, IUpstreamAttemptFeature
{
    public RetryConditions Conditions { get; } = conditions;

    public int MaxRetries { get; } = maxRetries;

    public ReplayableRequestBody? Body { get; } = body;

    public RetryStats.Series RetryStats { get; } = retryStats;

    /// <summary>A gRPC request (content-type <c>application/grpc*</c>).</summary>
    public bool IsGrpc { get; init; }

    /// <summary>When the gRPC deadline expires, by the router's clock; null without one.</summary>
    public long? GrpcDeadline { get; init; }

    public required HttpContext Context { get; init; }

    public required ClusterContext Cluster { get; init; }

    public required IReverseProxyFeature Proxy { get; init; }

    /// <summary>The hosts YARP found available before the first attempt; a retry narrows them to those not tried.</summary>
    public required IReadOnlyList<DestinationState> Healthy { get; init; }

    /// <summary>The request's use of its route (or gRPC) deadline; the default lease without one.</summary>
    public required RouteDeadline.Pool.Lease RouteLease { get; init; }

    /// <summary>The route (or gRPC) deadline, also cancelled when the client goes away; null without one.</summary>
    public RouteDeadline? Route => RouteLease.Deadline;

    public required TimeSpan? PerTryTimeout { get; init; }

    public required UpstreamStats.RouteSeries Stats { get; init; }

    /// <summary>Whether the retry pipeline has passed over the first attempt, made before it was entered.</summary>
    public bool FirstAttemptReplayed { get; set; }

    public int Attempts { get; private set; }

    public int Retries => Attempts - 1;

    public AttemptOutcome Outcome { get; set; }

    public int UpstreamStatusCode { get; private set; }

    /// <summary>The <c>grpc-status</c> of a trailers-only response, -1 otherwise.</summary>
    public int GrpcStatus { get; private set; } = -1;

    public long StartTimestamp { get; private set; }

    public long EndTimestamp { get; private set; }

    public double? UpstreamMilliseconds => EndTimestamp == 0 ? null : Stopwatch.GetElapsedTime(StartTimestamp, EndTimestamp).TotalMilliseconds;

    /// <summary>The response matched the retry conditions and is held back: a retry will replace it.</summary>
    public bool RetryFollows { get; private set; }

    /// <summary>A place in the cluster's retry budget taken for the next attempt, then held by it until it ends.</summary>
    private bool _budgetForNext;
    private bool _budgetForCurrent;

    /// <summary>The current attempt's cancellation: client gone, or a deadline.</summary>
    public CancellationToken Aborted { get; set; }

    /// <summary>The hosts tried, for the next attempt to avoid.</summary>
    public List<DestinationState>? Tried { get; set; }

    /// <summary>The client stream's reset (HTTP/2, HTTP/3), which YARP uses instead of <see cref="Abort"/> when there is one.</summary>
    public IHttpResetFeature? ClientReset { get; init; }

    /// <summary>The proxy reset the client's response itself (<see cref="Abort"/>, <see cref="Reset"/>); whether the client had gone before.</summary>
    private bool _abortedByProxy;
    private bool _clientGoneBeforeAbort;

    /// <summary>
    /// The client went away (as opposed to a deadline cutting the attempt short, or the proxy resetting the response
    /// because the upstream broke off: that abort raises <c>RequestAborted</c> too, on the thread pool, later).
    /// </summary>
    public bool ClientGone => _abortedByProxy ? _clientGoneBeforeAbort : client.RequestAborted.IsCancellationRequested;

    /// <summary>The client's own lifetime.</summary>
    public CancellationToken ClientAborted => client.RequestAborted;

    /// <summary>The request's own lifetime feature, which this attempt stands in for.</summary>
    public IHttpRequestLifetimeFeature Client => client;

    CancellationToken IHttpRequestLifetimeFeature.RequestAborted
    {
        get => Aborted;
        set => throw new NotSupportedException("An attempt's lifetime is set by the router.");
    }

    public void Abort()
    {
        MarkAbortedByProxy();
        client.Abort();
    }

    public void Reset(int errorCode)
    {
        MarkAbortedByProxy();
        ClientReset!.Reset(errorCode);
    }

    private void MarkAbortedByProxy()
    {
        _clientGoneBeforeAbort = client.RequestAborted.IsCancellationRequested;
        _abortedByProxy = true;
    }

    /// <summary>Starts the next attempt: forgets the previous one's response and outcome.</summary>
    public void Begin()
    {
        Attempts++;
        _budgetForCurrent = _budgetForNext;
        _budgetForNext = false;
        Outcome = AttemptOutcome.None;
        UpstreamStatusCode = 0;
        GrpcStatus = -1;
        RetryFollows = false;
        StartTimestamp = Stopwatch.GetTimestamp();
        EndTimestamp = 0;
    }

    /// <summary>
    /// At response headers: records the response, and decides whether a retry will replace it — it matches the retry
    /// conditions, attempts are left, the body can still be replayed, no deadline expired, and the cluster's retry budget
    /// admits one more retry (taken now, held until that retry ends). Only then is the response held back; in every
    /// other case it reaches the client exactly as the upstream sent it.
    /// </summary>
    /// <returns>True when the response body must be suppressed for the retry.</returns>
    public bool TryHoldForRetry(int statusCode, int grpcStatus)
    {
        UpstreamStatusCode = statusCode;
        GrpcStatus = grpcStatus;
        if (Attempts > MaxRetries || !RetryClassifier.IsRetriableResponse(statusCode, grpcStatus, Conditions, statusCodes)
            || Aborted.IsCancellationRequested)
        {
            return false;
        }

        if (Body is { CanReplay: false })
        {
            RetryStats.Abandoned.Inc();
            return false;
        }

        if (!budget.TryStartRetry())
        {
            return false;
        }

        _budgetForNext = true;
        RetryFollows = true;
        return true;
    }

    /// <summary>After an attempt that failed without a response: takes a retry from the budget when one is allowed.</summary>
    public bool TryStartRetryAfterError()
    {
        if (Body is { CanReplay: false })
        {
            RetryStats.Abandoned.Inc();
            return false;
        }

        if (!budget.TryStartRetry())
        {
            return false;
        }

        _budgetForNext = true;
        return true;
    }

    /// <summary>The current attempt ended: a retry gives its budget place back.</summary>
    public void End()
    {
        EndTimestamp = Stopwatch.GetTimestamp();
        if (_budgetForCurrent)
        {
            _budgetForCurrent = false;
            budget.EndRetry();
        }
    }

    /// <summary>No more attempts: a place taken for a retry that will not run (the deadline expired in the back-off) is given back.</summary>
    public void ReleaseRetryBudget()
    {
        if (_budgetForNext)
        {
            _budgetForNext = false;
            budget.EndRetry();
        }

        if (_budgetForCurrent)
        {
            _budgetForCurrent = false;
            budget.EndRetry();
        }
    }
}
