namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>One host's outcomes in one interval, as the success-rate and failure-percentage detectors see them.</summary>
public readonly record struct HostCounts(long Successes, long Failures)
{
    public long Volume => Successes + Failures;

    /// <summary>Success rate in percent (Envoy computes it in percent too).</summary>
    public double SuccessRate => Volume == 0 ? 100 : 100.0 * Successes / Volume;
}

/// <summary>Envoy's interval detectors, on one interval's counts: pure functions, so they are tested with synthetic counts.</summary>
public static class OutlierEvaluation
{
    /// <summary>
    /// Success rate: among hosts with at least <c>SuccessRateRequestVolume</c> requests, when there are at least
    /// <c>SuccessRateMinimumHosts</c> of them, hosts whose success rate is below mean − stdev × factor / 1000.
    /// </summary>
    public static void SuccessRateOutliers(ReadOnlySpan<HostCounts> hosts, OutlierDetectionOptions options, List<int> outliers)
    {
        var qualifying = 0;
        var sum = 0.0;
        foreach (var host in hosts)
        {
            if (host.Volume >= options.SuccessRateRequestVolume)
            {
                qualifying++;
                sum += host.SuccessRate;
            }
        }

        if (qualifying == 0 || qualifying < options.SuccessRateMinimumHosts)
        {
            return;
        }

        var mean = sum / qualifying;
        var squares = 0.0;
        foreach (var host in hosts)
        {
            if (host.Volume >= options.SuccessRateRequestVolume)
            {
                squares += (host.SuccessRate - mean) * (host.SuccessRate - mean);
            }
        }

        var threshold = mean - (Math.Sqrt(squares / qualifying) * options.SuccessRateStdevFactor / 1000.0);
        for (var i = 0; i < hosts.Length; i++)
        {
            if (hosts[i].Volume >= options.SuccessRateRequestVolume && hosts[i].SuccessRate < threshold)
            {
                outliers.Add(i);
            }
        }
    }

    /// <summary>
    /// Failure percentage: among hosts with at least <c>FailurePercentageRequestVolume</c> requests, when there are at
    /// least <c>FailurePercentageMinimumHosts</c> of them, hosts whose failure percentage is at least the threshold.
    /// </summary>
    public static void FailurePercentageOutliers(ReadOnlySpan<HostCounts> hosts, OutlierDetectionOptions options, List<int> outliers)
    {
        var qualifying = 0;
        foreach (var host in hosts)
        {
            if (host.Volume >= options.FailurePercentageRequestVolume)
            {
                qualifying++;
            }
        }

        if (qualifying == 0 || qualifying < options.FailurePercentageMinimumHosts)
        {
            return;
        }

        for (var i = 0; i < hosts.Length; i++)
        {
            if (hosts[i].Volume >= options.FailurePercentageRequestVolume && 100 - hosts[i].SuccessRate >= options.FailurePercentageThreshold)
            {
                outliers.Add(i);
            }
        }
    }
}
