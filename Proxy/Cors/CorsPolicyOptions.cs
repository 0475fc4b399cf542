namespace ProxyMesh.Proxy.Cors;

/// <summary>
/// <c>ProxyMesh:Cors:&lt;policy&gt;</c>: a CORS policy that routes name in <c>CorsPolicy</c>, as YARP routes do. The
/// headers gRPC-Web clients send and read are always allowed and exposed (see <see cref="CorsPolicies"/>).
/// </summary>
public sealed class CorsPolicyOptions
{
    public const string SectionName = "ProxyMesh:Cors";

    /// <summary>Origins allowed to call, e.g. <c>https://app.example.com</c>; <c>*</c> allows any (not with credentials).</summary>
    public string[] AllowedOrigins { get; set; } = [];

    /// <summary>Methods allowed besides <c>POST</c> (the method of every gRPC-Web call).</summary>
    public string[] AllowedMethods { get; set; } = [];

    /// <summary>Request headers allowed besides the gRPC-Web ones; <c>*</c> allows any.</summary>
    public string[] AllowedHeaders { get; set; } = [];

    /// <summary>Response headers exposed to scripts besides the gRPC-Web ones.</summary>
    public string[] ExposedHeaders { get; set; } = [];

    /// <summary>Seconds a browser may cache a preflight answer (<c>Access-Control-Max-Age</c>); unset sends none.</summary>
    public int? MaxAge { get; set; }

    /// <summary>Allows cookies and HTTP authentication (<c>Access-Control-Allow-Credentials: true</c>).</summary>
    public bool AllowCredentials { get; set; }
}
