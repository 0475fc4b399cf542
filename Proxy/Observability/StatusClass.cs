namespace ProxyMesh.Proxy.Observability;

/// <summary>Envoy's response code classes, as label values that need no formatting per request.</summary>
internal static class StatusClass
{
    /// <summary>The highest code HTTP defines.</summary>
    public const int MaxCode = 599;

    private static readonly string[] Names = ["1xx", "1xx", "2xx", "3xx", "4xx", "5xx"];

    public static string Of(int statusCode) => Names[Index(statusCode)];

    /// <returns>0-5: the hundreds digit, clamped (0 and 1 both mean 1xx).</returns>
    public static int Index(int statusCode) => Math.Clamp(statusCode / 100, 1, 5);

    /// <summary>The label value of a status code, cached for the codes HTTP defines.</summary>
    public static string Code(int statusCode) =>
        statusCode is >= 100 and < 600 ? CodeNames[statusCode - 100] : statusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static readonly string[] CodeNames = Enumerable.Range(100, 500).Select(code => code.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
}
