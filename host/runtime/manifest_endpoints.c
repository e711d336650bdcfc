/*
 * manifest_endpoints.c - a Service port's endpoints, as kube-proxy maps
 * them, from the EndpointSlices among the manifests.
 *
 * Both the Gateway API translator (a route's backendRef) and the plugins
 * (an ext-authz server, a JWKS endpoint, a rate limit service named by a
 * backendRef to a Service, through the host's lookup_document) need the
 * addresses behind a Service port, and must agree on them. The mapping
 * is Kubernetes': the slices labelled kubernetes.io/service-name = the
 * Service, in its namespace, of addressType IPv4, IPv6 or FQDN; in each,
 * the slice port of the Service port's name (or, for an unnamed Service
 * port, the one equal to its numeric targetPort), TCP; the ready
 * endpoints (no `ready` condition counts as ready), or, when no
 * endpoint of any slice is ready, the serving and terminating ones; each
 * endpoint's first address. An ExternalName Service is its DNS name on
 * the port asked for.
 */
#include "manifest_internal.h"

#include <arpa/inet.h>
#include <string.h>

static bool
streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static const char *
string_of(const gwf_node *map, const char *key)
{
    return gwf_node_str(gwf_node_get(map, key), NULL);
}

/* The slice port that Service port `sp` maps to in `slice`, or 0. */
static int
slice_port(const gwf_node *slice, const gwf_node *sp)
{
    const char *want = string_of(sp, "name");
    if (!want)
        want = "";
    const gwf_node *ports = gwf_node_get(slice, "ports");
    for (size_t i = 0; i < gwf_node_size(ports); i++) {
        const gwf_node *p = gwf_node_at(ports, i);
        const char *name = string_of(p, "name");
        const char *proto = string_of(p, "protocol");
        int64_t port;
        if (proto && strcmp(proto, "TCP") != 0)
            continue;
        if (strcmp(name ? name : "", want) == 0 &&
            gwf_node_int(gwf_node_get(p, "port"), &port) == 0 && port >= 1 &&
            port <= 65535)
            return (int)port;
    }
    int64_t target;
    if (*want == '\0' &&
        gwf_node_int(gwf_node_get(sp, "targetPort"), &target) == 0) {
        for (size_t i = 0; i < gwf_node_size(ports); i++) {
            int64_t port;
            if (gwf_node_int(gwf_node_get(gwf_node_at(ports, i), "port"),
                             &port) == 0 &&
                port == target && port >= 1 && port <= 65535)
                return (int)port;
        }
    }
    return 0;
}

/* An IPv4 or IPv6 literal, or a DNS name: anything else (a slice written
 * by hand, or by an attacker) is no endpoint. */
static bool
usable_address(const char *a)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1)
        return true;
    size_t len = strlen(a), label = 0;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = a[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && a[len - 1] != '-';
}

static bool
flag(const gwf_node *cond, const char *name, bool dflt)
{
    int v;
    if (gwf_node_bool(gwf_node_get(cond, name), &v) != 0)
        return dflt;
    return v != 0;
}

/* One pass over the slices of svc for Service port sp: the ready
 * endpoints, or (terminating) the serving-and-terminating ones. */
static int
slice_pass(const gwf_manifests *m, const gwf_doc *svc, const gwf_node *sp,
           bool terminating, gwf_endpoint_fn fn, void *ctx, size_t *found)
{
    for (size_t i = 0; i < gwf_manifests_count(m); i++) {
        const gwf_doc *s = gwf_manifests_at(m, i);
        if (!streq(s->kind, "EndpointSlice") ||
            !streq(s->namespace_, svc->namespace_) ||
            !streq(string_of(gwf_node_get(gwf_node_get(s->root, "metadata"),
                                          "labels"),
                             "kubernetes.io/service-name"),
                   svc->name))
            continue;
        const char *at = string_of(s->root, "addressType");
        if (!streq(at, "IPv4") && !streq(at, "IPv6") && !streq(at, "FQDN"))
            continue;
        int port = slice_port(s->root, sp);
        if (!port)
            continue;
        const gwf_node *eps = gwf_node_get(s->root, "endpoints");
        for (size_t k = 0; k < gwf_node_size(eps); k++) {
            const gwf_node *e = gwf_node_at(eps, k);
            const gwf_node *c = gwf_node_get(e, "conditions");
            bool use = terminating ? flag(c, "serving", true) &&
                                         flag(c, "terminating", false)
                                   : flag(c, "ready", true);
            const char *addr = gwf_node_str(
                gwf_node_at(gwf_node_get(e, "addresses"), 0), NULL);
            size_t alen = 0;
            if (addr)
                gwf_node_str(gwf_node_at(gwf_node_get(e, "addresses"), 0),
                             &alen);
            if (!use || !addr || strlen(addr) != alen || !usable_address(addr))
                continue;
            (*found)++;
            int rc = fn(ctx, addr, port);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int
gwf_manifests_service_endpoints(const gwf_manifests *m, const gwf_doc *svc,
                                int port, gwf_endpoint_fn fn, void *ctx)
{
    const gwf_node *spec = gwf_node_get(svc->root, "spec");
    if (streq(string_of(spec, "type"), "ExternalName")) {
        const char *name = string_of(spec, "externalName");
        return name && usable_address(name) ? fn(ctx, name, port) : 0;
    }
    const gwf_node *ports = gwf_node_get(spec, "ports");
    const gwf_node *sp = NULL;
    for (size_t i = 0; i < gwf_node_size(ports) && !sp; i++) {
        int64_t v;
        const gwf_node *e = gwf_node_at(ports, i);
        const char *proto = string_of(e, "protocol");
        if (gwf_node_int(gwf_node_get(e, "port"), &v) == 0 && v == port &&
            (!proto || strcmp(proto, "TCP") == 0))
            sp = e;
    }
    if (!sp)
        return GWF_NO_SUCH_PORT;
    size_t found = 0;
    int rc = slice_pass(m, svc, sp, false, fn, ctx, &found);
    if (rc == 0 && found == 0)
        rc = slice_pass(m, svc, sp, true, fn, ctx, &found);
    return rc;
}
