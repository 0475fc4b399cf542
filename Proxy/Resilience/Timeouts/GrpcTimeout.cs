using System.Globalization;

namespace ProxyMesh.Proxy.Resilience.Timeouts;

/// <summary>The <c>grpc-timeout</c> header of the gRPC over HTTP/2 protocol: 1–8 digits and a unit (H, M, S, m, u, n).</summary>
internal static class GrpcTimeout
{
    public const string Header = "grpc-timeout";

    private const long MaxValue = 99_999_999;

    /// <returns>False when the value does not follow the protocol.</returns>
    public static bool TryParse(ReadOnlySpan<char> value, out TimeSpan timeout)
    {
        timeout = default;
        if (value.Length is < 2 or > 9 || !long.TryParse(value[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
        {
            return false;
        }

        long? ticks = value[^1] switch
        {
            'H' => amount * TimeSpan.TicksPerHour,
            'M' => amount * TimeSpan.TicksPerMinute,
            'S' => amount * TimeSpan.TicksPerSecond,
            'm' => amount * TimeSpan.TicksPerMillisecond,
            'u' => amount * TimeSpan.TicksPerMicrosecond,
            'n' => amount / 100,
            _ => null,
        };
        if (ticks is null)
        {
            return false;
        }

        timeout = TimeSpan.FromTicks(ticks.Value);
        return true;
    }

    /// <summary>The header value for <paramref name="remaining"/>, in milliseconds (rounded up, at least 1), or seconds when too long.</summary>
    public static string Format(TimeSpan remaining)
    {
        var milliseconds = Math.Max(1, (long)Math.Ceiling(remaining.TotalMilliseconds));
        var (amount, unit) = milliseconds <= MaxValue ? (milliseconds, 'm') : (Math.Min(MaxValue, milliseconds / 1000), 'S');
        return string.Create(CultureInfo.InvariantCulture, $"{amount}{unit}");
    }
}
