using System.Numerics;

namespace ProxyMesh.Proxy.LoadBalancing;

internal static class SortedSearch
{
    /// <summary>
    /// The index of the first element of ascending <paramref name="sorted"/> above <paramref name="value"/>, or the last
    /// index if none is: a binary search whose steps are conditional moves rather than branches (random keys defeat
    /// branch prediction). <paramref name="sorted"/> must not be empty.
    /// </summary>
    public static int FirstAbove<T>(T[] sorted, T value)
        where T : INumber<T>
    {
        var index = 0;
        var length = sorted.Length;
        while (length > 1)
        {
            var half = length >>> 1;
            index = sorted[index + half - 1] <= value ? index + half : index;
            length -= half;
        }

        return index;
    }
}
