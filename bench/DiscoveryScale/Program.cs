using System.Net;
using ProxyMesh.Bench.DiscoveryScale;

// Discovery scale benchmark: see bench/README.md.
if (ScaleOptions.Parse(args) is not { } options)
{
    return 2;
}

var fleet = Fleet.Create(options);
using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = options.MaxInFlight, UseProxy = false, AutomaticDecompression = DecompressionMethods.None };
using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
await using var dynamo = await DynaliteServer.StartAsync();
Console.WriteLine($"dynalite on {dynamo.ServiceUrl}");

var runs = new List<RunResult>();
foreach (var plan in options.Runs())
{
    runs.Add(await ScaleRun.RunAsync(plan, options, fleet, dynamo, client));
}

var markdown = Report.Markdown(options, runs);
Console.WriteLine();
Console.WriteLine(markdown);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.Output))!);
await File.WriteAllTextAsync(options.Output, markdown);
Console.WriteLine($"written to {options.Output}");
return 0;
