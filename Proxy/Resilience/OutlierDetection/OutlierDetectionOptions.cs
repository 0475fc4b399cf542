namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>
/// Envoy's outlier detection (<c>config.cluster.v3.OutlierDetection</c>), field for field in PascalCase, with Envoy's
/// defaults except where the resilience issue decides otherwise: the success-rate detector is off until configured
/// (<see cref="EnforcingSuccessRate"/> 0 where Envoy has 100). Policy <c>OutlierDetection</c> in
/// <c>ProxyMesh:Defaults</c> and <c>ProxyMesh:Clusters:&lt;cluster&gt;</c>.
/// </summary>
public sealed class OutlierDetectionOptions
{
    public const string PolicyName = "OutlierDetection";

    public bool Enabled { get; set; } = true;

    /// <summary>Consecutive 5xx responses (and connection failures, timeouts, resets) before an ejection.</summary>
    public int Consecutive5xx { get; set; } = 5;

    /// <summary>Consecutive 502, 503, 504 (including the proxy's own for connection failures and timeouts) before an ejection.</summary>
    public int ConsecutiveGatewayFailure { get; set; } = 5;

    /// <summary>Time between sweeps of the success-rate and failure-percentage detectors (and of un-ejection).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>An ejection lasts this times the host's ejection multiplier, up to <see cref="MaxEjectionTime"/> (see <see cref="OutlierEvaluation.EjectionTime"/>).</summary>
    public TimeSpan BaseEjectionTime { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan MaxEjectionTime { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>Most of a cluster's hosts that may be ejected at once, in percent; one host may always be ejected.</summary>
    public int MaxEjectionPercent { get; set; } = 10;

    /// <summary>Percent chance that a detected consecutive-5xx outlier is ejected.</summary>
    public int EnforcingConsecutive5xx { get; set; } = 100;

    public int EnforcingConsecutiveGatewayFailure { get; set; }

    public int EnforcingSuccessRate { get; set; }

    public int SuccessRateMinimumHosts { get; set; } = 5;

    public int SuccessRateRequestVolume { get; set; } = 100;

    /// <summary>Outliers are below mean − stdev × (this / 1000): 1900 is 1.9 standard deviations.</summary>
    public int SuccessRateStdevFactor { get; set; } = 1900;

    public int EnforcingFailurePercentage { get; set; }

    public int FailurePercentageMinimumHosts { get; set; } = 5;

    public int FailurePercentageRequestVolume { get; set; } = 50;

    /// <summary>Hosts whose failure percentage in an interval is at least this are outliers.</summary>
    public int FailurePercentageThreshold { get; set; } = 85;
}
