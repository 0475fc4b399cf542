using System.Runtime.CompilerServices;
using Polly;
using Polly.Retry;

namespace ProxyMesh.Proxy.Resilience.Retries;

/// <summary>
/// The Polly retry pipeline of each retry policy. An attempt returns whether it wants another one (the router has
/// already weighed the conditions, the attempts left and the retry budget); Polly runs the loop and waits Envoy's
/// fully jittered exponential back-off between attempts, on the injected clock. A pipeline lives as long as its
/// policy instance, which <see cref="ClusterPolicies"/> replaces on reload.
/// </summary>
internal sealed class RetryPipelines(TimeProvider time, Random random)
{
    /// <summary>Above any configurable NumRetries: the router decides when to stop.</summary>
    private const int MaxAttempts = 11;

    private readonly ConditionalWeakTable<RetryPolicy, ResiliencePipeline<bool>> _pipelines = [];

    public ResiliencePipeline<bool> For(RetryPolicy policy) => _pipelines.GetValue(policy, Build);

    private ResiliencePipeline<bool> Build(RetryPolicy policy) =>
        new ResiliencePipelineBuilder<bool> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<bool>
            {
                MaxRetryAttempts = MaxAttempts,
                ShouldHandle = static arguments => ValueTask.FromResult(arguments.Outcome.Result),
                DelayGenerator = arguments => ValueTask.FromResult<TimeSpan?>(Backoff(policy, arguments.AttemptNumber + 1)),
            })
            .Build();

    /// <summary>Envoy's fully jittered exponential back-off: retry n waits a random time in [0, (2^n − 1) × base], capped.</summary>
    private TimeSpan Backoff(RetryPolicy policy, int retry)
    {
        var ceiling = policy.BackoffBaseInterval * ((1L << Math.Min(retry, 30)) - 1);
        if (ceiling > policy.BackoffCap)
        {
            ceiling = policy.BackoffCap;
        }

        return ceiling * random.NextDouble();
    }
}
