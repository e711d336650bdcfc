/*
 * read_refgrant.c - ReferenceGrants: who may point into a namespace.
 *
 * A reference across namespaces (an HTTPRoute's backendRef to a Service
 * elsewhere, a Gateway's certificateRef or a kgateway TrafficPolicy's
 * headerModifiers secretRef to a Secret elsewhere) is allowed
 * only when a ReferenceGrant in the target's namespace lists the
 * referrer's group, kind and namespace in `from` and the target's group,
 * kind and (optionally) name in `to`. References within one namespace
 * never need one. Grants are read once, checked like the API server
 * checks them (1 to 16 entries each side, required fields); a malformed
 * grant is an error and grants nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"

#define MAX_PEERS 16

static bool
read_peers(gw_rd *r, const gwf_node *spec, const char *key, bool from,
           gw_grant_peer **out, size_t *count)
{
    char p[GW_PATH_MAX], ip[GW_PATH_MAX], fp[GW_PATH_MAX];
    gw_path(p, "spec", key);
    const gwf_node *seq = gw_rd_seq(r, spec, key, p, true, MAX_PEERS);
    if (!seq)
        return false;
    if (gwf_node_size(seq) == 0) {
        gw_rd_error(r, p, "needs at least one entry");
        return false;
    }
    size_t n = gwf_node_size(seq);
    *out = calloc(n, sizeof(**out));
    if (!*out) {
        r->b->oom = true;
        return false;
    }
    *count = n;
    for (size_t i = 0; i < n; i++) {
        const gwf_node *e = gwf_node_at(seq, i);
        gw_path_i(ip, p, i);
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        gw_grant_peer *peer = &(*out)[i];
        peer->group =
            gw_rd_str(r, e, "group", gw_path(fp, ip, "group"), true, 253);
        peer->kind = gw_rd_str(r, e, "kind", gw_path(fp, ip, "kind"), true, 63);
        if (from)
            peer->namespace_ = gw_rd_str(
                r, e, "namespace", gw_path(fp, ip, "namespace"), true, 63);
        else
            peer->name =
                gw_rd_str(r, e, "name", gw_path(fp, ip, "name"), false, 253);
    }
    return r->errors == 0;
}

void
gw_read_grants(gw_build *b)
{
    for (size_t i = 0; i < b->grants.count && !b->oom; i++) {
        const gwf_doc *d = b->grants.items[i];
        gw_rd r;
        gw_rd_init(&r, b, d);
        gw_grant g = {.doc = d};
        const gwf_node *spec = gw_rd_map(&r, d->root, "spec", "spec", true);
        if (spec) {
            read_peers(&r, spec, "from", true, &g.from, &g.from_count);
            read_peers(&r, spec, "to", false, &g.to, &g.to_count);
        }
        gw_grant *slot = NULL;
        if (r.errors == 0)
            slot = gw_push(b, &b->grant_list, &b->grant_count, sizeof(*slot));
        if (!slot) {
            free(g.from);
            free(g.to);
            continue;
        }
        *slot = g;
    }
}

bool
gw_ref_permitted(const gw_build *b, const char *from_kind, const char *from_ns,
                 const char *to_group, const char *to_kind, const char *to_ns,
                 const char *to_name)
{
    return gw_ref_permitted_from(b, GW_GROUP, from_kind, from_ns, to_group,
                                 to_kind, to_ns, to_name);
}

bool
gw_ref_permitted_from(const gw_build *b, const char *from_group,
                      const char *from_kind, const char *from_ns,
                      const char *to_group, const char *to_kind,
                      const char *to_ns, const char *to_name)
{
    if (gw_streq(from_ns, to_ns))
        return true;
    for (size_t i = 0; i < b->grant_count; i++) {
        const gw_grant *g = &b->grant_list[i];
        if (!gw_streq(g->doc->namespace_, to_ns))
            continue;
        bool from_ok = false, to_ok = false;
        for (size_t k = 0; k < g->from_count && !from_ok; k++) {
            const gw_grant_peer *f = &g->from[k];
            from_ok = gw_streq(f->group, from_group) &&
                      gw_streq(f->kind, from_kind) &&
                      gw_streq(f->namespace_, from_ns);
        }
        for (size_t k = 0; k < g->to_count && !to_ok; k++) {
            const gw_grant_peer *t = &g->to[k];
            to_ok = gw_streq(t->group, to_group) &&
                    gw_streq(t->kind, to_kind) &&
                    (!t->name || gw_streq(t->name, to_name));
        }
        if (from_ok && to_ok)
            return true;
    }
    return false;
}
