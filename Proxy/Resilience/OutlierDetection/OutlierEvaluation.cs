namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>One host's outcomes in one interval, as the success-rate and failure-percentage detectors see them.</summary>
public readonly record struct HostCounts(long Successes, long Failures)
{
    public long Volume => Successes + Failures;

    /// <summary>Success rate in percent (Envoy computes it in percent too).</summary>
    public double SuccessRate => Volume == 0 ? 100 : 100.0 * Successes / Volume;
}

/// <summary>
/// Envoy's interval detectors on one interval's counts, and its ejection rules (enforcement, the ejection cap, the
/// ejection time and its multiplier): pure functions, so they are tested with synthetic counts and draws.
/// </summary>
public static class OutlierEvaluation
{
    /// <summary>A detected outlier is ejected with probability <paramref name="enforcingPercent"/> %, given a uniform draw in [0, 1).</summary>
    public static bool IsEnforced(double draw, int enforcingPercent) => draw * 100 < enforcingPercent;

    /// <summary>
    /// Envoy's <c>max_ejection_percent</c>: one more ejection may take at most that share of the cluster's hosts out;
    /// here one host may always be ejected (when none is).
    /// </summary>
    public static bool MayEjectAnother(int activeEjections, int hosts, int maxEjectionPercent) =>
        activeEjections == 0 || 100.0 * (activeEjections + 1) / Math.Max(hosts, 1) <= maxEjectionPercent;

    /// <summary>
    /// The ejection time multiplier after an ejection. Envoy raises it only while base × multiplier is below
    /// <c>max_ejection_time</c>: it stops growing at the cap, so a host that recovers decays from the cap in a few
    /// intervals rather than one interval per ejection it ever had.
    /// </summary>
    public static int MultiplierAfterEjection(int multiplier, OutlierDetectionOptions options) =>
        options.BaseEjectionTime * multiplier < MaxEjectionTime(options) ? multiplier + 1 : multiplier;

    /// <summary>Envoy: each interval a host is not ejected lowers the multiplier by one, down to zero.</summary>
    public static int MultiplierAfterHealthyInterval(int multiplier) => multiplier > 0 ? multiplier - 1 : 0;

    /// <summary>An ejection lasts base × multiplier, at most <c>MaxEjectionTime</c> (never less than the base).</summary>
    public static TimeSpan EjectionTime(int multiplier, OutlierDetectionOptions options)
    {
        var duration = options.BaseEjectionTime * multiplier;
        var max = MaxEjectionTime(options);
        return duration > max ? max : duration;
    }

    private static TimeSpan MaxEjectionTime(OutlierDetectionOptions options) =>
        options.MaxEjectionTime > options.BaseEjectionTime ? options.MaxEjectionTime : options.BaseEjectionTime;

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
