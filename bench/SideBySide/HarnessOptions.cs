using System.Globalization;

namespace ProxyMesh.Bench.SideBySide;

internal sealed record HarnessOptions(
    int Rounds,
    TimeSpan Duration,
    TimeSpan WarmUp,
    int FixedRate,
    IReadOnlySet<string> Scenarios,
    IReadOnlySet<string>? Targets,
    string RepositoryRoot,
    string? OutPath)
{
    public static readonly string[] AllScenarios = ["h1", "fixed", "h2c", "grpc", "64k", "start"];

    public const string Usage = """
        usage: dotnet run -c Release --project bench/SideBySide -- [options]
          --rounds N         interleaved rounds (default 3)
          --duration S       seconds per measurement (default 10)
          --warmup S         warm-up seconds per target and protocol (default 5)
          --rate N           fixed request rate of the latency scenario (default 2000)
          --scenarios LIST   comma-separated subset of h1,fixed,h2c,grpc,64k,start (default all)
          --targets LIST     comma-separated subset of direct,nginx,haproxy,yarp,proxymesh,proxymesh-minimal
          --out PATH         also write the table there (default bench/RESULTS.md; 'none' to skip)
        """;

    public static HarnessOptions Parse(string[] args)
    {
        var rounds = 3;
        var duration = 10.0;
        var warmUp = 5.0;
        var rate = 2000;
        IReadOnlySet<string> scenarios = new HashSet<string>(AllScenarios);
        IReadOnlySet<string>? targets = null;
        var root = FindRepositoryRoot();
        string? outPath = Path.Combine(root, "bench", "RESULTS.md");
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--rounds": rounds = PositiveInt(Value(), "--rounds"); break;
                case "--duration": duration = PositiveDouble(Value(), "--duration"); break;
                case "--warmup": warmUp = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--rate": rate = PositiveInt(Value(), "--rate"); break;
                case "--scenarios": scenarios = Set(Value(), AllScenarios, "--scenarios"); break;
                case "--targets": targets = Set(Value(), Target.AllNames, "--targets"); break;
                case "--out": var value = Value(); outPath = value == "none" ? null : Path.GetFullPath(value); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        return new HarnessOptions(rounds, TimeSpan.FromSeconds(duration), TimeSpan.FromSeconds(warmUp), rate, scenarios, targets, root, outPath);
    }

    private static int PositiveInt(string value, string name) =>
        int.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{name} takes a positive whole number");

    private static double PositiveDouble(string value, string name) =>
        double.TryParse(value, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{name} takes a positive number");

    private static HashSet<string> Set(string value, IEnumerable<string> known, string name)
    {
        var set = new HashSet<string>(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var unknown = set.Except(known).ToList();
        return unknown.Count == 0 && set.Count > 0 ? set : throw new ArgumentException($"{name}: unknown {string.Join(", ", unknown)}");
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ProxyMesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new ArgumentException("run from inside the ProxyMesh repository (ProxyMesh.sln not found)");
    }
}
