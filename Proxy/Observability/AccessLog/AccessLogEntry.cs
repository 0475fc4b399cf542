namespace ProxyMesh.Proxy.Observability.AccessLog;

/// <summary>
/// One access log line: Envoy's default fields, plus where the request went in the mesh. HTTP requests take theirs from
/// <see cref="AccessLogQueue.Rent"/>, and the writer gives it back once written, so a logged request allocates none;
/// anything else may make its own.
/// </summary>
internal sealed class AccessLogEntry
{
    public AccessLogEntry()
    {
        Method = Path = Protocol = ResponseFlags = RequestId = Authority = "";
    }

    public AccessLogEntry(
        DateTimeOffset startTime,
        string method,
        string path,
        string protocol,
        int responseCode,
        string responseFlags,
        long bytesReceived,
        long bytesSent,
        double durationMilliseconds,
        double? upstreamServiceTimeMilliseconds,
        string? upstreamHost,
        string? forwardedFor,
        string? userAgent,
        string requestId,
        string authority,
        string? listener,
        string? route,
        string? cluster)
    {
        StartTime = startTime;
        Method = method;
        Path = path;
        Protocol = protocol;
        ResponseCode = responseCode;
        ResponseFlags = responseFlags;
        BytesReceived = bytesReceived;
        BytesSent = bytesSent;
        DurationMilliseconds = durationMilliseconds;
        UpstreamServiceTimeMilliseconds = upstreamServiceTimeMilliseconds;
        UpstreamHost = upstreamHost;
        ForwardedFor = forwardedFor;
        UserAgent = userAgent;
        RequestId = requestId;
        Authority = authority;
        Listener = listener;
        Route = route;
        Cluster = cluster;
    }

    public DateTimeOffset StartTime { get; set; }

    public string Method { get; set; }

    public string Path { get; set; }

    public string Protocol { get; set; }

    public int ResponseCode { get; set; }

    public string ResponseFlags { get; set; }

    public long BytesReceived { get; set; }

    public long BytesSent { get; set; }

    public double DurationMilliseconds { get; set; }

    public double? UpstreamServiceTimeMilliseconds { get; set; }

    public string? UpstreamHost { get; set; }

    public string? ForwardedFor { get; set; }

    public string? UserAgent { get; set; }

    public string RequestId { get; set; }

    public string Authority { get; set; }

    public string? Listener { get; set; }

    public string? Route { get; set; }

    public string? Cluster { get; set; }

    /// <summary>Forgets every field, so that a pooled entry holds on to nothing of its last request.</summary>
    public void Clear()
    {
        StartTime = default;
        Method = Path = Protocol = ResponseFlags = RequestId = Authority = "";
        ResponseCode = 0;
        BytesReceived = BytesSent = 0;
        DurationMilliseconds = 0;
        UpstreamServiceTimeMilliseconds = null;
        UpstreamHost = ForwardedFor = UserAgent = Listener = Route = Cluster = null;
    }
}
