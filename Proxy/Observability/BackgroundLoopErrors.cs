using Prometheus;

namespace ProxyMesh.Proxy.Observability;

/// <summary>
/// Where a background loop (health checking, discovery polling, registration) reports an exception it did not
/// expect before it carries on: counted per loop in <c>proxymesh_background_loop_errors_total</c>, and logged once
/// per loop, exception type and minute, so a fault that repeats every turn neither stops the loop nor floods the log.
/// </summary>
public sealed partial class BackgroundLoopErrors
{
    private readonly Counter _errors;
    private readonly ThrottledLog<string> _throttle;
    private readonly ILogger<BackgroundLoopErrors> _logger;

    public BackgroundLoopErrors(CollectorRegistry registry, TimeProvider time, ILogger<BackgroundLoopErrors> logger)
    {
        _errors = Metrics.WithCustomRegistry(registry)
            .CreateCounter("proxymesh_background_loop_errors_total", "Unexpected exceptions in background loops, which carried on after them.", "loop");
        _throttle = new ThrottledLog<string>(time);
        _logger = logger;
    }

    /// <param name="loop">The loop's name, a stat label: <c>health_check</c>, <c>discovery</c> or <c>registration</c>.</param>
    public void Report(string loop, Exception exception)
    {
        _errors.WithLabels(loop).Inc();
        if (_throttle.ShouldLog($"{loop}:{exception.GetType().FullName}"))
        {
            LogUnexpected(_logger, loop, exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Background loop {Loop} hit an unexpected exception and carries on (logged at most once a minute per exception type; see proxymesh_background_loop_errors_total)")]
    private static partial void LogUnexpected(ILogger logger, string loop, Exception exception);
}
