using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Clusters;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Resilience.OutlierDetection;
using ProxyMesh.Proxy.Resilience.Timeouts;
using ProxyMesh.Proxy.Resilience.Upstream;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// Envoy's router, around YARP's load balancing and forwarding. It first admits the request under its cluster's
/// max_requests circuit breaker, or answers at once with 503 and <c>x-envoy-overloaded: true</c> (gRPC: UNAVAILABLE);
/// the breaker is checked here rather than in a step of its own, which would cost an async frame per request. It runs
/// the request as a series of upstream attempts,
/// each with exactly one outcome (<see cref="AttemptClassifier"/>), which it reports to upstream stats (per attempt)
/// and outlier detection, and on which it decides retries — each to a host not tried yet when one is left, after a
/// fully jittered exponential back-off. Deadlines: the route timeout bounds an ordinary request until its response is
/// complete; a gRPC call is bounded by its caller's <c>grpc-timeout</c> instead (capped by <c>MaxGrpcTimeout</c>); an
/// upgrade by nothing but the stream idle timeout; each attempt by the per-try timeout. An attempt whose connection a
/// circuit breaker refused (max_connections / max_pending_requests) is answered as an overflow too, instead of YARP's
/// 502, and a cluster with no available host with Envoy's <c>no healthy upstream</c>.
/// </summary>
internal sealed class UpstreamRouterMiddleware(
    RequestDelegate next,
    RetryPipelines pipelines,
    UpstreamStats upstreamStats,
    UpstreamFailureLog failureLog,
    TimeProvider time)
{
    /// <summary>Longer deadlines are no deadline: a timer cannot be set that far.</summary>
    private static readonly TimeSpan LongestDeadline = TimeSpan.FromDays(20);

    private readonly RouteDeadline.Pool _deadlines = new(time);

    public Task InvokeAsync(HttpContext context)
    {
        var cluster = ClusterContext.Of(context);
        if (!cluster.CircuitBreakers.TryStartRequest())
        {
            return LocalReply.Overloaded.WriteRefusalAsync(context, time);
        }

        UpstreamAttempt? attempt;
        try
        {
            attempt = Start(context, cluster);
        }
        catch
        {
            cluster.CircuitBreakers.EndRequest();
            throw;
        }

        return attempt is null ? ReplyMalformedGrpcTimeoutAsync(context, cluster) : RouteAsync(attempt);
    }

    /// <summary>
    /// Everything decided before the first attempt, synchronously: the attempt carries it, so that the async frame
    /// that awaits the attempts holds little more than the attempt itself.
    /// </summary>
    /// <returns>The request's attempts, with their features set; null when the request's <c>grpc-timeout</c> is malformed.</returns>
    private UpstreamAttempt? Start(HttpContext context, ClusterContext cluster)
    {
        var proxy = context.GetReverseProxyFeature();
        var retry = cluster.Retry;
        var timeouts = cluster.Timeouts;
        var trusted = context.Features.Get<ProxyListenerFeature>()?.TrustsControlHeaders == true;
        var request = context.Request;
        var overrides = ControlHeaders.ReadAndStrip(request.Headers, trusted);
        var isGrpc = IsGrpc(request);

        var conditions = overrides.RetryOn ?? retry.Conditions;
        var maxRetries = conditions == RetryConditions.None ? 0 : overrides.MaxRetries ?? retry.NumRetries;
        if (!IsIdempotent(request.Method))
        {
            // A non-idempotent request is retried only when it surely never reached the upstream, or on the gRPC
            // statuses a gRPC retry policy names (gRPC calls are all POSTs).
            conditions &= RetryConditions.ConnectFailure | RetryConditions.RefusedStream | (isGrpc ? GrpcConditions : RetryConditions.None);
        }

        TimeSpan? deadline;
        if (isGrpc)
        {
            if (!TryGrpcDeadline(request, timeouts, out deadline))
            {
                return null;
            }
        }
        else
        {
            deadline = IsUpgrade(context) ? null : overrides.RouteTimeout ?? timeouts.Route;
        }

        if (deadline <= TimeSpan.Zero && !isGrpc || deadline > LongestDeadline)
        {
            deadline = null;
        }

        var perTryTimeout = overrides.PerTryTimeout ?? retry.PerTryTimeout;
        if (perTryTimeout <= TimeSpan.Zero)
        {
            perTryTimeout = null; // x-envoy-upstream-rq-per-try-timeout-ms: 0 means none, as in Envoy.
        }

        var client = context.Features.Get<IHttpRequestLifetimeFeature>()!;
        var body = WrapBody(context, maxRetries, retry.MaxReplayBytes);
        var reset = context.Features.Get<IHttpResetFeature>();
        var attempt = new UpstreamAttempt(client, conditions, retry.StatusCodes, maxRetries, body, cluster.CircuitBreakers, cluster.RetryStats)
        {
            ClientReset = reset,
            IsGrpc = isGrpc,
            GrpcDeadline = isGrpc && deadline is { } grpcDeadline ? time.GetTimestamp() + (long)(grpcDeadline.TotalSeconds * time.TimestampFrequency) : null,
            Context = context,
            Cluster = cluster,
            Proxy = proxy,
            Healthy = proxy.AvailableDestinations,
            RouteLease = deadline is { } limit ? _deadlines.Start(limit, client.RequestAborted) : default,
            PerTryTimeout = perTryTimeout,
            Stats = cluster.UpstreamStats.Route(proxy.Route.Config),
        };
        context.Features.Set<IHttpRequestLifetimeFeature>(attempt);
        if (reset is not null)
        {
            context.Features.Set<IHttpResetFeature>(attempt);
        }

        context.Features.Set(attempt);
        context.Features.Set<IUpstreamAttemptFeature>(attempt);
        return attempt;
    }

    /// <summary>The request's attempts, until one ends it; then its max_requests place is given back.</summary>
    private async Task RouteAsync(UpstreamAttempt attempt)
    {
        try
        {
            try
            {
                // The first attempt runs outside Polly, and in this frame: most requests need no retry, and both the
                // pipeline and an async frame of the attempt's own cost per request.
                bool retryFollows;
                using (var timers = AttemptTimers.Start(attempt, time))
                {
                    await next(attempt.Context);
                    var end = EndAttempt(attempt, timers);
                    if (end == AttemptEnd.TimeoutReply)
                    {
                        await LocalReply.UpstreamTimeout.WriteAsync(attempt.Context);
                    }

                    retryFollows = end == AttemptEnd.Retry;
                }

                if (retryFollows && attempt.MaxRetries > 0)
                {
                    await pipelines.For(attempt.Cluster.Retry).ExecuteAsync(
                        static (state, _) => state.Router.RetryAsync(state.Attempt),
                        (Router: this, Attempt: attempt),
                        attempt.Route?.Token ?? attempt.ClientAborted);
                }
            }
            catch (OperationCanceledException) when (attempt.Route?.Expired == true && !attempt.ClientAborted.IsCancellationRequested && !attempt.Context.Response.HasStarted)
            {
                // The deadline expired during a back-off.
                await LocalReply.UpstreamTimeout.WriteAsync(attempt.Context);
            }
            finally
            {
                await EndAttemptsAsync(attempt);
            }
        }
        finally
        {
            attempt.Cluster.CircuitBreakers.EndRequest();
        }

        if (attempt.Context.Response.HasStarted)
        {
            return;
        }

        if (attempt.Outcome == AttemptOutcome.Overflow)
        {
            await LocalReply.Overloaded.WriteAsync(attempt.Context);
        }
        else if (attempt.Outcome == AttemptOutcome.NoHealthyUpstream)
        {
            // YARP answers a bare 503; Envoy says why (gRPC callers get UNAVAILABLE).
            await LocalReply.NoHealthyUpstream.WriteAsync(attempt.Context);
        }
    }

    /// <summary>
    /// No more attempts: gives back a retry budget place still held and the route deadline, and puts back the request's
    /// own lifetime, reset and body. The attempt stays the request's <see cref="IUpstreamAttemptFeature"/>, for the
    /// access log and stats that read it later.
    /// </summary>
    private static ValueTask EndAttemptsAsync(UpstreamAttempt attempt)
    {
        var context = attempt.Context;
        attempt.ReleaseRetryBudget();
        attempt.RouteLease.Dispose();
        context.Features.Set(attempt.Client);
        if (attempt.ClientReset is { } reset)
        {
            context.Features.Set(reset);
        }

        context.Features.Set<UpstreamAttempt>(null);
        if (attempt.Body is not { } body)
        {
            return ValueTask.CompletedTask;
        }

        context.Request.Body = body.Inner;
        return body.DisposeAsync();
    }

    /// <summary>gRPC's answer to a malformed <c>grpc-timeout</c>, while the request holds its max_requests place.</summary>
    private async Task ReplyMalformedGrpcTimeoutAsync(HttpContext context, ClusterContext cluster)
    {
        try
        {
            await LocalReply.MalformedGrpcTimeout.WriteRefusalAsync(context, time);
        }
        finally
        {
            cluster.CircuitBreakers.EndRequest();
        }
    }

    /// <summary>
    /// The retry pipeline's step. Its first execution stands for the attempt already made (which asked for a retry), so
    /// that Polly waits the first back-off before the second attempt, as it would had it run the first one itself.
    /// </summary>
    private ValueTask<bool> RetryAsync(UpstreamAttempt attempt)
    {
        if (!attempt.FirstAttemptReplayed)
        {
            attempt.FirstAttemptReplayed = true;
            return ValueTask.FromResult(true);
        }

        return AttemptAsync(attempt);
    }

    /// <summary>A retry: the next attempt, to a host not tried yet when one is left.</summary>
    /// <returns>Whether to retry again (the pipeline then waits the back-off and runs another attempt).</returns>
    private async ValueTask<bool> AttemptAsync(UpstreamAttempt attempt)
    {
        var (context, proxy) = (attempt.Context, attempt.Proxy);
        proxy.AvailableDestinations = attempt.Cluster.ExcludeTried(context, attempt.Healthy, attempt.Tried!);
        context.Features.Set<IForwarderErrorFeature>(null);
        ClearKeepingRequestId(context.Response);
        attempt.Body?.Rewind();

        using var timers = AttemptTimers.Start(attempt, time);
        await next(context);
        var end = EndAttempt(attempt, timers);
        if (end == AttemptEnd.TimeoutReply)
        {
            await LocalReply.UpstreamTimeout.WriteAsync(context);
        }

        return end == AttemptEnd.Retry;
    }

    /// <summary>How an attempt ended, for the router.</summary>
    private enum AttemptEnd
    {
        Done,
        Retry,

        /// <summary>The attempt timed out before a response started: the caller gets Envoy's timeout reply.</summary>
        TimeoutReply,
    }

    /// <summary>After an attempt: classifies its outcome once, reports it, and decides on a retry.</summary>
    private AttemptEnd EndAttempt(UpstreamAttempt attempt, in AttemptTimers timers)
    {
        var (context, proxy) = (attempt.Context, attempt.Proxy);
        attempt.End();
        var destination = proxy.ProxiedDestination;
        var error = context.GetForwarderErrorFeature();
        var expired = attempt.Route?.Expired == true ? ExpiredTimer.Route
            : timers.PerTryExpired ? ExpiredTimer.PerTry
            : ExpiredTimer.None;

        // A client abort after a timer expired is the proxy's own doing: YARP resets a response the timer cut short.
        var clientGone = expired == ExpiredTimer.None && attempt.ClientGone;
        var outcome = AttemptClassifier.Classify(new AttemptFacts(
            error?.Error ?? ForwarderError.None, error?.Exception, attempt.UpstreamStatusCode, attempt.GrpcStatus, clientGone, expired));
        attempt.Outcome = outcome;
        failureLog.Report(attempt.Cluster.ClusterId, outcome, error?.Error ?? ForwarderError.None, error?.Exception);
        upstreamStats.RecordAttempt(attempt.Stats, outcome, attempt.UpstreamStatusCode, Seconds(attempt), destination?.DestinationId);
        if (destination is not null)
        {
            attempt.Cluster.RecordOutcome(destination, OutlierSignal.Of(outcome));
        }

        if (attempt.RetryFollows || MayRetryAfterError(context, attempt, destination))
        {
            attempt.RetryStats.Retries.Inc();
            attempt.RetryStats.RetriedResponse(context.Response.StatusCode).Inc();
            if (destination is not null)
            {
                (attempt.Tried ??= []).Add(destination);
            }

            return AttemptEnd.Retry;
        }

        if (outcome is AttemptOutcome.Timeout or AttemptOutcome.PerTryTimeout && !context.Response.HasStarted)
        {
            return AttemptEnd.TimeoutReply;
        }

        if (attempt.Retries > 0 && outcome == AttemptOutcome.Success)
        {
            attempt.RetryStats.Successes.Inc();
        }

        return AttemptEnd.Done;
    }

    /// <summary>
    /// One attempt's per-try timer and its link to the route deadline (or the client), when a per-try timeout is set;
    /// starting it begins the attempt and sets the lifetime YARP sees.
    /// </summary>
    private readonly struct AttemptTimers : IDisposable
    {
        private readonly CancellationTokenSource? _perTry;
        private readonly CancellationTokenSource? _linked;

        private AttemptTimers(CancellationTokenSource perTry, CancellationTokenSource linked) => (_perTry, _linked) = (perTry, linked);

        public bool PerTryExpired => _perTry?.IsCancellationRequested == true;

        public static AttemptTimers Start(UpstreamAttempt attempt, TimeProvider time)
        {
            attempt.Begin();
            var timers = default(AttemptTimers);
            var outer = attempt.Route?.Token ?? attempt.ClientAborted;
            if (attempt.PerTryTimeout is { } limit)
            {
                var perTry = new CancellationTokenSource(limit, time);
                timers = new AttemptTimers(perTry, CancellationTokenSource.CreateLinkedTokenSource(perTry.Token, outer));
            }

            attempt.Aborted = timers._linked?.Token ?? outer;
            return timers;
        }

        public void Dispose()
        {
            _linked?.Dispose();
            _perTry?.Dispose();
        }
    }

    /// <summary>An attempt that failed without a response is retried when its outcome matches the conditions and the budget allows.</summary>
    private static bool MayRetryAfterError(HttpContext context, UpstreamAttempt attempt, DestinationState? destination) =>
        attempt.UpstreamStatusCode == 0
        && attempt.Retries < attempt.MaxRetries
        && destination is not null
        && !context.Response.HasStarted
        && RetryClassifier.IsRetriable(attempt.Outcome, attempt.Conditions)
        && attempt.TryStartRetryAfterError();

    private static double Seconds(UpstreamAttempt attempt) =>
        System.Diagnostics.Stopwatch.GetElapsedTime(attempt.StartTimestamp, attempt.EndTimestamp).TotalSeconds;

    /// <summary>
    /// A gRPC call's deadline: its <c>grpc-timeout</c>, capped by <c>MaxGrpcTimeout</c> (which is also the deadline of a
    /// call without one), or none. False when the header is malformed.
    /// </summary>
    private static bool TryGrpcDeadline(HttpRequest request, TimeoutPolicy timeouts, out TimeSpan? deadline)
    {
        var cap = timeouts.MaxGrpcTimeout > TimeSpan.Zero ? timeouts.MaxGrpcTimeout : null;
        deadline = cap;
        var header = request.Headers[GrpcTimeout.Header];
        if (header.Count == 0)
        {
            return true;
        }

        if (header.Count > 1 || !GrpcTimeout.TryParse(header[0], out var asked))
        {
            return false;
        }

        deadline = cap < asked ? cap : asked;
        return true;
    }

    /// <summary>
    /// Wraps the body for replay when retries are possible: a bounded copy is kept while the body streams upstream, and
    /// a body known to be too large is marked unreplayable at once. Nothing is read before the upstream asks for it.
    /// </summary>
    private static ReplayableRequestBody? WrapBody(HttpContext context, int maxRetries, int maxReplayBytes)
    {
        if (maxRetries == 0 || context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true)
        {
            return null;
        }

        var body = new ReplayableRequestBody(context.Request.Body, maxReplayBytes);
        if (context.Request.ContentLength > maxReplayBytes)
        {
            body.MarkUnreplayable();
        }

        context.Request.Body = body;
        return body;
    }

    /// <summary>Forgets a held-back response before the next attempt, keeping the <c>x-request-id</c> the caller gets back.</summary>
    private static void ClearKeepingRequestId(HttpResponse response)
    {
        var requestId = response.Headers[RequestId.Header];
        response.Clear();
        if (requestId.Count > 0)
        {
            response.Headers[RequestId.Header] = requestId;
        }
    }

    private const RetryConditions GrpcConditions = RetryConditions.GrpcCancelled | RetryConditions.GrpcDeadlineExceeded
        | RetryConditions.GrpcInternal | RetryConditions.GrpcResourceExhausted | RetryConditions.GrpcUnavailable;

    private static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method)
        || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method);

    private static bool IsUpgrade(HttpContext context) =>
        context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
        || context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true;

    internal static bool IsGrpc(HttpRequest request) =>
        request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;
}
