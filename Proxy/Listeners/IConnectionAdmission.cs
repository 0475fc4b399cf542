namespace ProxyMesh.Proxy.Listeners;

/// <summary>Decides whether a new connection on a traffic listener is served or closed at once (e.g. under overload).</summary>
public interface IConnectionAdmission
{
    bool AdmitConnection();
}
