using Microsoft.AspNetCore.Http.Features;
using ProxyMesh.Proxy.Clusters;
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
    RetryPipelines pipelines,
    TimeProvider time)
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
        var run = new Run(context, proxy, attempt, body, healthy, clusterId, maxRetries, route, routeTimeout, perTryTimeout, stats.For(clusterId), client.RequestAborted);
        try
        {
            await pipelines.For(retry).ExecuteAsync(
                static (state, _) => state.Router.AttemptAsync(state.Run),
                (Router: this, Run: run),
                route?.Token ?? client.RequestAborted);
        }
        catch (OperationCanceledException) when (route?.IsCancellationRequested == true && !client.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            // The route timeout expired during a back-off.
            await AnswerTimeoutAsync(context, routeTimeout);
        }
        finally
        {
            ReleaseRetryBudget(attempt, clusterId);
            context.Features.Set(client);
            context.Features.Set<UpstreamAttempt>(null);
            if (body is not null)
            {
                context.Request.Body = body.Inner;
                await body.DisposeAsync();
            }
        }
    }

    /// <summary>One attempt, run by the retry pipeline.</summary>
    /// <returns>Whether to retry (the pipeline then waits the back-off and runs another attempt).</returns>
    private async ValueTask<bool> AttemptAsync(Run run)
    {
        var (context, proxy, attempt, body) = (run.Context, run.Proxy, run.Attempt, run.Body);
        var client = run.ClientAborted;
        if (attempt.Retries > 0)
        {
            proxy.AvailableDestinations = ClusterContext.Of(context).ExcludeTried(context, run.Healthy, attempt.Tried!);
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.Clear();
            body?.Rewind();
        }

        using var perTry = run.PerTryTimeout is { } limit ? new CancellationTokenSource(limit, time) : null;
        using var perTryLinked = perTry is null ? null : CancellationTokenSource.CreateLinkedTokenSource(perTry.Token, run.Route?.Token ?? client);
        attempt.Aborted = perTryLinked?.Token ?? run.Route?.Token ?? client;
        attempt.MayRetry = attempt.Retries < run.MaxRetries && (body is null || body.CanReplay);
        attempt.RetriableResponse = false;

        await next(context);

        ReleaseRetryBudget(attempt, run.ClusterId);
        var timedOut = !client.IsCancellationRequested && (run.Route?.IsCancellationRequested == true || perTry?.IsCancellationRequested == true);
        var routeExpired = timedOut && run.Route?.IsCancellationRequested == true;
        if (!ShouldRetry(context, proxy, attempt, timedOut && !routeExpired, attempt.Retries, run.MaxRetries, body, run.Series))
        {
            if (timedOut && !context.Response.HasStarted)
            {
                await AnswerTimeoutAsync(context, routeExpired ? run.RouteTimeout : run.PerTryTimeout!.Value);
            }

            if (attempt.Retries > 0 && context.Response.StatusCode < 500 && !timedOut)
            {
                run.Series.Successes.Inc();
            }

            return false;
        }

        if (!budget.TryStartRetry(run.ClusterId))
        {
            return false;
        }

        attempt.HoldsRetryBudget = true;
        run.Series.Retries.Inc();
        run.Series.RetriedResponse(context.Response.StatusCode).Inc();
        attempt.Retries++;
        (attempt.Tried ??= []).Add(proxy.ProxiedDestination!);
        return true;
    }

    private void ReleaseRetryBudget(UpstreamAttempt attempt, string clusterId)
    {
        if (attempt.HoldsRetryBudget)
        {
            attempt.HoldsRetryBudget = false;
            budget.EndRetry(clusterId);
        }
    }

    /// <summary>What every attempt of one request shares.</summary>
    private sealed record Run(
        HttpContext Context,
        IReverseProxyFeature Proxy,
        UpstreamAttempt Attempt,
        ReplayableRequestBody? Body,
        IReadOnlyList<DestinationState> Healthy,
        string ClusterId,
        int MaxRetries,
        CancellationTokenSource? Route,
        TimeSpan RouteTimeout,
        TimeSpan? PerTryTimeout,
        RetryStats.Series Series,
        CancellationToken ClientAborted);

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
