/*
 * read_backend.c - where a backendRef sends traffic.
 *
 * A backendRef names a core Service (the default) or a kgateway Backend.
 * Outside Kubernetes nothing turns a Service into addresses, so gwf does
 * what kube-proxy does with the Service and its EndpointSlices:
 *   - the slices of a Service are those of its namespace labelled
 *     kubernetes.io/service-name=<service>;
 *   - the backendRef's port picks the Service port (spec.ports[].port);
 *     that port's `name` picks, in every slice, the slice port of the same
 *     name ("" matches an unnamed one). When no slice port has that name
 *     and the Service port is unnamed, a slice port equal to a numeric
 *     targetPort is used (slices written by hand often omit names);
 *   - an endpoint serves when conditions.ready is true or absent; when no
 *     endpoint is ready, serving-and-terminating ones are used instead
 *     (kube-proxy's fallback); only addresses[0] counts, as in kube-proxy,
 *     and the same address:port from two slices counts once;
 *   - a Service of type ExternalName becomes its DNS name on the
 *     backendRef's port.
 * A kgateway Backend is `static` (its hosts) or `aws` (a Lambda function,
 * invoked through the lambda_signer plugin).
 *
 * Every reference to the same Service port (or Backend) shares one
 * gw_backend, so an emitter writes one upstream for it. A reference into
 * another namespace needs a ReferenceGrant there.
 *
 * Services, EndpointSlices and Backends are checked once, before routes
 * are read (gw_read_backends): a malformed one is an error and is left
 * out, so the routes that name it see BackendNotFound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"

/* -- Checking documents once -------------------------------------------- */

static void
check_service(gw_rd *r, const gwf_doc *d)
{
    char p[GW_PATH_MAX], ip[GW_PATH_MAX];
    const gwf_node *spec = gw_rd_map(r, d->root, "spec", "spec", true);
    const char *type = gw_rd_str(r, spec, "type", "spec.type", false, 64);
    const char *ext = gw_rd_str(r, spec, "externalName", "spec.externalName",
                                gw_streq(type, "ExternalName"), 253);
    if (ext && gw_streq(type, "ExternalName") && !gw_valid_address(ext))
        gw_rd_error(r, "spec.externalName", "expected a DNS name");
    const gwf_node *ports =
        gw_rd_seq(r, spec, "ports", "spec.ports", false, 1024);
    for (size_t i = 0; i < gwf_node_size(ports); i++) {
        const gwf_node *e = gwf_node_at(ports, i);
        gw_path_i(ip, "spec.ports", i);
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        int64_t v;
        gw_rd_int(r, e, "port", gw_path(p, ip, "port"), true, 1, 65535, &v);
        gw_rd_str(r, e, "name", gw_path(p, ip, "name"), false, 63);
        gw_rd_str(r, e, "appProtocol", gw_path(p, ip, "appProtocol"), false,
                  253);
        gw_rd_str(r, e, "protocol", gw_path(p, ip, "protocol"), false, 16);
        const gwf_node *tp = gwf_node_get(e, "targetPort");
        gwf_node_type t = gwf_node_type_of(tp);
        if (t == GWF_NODE_INT)
            gw_rd_int(r, e, "targetPort", gw_path(p, ip, "targetPort"), false,
                      1, 65535, &v);
        else if (t != GWF_NODE_NULL && t != GWF_NODE_STRING)
            gw_rd_error(r, gw_path(p, ip, "targetPort"),
                        "expected a port number or a port name");
    }
}

static void
check_slice(gw_rd *r, const gwf_doc *d)
{
    char p[GW_PATH_MAX], ip[GW_PATH_MAX], cp[GW_PATH_MAX];
    const gwf_node *md = gw_rd_map(r, d->root, "metadata", "metadata", true);
    gw_rd_map(r, md, "labels", "metadata.labels", false);
    gw_rd_str(r, d->root, "addressType", "addressType", true, 16);
    const gwf_node *eps =
        gw_rd_seq(r, d->root, "endpoints", "endpoints", false, 1000);
    for (size_t i = 0; i < gwf_node_size(eps); i++) {
        const gwf_node *e = gwf_node_at(eps, i);
        gw_path_i(ip, "endpoints", i);
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        const gwf_node *addrs = gw_rd_seq(
            r, e, "addresses", gw_path(p, ip, "addresses"), true, 100);
        if (addrs && gwf_node_size(addrs) == 0)
            gw_rd_error(r, p, "needs at least one address");
        for (size_t k = 0; k < gwf_node_size(addrs); k++) {
            size_t len = 0;
            const char *a = gwf_node_str(gwf_node_at(addrs, k), &len);
            if (!a || strlen(a) != len || !gw_valid_address(a))
                gw_rd_error(r, gw_path_i(cp, p, k),
                            "expected an IP address or a DNS name");
        }
        const gwf_node *cond =
            gw_rd_map(r, e, "conditions", gw_path(cp, ip, "conditions"), false);
        static const char *const flags[] = {"ready", "serving", "terminating"};
        for (size_t k = 0; k < 3; k++) {
            const gwf_node *f = gwf_node_get(cond, flags[k]);
            if (gwf_node_type_of(f) != GWF_NODE_NULL &&
                gwf_node_type_of(f) != GWF_NODE_BOOL)
                gw_rd_error(r, gw_path(p, cp, flags[k]), "expected a boolean");
        }
    }
    const gwf_node *ports = gw_rd_seq(r, d->root, "ports", "ports", false, 100);
    for (size_t i = 0; i < gwf_node_size(ports); i++) {
        const gwf_node *e = gwf_node_at(ports, i);
        gw_path_i(ip, "ports", i);
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        int64_t v;
        gw_rd_int(r, e, "port", gw_path(p, ip, "port"), false, 1, 65535, &v);
        gw_rd_str(r, e, "name", gw_path(p, ip, "name"), false, 63);
        gw_rd_str(r, e, "protocol", gw_path(p, ip, "protocol"), false, 16);
    }
}

static void
check_backend(gw_rd *r, const gwf_doc *d)
{
    char p[GW_PATH_MAX], ip[GW_PATH_MAX];
    const gwf_node *spec = gw_rd_map(r, d->root, "spec", "spec", true);
    const gwf_node *st = gw_rd_map(r, spec, "static", "spec.static", false);
    const gwf_node *aws = gw_rd_map(r, spec, "aws", "spec.aws", false);
    if (st && aws)
        gw_rd_error(r, "spec", "only one of static, aws may be set");
    const gwf_node *hosts =
        gw_rd_seq(r, st, "hosts", "spec.static.hosts", st != NULL, 1000);
    for (size_t i = 0; i < gwf_node_size(hosts); i++) {
        const gwf_node *h = gwf_node_at(hosts, i);
        gw_path_i(ip, "spec.static.hosts", i);
        if (gwf_node_type_of(h) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        int64_t v;
        const char *host =
            gw_rd_str(r, h, "host", gw_path(p, ip, "host"), true, 253);
        if (host && !gw_valid_address(host))
            gw_rd_error(r, p, "expected an IP address or a DNS name");
        gw_rd_int(r, h, "port", gw_path(p, ip, "port"), true, 1, 65535, &v);
    }
    gw_rd_str(r, st, "appProtocol", "spec.static.appProtocol", false, 64);
}

/* Keeps only the documents that check out. */
static void
filter(gw_build *b, gw_docs *docs, void (*check)(gw_rd *, const gwf_doc *))
{
    size_t kept = 0;
    for (size_t i = 0; i < docs->count; i++) {
        gw_rd r;
        gw_rd_init(&r, b, docs->items[i]);
        check(&r, docs->items[i]);
        if (r.errors == 0)
            docs->items[kept++] = docs->items[i];
    }
    docs->count = kept;
}

void
gw_read_backends(gw_build *b)
{
    filter(b, &b->services, check_service);
    filter(b, &b->slices, check_slice);
    filter(b, &b->backends, check_backend);
}

/* -- Shared backends ---------------------------------------------------- */

static gw_backend *
find_backend(gw_build *b, const char *id)
{
    for (size_t i = 0; i < b->model->backend_count; i++)
        if (strcmp(b->model->backends[i]->id, id) == 0)
            return b->model->backends[i];
    return NULL;
}

static void
backend_free(gw_backend *be)
{
    if (!be)
        return;
    for (size_t i = 0; i < be->endpoint_count; i++)
        free(be->endpoints[i].address);
    free(be->endpoints);
    free(be->id);
    free(be);
}

static gw_backend *
add_backend(gw_build *b, gw_backend *be)
{
    gw_backend **slot = gw_push(b, &b->model->backends,
                                &b->model->backend_count, sizeof(*slot));
    if (!slot) {
        backend_free(be);
        return NULL;
    }
    *slot = be;
    return be;
}

static bool
add_endpoint(gw_build *b, gw_backend *be, const char *address, int port)
{
    for (size_t i = 0; i < be->endpoint_count; i++)
        if (be->endpoints[i].port == port &&
            strcmp(be->endpoints[i].address, address) == 0)
            return true;
    char *a = gw_strdup(b, address);
    gw_endpoint *e =
        a ? gw_push(b, &be->endpoints, &be->endpoint_count, sizeof(*e)) : NULL;
    if (!e) {
        free(a);
        return false;
    }
    e->address = a;
    e->port = port;
    return true;
}

/* -- Services ----------------------------------------------------------- */

typedef struct endpoint_sink {
    gw_build *b;
    gw_backend *be;
} endpoint_sink;

static int
sink_endpoint(void *ctx, const char *address, int port)
{
    endpoint_sink *k = ctx;
    return add_endpoint(k->b, k->be, address, port) ? 0 : -1;
}

static gw_app_protocol
app_protocol(const char *ap)
{
    if (gw_streq(ap, "kubernetes.io/h2c") || gw_streq(ap, "http2"))
        return GW_PROTO_H2C;
    if (gw_streq(ap, "kubernetes.io/ws") || gw_streq(ap, "kubernetes.io/wss"))
        return GW_PROTO_WS;
    if (gw_streq(ap, "grpc"))
        return GW_PROTO_GRPC;
    return GW_PROTO_HTTP1;
}

static gw_backend *
service_backend(gw_build *b, const gwf_doc *svc, int port, bool grpc,
                const char **reason, char **message)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    char *id =
        gw_ident(b, grpc ? "grpc" : "svc", svc->namespace_, svc->name, portstr);
    if (!id)
        return NULL;
    gw_backend *be = find_backend(b, id);
    if (be) {
        free(id);
        return be;
    }
    const gwf_node *spec = gwf_node_get(svc->root, "spec");
    const gwf_node *ports = gwf_node_get(spec, "ports");
    const gwf_node *sp = NULL;
    for (size_t i = 0; i < gwf_node_size(ports) && !sp; i++) {
        int64_t v;
        const gwf_node *e = gwf_node_at(ports, i);
        const char *proto = gw_node_string(e, "protocol");
        if (gwf_node_int(gwf_node_get(e, "port"), &v) == 0 && v == port &&
            (!proto || strcmp(proto, "TCP") == 0))
            sp = e;
    }
    bool external = gw_streq(gw_node_string(spec, "type"), "ExternalName");
    if (!sp && !external) {
        free(id);
        *reason = "BackendNotFound";
        *message = gw_printf(b, "Service %s/%s has no port %d", svc->namespace_,
                             svc->name, port);
        return NULL;
    }
    be = calloc(1, sizeof(*be));
    if (!be) {
        free(id);
        b->oom = true;
        return NULL;
    }
    be->kind = GW_BACKEND_ENDPOINTS;
    be->id = id;
    be->doc = svc;
    be->protocol =
        grpc ? GW_PROTO_GRPC : app_protocol(gw_node_string(sp, "appProtocol"));
    endpoint_sink sink = {b, be};
    if (gwf_manifests_service_endpoints(b->m, svc, port, sink_endpoint,
                                        &sink) != 0) {
        backend_free(be);
        return NULL;
    }
    return add_backend(b, be);
}

/* -- kgateway Backends -------------------------------------------------- */

static gw_backend *
kgateway_backend(gw_build *b, const gwf_doc *d, bool grpc, const char **reason,
                 char **message)
{
    char *id = gw_ident(b, "backend", d->namespace_, d->name, NULL);
    if (!id)
        return NULL;
    gw_backend *be = find_backend(b, id);
    if (be) {
        free(id);
        return be;
    }
    const gwf_node *spec = gwf_node_get(d->root, "spec");
    const gwf_node *st = gwf_node_get(spec, "static");
    const gwf_node *aws = gwf_node_get(spec, "aws");
    if (!st && !aws) {
        free(id);
        *reason = "BackendNotFound";
        *message = gw_printf(b,
                             "Backend %s/%s: only static and aws Backends "
                             "are supported",
                             d->namespace_, d->name);
        return NULL;
    }
    be = calloc(1, sizeof(*be));
    if (!be) {
        free(id);
        b->oom = true;
        return NULL;
    }
    be->id = id;
    be->doc = d;
    if (aws) {
        be->kind = GW_BACKEND_LAMBDA;
        return add_backend(b, be);
    }
    be->kind = GW_BACKEND_ENDPOINTS;
    be->protocol =
        grpc ? GW_PROTO_GRPC : app_protocol(gw_node_string(st, "appProtocol"));
    be->tls = gwf_node_get(spec, "tls") != NULL;
    const gwf_node *hosts = gwf_node_get(st, "hosts");
    for (size_t i = 0; i < gwf_node_size(hosts); i++) {
        const gwf_node *h = gwf_node_at(hosts, i);
        int64_t port = 0;
        gwf_node_int(gwf_node_get(h, "port"), &port);
        if (!add_endpoint(b, be, gw_node_string(h, "host"), (int)port)) {
            backend_free(be);
            return NULL;
        }
    }
    return add_backend(b, be);
}

/* -- References --------------------------------------------------------- */

gw_backend *
gw_resolve_backend(gw_rd *r, const gwf_node *ref, const char *path, bool grpc,
                   const char **reason, char **message)
{
    gw_build *b = r->b;
    char p[GW_PATH_MAX];
    *reason = NULL;
    *message = NULL;
    int errors = r->errors;
    const char *group =
        gw_rd_str(r, ref, "group", gw_path(p, path, "group"), false, 253);
    const char *kind =
        gw_rd_str(r, ref, "kind", gw_path(p, path, "kind"), false, 63);
    const char *name =
        gw_rd_str(r, ref, "name", gw_path(p, path, "name"), true, 253);
    const char *ns = gw_rd_str(r, ref, "namespace",
                               gw_path(p, path, "namespace"), false, 63);
    int64_t port = 0;
    bool has_port = gw_rd_int(r, ref, "port", gw_path(p, path, "port"), false,
                              1, 65535, &port);
    if (!group)
        group = "";
    if (!kind)
        kind = "Service";
    bool service = !*group && strcmp(kind, "Service") == 0;
    if (service && !has_port && !gwf_node_get(ref, "port"))
        gw_rd_error(r, p, "is required when referring to a Service");
    if (r->errors != errors)
        return NULL;
    if (!ns)
        ns = r->doc->namespace_;
    bool kbackend =
        strcmp(group, GW_KGATEWAY_GROUP) == 0 && strcmp(kind, "Backend") == 0;
    if (!service && !kbackend) {
        *reason = "InvalidKind";
        *message = gw_printf(b, "%s: %s%s%s is not a supported backend kind",
                             path, group, *group ? "/" : "", kind);
        return NULL;
    }
    if (!gw_ref_permitted(b, r->doc->kind, r->doc->namespace_, group, kind, ns,
                          name)) {
        *reason = "RefNotPermitted";
        *message = gw_printf(b,
                             "%s: %s %s/%s is in another namespace and no "
                             "ReferenceGrant there allows it",
                             path, kind, ns, name);
        return NULL;
    }
    const gwf_doc *d = gw_find(service ? &b->services : &b->backends, ns, name);
    if (!d) {
        *reason = "BackendNotFound";
        *message = gw_printf(b, "%s: %s %s/%s not found", path, kind, ns, name);
        return NULL;
    }
    if (service)
        return service_backend(b, d, (int)port, grpc, reason, message);
    return kgateway_backend(b, d, grpc, reason, message);
}

void
gw_backends_free(gw_model *m)
{
    for (size_t i = 0; i < m->backend_count; i++)
        backend_free(m->backends[i]);
    free(m->backends);
    m->backends = NULL;
    m->backend_count = 0;
}
