/*
 * read_gateway.c - GatewayClasses, Gateways and their listeners.
 *
 * A Gateway is served when its gatewayClassName is one of ours (the
 * --gateway-class names); a GatewayClass document is not required,
 * since operators outside Kubernetes rarely write one, but when present
 * it gets an Accepted status and its controllerName is what the routes
 * report. Other Gateways are skipped with a note.
 *
 * Each listener is checked the way a Gateway API controller checks it,
 * and what is wrong ends up in its conditions, not in an error: a
 * protocol other than HTTP or HTTPS is not Accepted (UnsupportedProtocol);
 * an HTTPS listener whose certificateRefs do not resolve to a
 * kubernetes.io/tls Secret (through a ReferenceGrant when it lives in
 * another namespace) is not Programmed (InvalidCertificateRef /
 * RefNotPermitted); allowedRoutes.kinds other than HTTPRoute and
 * GRPCRoute are InvalidRouteKinds. Two listeners on one port with
 * different protocols, or the same protocol and hostname, conflict: the
 * one read later is Conflicted and serves nothing (listeners of every
 * served Gateway share the addresses gwf binds, so this is checked across
 * Gateways, in load order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"

#define MAX_LISTENERS 64
#define MAX_CERT_REFS 64
#define MAX_ROUTE_KINDS 8
#define MAX_HOSTNAME 253

static const char *const kind_http = "HTTPRoute";
static const char *const kind_grpc = "GRPCRoute";

static bool
class_served(const gw_build *b, const char *name)
{
    for (size_t i = 0; name && i < b->class_count; i++)
        if (strcmp(b->classes[i], name) == 0)
            return true;
    return false;
}

/* The GatewayClass document named `name`, or NULL. */
static const gwf_doc *
class_doc(const gw_build *b, const char *name)
{
    for (size_t i = 0; i < b->gateway_classes.count; i++)
        if (gw_streq(b->gateway_classes.items[i]->name, name))
            return b->gateway_classes.items[i];
    return NULL;
}

static void
read_classes(gw_build *b)
{
    for (size_t i = 0; i < b->gateway_classes.count; i++) {
        const gwf_doc *d = b->gateway_classes.items[i];
        if (!class_served(b, d->name))
            continue;
        gw_rd r;
        gw_rd_init(&r, b, d);
        const gwf_node *spec = gw_rd_map(&r, d->root, "spec", "spec", true);
        gw_rd_str(&r, spec, "controllerName", "spec.controllerName", true, 253);
        if (r.errors)
            continue;
        gw_object_status *st = gw_push(b, &b->model->objects,
                                       &b->model->object_count, sizeof(*st));
        if (!st)
            return;
        st->doc = d;
        gw_cond_add(b, &st->conditions, "Accepted", true, "Accepted",
                    "GatewayClass %s is served by gwf", d->name);
        gw_cond_add(b, &st->conditions, "SupportedVersion", true,
                    "SupportedVersion", "Gateway API v1 is supported");
    }
}

/* -- TLS ---------------------------------------------------------------- */

/* The Secret's stringData[key] (Kubernetes writes it over data's) or
 * data[key] (base64), decoded. */
static char *
secret_value(const gwf_doc *secret, const char *key)
{
    size_t len = 0;
    const char *s =
        gw_node_string(gwf_node_get(secret->root, "stringData"), key);
    if (s)
        return strdup(s);
    s = gwf_node_str(gwf_node_get(gwf_node_get(secret->root, "data"), key),
                     &len);
    return s ? gw_base64_decode(s, len, NULL) : NULL;
}

/* Resolves certificateRefs[i]; on failure sets *reason / *msg. */
static gw_tls_cert *
resolve_cert(gw_build *b, gw_rd *r, const gwf_node *ref, const char *path,
             const char **reason, char **msg)
{
    char p[GW_PATH_MAX];
    const char *group =
        gw_rd_str(r, ref, "group", gw_path(p, path, "group"), false, 253);
    const char *kind =
        gw_rd_str(r, ref, "kind", gw_path(p, path, "kind"), false, 63);
    const char *name =
        gw_rd_str(r, ref, "name", gw_path(p, path, "name"), true, 253);
    const char *ns = gw_rd_str(r, ref, "namespace",
                               gw_path(p, path, "namespace"), false, 63);
    if (!name)
        return NULL;
    const char *gw_ns = r->doc->namespace_;
    if (!ns)
        ns = gw_ns;
    if ((group && *group) || (kind && strcmp(kind, "Secret") != 0)) {
        *reason = "InvalidCertificateRef";
        *msg = gw_printf(b, "%s: only core Secrets are supported, not %s/%s",
                         path, group ? group : "", kind ? kind : "Secret");
        return NULL;
    }
    if (!gw_ref_permitted(b, "Gateway", gw_ns, "", "Secret", ns, name)) {
        *reason = "RefNotPermitted";
        *msg = gw_printf(b,
                         "%s: Secret %s/%s is in another namespace and no "
                         "ReferenceGrant there allows it",
                         path, ns, name);
        return NULL;
    }
    const gwf_doc *secret = gw_find(&b->secrets, ns, name);
    if (!secret) {
        *reason = "InvalidCertificateRef";
        *msg = gw_printf(b, "%s: Secret %s/%s not found", path, ns, name);
        return NULL;
    }
    const char *type = gw_node_string(secret->root, "type");
    if (!gw_streq(type, "kubernetes.io/tls")) {
        *reason = "InvalidCertificateRef";
        *msg = gw_printf(b, "%s: Secret %s/%s is not of type kubernetes.io/tls",
                         path, ns, name);
        return NULL;
    }
    char *cert = secret_value(secret, "tls.crt");
    char *key = secret_value(secret, "tls.key");
    if (!cert || !key || !strstr(cert, "-----BEGIN") ||
        !strstr(key, "-----BEGIN")) {
        free(cert);
        free(key);
        *reason = "InvalidCertificateRef";
        *msg = gw_printf(b, "%s: Secret %s/%s has no PEM tls.crt and tls.key",
                         path, ns, name);
        return NULL;
    }
    gw_tls_cert *c = calloc(1, sizeof(*c));
    gw_tls_cert **slot =
        c ? gw_push(b, &b->model->certs, &b->model->cert_count, sizeof(*slot))
          : NULL;
    if (!slot) {
        free(c);
        free(cert);
        free(key);
        b->oom = true;
        return NULL;
    }
    c->secret = secret;
    c->cert_pem = cert;
    c->key_pem = key;
    *slot = c;
    return c;
}

/* -- Listeners ---------------------------------------------------------- */

/* allowedRoutes: namespaces and kinds. */
static void
read_allowed_routes(gw_build *b, gw_rd *r, const gwf_node *l, const char *lp,
                    gw_listener_ctx *ctx, bool *bad_kinds, char **bad_kinds_msg)
{
    char p[GW_PATH_MAX], p2[GW_PATH_MAX];
    const gwf_node *ar = gw_rd_map(r, l, "allowedRoutes",
                                   gw_path(p, lp, "allowedRoutes"), false);
    const char *arp = p;
    char arp_buf[GW_PATH_MAX];
    snprintf(arp_buf, sizeof(arp_buf), "%s", arp);
    const gwf_node *nss = gw_rd_map(r, ar, "namespaces",
                                    gw_path(p, arp_buf, "namespaces"), false);
    char nsp[GW_PATH_MAX];
    snprintf(nsp, sizeof(nsp), "%s", p);
    static const char *const froms[] = {"Same", "All", "Selector", NULL};
    const char *from =
        gw_rd_enum(r, nss, "from", gw_path(p, nsp, "from"), froms, "Same");
    ctx->from = gw_streq(from, "All")        ? GW_FROM_ALL
                : gw_streq(from, "Selector") ? GW_FROM_SELECTOR
                                             : GW_FROM_SAME;
    const gwf_node *sel =
        gw_rd_map(r, nss, "selector", gw_path(p, nsp, "selector"),
                  ctx->from == GW_FROM_SELECTOR);
    if (sel) {
        char sp[GW_PATH_MAX];
        snprintf(sp, sizeof(sp), "%s", p);
        const gwf_node *ml = gw_rd_map(r, sel, "matchLabels",
                                       gw_path(p, sp, "matchLabels"), false);
        for (size_t i = 0; i < gwf_node_size(ml); i++)
            if (gwf_node_type_of(gwf_node_value_at(ml, i)) != GWF_NODE_STRING)
                gw_rd_error(r, gw_path(p2, p, gwf_node_key_at(ml, i)),
                            "expected a string label value");
        const gwf_node *me =
            gw_rd_seq(r, sel, "matchExpressions",
                      gw_path(p, sp, "matchExpressions"), false, 64);
        char mep[GW_PATH_MAX];
        snprintf(mep, sizeof(mep), "%s", p);
        static const char *const ops[] = {"In", "NotIn", "Exists",
                                          "DoesNotExist", NULL};
        for (size_t i = 0; i < gwf_node_size(me); i++) {
            const gwf_node *e = gwf_node_at(me, i);
            char ep[GW_PATH_MAX];
            gw_path_i(ep, mep, i);
            if (gwf_node_type_of(e) != GWF_NODE_MAP) {
                gw_rd_error(r, ep, "expected a mapping");
                continue;
            }
            gw_rd_str(r, e, "key", gw_path(p2, ep, "key"), true, 317);
            const char *op = gw_rd_enum(r, e, "operator",
                                        gw_path(p2, ep, "operator"), ops, NULL);
            if (!op && !gwf_node_get(e, "operator"))
                gw_rd_error(r, gw_path(p2, ep, "operator"), "is required");
            const gwf_node *vals = gw_rd_seq(
                r, e, "values", gw_path(p2, ep, "values"), false, 256);
            for (size_t k = 0; k < gwf_node_size(vals); k++)
                if (gwf_node_type_of(gwf_node_at(vals, k)) != GWF_NODE_STRING)
                    gw_rd_error(r, gw_path_i(p, p2, k), "expected a string");
        }
        ctx->selector = sel;
    }
    const gwf_node *kinds = gw_rd_seq(
        r, ar, "kinds", gw_path(p, arp_buf, "kinds"), false, MAX_ROUTE_KINDS);
    char kp[GW_PATH_MAX];
    snprintf(kp, sizeof(kp), "%s", p);
    /* Absent or empty: the kinds the protocol takes. */
    if (gwf_node_size(kinds) == 0)
        ctx->allow_http = ctx->allow_grpc = true;
    for (size_t i = 0; i < gwf_node_size(kinds); i++) {
        const gwf_node *k = gwf_node_at(kinds, i);
        char ip[GW_PATH_MAX];
        gw_path_i(ip, kp, i);
        if (gwf_node_type_of(k) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        const char *group =
            gw_rd_str(r, k, "group", gw_path(p2, ip, "group"), false, 253);
        const char *kind =
            gw_rd_str(r, k, "kind", gw_path(p2, ip, "kind"), true, 63);
        if (!kind)
            continue;
        bool ours = !group || strcmp(group, GW_GROUP) == 0;
        if (ours && strcmp(kind, kind_http) == 0)
            ctx->allow_http = true;
        else if (ours && strcmp(kind, kind_grpc) == 0)
            ctx->allow_grpc = true;
        else if (!*bad_kinds) {
            *bad_kinds = true;
            *bad_kinds_msg =
                gw_printf(b, "%s: route kind %s/%s is not supported", ip,
                          group ? group : GW_GROUP, kind);
        }
    }
}

/* Reads listener i of a served Gateway into out / ctx. */
static void
read_listener(gw_build *b, gw_rd *r, const gwf_node *l, const char *lp,
              gw_listener *out, gw_listener_ctx *ctx)
{
    char p[GW_PATH_MAX];
    const char *name =
        gw_rd_str(r, l, "name", gw_path(p, lp, "name"), true, 253);
    int64_t port = 0;
    gw_rd_int(r, l, "port", gw_path(p, lp, "port"), true, 1, 65535, &port);
    const char *protocol =
        gw_rd_str(r, l, "protocol", gw_path(p, lp, "protocol"), true, 255);
    const char *hostname = gw_rd_str(
        r, l, "hostname", gw_path(p, lp, "hostname"), false, MAX_HOSTNAME);
    if (hostname && !gw_valid_hostname(hostname))
        gw_rd_error(r, p,
                    "invalid hostname (expected DNS labels in lower case, "
                    "optionally after \"*.\"; not an IP address)");
    out->name = gw_strdup(b, name ? name : "");
    out->port = (int)port;
    out->hostname = gw_strdup(b, hostname);

    bool bad_kinds = false;
    char *bad_kinds_msg = NULL;
    read_allowed_routes(b, r, l, lp, ctx, &bad_kinds, &bad_kinds_msg);

    bool http = gw_streq(protocol, "HTTP"), https = gw_streq(protocol, "HTTPS");
    out->protocol = https ? GW_LISTENER_HTTPS : GW_LISTENER_HTTP;
    const gwf_node *tls = gw_rd_map(r, l, "tls", gw_path(p, lp, "tls"), false);
    char tp[GW_PATH_MAX];
    snprintf(tp, sizeof(tp), "%s", p);
    static const char *const modes[] = {"Terminate", "Passthrough", NULL};
    const char *mode =
        gw_rd_enum(r, tls, "mode", gw_path(p, tp, "mode"), modes, "Terminate");
    const gwf_node *refs =
        gw_rd_seq(r, tls, "certificateRefs", gw_path(p, tp, "certificateRefs"),
                  false, MAX_CERT_REFS);
    char rp[GW_PATH_MAX];
    snprintf(rp, sizeof(rp), "%s", p);
    if (r->errors)
        goto done;

    if (!http && !https) {
        gw_cond_add(b, &out->conditions, "Accepted", false,
                    "UnsupportedProtocol",
                    "protocol %s is not supported (HTTP and HTTPS are)",
                    protocol ? protocol : "");
        gw_cond_add(b, &out->conditions, "Programmed", false, "Invalid",
                    "the listener is not accepted");
        goto done;
    }
    if (https && !gw_streq(mode, "Terminate")) {
        gw_cond_add(
            b, &out->conditions, "Accepted", false, "UnsupportedProtocol",
            "HTTPS with TLS mode %s is not supported (Terminate is)", mode);
        gw_cond_add(b, &out->conditions, "Programmed", false, "Invalid",
                    "the listener is not accepted");
        goto done;
    }
    const char *refs_reason = NULL;
    char *refs_msg = NULL;
    if (https) {
        if (!refs || gwf_node_size(refs) == 0) {
            refs_reason = "InvalidCertificateRef";
            refs_msg = gw_printf(b, "an HTTPS listener needs "
                                    "tls.certificateRefs");
        }
        for (size_t i = 0; i < gwf_node_size(refs); i++) {
            char ip[GW_PATH_MAX];
            const gwf_node *ref = gwf_node_at(refs, i);
            gw_path_i(ip, rp, i);
            if (gwf_node_type_of(ref) != GWF_NODE_MAP) {
                gw_rd_error(r, ip, "expected a mapping");
                continue;
            }
            const char *why = NULL;
            char *msg = NULL;
            gw_tls_cert *c = resolve_cert(b, r, ref, ip, &why, &msg);
            if (c && !ctx->cert)
                ctx->cert = c;
            if (why && !refs_reason) {
                refs_reason = why;
                refs_msg = msg;
            } else {
                free(msg);
            }
        }
        if (r->errors) {
            free(refs_msg);
            goto done;
        }
    }
    if (bad_kinds && !refs_reason) {
        refs_reason = "InvalidRouteKinds";
        refs_msg = bad_kinds_msg;
        bad_kinds_msg = NULL;
    }
    out->supported_kinds = calloc(2, sizeof(*out->supported_kinds));
    if (!out->supported_kinds) {
        b->oom = true;
        free(refs_msg);
        goto done;
    }
    if (ctx->allow_http)
        out->supported_kinds[out->supported_kind_count++] = kind_http;
    if (ctx->allow_grpc)
        out->supported_kinds[out->supported_kind_count++] = kind_grpc;

    gw_cond_add(b, &out->conditions, "Accepted", true, "Accepted",
                "listener %s is accepted", out->name);
    if (refs_reason)
        gw_cond_add(b, &out->conditions, "ResolvedRefs", false, refs_reason,
                    "%s", refs_msg ? refs_msg : refs_reason);
    else
        gw_cond_add(b, &out->conditions, "ResolvedRefs", true, "ResolvedRefs",
                    "all references resolved");
    free(refs_msg);
    /* An HTTPS listener without a certificate cannot serve; a listener
     * with an unsupported route kind still serves the kinds it supports. */
    ctx->usable = !(https && !ctx->cert);
done:
    free(bad_kinds_msg);
}

static void
listener_free(gw_listener *l)
{
    free(l->name);
    free(l->hostname);
    free(l->supported_kinds);
    gw_conditions_free(&l->conditions);
}

static void
read_gateway(gw_build *b, const gwf_doc *d)
{
    gw_rd r;
    gw_rd_init(&r, b, d);
    const gwf_node *spec = gw_rd_map(&r, d->root, "spec", "spec", true);
    const char *cls = gw_rd_str(&r, spec, "gatewayClassName",
                                "spec.gatewayClassName", true, 253);
    if (r.errors)
        return;
    if (!class_served(b, cls)) {
        if (b->notes)
            gwf_diag_addf(b->notes,
                          "%s:%u: Gateway %s/%s: class \"%s\" is not served "
                          "(--gateway-class), skipped",
                          d->file, d->line, d->namespace_, d->name, cls);
        return;
    }
    const gwf_node *ls =
        gw_rd_seq(&r, spec, "listeners", "spec.listeners", true, MAX_LISTENERS);
    if (ls && gwf_node_size(ls) == 0)
        gw_rd_error(&r, "spec.listeners", "needs at least one listener");
    if (gwf_node_get(spec, "addresses") && b->notes)
        gwf_diag_addf(b->notes,
                      "%s:%u: Gateway %s/%s: spec.addresses is ignored: "
                      "listeners bind the address given with --address",
                      d->file, d->line, d->namespace_, d->name);
    if (r.errors)
        return;
    size_t n = gwf_node_size(ls);
    gw_gateway g = {.doc = d};
    const gwf_doc *cd = class_doc(b, cls);
    const char *ctrl =
        cd ? gw_node_string(gwf_node_get(cd->root, "spec"), "controllerName")
           : NULL;
    g.controller_name = ctrl ? ctrl : GW_CONTROLLER_NAME;
    g.listeners = calloc(n, sizeof(*g.listeners));
    gw_listener_ctx *ctx = calloc(n, sizeof(*ctx));
    if (!g.listeners || !ctx) {
        b->oom = true;
        goto fail;
    }
    g.listener_count = n;
    for (size_t i = 0; i < n; i++) {
        char lp[GW_PATH_MAX];
        gw_path_i(lp, "spec.listeners", i);
        const gwf_node *l = gwf_node_at(ls, i);
        if (gwf_node_type_of(l) != GWF_NODE_MAP) {
            gw_rd_error(&r, lp, "expected a mapping");
            continue;
        }
        read_listener(b, &r, l, lp, &g.listeners[i], &ctx[i]);
        for (size_t k = 0; k < i; k++)
            if (gw_streq(g.listeners[k].name, g.listeners[i].name)) {
                char p[GW_PATH_MAX];
                gw_rd_error(&r, gw_path(p, lp, "name"),
                            "listener name \"%s\" is used twice",
                            g.listeners[i].name);
            }
    }
    if (r.errors || b->oom)
        goto fail;
    size_t gi = b->model->gateway_count;
    gw_gateway *slot = gw_push(b, &b->model->gateways, &b->model->gateway_count,
                               sizeof(*slot));
    if (!slot)
        goto fail;
    *slot = g;
    for (size_t i = 0; i < n; i++) {
        gw_listener_ctx *c =
            gw_push(b, &b->listeners, &b->listener_count, sizeof(*c));
        if (!c)
            break;
        *c = ctx[i];
        c->gateway = gi;
        c->index = i;
    }
    free(ctx);
    return;
fail:
    for (size_t i = 0; i < g.listener_count; i++)
        listener_free(&g.listeners[i]);
    free(g.listeners);
    free(ctx);
}

static gw_listener *
listener_of(gw_build *b, const gw_listener_ctx *c)
{
    return &b->model->gateways[c->gateway].listeners[c->index];
}

static bool
accepted(const gw_listener *l)
{
    for (size_t i = 0; i < l->conditions.count; i++)
        if (strcmp(l->conditions.items[i].type, "Accepted") == 0)
            return l->conditions.items[i].status;
    return false;
}

/* Marks listeners that conflict with an earlier accepted one. */
static void
find_conflicts(gw_build *b)
{
    for (size_t i = 0; i < b->listener_count; i++) {
        gw_listener_ctx *c = &b->listeners[i];
        gw_listener *l = listener_of(b, c);
        if (!accepted(l))
            continue;
        const char *reason = NULL;
        const gw_listener *other = NULL;
        for (size_t k = 0; k < i && !reason; k++) {
            const gw_listener *o = listener_of(b, &b->listeners[k]);
            if (!accepted(o) || o->port != l->port)
                continue;
            if (o->protocol != l->protocol)
                reason = "ProtocolConflict";
            else if ((!o->hostname && !l->hostname) ||
                     gw_streq(o->hostname, l->hostname))
                reason = "HostnameConflict";
            other = o;
        }
        if (reason) {
            const gw_gateway *og = NULL;
            for (size_t k = 0; k < b->model->gateway_count && !og; k++) {
                const gw_gateway *g = &b->model->gateways[k];
                if (other >= g->listeners &&
                    other < g->listeners + g->listener_count)
                    og = g;
            }
            gw_cond_add(
                b, &l->conditions, "Conflicted", true, reason,
                "port %d: %s with listener %s of Gateway %s/%s", l->port,
                strcmp(reason, "ProtocolConflict") == 0 ? "protocol differs"
                                                        : "same hostname",
                other->name, og ? og->doc->namespace_ : "",
                og ? og->doc->name : "");
            c->usable = false;
        } else {
            gw_cond_add(b, &l->conditions, "Conflicted", false, "NoConflicts",
                        "no conflict");
            c->accepting = true;
        }
    }
}

static void
finish_gateway(gw_build *b, size_t gi)
{
    gw_gateway *g = &b->model->gateways[gi];
    size_t usable = 0, valid = 0;
    for (size_t i = 0; i < b->listener_count; i++) {
        gw_listener_ctx *c = &b->listeners[i];
        if (c->gateway != gi)
            continue;
        gw_listener *l = listener_of(b, c);
        if (accepted(l))
            valid++;
        if (c->usable && accepted(l)) {
            usable++;
            gw_cond_add(b, &l->conditions, "Programmed", true, "Programmed",
                        "listener %s is served on port %d", l->name, l->port);
        } else if (accepted(l)) {
            gw_cond_add(b, &l->conditions, "Programmed", false, "Invalid",
                        "listener %s is not served (see its other "
                        "conditions)",
                        l->name);
        }
    }
    if (valid == g->listener_count)
        gw_cond_add(b, &g->conditions, "Accepted", true, "Accepted",
                    "Gateway is accepted");
    else
        gw_cond_add(b, &g->conditions, "Accepted", valid > 0,
                    "ListenersNotValid", "%zu of %zu listeners are not valid",
                    g->listener_count - valid, g->listener_count);
    if (usable)
        gw_cond_add(b, &g->conditions, "Programmed", true, "Programmed",
                    "%zu of %zu listeners are served", usable,
                    g->listener_count);
    else
        gw_cond_add(b, &g->conditions, "Programmed", false, "Invalid",
                    "no listener can be served");
}

void
gw_read_gateways(gw_build *b)
{
    read_classes(b);
    for (size_t i = 0; i < b->gateways.count && !b->oom; i++)
        read_gateway(b, b->gateways.items[i]);
    find_conflicts(b);
    for (size_t i = 0; i < b->model->gateway_count; i++)
        finish_gateway(b, i);
}
