namespace ProxyMesh.Proxy.Tests.Infrastructure;

/// <summary>Checks that a measured loop allocates nothing per iteration.</summary>
internal static class AllocationAssert
{
    /// <summary>
    /// Under one byte per iteration in all: any allocation per iteration costs at least 24 bytes each, while the runtime
    /// may allocate a few KB once on the measuring thread when it swaps in tier-1 code in the middle of the loop.
    /// </summary>
    public static void NothingPerIteration(long allocatedBytes, int iterations, string what) =>
        Assert.True(allocatedBytes < iterations, $"{what} allocated {allocatedBytes} bytes over {iterations:N0} iterations");
}
