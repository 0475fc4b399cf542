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
    public double UncachedCompress { get; init; } = 2;
    public double UncachedMinutes { get; init; } = 2;
    public int Probes { get; init; } = 10;
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
          --compress F            time compression of the cached run: intervals and TTLs divided by F (10)
          --minutes M             measured window of the cached run, in real (simulated) minutes (10)
          --uncached-compress F   time compression of the run without cache (2): every GET is a store read there,
                                  and dynalite on one core serves only some hundreds of Query/s
          --uncached-minutes M    measured window of the run without cache, real minutes (2)
          --probes N              new hosts registered per run to time propagation (10)
          --max-in-flight N       cap on concurrent polls (64)
          --seed N                random seed (1)
          --out PATH              results file (bench/results/discovery-scale.md)
        """;

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
                    "--uncached-compress" => options with { UncachedCompress = PositiveNumber(value) },
                    "--uncached-minutes" => options with { UncachedMinutes = PositiveNumber(value) },
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

    /// <summary>The two runs: with the cache (compressed more) and without (every GET reads the store).</summary>
    public IReadOnlyList<RunPlan> Runs() =>
    [
        new("cache on", CacheTtlSeconds, Compress, Minutes),
        new("cache off", 0, UncachedCompress, UncachedMinutes),
    ];

    private static int Positive(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0 ? number : throw new FormatException("not a positive whole number");

    private static double PositiveNumber(string value) =>
        double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) && number > 0 ? number : throw new FormatException("not a positive number");
}

/// <summary>One run: its cache TTL (real seconds), time compression and measured window (real minutes).</summary>
internal sealed record RunPlan(string Label, double CacheTtlSeconds, double Compress, double Minutes)
{
    /// <summary>A real duration as it passes in this run: divided by the compression factor.</summary>
    public TimeSpan Wall(double realSeconds) => TimeSpan.FromSeconds(realSeconds / Compress);
}
