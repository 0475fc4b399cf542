using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Deploy;

/// <summary>
/// Keeps deploy/Dockerfile honest without a Docker engine: the build context is the repository filtered by
/// .dockerignore, the Dockerfile's own publish commands build it, and each image's entry point is started with exactly
/// the files the Dockerfile copies, at the paths it copies them to (under a scratch root), and the environment it sets.
/// Only the listen addresses are moved to free 127.0.0.1 ports (through environment variables, as a deployment may).
/// </summary>
public sealed class ContainerLayoutTests(ContainerLayoutTests.PublishedImages images) : IClassFixture<ContainerLayoutTests.PublishedImages>
{
    private const string Token = "container-admin-token";

    [Fact]
    public void Runtime_images_run_as_the_base_images_non_root_user_and_expose_only_the_public_ports()
    {
        var sidecar = JsonNode.Parse(File.ReadAllText(images.SourceOf("proxy", SidecarConfigPath)))!["ProxyMesh"]!;
        var ingress = new Uri((string)sidecar["Listeners"]!["ingress"]!["Url"]!);
        var egress = new Uri((string)sidecar["Listeners"]!["egress"]!["Url"]!);
        var admin = new Uri((string)sidecar["Admin"]!["Url"]!);

        foreach (var stage in new[] { images.Dockerfile["proxy"], images.Dockerfile["discovery"] })
        {
            Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:", stage.BaseImage, StringComparison.Ordinal);
            Assert.Equal("$APP_UID", stage.Last("USER")); // the aspnet image's "app" user (uid 1654), not root
            Assert.Equal("/app", stage.Last("WORKDIR"));
        }

        var proxy = images.Dockerfile["proxy"];
        Assert.Equal(new[] { ingress.Port, admin.Port }.Order(), proxy.ExposedPorts);
        Assert.Equal("127.0.0.1", egress.Host); // the application's egress stays inside the pod: not exposed
        Assert.True((bool?)sidecar["Admin"]!["AllowNonLoopback"], "admin on 0.0.0.0 is allowed explicitly");
        Assert.Equal(admin.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), proxy.Environment["PROXYMESH_ADMIN_PORT"]);

        var discovery = images.Dockerfile["discovery"];
        var discoveryUrl = new Uri((string)JsonNode.Parse(File.ReadAllText(images.SourceOf("discovery", DiscoveryConfigPath)))!["Discovery"]!["Url"]!);
        Assert.Equal([discoveryUrl.Port], discovery.ExposedPorts);
        Assert.Equal(discoveryUrl.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), discovery.Environment["PROXYMESH_ADMIN_PORT"]);
        Assert.NotEqual(8080, discoveryUrl.Port); // the application's port in the sidecar layout
        Assert.Contains(discovery.All("RUN"), run => run.Contains("chown $APP_UID /var/lib/proxymesh", StringComparison.Ordinal));
    }

    [Fact]
    public void The_build_context_leaves_out_build_output_tests_and_history()
    {
        Assert.True(File.Exists(Path.Combine(images.Context, "Proxy", "Proxy.csproj")));
        foreach (var excluded in new[] { "Proxy.Tests", ".git", "bench", "Demo" })
        {
            Assert.False(Path.Exists(Path.Combine(images.Context, excluded)), $"{excluded} is in the build context");
        }

        var ignore = DockerIgnore.Load(Repository.PathOf(".dockerignore"));
        Assert.True(ignore.Excludes("Proxy/bin/Debug/net10.0/ProxyMesh.Proxy.dll"));
        Assert.True(ignore.Excludes("Discovery/obj/project.assets.json"));

        Assert.False(File.Exists(Path.Combine(images.Root("proxy"), "app", "appsettings.json")), "no embedded settings for a layout to inherit");
    }

    [Fact]
    public async Task The_sidecar_image_serves_the_application_on_ingress_and_admin_only_on_its_own_listener()
    {
        await using var app = await Backend.StartEchoAsync("application");
        var ports = new { Ingress = FreePort(), Egress = FreePort(), Admin = FreePort(), ImageDefault = FreePort() };
        var tokenFile = Path.Combine(images.Root("proxy"), "admin-token");
        await File.WriteAllTextAsync(tokenFile, Token + "\n");
        var environment = new Dictionary<string, string>(images.Dockerfile["proxy"].Environment)
        {
            ["ProxyMesh__Listeners__ingress__Url"] = $"http://127.0.0.1:{ports.Ingress}",
            ["ProxyMesh__Listeners__egress__Url"] = $"http://127.0.0.1:{ports.Egress}",
            ["ProxyMesh__Admin__Url"] = $"http://127.0.0.1:{ports.Admin}",
            ["ReverseProxy__Clusters__local-service__Destinations__app__Address"] = app.Address,
            ["ProxyMesh__Admin__TokenFile"] = tokenFile,
            ["PROXYMESH_ADMIN_PORT"] = ports.Admin.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["ASPNETCORE_HTTP_PORTS"] = ports.ImageDefault.ToString(System.Globalization.CultureInfo.InvariantCulture), // set by the aspnet image
        };
        await using var container = images.Start("proxy", environment);
        using var admin = Clients.Http1(new Uri($"http://127.0.0.1:{ports.Admin}"));
        await Eventually.AssertAsync(async () => (await admin.GetAsync("/ready")).IsSuccessStatusCode || container.HasExited, "the sidecar is ready", TimeSpan.FromSeconds(60));
        Assert.False(container.HasExited, container.Output);
        Assert.False(IsListening(ports.ImageDefault), "ASPNETCORE_HTTP_PORTS opens no extra port");

        using var ingress = Clients.Http1(new Uri($"http://127.0.0.1:{ports.Ingress}"));
        foreach (var path in (string[])["/ready", "/config_dump", "/stats", "/healthcheck/fail", "/demo/config_dump"])
        {
            using var response = await ingress.GetAsync(path);
            Assert.Equal("application", response.Headers.GetValues("x-backend").Single()); // the application answers, never admin
        }

        using var egress = Clients.Http1(new Uri($"http://127.0.0.1:{ports.Egress}"));
        Assert.Equal(HttpStatusCode.NotFound, (await egress.GetAsync("/config_dump")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await egress.PostAsync("/healthcheck/fail", null)).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await admin.GetAsync("/config_dump")).StatusCode);
        using var dumpRequest = new HttpRequestMessage(HttpMethod.Get, "/config_dump") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", Token) } };
        using var dump = await admin.SendAsync(dumpRequest);
        var routes = JsonNode.Parse(await dump.Content.ReadAsStringAsync())!["Routes"]!.AsArray().Select(route => (string)route!["RouteId"]!);
        Assert.Equal(["inbound", "to-orders"], routes.Order()); // sidecar.json's routes and nothing inherited

        // HEALTHCHECK as Docker runs it, then Kubernetes' preStop (the same script, with the token file).
        var healthcheck = images.Dockerfile["proxy"].HealthcheckCommand;
        Assert.Equal(0, (await images.RunScriptAsync("proxy", healthcheck, environment)).ExitCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await admin.PostAsync("/healthcheck/fail", null)).StatusCode);
        var preStop = await images.RunScriptAsync("proxy", [healthcheck[0], "POST", "/healthcheck/fail"], environment);
        Assert.True(preStop.ExitCode == 0, preStop.Output);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await admin.GetAsync("/ready")).StatusCode);
        Assert.NotEqual(0, (await images.RunScriptAsync("proxy", healthcheck, environment)).ExitCode);
    }

    [Fact]
    public async Task The_discovery_image_starts_on_its_config_and_passes_its_healthcheck()
    {
        var port = FreePort();
        var environment = new Dictionary<string, string>(images.Dockerfile["discovery"].Environment)
        {
            ["Discovery__Url"] = $"http://127.0.0.1:{port}",
            // /var/lib/proxymesh is created for the image's user; here a scratch directory stands in for it.
            ["Discovery__Embedded__Path"] = Path.Combine(images.Root("discovery"), "registrations.json"),
            ["PROXYMESH_ADMIN_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        await using var container = images.Start("discovery", environment);
        using var client = Clients.Http1(new Uri($"http://127.0.0.1:{port}"));
        await Eventually.AssertAsync(async () => (await client.GetAsync("/ready")).IsSuccessStatusCode || container.HasExited, "discovery is ready", TimeSpan.FromSeconds(60));
        Assert.False(container.HasExited, container.Output);
        var healthcheck = await images.RunScriptAsync("discovery", images.Dockerfile["discovery"].HealthcheckCommand, environment);
        Assert.True(healthcheck.ExitCode == 0, healthcheck.Output);
    }

    private const string SidecarConfigPath = "/etc/proxymesh/sidecar.json";
    private const string DiscoveryConfigPath = "/etc/proxymesh/discovery.json";

    private static int FreePort() => ProxyProcess.FreePort();

    private static bool IsListening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The build context, both images published by the Dockerfile's commands, and a scratch root per image.</summary>
    public sealed class PublishedImages : IAsyncLifetime
    {
        private readonly string _scratch = Directory.CreateTempSubdirectory("proxymesh-images-").FullName;

        public Dockerfile Dockerfile { get; } = Dockerfile.Load(Repository.PathOf("deploy", "Dockerfile"));

        public string Context => Path.Combine(_scratch, "context");

        /// <summary>Where an image's absolute paths (/app, /etc/proxymesh, /usr/local/bin) live in this test.</summary>
        public string Root(string stage) => Path.Combine(_scratch, stage);

        public string PathIn(string stage, string containerPath) => Path.Combine(Root(stage), containerPath.TrimStart('/'));

        /// <summary>The repository file the stage copies to <paramref name="containerPath"/>.</summary>
        public string SourceOf(string stage, string containerPath) =>
            Repository.PathOf(Dockerfile[stage].Copies.Single(copy => copy.From is null && copy.Destination == containerPath).Source);

        public async Task InitializeAsync()
        {
            CopyContext(Repository.Root, Context, DockerIgnore.Load(Repository.PathOf(".dockerignore")));
            var build = Dockerfile.Stages[0];
            Assert.Equal("/src", build.Last("WORKDIR"));
            foreach (var publish in build.Publishes)
            {
                var args = publish.Select(arg => arg.StartsWith('/') ? Path.Combine(_scratch, "build", arg.TrimStart('/')) : arg).ToArray();
                var (exitCode, output) = await Repository.RunShellAsync(
                    "dotnet " + string.Join(' ', args.Select(arg => $"'{arg}'")) + " -nologo -v q", Context, TimeSpan.FromMinutes(8));
                Assert.True(exitCode == 0, $"dotnet {string.Join(' ', publish)} failed:\n{output}");
            }

            foreach (var stage in Dockerfile.Stages.Skip(1))
            {
                var workdir = stage.Last("WORKDIR")!;
                foreach (var (from, source, destination) in stage.Copies)
                {
                    var target = destination == "." ? PathIn(stage.Name, workdir) : PathIn(stage.Name, destination);
                    if (from == "build")
                    {
                        CopyDirectory(Path.Combine(_scratch, "build", source.TrimStart('/')), target);
                    }
                    else
                    {
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        File.Copy(Path.Combine(Context, source), target);
                    }
                }
            }
        }

        /// <summary>The stage's ENTRYPOINT, its absolute paths mapped into the scratch root, run in its WORKDIR.</summary>
        public TerminalProcess Start(string stage, IReadOnlyDictionary<string, string> environment)
        {
            var entrypoint = Dockerfile[stage].Entrypoint;
            var args = entrypoint.Skip(1).Select(arg => arg.StartsWith('/') ? PathIn(stage, arg) : arg).ToArray();
            Assert.True(File.Exists(Path.Combine(PathIn(stage, Dockerfile[stage].Last("WORKDIR")!), args[0])), $"{args[0]} is in the image");
            return TerminalProcess.Start(PathIn(stage, Dockerfile[stage].Last("WORKDIR")!), environment, entrypoint[0], args);
        }

        /// <summary>A command from the image's PATH (/usr/local/bin), run with bash as the image runs it.</summary>
        public Task<(int ExitCode, string Output)> RunScriptAsync(string stage, string[] command, IReadOnlyDictionary<string, string> environment)
        {
            var script = PathIn(stage, "/usr/local/bin/" + command[0]);
            var exports = string.Concat(environment.Select(pair => $"export {pair.Key}='{pair.Value}'; "));
            return Repository.RunShellAsync(exports + $"bash '{script}' " + string.Join(' ', command.Skip(1).Select(arg => $"'{arg}'")));
        }

        public Task DisposeAsync()
        {
            Directory.Delete(_scratch, recursive: true);
            return Task.CompletedTask;
        }

        private static void CopyContext(string from, string to, DockerIgnore ignore)
        {
            foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            {
                var relative = Path.GetRelativePath(from, file).Replace(Path.DirectorySeparatorChar, '/');
                if (!ignore.Excludes(relative))
                {
                    var target = Path.Combine(to, relative);
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    File.Copy(file, target);
                }
            }
        }

        private static void CopyDirectory(string from, string to)
        {
            foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(to, Path.GetRelativePath(from, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }
        }
    }

    /// <summary>.dockerignore patterns of the forms used there: <c>name</c>, <c>dir/</c>, <c>**/dir/</c>, <c>*.ext</c>.</summary>
    internal sealed class DockerIgnore(string[] patterns)
    {
        public static DockerIgnore Load(string path) =>
            new(File.ReadAllLines(path).Select(line => line.Trim()).Where(line => line.Length > 0 && !line.StartsWith('#')).ToArray());

        public bool Excludes(string relativePath)
        {
            var segments = relativePath.Split('/');
            foreach (var pattern in patterns)
            {
                if (pattern.StartsWith("**/", StringComparison.Ordinal) && pattern.EndsWith('/'))
                {
                    if (Array.IndexOf(segments, pattern[3..^1], 0, segments.Length - 1) >= 0)
                    {
                        return true;
                    }
                }
                else if (pattern.EndsWith('/'))
                {
                    if (relativePath.StartsWith(pattern, StringComparison.Ordinal))
                    {
                        return true;
                    }
                }
                else if (pattern.StartsWith("*.", StringComparison.Ordinal))
                {
                    if (relativePath.EndsWith(pattern[1..], StringComparison.Ordinal))
                    {
                        return true;
                    }
                }
                else if (!pattern.Contains('*', StringComparison.Ordinal))
                {
                    if (relativePath == pattern || relativePath.StartsWith(pattern + "/", StringComparison.Ordinal))
                    {
                        return true;
                    }
                }
                else
                {
                    throw new InvalidOperationException($".dockerignore pattern '{pattern}' is not one this test reads");
                }
            }

            return false;
        }
    }
}
