using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace ProxyMesh.Proxy.Listeners;

/// <summary>Drops candidate endpoints whose <see cref="ListenerBinding"/> does not admit the request's listener.</summary>
internal sealed class ListenerBindingMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    // Before host and HTTP method policies, so their 404/405 answers only consider this listener's endpoints.
    public override int Order => -1000;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        for (var i = 0; i < endpoints.Count; i++)
        {
            if (endpoints[i].Metadata.GetMetadata<ListenerBinding>() is not null)
            {
                return true;
            }
        }

        return false;
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        var listener = httpContext.Features.Get<ProxyListenerFeature>();
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!candidates.IsValidCandidate(i))
            {
                continue;
            }

            var binding = candidates[i].Endpoint.Metadata.GetMetadata<ListenerBinding>();
            if (binding is not null && !binding.Admits(listener))
            {
                candidates.SetValidity(i, false);
            }
        }

        return Task.CompletedTask;
    }
}
