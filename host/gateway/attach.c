/*
 * attach.c - routes onto listeners, listeners onto ports and hosts.
 *
 * A route's parentRef names a Gateway (namespace defaults to the
 * route's), optionally one listener by sectionName and/or port. Among
 * those listeners, the route attaches to every one that
 *   - is Accepted and not Conflicted,
 *   - allows the route's kind and namespace (allowedRoutes: Same, All, or
 *     a Selector over the Namespace's labels), and
 *   - shares a hostname with it (gw_hostname_intersect).
 * The parentRef's Accepted condition says why not when it attaches to
 * none: NoMatchingParent (no such Gateway or listener), then
 * NotAllowedByListeners, then NoMatchingListenerHostname. A parentRef to a
 * Gateway of another class is not ours to report on and gets no status.
 * A route attached to a listener that cannot serve (HTTPS without a
 * usable certificate) counts in its attachedRoutes, as the spec and its
 * conformance tests want, but is served nowhere through it.
 *
 * Hostnames, as the spec defines them: a listener without hostname takes
 * the route's hostnames (or, without any, every host); a route without
 * hostnames takes the listener's; otherwise each pair that intersects
 * gives the more specific of the two ("*.example.com" and
 * "foo.example.com" give "foo.example.com"; a wildcard matches one or
 * more labels, never the bare domain).
 *
 * An HTTPRoute and a GRPCRoute may not share a hostname on one listener:
 * routes attach oldest first (then by namespace/name) and the later of
 * two such routes is refused there (NotAllowedByListeners), as the
 * GRPCRoute spec requires.
 *
 * Every usable listener gets its port (listeners of one protocol on one
 * port are merged, their certificates kept per hostname for SNI), and
 * every attached (rule, match) becomes an entry of the virtual host of
 * each hostname it is served on. precedence.c then orders each host.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"

const char *
gw_hostname_intersect(const char *listener, const char *route)
{
    if (!listener)
        return route;
    if (!route)
        return listener;
    if (strcmp(listener, route) == 0)
        return route;
    size_t ll = strlen(listener), rl = strlen(route);
    /* Listener "*.x": the route's name (exact or wildcard) must end in
     * ".x" with at least one more label. */
    if (listener[0] == '*' && rl > ll - 1 &&
        strcmp(route + rl - (ll - 1), listener + 1) == 0)
        return route;
    if (route[0] == '*' && ll > rl - 1 &&
        strcmp(listener + ll - (rl - 1), route + 1) == 0)
        return listener;
    return NULL;
}

static gw_listener *
listener_of(gw_build *b, const gw_listener_ctx *c)
{
    return &b->model->gateways[c->gateway].listeners[c->index];
}

static gw_port *
port_of(gw_build *b, int port, gw_protocol protocol)
{
    gw_model *m = b->model;
    for (size_t i = 0; i < m->port_count; i++)
        if (m->ports[i].port == port && m->ports[i].protocol == protocol)
            return &m->ports[i];
    gw_port *p = gw_push(b, &m->ports, &m->port_count, sizeof(*p));
    if (p) {
        p->port = port;
        p->protocol = protocol;
    }
    return p;
}

static void
add_tls(gw_build *b, gw_port *p, const char *hostname, gw_tls_cert *cert)
{
    size_t n = p->tls_count;
    char *h = gw_strdup(b, hostname);
    if (hostname && !h)
        return;
    char **hs = realloc(p->tls_hostnames, (n + 1) * sizeof(*hs));
    if (!hs) {
        free(h);
        b->oom = true;
        return;
    }
    p->tls_hostnames = hs;
    gw_tls_cert **cs = realloc(p->tls_certs, (n + 1) * sizeof(*cs));
    if (!cs) {
        free(h);
        b->oom = true;
        return;
    }
    p->tls_certs = cs;
    hs[n] = h;
    cs[n] = cert;
    p->tls_count = n + 1;
}

/* The vhosts of every port, indexed by (port, hostname) in an open
 * addressing table: thousands of routes with 16 hostnames each make tens
 * of thousands of vhosts, too many to search one by one per hostname. */
struct gw_vhost_slot {
    size_t port, vhost; /* indexes; vhost 0 is an empty slot, else + 1 */
};

static size_t
vhost_hash(size_t port, const char *hostname)
{
    uint64_t h = 14695981039346656037u ^ port;
    for (const char *c = hostname ? hostname : ""; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211u;
    return (size_t)(h ^ (h >> 32) ^ (hostname ? 0 : 1));
}

static void
vhost_slot_put(gw_build *b, size_t port, size_t vhost)
{
    const char *h = b->model->ports[port].vhosts[vhost].hostname;
    size_t mask = b->vhost_slot_cap - 1;
    size_t i = vhost_hash(port, h) & mask;
    while (b->vhost_slots[i].vhost)
        i = (i + 1) & mask;
    b->vhost_slots[i] = (struct gw_vhost_slot){port, vhost + 1};
}

/* Makes room for one more entry; false on OOM. */
static bool
vhost_slots_grow(gw_build *b)
{
    if ((b->vhost_slot_count + 1) * 2 <= b->vhost_slot_cap)
        return true;
    size_t cap = b->vhost_slot_cap ? b->vhost_slot_cap * 2 : 64;
    struct gw_vhost_slot *old = b->vhost_slots;
    size_t old_cap = b->vhost_slot_cap;
    b->vhost_slots = calloc(cap, sizeof(*old));
    if (!b->vhost_slots) {
        b->vhost_slots = old;
        b->oom = true;
        return false;
    }
    b->vhost_slot_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].vhost)
            vhost_slot_put(b, old[i].port, old[i].vhost - 1);
    free(old);
    return true;
}

static gw_vhost *
vhost_of(gw_build *b, gw_port *p, const char *hostname)
{
    size_t port = (size_t)(p - b->model->ports);
    if (b->vhost_slot_cap) {
        size_t mask = b->vhost_slot_cap - 1;
        for (size_t i = vhost_hash(port, hostname) & mask;
             b->vhost_slots[i].vhost; i = (i + 1) & mask) {
            const struct gw_vhost_slot *s = &b->vhost_slots[i];
            if (s->port != port)
                continue; /* s->vhost indexes another port's vhosts */
            const char *h = p->vhosts[s->vhost - 1].hostname;
            if ((!h && !hostname) || gw_streq(h, hostname))
                return &p->vhosts[s->vhost - 1];
        }
    }
    if (!vhost_slots_grow(b))
        return NULL;
    char *copy = gw_strdup(b, hostname);
    if (hostname && !copy)
        return NULL;
    gw_vhost *v = gw_push(b, &p->vhosts, &p->vhost_count, sizeof(*v));
    if (!v) {
        free(copy);
        return NULL;
    }
    v->hostname = copy;
    vhost_slot_put(b, port, p->vhost_count - 1);
    b->vhost_slot_count++;
    return v;
}

static void
serve(gw_build *b, gw_route *rt, const gw_listener_ctx *c, const char *hostname)
{
    const gw_listener *l = listener_of(b, c);
    gw_port *p = port_of(b, l->port, l->protocol);
    gw_vhost *v = p ? vhost_of(b, p, hostname) : NULL;
    if (!v)
        return;
    for (size_t i = 0; i < rt->rule_count; i++)
        for (size_t k = 0; k < rt->rules[i]->match_count; k++) {
            gw_entry *e = gw_push(b, &v->entries, &v->entry_count, sizeof(*e));
            if (!e)
                return;
            e->rule = rt->rules[i];
            e->match = k;
            e->gateway = c->gateway;
            e->listener = c->index;
        }
}

/* Whether rt has a hostname on listener l. */
static bool
shares_hostname(const gw_route *rt, const gw_listener *l)
{
    if (rt->hostname_count == 0)
        return true;
    for (size_t i = 0; i < rt->hostname_count; i++)
        if (gw_hostname_intersect(l->hostname, rt->hostnames[i]))
            return true;
    return false;
}

/* Serves rt on listener l for every hostname they share. */
static void
attach_hostnames(gw_build *b, gw_route *rt, const gw_listener_ctx *c)
{
    const gw_listener *l = listener_of(b, c);
    if (rt->hostname_count == 0) {
        serve(b, rt, c, l->hostname);
        return;
    }
    for (size_t i = 0; i < rt->hostname_count; i++) {
        const char *h = gw_hostname_intersect(l->hostname, rt->hostnames[i]);
        if (!h)
            continue;
        /* Two route hostnames may narrow to the same one. */
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = gw_streq(gw_hostname_intersect(l->hostname, rt->hostnames[k]),
                           h);
        if (!dup)
            serve(b, rt, c, h);
    }
}

/* The hostname route rt gets on listener hostname lh from its i-th
 * hostname (a route without hostnames gets lh); *ok is false when that
 * hostname does not apply on the listener. */
static const char *
effective(const gw_route *rt, const char *lh, size_t i, bool *ok)
{
    if (rt->hostname_count == 0) {
        *ok = true;
        return lh;
    }
    const char *h = gw_hostname_intersect(lh, rt->hostnames[i]);
    *ok = h != NULL;
    return h;
}

/* Whether routes a and b would serve a common host on listener l (NULL:
 * every host). */
static bool
overlap(const gw_route *a, const gw_route *b, const gw_listener *l)
{
    size_t na = a->hostname_count ? a->hostname_count : 1;
    size_t nb = b->hostname_count ? b->hostname_count : 1;
    for (size_t i = 0; i < na; i++) {
        bool ok;
        const char *x = effective(a, l->hostname, i, &ok);
        if (!ok)
            continue;
        for (size_t k = 0; k < nb; k++) {
            const char *y = effective(b, l->hostname, k, &ok);
            if (ok && (!x || !y || gw_hostname_intersect(x, y)))
                return true;
        }
    }
    return false;
}

/* The route of the other kind (HTTPRoute / GRPCRoute) already attached to
 * c that shares a hostname with rt, or NULL. Routes attach oldest first
 * (then by namespace/name), so the route found is the one the spec keeps
 * and rt is the one it rejects. With plain_port_one_protocol, on a plain
 * HTTP port any route of the other kind attached to any listener of that
 * port conflicts (*whole_port is then set). */
static const gw_route *
kind_conflict(gw_build *b, const gw_listener_ctx *c, const gw_route *rt,
              bool *whole_port)
{
    const gw_listener *l = listener_of(b, c);
    *whole_port = false;
    for (size_t i = 0; i < c->attached_count; i++) {
        const gw_route *o = c->attached[i];
        if (o->grpc != rt->grpc && overlap(rt, o, l))
            return o;
    }
    if (!b->plain_port_one_protocol || l->protocol != GW_LISTENER_HTTP)
        return NULL;
    for (size_t j = 0; j < b->listener_count; j++) {
        const gw_listener_ctx *oc = &b->listeners[j];
        const gw_listener *ol = listener_of(b, oc);
        if (ol->port != l->port || ol->protocol != GW_LISTENER_HTTP)
            continue;
        for (size_t i = 0; i < oc->attached_count; i++)
            if (oc->attached[i]->grpc != rt->grpc) {
                *whole_port = true;
                return oc->attached[i];
            }
    }
    return NULL;
}

static bool
namespace_allowed(gw_build *b, const gw_listener_ctx *c, const char *ns)
{
    const gw_gateway *g = &b->model->gateways[c->gateway];
    switch (c->from) {
    case GW_FROM_ALL:
        return true;
    case GW_FROM_SELECTOR:
        return gw_namespace_selected(b, ns, c->selector);
    default:
        return gw_streq(ns, g->doc->namespace_);
    }
}

static void
route_conditions(gw_build *b, gw_route *rt, gw_route_parent *rp)
{
    if (rt->refs_reason)
        gw_cond_add(b, &rp->conditions, "ResolvedRefs", false, rt->refs_reason,
                    "%s",
                    rt->refs_message ? rt->refs_message : rt->refs_reason);
    else
        gw_cond_add(b, &rp->conditions, "ResolvedRefs", true, "ResolvedRefs",
                    "all references resolved");
    if (rt->invalid_reason)
        gw_cond_add(b, &rp->conditions, "PartiallyInvalid", true,
                    rt->invalid_reason, "%s (the rule answers 500)",
                    rt->invalid_message ? rt->invalid_message : "");
}

static void
attach_parent(gw_build *b, gw_route *rt, const gwf_node *ref,
              gw_route_status *st)
{
    const gwf_doc *d = rt->doc;
    const char *group = gw_node_string(ref, "group");
    const char *kind = gw_node_string(ref, "kind");
    if ((group && strcmp(group, GW_GROUP) != 0) ||
        (kind && strcmp(kind, "Gateway") != 0))
        return; /* a Service (GAMMA) or another kind: not ours */
    const char *ns = gw_node_string(ref, "namespace");
    const char *name = gw_node_string(ref, "name");
    const char *section = gw_node_string(ref, "sectionName");
    int64_t port = 0;
    gwf_node_int(gwf_node_get(ref, "port"), &port);
    if (!ns)
        ns = d->namespace_;

    size_t gi = b->model->gateway_count;
    for (size_t i = 0; i < b->model->gateway_count; i++) {
        const gwf_doc *g = b->model->gateways[i].doc;
        if (gw_streq(g->name, name) && gw_streq(g->namespace_, ns)) {
            gi = i;
            break;
        }
    }
    if (gi == b->model->gateway_count && gw_find(&b->gateways, ns, name))
        return; /* a Gateway of another class */

    gw_route_parent *rp =
        gw_push(b, &st->parents, &st->parent_count, sizeof(*rp));
    if (!rp)
        return;
    rp->parent_namespace = gw_strdup(b, ns);
    rp->parent_name = gw_strdup(b, name);
    rp->section_name = gw_strdup(b, section);
    rp->port = (int)port;
    if (gi == b->model->gateway_count) {
        gw_cond_add(b, &rp->conditions, "Accepted", false, "NoMatchingParent",
                    "Gateway %s/%s not found", ns, name);
        route_conditions(b, rt, rp);
        return;
    }
    gw_gateway *g = &b->model->gateways[gi];
    rp->gateway = g->doc;
    size_t candidates = 0, allowed = 0, matching = 0, attached = 0;
    const gw_route *conflict = NULL;
    bool whole_port = false;
    int conflict_port = 0;
    for (size_t i = 0; i < b->listener_count; i++) {
        gw_listener_ctx *c = &b->listeners[i];
        gw_listener *l = listener_of(b, c);
        if (c->gateway != gi || (section && !gw_streq(l->name, section)) ||
            (port && l->port != port))
            continue;
        /* A listener that exists but takes no route of this kind (a TLS
         * or TCP listener we do not serve, a conflicted one) refuses it:
         * NotAllowedByListeners, not NoMatchingParent. */
        candidates++;
        if (!c->accepting || !(rt->grpc ? c->allow_grpc : c->allow_http) ||
            !namespace_allowed(b, c, d->namespace_))
            continue;
        allowed++;
        if (!shares_hostname(rt, l))
            continue;
        matching++;
        const gw_route *other = kind_conflict(b, c, rt, &whole_port);
        if (other) {
            conflict = other;
            conflict_port = l->port;
            continue;
        }
        const gw_route **slot =
            gw_push(b, &c->attached, &c->attached_count, sizeof(*slot));
        if (!slot)
            return;
        *slot = rt;
        /* Attached (and counted) even where the listener cannot serve,
         * an HTTPS one without a usable certificate, as the spec says. */
        if (c->usable) {
            attach_hostnames(b, rt, c);
            rt->attached = true;
        }
        attached++;
        l->attached_routes++;
    }
    if (attached) {
        gw_cond_add(b, &rp->conditions, "Accepted", true, "Accepted",
                    "attached to %zu listener%s", attached,
                    attached == 1 ? "" : "s");
    } else if (!candidates) {
        gw_cond_add(b, &rp->conditions, "Accepted", false, "NoMatchingParent",
                    "Gateway %s/%s has no listener%s%s%s", ns, name,
                    section ? " named " : "", section ? section : "",
                    port ? " on that port" : "");
    } else if (matching && conflict && whole_port) {
        gw_cond_add(b, &rp->conditions, "Accepted", false,
                    "NotAllowedByListeners",
                    "%s %s/%s, older or first by namespace/name, already "
                    "serves plain HTTP port %d, and the data plane cannot "
                    "serve HTTP/1.x and cleartext HTTP/2 (gRPC) on one "
                    "port: give GRPCRoutes an HTTPS listener or a port of "
                    "their own",
                    conflict->doc->kind, conflict->doc->namespace_,
                    conflict->doc->name, conflict_port);
    } else if (matching && conflict) {
        gw_cond_add(b, &rp->conditions, "Accepted", false,
                    "NotAllowedByListeners",
                    "%s %s/%s, older or first by namespace/name, already "
                    "serves a hostname of this route on Gateway %s/%s (an "
                    "HTTPRoute and a GRPCRoute may not share one)",
                    conflict->doc->kind, conflict->doc->namespace_,
                    conflict->doc->name, ns, name);
    } else if (!allowed) {
        gw_cond_add(b, &rp->conditions, "Accepted", false,
                    "NotAllowedByListeners",
                    "no listener of Gateway %s/%s that the parentRef names "
                    "takes a %s from namespace %s (see allowedRoutes and "
                    "the listeners' conditions)",
                    ns, name, d->kind, d->namespace_);
    } else {
        gw_cond_add(b, &rp->conditions, "Accepted", false,
                    "NoMatchingListenerHostname",
                    "no hostname of the route matches a listener of "
                    "Gateway %s/%s",
                    ns, name);
    }
    route_conditions(b, rt, rp);
}

/* Oldest first, then by "namespace/name": the order in which the spec
 * settles conflicts between routes. */
static int
route_order(const void *x, const void *y)
{
    const gw_route *a = x, *b = y;
    if (a->created != b->created)
        return a->created < b->created ? -1 : 1;
    int c = gw_compare_ns_name(a->doc, b->doc);
    if (!c)
        c = (int)a->grpc - (int)b->grpc;
    return c;
}

void
gw_attach_routes(gw_build *b)
{
    gw_model *m = b->model;
    if (b->route_count > 1)
        qsort(b->routes, b->route_count, sizeof(*b->routes), route_order);
    for (size_t i = 0; i < b->listener_count; i++) {
        gw_listener_ctx *c = &b->listeners[i];
        if (!c->usable)
            continue;
        gw_listener *l = listener_of(b, c);
        gw_port *p = port_of(b, l->port, l->protocol);
        if (p && l->protocol == GW_LISTENER_HTTPS)
            add_tls(b, p, l->hostname, c->cert);
    }
    for (size_t i = 0; i < b->route_count && !b->oom; i++) {
        gw_route *rt = &b->routes[i];
        const gwf_node *refs =
            gwf_node_get(gwf_node_get(rt->doc->root, "spec"), "parentRefs");
        gw_route_status st = {.route = rt->doc};
        for (size_t k = 0; k < gwf_node_size(refs); k++)
            attach_parent(b, rt, gwf_node_at(refs, k), &st);
        gw_take_delegated_parents(b, rt, &st); /* delegation.c */
        if (st.parent_count) {
            gw_route_status *slot =
                gw_push(b, &m->routes, &m->route_count, sizeof(*slot));
            if (slot)
                *slot = st;
        }
        if (!rt->attached)
            continue;
        /* The rules move to the model. */
        for (size_t k = 0; k < rt->rule_count; k++) {
            gw_rule **slot =
                gw_push(b, &m->rules, &m->rule_count, sizeof(*slot));
            if (!slot)
                break;
            *slot = rt->rules[k];
            rt->rules[k] = NULL;
        }
    }
}
