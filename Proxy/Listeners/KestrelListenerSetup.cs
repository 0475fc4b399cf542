using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using ProxyMesh.Proxy.Configuration;
using ProxyMesh.Proxy.Observability;
using ProxyMesh.Proxy.Tls;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>Binds Kestrel to the configured traffic listeners and the admin listener.</summary>
internal sealed class KestrelListenerSetup(IOptions<ProxyMeshOptions> options, BoundListeners bound, DownstreamStats stats, IEnumerable<IConnectionAdmission> admissions)
    : IConfigureOptions<KestrelServerOptions>
{
    /// <summary>Kestrel's switch to refuse a bare LF as an HTTP/1.1 line end (it accepts one by default).</summary>
    private const string RejectBareLineFeeds = "Microsoft.AspNetCore.Server.Kestrel.DisableHttp1LineFeedTerminators";

    public void Configure(KestrelServerOptions kestrel)
    {
        // A proxy must not read a request differently from the hops before it: a bare LF, which one parser takes as a
        // line end and another as part of a header, is a request smuggling vector. Read by each new connection.
        AppContext.SetSwitch(RejectBareLineFeeds, true);
        var mesh = options.Value;
        kestrel.Limits.RequestHeadersTimeout = mesh.Limits.RequestHeadersTimeout;
        kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(mesh.Limits.MinRequestBodyBytesPerSecond, mesh.Limits.MinRequestBodyGracePeriod);
        kestrel.Limits.Http2.MaxStreamsPerConnection = mesh.Limits.MaxConcurrentStreams;
        kestrel.Limits.MinResponseDataRate = new MinDataRate(mesh.Limits.MinResponseBodyBytesPerSecond, mesh.Limits.MinResponseBodyGracePeriod);
        foreach (var (name, listener) in mesh.Listeners)
        {
            if (ListenerAddress.TryParse(listener.Url, out var tcp, out _, allowTcp: true) && tcp!.IsTcp)
            {
                continue; // Bound by the TCP proxy.
            }

            var key = $"{ProxyMeshOptions.SectionName}:Listeners:{name}";
            Listen(kestrel, new ProxyListenerFeature(name, isAdmin: false, listener.TrustsDownstream), listener, key);
        }

        var admin = new ProxyListenerOptions { Url = mesh.Admin.Url, Protocols = HttpProtocols.Http1AndHttp2 };
        Listen(kestrel, new ProxyListenerFeature(ProxyMeshOptionsValidator.AdminListenerName, isAdmin: true), admin, $"{ProxyMeshOptions.SectionName}:Admin");
    }

    private void Listen(KestrelServerOptions kestrel, ProxyListenerFeature feature, ProxyListenerOptions listener, string key)
    {
        if (!ListenerAddress.TryParse(listener.Url, out var address, out var problem))
        {
            throw new InvalidConfigurationException([$"{key}:Url: {problem}"]);
        }

        var detectH2c = !address!.IsHttps && listener.Protocols == HttpProtocols.Http1AndHttp2;
        void Configure(ListenOptions listenOptions)
        {
            // Leaving the default (Http1AndHttp2) unset keeps Kestrel from warning that cleartext HTTP/2 is off:
            // here it is on, through preface detection.
            if (listener.Protocols != HttpProtocols.Http1AndHttp2)
            {
                listenOptions.Protocols = listener.Protocols;
            }

            var series = stats.For(feature.Name);
            var admission = feature.IsAdmin ? null : admissions.FirstOrDefault();
            listenOptions.Use(next => async connection =>
            {
                if (admission?.AdmitConnection() == false)
                {
                    connection.Abort();
                    return;
                }

                connection.Features.Set(feature);
                series.Connections.Inc();
                series.ActiveConnections.Inc();
                try
                {
                    await next(connection);
                }
                finally
                {
                    series.ActiveConnections.Dec();
                    admission?.ReleaseConnection();
                }
            });
            if (address.IsHttps)
            {
                ServerTls.Use(listenOptions, listener, key, ServerTls.AlpnFor(listener.Protocols));
            }
            else if (detectH2c)
            {
                listenOptions.Use(next => connection =>
                    CleartextHttp2Detection.OnConnectionAsync(connection, next, kestrel.Limits.RequestHeadersTimeout));
            }

            bound.Add(feature.Name, address.IsHttps ? "https" : "http", listenOptions);
        }

        if (address.IsLocalhost)
        {
            kestrel.ListenLocalhost(address.Port, Configure);
        }
        else if (address.IsAnyAddress)
        {
            kestrel.ListenAnyIP(address.Port, Configure);
        }
        else
        {
            kestrel.Listen(address.IPAddress!, address.Port, Configure);
        }
    }
}
