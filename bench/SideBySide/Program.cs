using ProxyMesh.Bench.SideBySide;

// One command: starts every target, warms each up equally, runs interleaved rounds and prints one table.
if (args.Length > 0 && args[0] == GrpcBackend.Mode)
{
    await GrpcBackend.RunAsync(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture));
    return 0;
}

HarnessOptions options;
try
{
    options = HarnessOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(HarnessOptions.Usage);
    return 2;
}

await using var harness = await Harness.StartAsync(options);
var results = await harness.RunAsync();
var report = Report.Render(results, options, harness.Targets);
Console.WriteLine(report);
if (options.OutPath is { } outPath)
{
    await File.WriteAllTextAsync(outPath, report);
    Console.WriteLine($"written to {outPath}");
}

return 0;
