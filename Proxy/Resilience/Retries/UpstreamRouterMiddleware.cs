using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Listeners;
using ProxyMesh.Proxy.Resilience.Timeouts;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// Envoy's router, around YARP's load balancing and forwarding: the route timeout over all attempts, a per-try
/// timeout, and retries — each to a host not tried yet when one is left, after a fully jittered exponential
/// back-off — on the conditions of the cluster's retry policy.
/// </summary>
internal sealed class UpstreamRouterMiddleware(
    RequestDelegate next,
    ClusterPolicies policies,
    IRetryBudget budget,
    RetryStats stats,
    TimeProvider time,
    Random random)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var clusterId = proxy.Cluster?.Config.ClusterId ?? proxy.Route.Config.ClusterId ?? "";
        var retry = policies.For<RetryPolicy>(clusterId, RetryPolicy.Name);
        var timeouts = policies.For<TimeoutPolicy>(clusterId, TimeoutPolicy.Name);
        var trusted = context.Features.Get<ProxyListenerFeature>()?.TrustsControlHeaders == true;
        var healthy = proxy.AvailableDestinations;
        var overrides = ControlHeaders.ReadAndStrip(context.Request.Headers, trusted);

        var conditions = overrides.RetryOn ?? retry.Conditions;
        var maxRetries = conditions == RetryConditions.None ? 0 : overrides.MaxRetries ?? retry.NumRetries;
        if (!IsIdempotent(context.Request.Method))
        {
            // A non-idempotent request is retried only when it surely never reached the upstream, or on the gRPC
            // statuses a gRPC retry policy names (gRPC calls are all POSTs).
            conditions &= RetryConditions.ConnectFailure | RetryConditions.RefusedStream
                | (IsGrpc(context.Request) ? GrpcConditions : RetryConditions.None);
        }

        var routeTimeout = overrides.RouteTimeout ?? timeouts.Route;
        var perTryTimeout = overrides.PerTryTimeout ?? retry.PerTryTimeout;
        if (maxRetries == 0 && routeTimeout <= TimeSpan.Zero && perTryTimeout is null)
        {
            await next(context);
            return;
        }

        var client = context.Features.Get<IHttpRequestLifetimeFeature>()!;
        var attempt = new UpstreamAttempt(client, conditions, retry.StatusCodes);
        using var route = routeTimeout > TimeSpan.Zero ? new CancellationTokenSource(routeTimeout, time) : null;
        using var clientGone = route is null ? default : client.RequestAborted.Register(static state => ((CancellationTokenSource)state!).Cancel(), route);
        var body = await PrepareBodyAsync(context, maxRetries, retry.MaxReplayBytes);
        context.Features.Set<IHttpRequestLifetimeFeature>(attempt);
        context.Features.Set(attempt);
        var series = stats.For(clusterId);
        List<DestinationState>? tried = null;
        var retries = 0;
        try
        {
            while (true)
            {
                using var perTry = perTryTimeout is { } limit ? new CancellationTokenSource(limit, time) : null;
                using var perTryLinked = perTry is null ? null : CancellationTokenSource.CreateLinkedTokenSource(perTry.Token, route?.Token ?? client.RequestAborted);
                attempt.Aborted = perTryLinked?.Token ?? route?.Token ?? client.RequestAborted;
                attempt.MayRetry = retries < maxRetries && (body is null || body.CanReplay);
                attempt.RetriableResponse = false;

                await next(context);

                var timedOut = !client.RequestAborted.IsCancellationRequested && (route?.IsCancellationRequested == true || perTry?.IsCancellationRequested == true);
                var routeExpired = timedOut && route?.IsCancellationRequested == true;
                if (!ShouldRetry(context, proxy, attempt, timedOut && !routeExpired, retries, maxRetries, body, series))
                {
                    if (timedOut && !context.Response.HasStarted)
                    {
                        await AnswerTimeoutAsync(context, routeExpired ? routeTimeout : perTryTimeout!.Value);
                    }

                    if (retries > 0 && context.Response.StatusCode < 500 && !timedOut)
                    {
                        series.Successes.Inc();
                    }

                    return;
                }

                if (!budget.TryStartRetry(clusterId))
                {
                    series.Overflows.Inc();
                    return;
                }

                try
                {
                    series.Retries.Inc();
                    series.RetriedResponse(context.Response.StatusCode).Inc();
                    retries++;
                    (tried ??= []).Add(proxy.ProxiedDestination!);
                    proxy.AvailableDestinations = Untried(healthy, tried);
                    context.Features.Set<IForwarderErrorFeature>(null);
                    context.Response.Clear();
                    await Task.Delay(Backoff(retry, retries), time, route?.Token ?? client.RequestAborted);
                    body?.Rewind();
                }
                finally
                {
                    budget.EndRetry(clusterId);
                }
            }
        }
        catch (OperationCanceledException) when (route?.IsCancellationRequested == true && !client.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            // The route timeout expired during a back-off.
            await AnswerTimeoutAsync(context, routeTimeout);
        }
        finally
        {
            context.Features.Set(client);
            context.Features.Set<UpstreamAttempt>(null);
            if (body is not null)
            {
                context.Request.Body = body.Inner;
                await body.DisposeAsync();
            }
        }
    }

    private static bool ShouldRetry(
        HttpContext context, IReverseProxyFeature proxy, UpstreamAttempt attempt, bool perTryTimedOut, int retries, int maxRetries, ReplayableRequestBody? body, RetryStats.Series series)
    {
        if (retries >= maxRetries || proxy.ProxiedDestination is null)
        {
            return false;
        }

        var error = context.GetForwarderErrorFeature();
        var retriable = attempt.RetriableResponse
            || (perTryTimedOut && RetryClassifier.IsRetriableResponse(504, -1, attempt.Conditions, attempt.StatusCodes))
            || (error is not null && RetryClassifier.IsRetriableError(error.Error, error.Exception, attempt.Conditions));
        if (!retriable)
        {
            return false;
        }

        if (body is { CanReplay: false })
        {
            series.Abandoned.Inc();
            return false;
        }

        return !context.Response.HasStarted;
    }

    /// <summary>
    /// Wraps the body for replay: read into memory up front when its length is known to fit, kept as it streams
    /// when its length is unknown, and marked unreplayable when it is known to be too large.
    /// </summary>
    private static async ValueTask<ReplayableRequestBody?> PrepareBodyAsync(HttpContext context, int maxRetries, int maxReplayBytes)
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
        else if (context.Request.ContentLength is not null)
        {
            await body.FillAsync(context.RequestAborted);
        }

        context.Request.Body = body;
        return body;
    }

    private static IReadOnlyList<DestinationState> Untried(IReadOnlyList<DestinationState> all, List<DestinationState> tried)
    {
        var untried = new List<DestinationState>(all.Count);
        foreach (var destination in all)
        {
            if (!tried.Contains(destination))
            {
                untried.Add(destination);
            }
        }

        // Envoy's previous-hosts predicate gives up on avoiding tried hosts when none is left.
        return untried.Count > 0 ? untried : all;
    }

    /// <summary>Envoy's fully jittered exponential back-off: a random time in [0, (2^n − 1) × base], capped.</summary>
    private TimeSpan Backoff(RetryPolicy policy, int retry)
    {
        var ceiling = policy.BackoffBaseInterval * ((1L << Math.Min(retry, 30)) - 1);
        if (ceiling > policy.BackoffCap)
        {
            ceiling = policy.BackoffCap;
        }

        return ceiling * random.NextDouble();
    }

    private static async Task AnswerTimeoutAsync(HttpContext context, TimeSpan timeout)
    {
        context.Response.Clear();
        context.Features.Set<IForwarderErrorFeature>(new UpstreamTimeoutError(timeout));
        if (IsGrpc(context.Request))
        {
            // gRPC callers expect a status, not an HTTP error: a trailers-only DEADLINE_EXCEEDED.
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "4";
            context.Response.Headers["grpc-message"] = "upstream request timeout";
            return;
        }

        context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync("upstream request timeout");
    }

    private const RetryConditions GrpcConditions = RetryConditions.GrpcCancelled | RetryConditions.GrpcDeadlineExceeded
        | RetryConditions.GrpcInternal | RetryConditions.GrpcResourceExhausted | RetryConditions.GrpcUnavailable;

    private static bool IsIdempotent(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method)
        || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method);

    private static bool IsGrpc(HttpRequest request) =>
        request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;
}
