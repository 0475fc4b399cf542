using ProxyMesh.Proxy.Observability;
using Prometheus;

namespace ProxyMesh.Proxy.Resilience.OutlierDetection;

/// <summary>The detectors, named as in Envoy's <c>ejections_detected_&lt;type&gt;</c> stats.</summary>
public enum EjectionType
{
    Consecutive5xx,
    ConsecutiveGatewayFailure,
    SuccessRate,
    FailurePercentage,
}

/// <summary>
/// Envoy's <c>cluster.&lt;name&gt;.outlier_detection.ejections_*</c> stats per cluster: <c>ejections_active</c>,
/// <c>ejections_enforced_&lt;type&gt;</c>, <c>ejections_detected_&lt;type&gt;</c>, <c>ejections_overflow</c>.
/// </summary>
internal sealed class OutlierDetectionStats
{
    private static readonly string[] TypeLabels = ["consecutive_5xx", "consecutive_gateway_failure", "success_rate", "failure_percentage"];

    private readonly Gauge _active;
    private readonly Counter _enforced;
    private readonly Counter _detected;
    private readonly Counter _overflow;

    public OutlierDetectionStats(CollectorRegistry registry)
    {
        var factory = StatsFactory.For(registry);
        _active = factory.CreateGauge("proxymesh_outlier_detection_ejections_active", "Hosts currently ejected by outlier detection.", "cluster");
        _enforced = factory.CreateCounter("proxymesh_outlier_detection_ejections_enforced_total", "Outlier ejections enforced, by detector.", "cluster", "type");
        _detected = factory.CreateCounter("proxymesh_outlier_detection_ejections_detected_total", "Outliers detected, by detector, whether or not the ejection was enforced.", "cluster", "type");
        _overflow = factory.CreateCounter("proxymesh_outlier_detection_ejections_overflow_total", "Ejections skipped because MaxEjectionPercent was reached.", "cluster");
    }

    /// <summary>One cluster's series, resolved once.</summary>
    public sealed class Cluster
    {
        public Cluster(OutlierDetectionStats stats, string cluster)
        {
            Active = stats._active.WithLabels(cluster);
            Overflow = stats._overflow.WithLabels(cluster);
            for (var i = 0; i < TypeLabels.Length; i++)
            {
                Enforced[i] = stats._enforced.WithLabels(cluster, TypeLabels[i]);
                Detected[i] = stats._detected.WithLabels(cluster, TypeLabels[i]);
            }
        }

        public Gauge.Child Active { get; }

        public Counter.Child Overflow { get; }

        public Counter.Child[] Enforced { get; } = new Counter.Child[TypeLabels.Length];

        public Counter.Child[] Detected { get; } = new Counter.Child[TypeLabels.Length];
    }

    public static string Label(EjectionType type) => TypeLabels[(int)type];
}
