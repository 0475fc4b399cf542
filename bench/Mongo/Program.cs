using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(ProxyMesh.Bench.Mongo.FilterBenchmarks).Assembly).Run(args);
