using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(ProxyMesh.Bench.LoadBalancing.PickBenchmarks).Assembly).Run(args);
