namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>A random source whose first draw throws: an unexpected fault in code that calls it, then fixed draws.</summary>
public sealed class ThrowingOnceRandom(double fraction) : Random
{
    private int _draws;

    public override double NextDouble() =>
        Interlocked.Increment(ref _draws) == 1 ? throw new InvalidOperationException("injected fault") : fraction;
}
