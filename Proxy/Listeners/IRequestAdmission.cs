namespace ProxyMesh.Proxy.Listeners;

/// <summary>
/// Decides whether a new request on a traffic listener is served or shed at once (e.g. under overload), before
/// anything else is done for it: a shed request gets no request id, no stats and no access log line.
/// </summary>
public interface IRequestAdmission
{
    /// <returns>
    /// True when the request is served (the caller then owes <see cref="Release"/>); false when it has been answered
    /// (the caller then awaits <see cref="EndShedAsync"/> and does nothing else for it).
    /// </returns>
    bool TryAdmit(HttpContext context);

    /// <summary>Ends the exchange of a request <see cref="TryAdmit"/> refused; completes at once for most.</summary>
    ValueTask EndShedAsync(HttpContext context);

    /// <summary>An admitted request has ended.</summary>
    void Release();
}
