namespace ProxyMesh.Proxy.Admin;

/// <summary>Envoy's server states, as <c>/server_info</c> and <c>/ready</c> report them.</summary>
public enum ServerState
{
    PreInitializing,
    Live,
    Draining,
}
