namespace ProxyMesh.Discovery.Stores;

/// <summary>The store cannot serve now (unreachable, throttling, failing): answer from the last view, or 503.</summary>
public sealed class RegistrationStoreException(string message, Exception? innerException = null) : Exception(message, innerException);
