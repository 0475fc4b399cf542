namespace ProxyMesh.Discovery.Registrations;

/// <summary>A request the registry refuses (answered with 400): the message names the field and what is wrong.</summary>
public sealed class InvalidCheckInException(string reason) : Exception(reason);
