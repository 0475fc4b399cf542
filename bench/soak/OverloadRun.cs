namespace ProxyMesh.Bench.Soak;

internal static class OverloadRun
{
    public static Task<(string Markdown, bool Passed)> RunAsync(SoakOptions options, string publishDirectory, string work, Backends backends, RunContext context) =>
        throw new NotImplementedException();
}
