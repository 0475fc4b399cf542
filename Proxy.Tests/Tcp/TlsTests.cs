using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProxyMesh.Proxy.Tcp;
using ProxyMesh.Proxy.Tcp.Transport;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Tcp;

/// <summary>
/// TLS on both sides of the proxy with certificates from a CA made at test time: termination with SNI on TCP
/// listeners, origination to tls:// and https:// destinations, mutual TLS between two sidecars and caller identity rules.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);
    private readonly TestCertificates _certificates = new();

    public void Dispose() => _certificates.Dispose();

    [Fact]
    public async Task A_tcp_listener_terminates_tls_with_the_certificate_the_sni_name_selects()
    {
        var fallback = _certificates.Issue("fallback", "fallback.mesh", ["fallback.mesh"]);
        var database = _certificates.Issue("db", "db.mesh", ["db.mesh"]);
        var cache = _certificates.Issue("cache", "cache.mesh", ["*.cache.mesh"]);
        await using var peer = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        var listener = config.TcpListener("db", "db");
        listener["Certificate"] = Pem(fallback);
        listener["Certificates"] = new JsonArray(WithNames(Pem(database), "db.mesh"), WithNames(Pem(cache), "*.cache.mesh"));
        await using var proxy = await RunningProxy.StartAsync(config);
        var uri = proxy.Listeners.UriOf("db");

        Assert.Equal(("CN=db.mesh", "over tls"), await TlsEchoAsync(uri, "db.mesh", "over tls"));
        Assert.Equal(("CN=cache.mesh", "wild"), await TlsEchoAsync(uri, "eu.cache.mesh", "wild"));
        // No certificate names other.mesh: the listener's default answers (the client sees the name mismatch).
        Assert.Equal(("CN=fallback.mesh", "default"), await TlsEchoAsync(uri, "other.mesh", "default", nameMustMatch: false));

        // A non-.NET client: Python's ssl module, verifying against the test CA.
        var (exitCode, output) = await Python.RunAsync($$"""
            import socket, ssl
            context = ssl.create_default_context(cafile="{{_certificates.CaPath}}")
            with socket.create_connection(("127.0.0.1", {{uri.Port}})) as raw:
                with context.wrap_socket(raw, server_hostname="db.mesh") as tls:
                    tls.sendall(b"python over tls")
                    print(tls.getpeercert()["subject"][0][0][1], tls.recv(100).decode())
            """);
        Assert.True(exitCode == 0, output);
        Assert.Equal("db.mesh python over tls", output.Trim());
    }

    [Fact]
    public async Task Upstream_half_close_on_a_tls_listener_sends_close_notify_and_the_client_can_still_send()
    {
        var lateBytes = System.Threading.Channels.Channel.CreateUnbounded<string>();
        await using var peer = TcpPeer.Start(async (socket, token) =>
        {
            await TcpPeer.SendAllAsync(socket, "welcome"u8.ToArray(), token);
            socket.Shutdown(SocketShutdown.Send);
            await lateBytes.Writer.WriteAsync(Encoding.ASCII.GetString(await TcpPeer.ReadToEndAsync(socket, token)), token);
        });
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("db", "db")["Certificate"] = Pem(_certificates.Issue("db", "db.mesh", ["db.mesh"]));
        await using var proxy = await RunningProxy.StartAsync(config);
        var uri = proxy.Listeners.UriOf("db");

        using (var socket = await TcpPeer.ConnectAsync(uri))
        {
            await using var tls = new SslStream(new NetworkStream(socket), leaveInnerStreamOpen: true);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "db.mesh",
                RemoteCertificateValidationCallback = (_, certificate, _, errors) => Chains(certificate, errors),
            });
            Assert.Equal("welcome", Encoding.ASCII.GetString(await ReadToEndAsync(tls).WaitAsync(Generous)));
            await tls.WriteAsync("still here"u8.ToArray());
            await tls.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);
            Assert.Equal("still here", await lateBytes.Reader.ReadAsync().AsTask().WaitAsync(Generous));
        }

        // OpenSSL through Python: a FIN without close_notify would raise SSLEOFError (ragged EOFs are not suppressed).
        var (exitCode, output) = await Python.RunAsync($$"""
            import socket, ssl
            context = ssl.create_default_context(cafile="{{_certificates.CaPath}}")
            raw = socket.create_connection(("127.0.0.1", {{uri.Port}}))
            tls = context.wrap_socket(raw, server_hostname="db.mesh", suppress_ragged_eofs=False)
            received = b""
            while chunk := tls.recv(100):
                received += chunk
            tls.sendall(b"python still here")
            plain = tls.unwrap()
            plain.shutdown(socket.SHUT_WR)
            print(received.decode())
            """);
        Assert.True(exitCode == 0, output);
        Assert.Equal("welcome", output.Trim());
        Assert.Equal("python still here", await lateBytes.Reader.ReadAsync().AsTask().WaitAsync(Generous));
    }

    [Fact]
    public async Task Plain_relays_run_on_the_socket_event_thread_and_tls_ones_or_the_opt_out_on_the_thread_pool()
    {
        const int Exchanges = 8;
        Assert.True(InlineSocketCompletions.Supported, "this runtime has Socket.PreferInlineCompletions");
        var filters = new RecordingFilterFactory();
        await using var peer = TcpPeer.StartEcho();
        var config = new ProxyConfig().Cluster("db", peer.TcpAddress);
        config.TcpListener("plain", "db")["Filters"] = new JsonArray("Record");
        var terminating = config.TcpListener("tls", "db");
        terminating["Filters"] = new JsonArray("Record");
        terminating["Certificate"] = Pem(_certificates.Issue("db", "db.mesh", ["db.mesh"]));
        var optOut = new ProxyConfig().Cluster("db", peer.TcpAddress);
        optOut.TcpListener("plain", "db")["Filters"] = new JsonArray("Record");
        optOut.Root["ProxyMesh"]!["TcpTransport"] = new JsonObject { ["InlineCompletions"] = false };
        await using var proxy = await RunningProxy.StartAsync(config, services => services.AddSingleton<ITcpFilterFactory>(filters));
        await using var threadPoolProxy = await RunningProxy.StartAsync(optOut, services => services.AddSingleton<ITcpFilterFactory>(filters));

        // The relay starts on the thread pool, where an upstream read whose bytes are already there completes at once;
        // once one read has completed on the event thread the relay stays there. Each exchange waits for its echo.
        Assert.False((await UpstreamReadsOnThreadPoolAsync(proxy.Listeners.UriOf("plain")))[^1]);
        Assert.All(await UpstreamReadsOnThreadPoolAsync(threadPoolProxy.Listeners.UriOf("plain")), Assert.True);
        Assert.Equal(("CN=db.mesh", "over tls"), await TlsEchoAsync(proxy.Listeners.UriOf("tls"), "db.mesh", "over tls"));
        Assert.True(filters.Created.TryDequeue(out var tls));
        Assert.All(tls.UpstreamOnThreadPool, Assert.True);

        async Task<bool[]> UpstreamReadsOnThreadPoolAsync(Uri listener)
        {
            using (var client = await TcpPeer.ConnectAsync(listener))
            {
                for (var exchange = 0; exchange < Exchanges; exchange++)
                {
                    await TcpPeer.SendAllAsync(client, "ping"u8.ToArray());
                    var echo = new byte[4];
                    for (var received = 0; received < echo.Length;)
                    {
                        received += await client.ReceiveAsync(echo.AsMemory(received)).AsTask().WaitAsync(Generous);
                    }

                    Assert.Equal("ping", Encoding.ASCII.GetString(echo));
                }
            }

            Assert.True(filters.Created.TryDequeue(out var filter));
            var onThreadPool = filter.UpstreamOnThreadPool.ToArray();
            Assert.Equal(Exchanges, onThreadPool.Length); // One upstream read per echo: the client waited for each.
            return onThreadPool;
        }
    }

    private static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        using var received = new MemoryStream();
        await stream.CopyToAsync(received);
        return received.ToArray();
    }

    [Fact]
    public async Task A_tls_destination_is_verified_against_the_cluster_ca()
    {
        var server = TestCertificates.Load(_certificates.Issue("upstream", "upstream.mesh", ["upstream.mesh"]));
        await using var peer = TlsEchoPeer(server);
        var address = $"tls://127.0.0.1:{peer.Port}";
        var config = new ProxyConfig().Cluster("trusted", address).Cluster("untrusted", address);
        config.TcpListener("trusted", "trusted");
        config.TcpListener("untrusted", "untrusted");
        config.ClusterPolicies("trusted")["Tls"] = new JsonObject { ["CaPath"] = _certificates.CaPath };
        await using var proxy = await RunningProxy.StartAsync(config);

        Assert.Equal("sealed upstream", await TcpProxyTests.EchoOnceAsync(proxy.Listeners.UriOf("trusted"), "sealed upstream"));

        // The system roots do not know the test CA: the handshake fails, which is a connect failure.
        Assert.True(await TcpProxyTests.IsClosedAtOnceAsync(proxy.Listeners.UriOf("untrusted")));

        await MetricsScrape.AssertEventuallyAsync(proxy, "proxymesh_tcp_upstream_cx_connect_fail_total", "listener=\"untrusted\",cluster=\"untrusted\"", 1);
    }

    [Fact]
    public async Task Sidecars_speak_mutual_tls_and_the_receiving_one_admits_only_allowed_callers()
    {
        var ordersFiles = _certificates.Issue("orders", "orders", [], "spiffe://mesh/service/orders", server: false);
        var usersFiles = _certificates.Issue("users", "users", [], "spiffe://mesh/service/users", server: false);
        var receiverFiles = _certificates.Issue("receiver", "db-sidecar", ["db.mesh"]);
        await using var database = TcpPeer.StartEcho();

        var receiverConfig = new ProxyConfig().Cluster("db", database.TcpAddress);
        var inbound = receiverConfig.TcpListener("inbound", "db");
        inbound["Certificate"] = Pem(receiverFiles);
        inbound["ClientCertificate"] = "Require";
        inbound["ClientCaPath"] = _certificates.CaPath;
        inbound["AllowedCallers"] = "orders";
        var log = TcpProxyTests.LogPath();
        receiverConfig.Root["ProxyMesh"]!["AccessLog"] = new JsonObject { ["Path"] = log };
        await using var receiver = await RunningProxy.StartAsync(receiverConfig);
        var inboundUri = receiver.Listeners.UriOf("inbound");

        var senderConfig = new ProxyConfig()
            .Cluster("db-as-orders", $"tls://127.0.0.1:{inboundUri.Port}")
            .Cluster("db-as-users", $"tls://127.0.0.1:{inboundUri.Port}");
        senderConfig.TcpListener("orders", "db-as-orders");
        senderConfig.TcpListener("users", "db-as-users");
        senderConfig.ClusterPolicies("db-as-orders")["Tls"] = ClientTls(ordersFiles);
        senderConfig.ClusterPolicies("db-as-users")["Tls"] = ClientTls(usersFiles);
        await using var sender = await RunningProxy.StartAsync(senderConfig);

        Assert.Equal("from orders", await TcpProxyTests.EchoOnceAsync(sender.Listeners.UriOf("orders"), "from orders"));
        using (var client = await TcpPeer.ConnectAsync(sender.Listeners.UriOf("users")))
        {
            await TcpPeer.SendAllAsync(client, "from users"u8.ToArray());
            Assert.True(await TcpProxyTests.IsClosedAsync(client), "users is not an allowed caller");
        }

        await MetricsScrape.AssertEventuallyAsync(receiver, "proxymesh_tcp_downstream_cx_caller_denied_total", "listener=\"inbound\",cluster=\"db\"", 1);
        Assert.Equal(1, database.Accepted);
        var entries = await AccessLogFile.WaitForAsync(log, 2);
        Assert.Contains(entries, entry => entry.GetProperty("peer_identity").GetString() == "spiffe://mesh/service/orders" && entry.GetProperty("bytes_received").GetInt64() == 11);
        Assert.Contains(entries, entry => entry.GetProperty("peer_identity").GetString() == "spiffe://mesh/service/users"
                                          && entry.GetProperty("termination_details").GetString() == "caller_not_allowed");

        // Without a client certificate the handshake itself fails.
        using var bare = await TcpPeer.ConnectAsync(inboundUri);
        await using var tls = new SslStream(new NetworkStream(bare), leaveInnerStreamOpen: false);
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "db.mesh",
                RemoteCertificateValidationCallback = (_, certificate, _, errors) => Chains(certificate, errors),
            });
            var buffer = new byte[1];
            if (await tls.ReadAsync(buffer) == 0)
            {
                throw new IOException("closed");
            }
        });
    }

    [Fact]
    public async Task Http_routes_admit_callers_by_certificate_identity_through_https_origination_and_curl()
    {
        var ordersFiles = _certificates.Issue("orders", "orders", [], "spiffe://mesh/service/orders", server: false);
        var usersFiles = _certificates.Issue("users", "users", [], "spiffe://mesh/service/users", server: false);
        var receiverFiles = _certificates.Issue("receiver", "api-sidecar", ["api.mesh"]);
        await using var backend = await Backend.StartEchoAsync("api");

        var receiverConfig = new ProxyConfig().Cluster("api", backend.Address);
        receiverConfig.Listeners["secure"] = new JsonObject
        {
            ["Url"] = "https://127.0.0.1:0",
            ["Certificate"] = Pem(receiverFiles),
            ["ClientCertificate"] = "Require",
            ["ClientCaPath"] = _certificates.CaPath,
        };
        receiverConfig.Route("api", "api", listeners: "secure");
        receiverConfig.Routes["api"]!["Metadata"]!["ProxyMesh.AllowedCallers"] = "orders";
        await using var receiver = await RunningProxy.StartAsync(receiverConfig);
        var secure = receiver.Listeners.UriOf("secure");

        // curl as orders, then as users.
        var asOrders = await Curl.RunAsync("--cacert", _certificates.CaPath, "--cert", ordersFiles.CertificatePath, "--key", ordersFiles.KeyPath,
            "--resolve", $"api.mesh:{secure.Port}:127.0.0.1", "--write-out", " %{http_code}", "--data", "hi", $"https://api.mesh:{secure.Port}/orders");
        Assert.Equal((0, "hi 200"), asOrders);
        var asUsers = await Curl.RunAsync("--cacert", _certificates.CaPath, "--cert", usersFiles.CertificatePath, "--key", usersFiles.KeyPath,
            "--resolve", $"api.mesh:{secure.Port}:127.0.0.1", "--write-out", " %{http_code}", $"https://api.mesh:{secure.Port}/orders");
        Assert.Equal((0, "RBAC: access denied 403"), asUsers);
        await MetricsScrape.AssertEventuallyAsync(receiver, "proxymesh_downstream_rq_caller_denied_total", "listener=\"secure\",route=\"api\"", 1);

        // The calling sidecar originates mutual TLS to the receiving one for its HTTP cluster.
        var senderConfig = new ProxyConfig().Cluster("api", $"https://api.mesh:{secure.Port}").Route("api", "api", listeners: "egress");
        senderConfig.ClusterPolicies("api")["Tls"] = ClientTls(ordersFiles);
        senderConfig.Clusters["api"]!["Destinations"]!["d0"]!["Host"] = "api.mesh";
        senderConfig.Clusters["api"]!["Destinations"]!["d0"]!["Address"] = $"https://127.0.0.1:{secure.Port}";
        await using var sender = await RunningProxy.StartAsync(senderConfig);
        using var client = Clients.Http1(sender.Egress);
        using var response = await client.PostAsync("/orders", new StringContent("via sidecar"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("via sidecar", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Unloadable_tls_files_and_inconsistent_tls_settings_are_refused_with_their_keys()
    {
        var garbage = Path.Combine(_certificates.Directory, "garbage.pem");
        await File.WriteAllTextAsync(garbage, "not a certificate");
        var config = new ProxyConfig().Cluster("db", "tcp://127.0.0.1:1").Cluster("up", "tls://127.0.0.1:2");
        var terminating = config.TcpListener("terminating", "db");
        terminating["Certificate"] = new JsonObject { ["Path"] = garbage, ["KeyPath"] = garbage };
        terminating["Certificates"] = new JsonArray(new JsonObject { ["Path"] = garbage });
        terminating["ClientCaPath"] = garbage;
        config.TcpListener("plain", "db")["ClientCertificate"] = "Require";
        config.ClusterPolicies("up")["Tls"] = new JsonObject { ["CaPath"] = garbage, ["KeyPath"] = garbage };

        var error = await Assert.ThrowsAsync<Proxy.Configuration.InvalidConfigurationException>(() => RunningProxy.StartAsync(config));
        var problems = string.Join("\n", error.Problems);
        Assert.True(problems.Contains("ProxyMesh:Listeners:terminating:Certificate: cannot load", StringComparison.Ordinal), problems);
        Assert.Contains("ProxyMesh:Listeners:terminating:Certificates:0:ServerNames: list the SNI names", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:terminating:Certificates:0: cannot load", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:terminating:ClientCaPath: cannot load", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Listeners:plain:ClientCertificate: client certificates need TLS", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Clusters:up:Tls:CaPath: cannot load", problems, StringComparison.Ordinal);
        Assert.Contains("ProxyMesh:Clusters:up:Tls:KeyPath: a key needs a CertificatePath", problems, StringComparison.Ordinal);
    }

    private static JsonObject Pem((string CertificatePath, string KeyPath) files) =>
        new() { ["Path"] = files.CertificatePath, ["KeyPath"] = files.KeyPath };

    private static JsonObject WithNames(JsonObject certificate, params string[] names)
    {
        certificate["ServerNames"] = new JsonArray(names.Select(name => (JsonNode)name).ToArray());
        return certificate;
    }

    private JsonObject ClientTls((string CertificatePath, string KeyPath) files) =>
        new() { ["CaPath"] = _certificates.CaPath, ["CertificatePath"] = files.CertificatePath, ["KeyPath"] = files.KeyPath };

    private async Task<(string Subject, string Echo)> TlsEchoAsync(Uri listener, string serverName, string text, bool nameMustMatch = true)
    {
        using var socket = await TcpPeer.ConnectAsync(listener);
        await using var tls = new SslStream(new NetworkStream(socket), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                Chains(certificate, nameMustMatch ? errors : errors & ~SslPolicyErrors.RemoteCertificateNameMismatch),
        });
        await tls.WriteAsync(Encoding.ASCII.GetBytes(text));
        var buffer = new byte[text.Length];
        await tls.ReadExactlyAsync(buffer);
        return (tls.RemoteCertificate!.Subject, Encoding.ASCII.GetString(buffer));
    }

    private bool Chains(X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_certificates.Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    /// <summary>A TLS echo server presenting <paramref name="certificate"/>.</summary>
    private static TcpPeer TlsEchoPeer(X509Certificate2 certificate) =>
        TcpPeer.Start(async (socket, token) =>
        {
            await using var tls = new SslStream(new NetworkStream(socket), leaveInnerStreamOpen: false);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = certificate,
            }, token);

            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await tls.ReadAsync(buffer, token)) > 0)
            {
                await tls.WriteAsync(buffer.AsMemory(0, read), token);
            }

            await tls.ShutdownAsync();
            socket.Shutdown(SocketShutdown.Send);
        });
}
