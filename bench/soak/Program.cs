using ProxyMesh.Bench.Soak;

// One command: publishes ProxyMesh, starts real backends and the proxy, drives the load, judges it, writes Markdown.
SoakOptions options;
try
{
    options = SoakOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(SoakOptions.Usage);
    return 2;
}

var work = Directory.CreateTempSubdirectory("proxymesh-soak-").FullName;
Console.WriteLine($"work folder {work}; {(options.PublishedProxy is null ? "publishing ProxyMesh (Release)…" : $"ProxyMesh as published in {options.PublishedProxy}")}");
var publishDirectory = options.PublishedProxy ?? await ProxyUnderTest.PublishAsync(options.RepositoryRoot, work);
var context = await RunContext.CaptureAsync(options.RepositoryRoot);
await using var backends = await Backends.StartAsync();

string markdown;
bool passed;
if (options.IsOverload)
{
    (markdown, passed) = await OverloadRun.RunAsync(options, publishDirectory, work, backends, context);
}
else
{
    await using var proxy = await ProxyUnderTest.StartAsync(publishDirectory, work, backends, options.MallocArenaMax, cpus: options.ProxyCpus);
    var result = await new SoakRun(options, proxy).RunAsync();
    context.LoadAtEnd = RunContext.LoadAverage();
    (markdown, passed) = SoakReport.Render(options, result, context);
}

Console.WriteLine(markdown);
if (options.OutPath is { } outPath)
{
    Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
    await File.WriteAllTextAsync(outPath, markdown);
    Console.WriteLine($"written to {outPath}");
}

Console.WriteLine(passed ? "passed" : "FAILED: see the checks above");
return passed ? 0 : 1;
