using System.Globalization;

namespace ProxyMesh.Bench.DiscoveryScale;

/// <summary>The harness's command-line options (<c>--name value</c>); durations are real (uncompressed) seconds.</summary>
internal sealed record ScaleOptions
{
    public int Services { get; init; } = 500;
    public int HostsPerService { get; init; } = 20;
    public int Proxies { get; init; } = 1000;
    public int ServicesPerProxy { get; init; } = 10;
    public double RefreshSeconds { get; init; } = 30;
    public double CacheTtlSeconds { get; init; } = 30;
    public double Compress { get; init; } = 10;
    public double Minutes { get; init; } = 10;
    public int Probes { get; init; } = 6;
    public int MaxInFlight { get; init; } = 64;
    public int Seed { get; init; } = 1;
    public string Output { get; init; } = Path.Combine("bench", "results", "discovery-scale.md");

    public const string Usage = """
        dotnet run -c Release --project bench/DiscoveryScale -- [options]
          --services N            services registered (500)
          --hosts-per-service N   hosts per service (20)
          --proxies N             simulated proxies (1000)
          --services-per-proxy N  services each proxy polls (10)
          --refresh S             proxies' RefreshInterval in real seconds; each poll waits S + uniform [0, S] (30)
          --cache-ttl S           Discovery:CacheTtl of the cached run, real seconds (30); the other run uses 0
          --compress F            time compression: every interval and TTL is divided by F (10)
          --minutes M             measured window per run, in real (simulated) minutes (10)
          --probes N              new hosts registered per run to time propagation (6)
          --max-in-flight N       cap on concurrent polls (64)
          --seed N                random seed (1)
          --out PATH              results file (bench/results/discovery-scale.md)
        """;

    /// <summary>Divides a real duration by the compression factor.</summary>
    public TimeSpan Wall(double realSeconds) => TimeSpan.FromSeconds(realSeconds / Compress);

    /// <returns>Null (and the problem on stderr) when the arguments cannot be read.</returns>
    public static ScaleOptions? Parse(string[] args)
    {
        var options = new ScaleOptions();
        for (var i = 0; i < args.Length; i += 2)
        {
            if (args[i] is "-h" or "--help" || i + 1 >= args.Length)
            {
                Console.Error.WriteLine(Usage);
                return null;
            }

            var value = args[i + 1];
            try
            {
                options = args[i] switch
                {
                    "--services" => options with { Services = Positive(value) },
                    "--hosts-per-service" => options with { HostsPerService = Positive(value) },
                    "--proxies" => options with { Proxies = Positive(value) },
                    "--services-per-proxy" => options with { ServicesPerProxy = Positive(value) },
                    "--refresh" => options with { RefreshSeconds = PositiveNumber(value) },
                    "--cache-ttl" => options with { CacheTtlSeconds = PositiveNumber(value) },
                    "--compress" => options with { Compress = PositiveNumber(value) },
                    "--minutes" => options with { Minutes = PositiveNumber(value) },
                    "--probes" => options with { Probes = Positive(value) },
                    "--max-in-flight" => options with { MaxInFlight = Positive(value) },
                    "--seed" => options with { Seed = int.Parse(value, CultureInfo.InvariantCulture) },
                    "--out" => options with { Output = value },
                    _ => throw new FormatException($"unknown option {args[i]}"),
                };
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"{args[i]} {value}: {e.Message}");
                Console.Error.WriteLine(Usage);
                return null;
            }
        }

        return options.ServicesPerProxy <= options.Services ? options : null;
    }

    private static int Positive(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0 ? number : throw new FormatException("not a positive whole number");

    private static double PositiveNumber(string value) =>
        double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) && number > 0 ? number : throw new FormatException("not a positive number");
}
