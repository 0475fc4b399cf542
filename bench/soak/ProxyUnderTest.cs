using System.Diagnostics;
using ProxyMesh.Bench.SideBySide;

namespace ProxyMesh.Bench.Soak;

/// <summary>
/// ProxyMesh as users run it: published in Release, started as its own process (<c>dotnet ProxyMesh.Proxy.dll
/// --config file</c>) with its shipped defaults (access log to stdout, here redirected to a file), on 127.0.0.1 free
/// ports. The config file has two variants that differ in a route and a cluster: variant B adds route <c>alt</c>
/// (<c>/alt/{**rest}</c>) to cluster <c>alt</c>, whose destination answers "B"; in variant A the catch-all route
/// sends <c>/alt/…</c> to the backend, which answers "A". <see cref="Reload"/> rewrites the file; the load loop
/// then polls <c>/alt/probe</c> until the proxy answers as the new variant.
/// </summary>
internal sealed class ProxyUnderTest : IAsyncDisposable
{
    private readonly ChildProcess process;
    private readonly string configPath;
    private readonly Backends backends;
    private readonly string meshSections;

    private ProxyUnderTest(ChildProcess process, string configPath, Backends backends, string meshSections, int port, int adminPort, string workDirectory)
    {
        WorkDirectory = workDirectory;
        this.process = process;
        this.configPath = configPath;
        this.backends = backends;
        this.meshSections = meshSections;
        Port = port;
        AdminPort = adminPort;
    }

    public int Port { get; }

    public int AdminPort { get; }

    public int Pid => process.Pid;

    public bool HasExited => process.HasExited;

    public string LogPath => process.LogPath;

    /// <summary>The run's folder: config, log, and what the tools write (counters, heap dumps).</summary>
    public string WorkDirectory { get; }

    public bool VariantB { get; private set; }

    public static async Task<string> PublishAsync(string repositoryRoot, string workDirectory)
    {
        var output = Path.Combine(workDirectory, "proxymesh");
        var info = new ProcessStartInfo(
            "dotnet", ["publish", Path.Combine(repositoryRoot, "Proxy", "Proxy.csproj"), "-c", "Release", "-o", output, "--nologo", "-v", "quiet"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var publish = Process.Start(info)!;
        var stdout = publish.StandardOutput.ReadToEndAsync();
        var stderr = publish.StandardError.ReadToEndAsync();
        await publish.WaitForExitAsync();
        return publish.ExitCode == 0 ? output : throw new InvalidOperationException($"dotnet publish Proxy failed:\n{await stdout}{await stderr}");
    }

    /// <param name="meshSections">JSON members added to the <c>ProxyMesh</c> section, each followed by a comma (e.g. <c>"Overload": { … },</c>), or empty for the defaults.</param>
    /// <param name="cpus">A <c>taskset</c> CPU list the proxy is pinned to (as a sidecar with a CPU limit), or null for all.</param>
    /// <param name="mallocArenaMax">MALLOC_ARENA_MAX for the proxy (deploy/Dockerfile sets 2), or 0 for glibc's default.</param>
    public static async Task<ProxyUnderTest> StartAsync(
        string publishDirectory, string workDirectory, Backends backends, int mallocArenaMax, string meshSections = "", string? cpus = null)
    {
        var port = ChildProcess.FreePort();
        var adminPort = ChildProcess.FreePort();
        var configPath = Path.Combine(workDirectory, "config", "proxymesh.json");
        Directory.CreateDirectory(Path.GetDirectoryName(configPath)!);
        Write(configPath, Config(port, adminPort, backends, meshSections, variantB: false));
        var process = ChildProcess.Start(
            "/bin/sh",
            ["-c", $"cd '{publishDirectory}' && exec {(cpus is null ? "" : $"taskset -c '{cpus}' ")}dotnet ProxyMesh.Proxy.dll --config '{configPath}'"],
            Path.Combine(workDirectory, "proxymesh.log"),
            mallocArenaMax > 0 ? new Dictionary<string, string> { ["MALLOC_ARENA_MAX"] = mallocArenaMax.ToString(System.Globalization.CultureInfo.InvariantCulture) } : null);
        var proxy = new ProxyUnderTest(process, configPath, backends, meshSections, port, adminPort, workDirectory);
        await process.WaitForPortAsync(port, TimeSpan.FromSeconds(120));
        await process.WaitForPortAsync(adminPort, TimeSpan.FromSeconds(30));
        return proxy;
    }

    /// <summary>Rewrites the config file as the other variant (atomically: a rename, as config management tools do).</summary>
    public void Reload()
    {
        Write(configPath, Config(Port, AdminPort, backends, meshSections, !VariantB));
        VariantB = !VariantB;
    }

    private static string Config(int port, int adminPort, Backends backends, string meshSections, bool variantB)
    {
        var altRoute = variantB ? """ "alt": { "ClusterId": "alt", "Match": { "Path": "/alt/{**rest}" } }, """ : "";
        var altCluster = variantB
            ? $$""" "alt": { "Destinations": { "b": { "Address": "http://127.0.0.1:{{backends.Http1Port}}/variant-b/" } } }, """
            : "";
        return $$"""
            {
              "ProxyMesh": {
                {{meshSections}}
                "Listeners": { "ingress": { "Url": "http://127.0.0.1:{{port}}" } },
                "Admin": { "Url": "http://127.0.0.1:{{adminPort}}" }
              },
              "ReverseProxy": {
                "Routes": {
                  {{altRoute}}
                  "grpc": { "ClusterId": "grpc", "Match": { "Path": "/proxymesh.test.Echo/{**method}" } },
                  "h2": { "ClusterId": "h2", "Match": { "Path": "/h2/{**rest}" } },
                  "http": { "ClusterId": "http", "Match": { "Path": "/{**catch-all}" } }
                },
                "Clusters": {
                  {{altCluster}}
                  "http": { "Destinations": { "backend": { "Address": "http://127.0.0.1:{{backends.Http1Port}}" } } },
                  "h2": {
                    "Destinations": { "backend": { "Address": "http://127.0.0.1:{{backends.H2cPort}}" } },
                    "HttpRequest": { "Version": "2", "VersionPolicy": "RequestVersionExact" }
                  },
                  "grpc": {
                    "Destinations": { "backend": { "Address": "http://127.0.0.1:{{backends.H2cPort}}" } },
                    "HttpRequest": { "Version": "2", "VersionPolicy": "RequestVersionExact" }
                  }
                }
              }
            }
            """;
    }

    private static void Write(string path, string json)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, json);
        File.Move(temporary, path, overwrite: true);
    }

    public ValueTask DisposeAsync() => process.DisposeAsync();
}
