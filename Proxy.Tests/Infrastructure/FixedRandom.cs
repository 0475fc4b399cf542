namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>A random source that always draws the same fraction, to make jitter predictable.</summary>
public sealed class FixedRandom(double fraction) : Random
{
    public override double NextDouble() => fraction;
}
