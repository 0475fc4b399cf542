using System.Net;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Tests.Infrastructure;

namespace ProxyMesh.Proxy.Tests.Routing;

/// <summary>
/// A route's <c>AuthorizationPolicy</c> is enforced, although ProxyMesh runs ASP.NET Core's authorization step only for
/// endpoints that ask for authorization: routes without a policy pass as before, and <c>anonymous</c> lets anyone in.
/// </summary>
public sealed class RouteAuthorizationTests : IAsyncLifetime
{
    private const string PassHeader = "x-test-pass";
    private Backend _backend = null!;
    private RunningProxy _proxy = null!;

    public async Task InitializeAsync()
    {
        _backend = await Backend.StartEchoAsync();
        var config = new ProxyConfig().Cluster("app", _backend.Address)
            .Route("open", "app", "/open/{**rest}")
            .Route("guarded", "app", "/guarded/{**rest}")
            .Route("anonymous", "app", "/anonymous/{**rest}");
        config.Routes["guarded"]!["AuthorizationPolicy"] = "needs-pass";
        config.Routes["anonymous"]!["AuthorizationPolicy"] = "anonymous";
        _proxy = await RunningProxy.StartAsync(config, services =>
        {
            services.AddAuthentication(PassAuthentication.Name).AddScheme<AuthenticationSchemeOptions, PassAuthentication>(PassAuthentication.Name, null);
            services.AddAuthorization(options => options.AddPolicy("needs-pass", policy => policy.RequireClaim("pass")));
        });
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _backend.DisposeAsync();
    }

    [Theory]
    [InlineData("/guarded/x", false, HttpStatusCode.Unauthorized)]
    [InlineData("/guarded/x", true, HttpStatusCode.OK)]
    [InlineData("/open/x", false, HttpStatusCode.OK)]
    [InlineData("/anonymous/x", false, HttpStatusCode.OK)]
    public async Task A_routes_policy_decides_and_routes_without_one_pass(string path, bool pass, HttpStatusCode expected)
    {
        using var client = Clients.Http1(_proxy.Ingress);
        using var request = client.Request(HttpMethod.Get, path);
        if (pass)
        {
            request.Headers.Add(PassHeader, "yes");
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
    }

    /// <summary>Authenticates a caller that sends <see cref="PassHeader"/> with a <c>pass</c> claim; anyone else is anonymous.</summary>
    private sealed class PassAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string Name = "pass";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (!Request.Headers.ContainsKey(PassHeader))
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var identity = new ClaimsIdentity([new Claim("pass", "yes")], Name);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Name)));
        }
    }
}
