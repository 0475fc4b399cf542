using Yarp.ReverseProxy.Model;

namespace ProxyMesh.Proxy.Resilience.HealthChecks;

/// <summary>
/// One host's check results folded into its health, by Envoy's rules: the first check decides; then an answer that
/// says unhealthy ejects at once, network failures after <see cref="HealthCheckPolicy.UnhealthyThreshold"/> in a row,
/// and an unhealthy host returns after <see cref="HealthCheckPolicy.HealthyThreshold"/> successes in a row.
/// </summary>
internal sealed class HostHealthCounter
{
    private int _successes;
    private int _failures;

    public DestinationHealth Health { get; private set; } = DestinationHealth.Unknown;

    public DestinationHealth Apply(ProbeResult result, HealthCheckPolicy policy)
    {
        if (result == ProbeResult.Success)
        {
            _failures = 0;
            _successes++;
            if (Health == DestinationHealth.Unknown || (Health == DestinationHealth.Unhealthy && _successes >= policy.HealthyThreshold))
            {
                Health = DestinationHealth.Healthy;
            }
        }
        else
        {
            _successes = 0;
            _failures++;
            if (Health == DestinationHealth.Unknown || result == ProbeResult.Failure || _failures >= policy.UnhealthyThreshold)
            {
                Health = DestinationHealth.Unhealthy;
            }
        }

        return Health;
    }
}
