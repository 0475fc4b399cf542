namespace ProxyMesh.Proxy.Listeners;

/// <summary>Decides whether a new connection on a traffic listener is served or closed at once (e.g. under overload).</summary>
public interface IConnectionAdmission
{
    /// <returns>true when the connection is served: the caller then owes <see cref="ReleaseConnection"/> when it ends.</returns>
    bool AdmitConnection();

    void ReleaseConnection();
}
