using System.Globalization;

namespace ProxyMesh.Demo;

/// <summary>
/// The demo's command line: <c>--base-port N</c> (default 17100; everything listens on 127.0.0.1 at N and a few ports
/// above it, clear of common local services) and <c>--dir PATH</c> (where configuration, access logs and the
/// discovery store go; a fresh temporary folder by default).
/// </summary>
internal sealed record DemoOptions(int BasePort, string Directory)
{
    public const int DefaultBasePort = 17100;

    public static DemoOptions Parse(string[] args)
    {
        var basePort = DefaultBasePort;
        string? directory = null;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--base-port" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65400:
                    basePort = port;
                    i++;
                    break;
                case "--dir" when value is not null:
                    directory = Path.GetFullPath(value);
                    i++;
                    break;
                default:
                    throw new ArgumentException($"unknown or incomplete argument '{args[i]}'; use --base-port N (1-65400) and --dir PATH");
            }
        }

        return new DemoOptions(basePort, directory ?? Path.Combine(Path.GetTempPath(), $"proxymesh-demo-{basePort}"));
    }
}
