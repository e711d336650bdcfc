/*
 * manifest_grants.c - whether a ReferenceGrant allows a reference across
 * namespaces.
 *
 * The Gateway API's rule, which kgateway applies to its own kinds too: a
 * reference from an object in one namespace to an object in another is
 * allowed only when a ReferenceGrant in the target's namespace lists the
 * referring object's group, kind and namespace in `from` and the
 * target's group and kind (and name, when given) in `to`. A reference
 * within one namespace needs no grant. The runtime asks this when a
 * plugin looks up a Service or Backend of another namespace (the
 * backendRef of an ext-authz server, a rate limit service, a JWKS
 * server); the translator applies the same rule to routes.
 */
#include "manifest_internal.h"

#include <string.h>

static bool
same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static const char *
str(const gwf_node *map, const char *key)
{
    return gwf_node_str(gwf_node_get(map, key), NULL);
}

bool
gwf_manifests_ref_granted(const gwf_manifests *m, const char *from_group,
                          const char *from_kind, const char *from_ns,
                          const char *to_group, const char *to_kind,
                          const char *to_ns, const char *to_name)
{
    if (same(from_ns, to_ns))
        return true;
    for (size_t i = 0; i < gwf_manifests_count(m); i++) {
        const gwf_doc *g = gwf_manifests_at(m, i);
        if (!same(g->kind, "ReferenceGrant") || !same(g->namespace_, to_ns))
            continue;
        bool from_ok = false, to_ok = false;
        const gwf_node *from = gwf_node_get(g->spec, "from");
        for (size_t k = 0; k < gwf_node_size(from) && !from_ok; k++) {
            const gwf_node *f = gwf_node_at(from, k);
            from_ok = same(str(f, "group"), from_group) &&
                      same(str(f, "kind"), from_kind) &&
                      same(str(f, "namespace"), from_ns);
        }
        const gwf_node *to = gwf_node_get(g->spec, "to");
        for (size_t k = 0; k < gwf_node_size(to) && !to_ok; k++) {
            const gwf_node *t = gwf_node_at(to, k);
            const char *name = str(t, "name");
            to_ok = same(str(t, "group"), to_group) &&
                    same(str(t, "kind"), to_kind) &&
                    (!name || same(name, to_name));
        }
        if (from_ok && to_ok)
            return true;
    }
    return false;
}
