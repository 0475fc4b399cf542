namespace ProxyMesh.Proxy.Resilience.Timeouts;

/// <summary>Policy <c>Timeouts</c>: Envoy's route timeout (all attempts together) and connect timeout.</summary>
public sealed class TimeoutPolicy
{
    public const string Name = "Timeouts";

    /// <summary>Time for the whole upstream exchange, retries included; <c>00:00:00</c> disables it.</summary>
    public TimeSpan Route { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Time to open a connection to an upstream host.</summary>
    public TimeSpan Connect { get; set; } = TimeSpan.FromSeconds(5);
}
