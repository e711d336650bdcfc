/*
 * read_grpcroute.c - GRPCRoute rules: service / method and header matches.
 *
 * A gRPC call is an HTTP/2 POST to "/<package.Service>/<Method>", so a
 * GRPCRoute match is also written as the equivalent path match, and an
 * emitter that knows only paths serves it correctly:
 *   Exact, service and method   Exact  "/svc/Method"
 *   Exact, service only         PathPrefix "/svc" (segment-wise)
 *   Exact, method only          RegularExpression "/[^/]+/Method"
 *   RegularExpression           RegularExpression "/(svc)/(method)", an
 *                               absent part as "[^/]+"
 *   no method match             PathPrefix "/"
 * The original service / method stay in gw_match for emitters that match
 * them directly. Method-match type defaults to Exact; at least one of
 * service and method is required (CEL). Everything else (parentRefs,
 * hostnames, filters, backendRefs with weights) is read as for an
 * HTTPRoute, with the filter types GRPCRoute allows, and backends are
 * spoken to with gRPC.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"

#define MAX_MATCHES 64
#define MAX_HEADERS 16

/* Exact method matches must be plain names (the API's patterns). */
static bool
plain_name(const char *s, bool dots)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || (dots && c == '.')))
            return false;
    }
    return true;
}

static void
read_grpc_match(gw_rd *r, const gwf_node *mn, const char *path, gw_match *m)
{
    static const char *const types[] = {"Exact", "RegularExpression", NULL};
    char p[GW_PATH_MAX], mp[GW_PATH_MAX], ip[GW_PATH_MAX], fp[GW_PATH_MAX];
    const gwf_node *mm =
        gw_rd_map(r, mn, "method", gw_path(mp, path, "method"), false);
    const char *type =
        gw_rd_enum(r, mm, "type", gw_path(p, mp, "type"), types, "Exact");
    const char *svc =
        gw_rd_str(r, mm, "service", gw_path(p, mp, "service"), false, 1024);
    const char *method =
        gw_rd_str(r, mm, "method", gw_path(p, mp, "method"), false, 1024);
    bool regex = gw_streq(type, "RegularExpression");
    if (mm && !svc && !method)
        gw_rd_error(r, mp, "needs service or method");
    if (!regex && ((svc && !plain_name(svc, true)) ||
                   (method && !plain_name(method, false))))
        gw_rd_error(r, mp,
                    "an Exact match needs a service of letters, digits, '_' "
                    "and '.', and a method of letters, digits and '_'");
    m->grpc_regex = regex;
    m->grpc_service = gw_strdup(r->b, svc);
    m->grpc_method = gw_strdup(r->b, method);
    if (!svc && !method) {
        m->path_kind = GW_PATH_PREFIX;
        m->path = gw_strdup(r->b, "/");
    } else if (regex) {
        gw_rd_regex(r, svc ? svc : "", mp);
        gw_rd_regex(r, method ? method : "", mp);
        m->path_kind = GW_PATH_REGEX;
        m->path = gw_printf(r->b, "/(%s)/(%s)", svc ? svc : "[^/]+",
                            method ? method : "[^/]+");
    } else if (svc && method) {
        m->path_kind = GW_PATH_EXACT;
        m->path = gw_printf(r->b, "/%s/%s", svc, method);
    } else if (svc) {
        m->path_kind = GW_PATH_PREFIX;
        m->path = gw_printf(r->b, "/%s", svc);
    } else {
        m->path_kind = GW_PATH_REGEX;
        m->path = gw_printf(r->b, "/[^/]+/%s", method);
    }
    const gwf_node *hs = gw_rd_seq(
        r, mn, "headers", gw_path(p, path, "headers"), false, MAX_HEADERS);
    for (size_t i = 0; i < gwf_node_size(hs); i++) {
        const gwf_node *e = gwf_node_at(hs, i);
        gw_path_i(ip, p, i);
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        const char *t =
            gw_rd_enum(r, e, "type", gw_path(fp, ip, "type"), types, "Exact");
        const char *name =
            gw_rd_str(r, e, "name", gw_path(fp, ip, "name"), true, 256);
        const char *value =
            gw_rd_str(r, e, "value", gw_path(fp, ip, "value"), true, 4096);
        if (!t || !name || !value)
            continue;
        if (!gw_valid_header_name(name)) {
            gw_rd_error(r, gw_path(fp, ip, "name"), "invalid header name");
            continue;
        }
        gw_kv_match *kv =
            gw_push(r->b, &m->headers, &m->header_count, sizeof(*kv));
        if (!kv)
            return;
        kv->regex = strcmp(t, "RegularExpression") == 0;
        if (kv->regex)
            gw_rd_regex(r, value, gw_path(fp, ip, "value"));
        kv->name = gw_strdup(r->b, name);
        kv->value = gw_strdup(r->b, value);
    }
}

gw_rule *
gw_read_grpc_rule(gw_rd *r, const gwf_node *rn, size_t index, gw_route *rt,
                  int64_t created)
{
    char path[GW_PATH_MAX];
    gw_rule *rule = gw_rule_new(r, rn, index, created, true, path);
    if (!rule)
        return NULL;
    if (!gw_read_matches(r, rn, path, rule, read_grpc_match, NULL)) {
        gw_rule_free(rule);
        return NULL;
    }
    bool unsupported = false;
    gw_read_filters(r, rn, path, true, &rule->filters, rt, &unsupported);
    gw_read_backend_refs(r, rn, path, rule, rt, &unsupported);
    gw_rule_settle(rule, unsupported);
    return rule;
}

void
gw_read_grpcroutes(gw_build *b)
{
    for (size_t i = 0; i < b->grpcroutes.count && !b->oom; i++)
        gw_read_route(b, b->grpcroutes.items[i], true);
}
