/*
 * read_httproute.c - HTTPRoutes into rules: matches, filters, backends.
 *
 * Each rule of spec.rules becomes one gw_rule, with the defaults the API
 * server would apply (an absent match list is one PathPrefix "/" match;
 * a path match without type is PathPrefix; a header or query match
 * without type is Exact; a backendRef weighs 1; a redirect answers 302)
 * and the CEL rules it enforces (one RequestHeaderModifier per list, not
 * both RequestRedirect and URLRewrite, ReplacePrefixMatch only with one
 * PathPrefix match, backendRequest no longer than request, ...). Breaking
 * one of those is an error and drops the route, as the API server would
 * refuse it.
 *
 * What the spec treats at run time stays out of errors: a backendRef that
 * does not resolve keeps its weight with a NULL backend (its share of
 * traffic answers 500) and sets the route's ResolvedRefs; a rule with an
 * unsupported filter (ExternalAuth; CORS on a backendRef) or an
 * ExtensionRef to nothing answers 500 and the route is PartiallyInvalid; a rule
 * with no backend to send to and no redirect or extension answers 500.
 *
 * Header matches with the same name (case-insensitive), and query
 * matches with the same name, keep only the first, as the spec says.
 * A PathPrefix value loses its trailing '/' (the spec ignores it).
 * A rule's CORS filter is kept as the path of its node: the cors plugin
 * reads it from the document (gwf_route_filter, emit_nginx.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build.h"

#define MAX_PARENTS 32
#define MAX_HOSTNAMES 16
#define MAX_RULES 16
#define MAX_MATCHES 64
#define MAX_KV 16
#define MAX_FILTERS 16
#define MAX_BACKENDS 16

/* -- Freeing ------------------------------------------------------------ */

static void
header_ops_free(gw_header_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ops[i].name);
        free(ops[i].value);
    }
    free(ops);
}

void
gw_filters_free(gw_filters *f)
{
    header_ops_free(f->request_headers, f->request_header_count);
    header_ops_free(f->response_headers, f->response_header_count);
    if (f->redirect) {
        free(f->redirect->scheme);
        free(f->redirect->hostname);
        free(f->redirect->path);
        free(f->redirect);
    }
    if (f->rewrite) {
        free(f->rewrite->hostname);
        free(f->rewrite->path);
        free(f->rewrite);
    }
    free(f->mirrors);
    free(f->extensions);
    free(f->cors_field);
    memset(f, 0, sizeof(*f));
}

static void
kv_free(gw_kv_match *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
    free(kv);
}

void
gw_rule_free(gw_rule *rule)
{
    if (!rule)
        return;
    for (size_t i = 0; i < rule->match_count; i++) {
        gw_match *m = &rule->matches[i];
        free(m->path);
        free(m->method);
        kv_free(m->headers, m->header_count);
        kv_free(m->queries, m->query_count);
        free(m->grpc_service);
        free(m->grpc_method);
    }
    free(rule->matches);
    gw_filters_free(&rule->filters);
    for (size_t i = 0; i < rule->backend_count; i++)
        gw_filters_free(&rule->backends[i].filters);
    free(rule->backends);
    free(rule->retry.codes);
    free(rule->name);
    free(rule->id);
    free(rule);
}

void
gw_route_free(gw_route *rt)
{
    for (size_t i = 0; i < rt->hostname_count; i++)
        free(rt->hostnames[i]);
    free(rt->hostnames);
    for (size_t i = 0; i < rt->rule_count; i++)
        gw_rule_free(rt->rules[i]);
    free(rt->rules);
    free(rt->refs_message);
    free(rt->invalid_message);
    gw_route_parents_free(rt->delegated_parents, rt->delegated_parent_count);
    memset(rt, 0, sizeof(*rt));
}

void
gw_route_ref_problem(gw_build *b, gw_route *rt, const char *reason,
                     char *message)
{
    (void)b;
    if (rt->refs_reason) {
        free(message);
        return;
    }
    rt->refs_reason = reason;
    rt->refs_message = message;
}

void
gw_route_unsupported(gw_build *b, gw_route *rt, char *message)
{
    (void)b;
    if (rt->invalid_reason) {
        free(message);
        return;
    }
    rt->invalid_reason = "UnsupportedValue";
    rt->invalid_message = message;
}

/* -- Common to HTTPRoute and GRPCRoute ----------------------------------- */

static void
read_parent_refs(gw_rd *r, const gwf_node *spec)
{
    char p[GW_PATH_MAX], ip[GW_PATH_MAX];
    const gwf_node *refs =
        gw_rd_seq(r, spec, "parentRefs", "spec.parentRefs", false, MAX_PARENTS);
    for (size_t i = 0; i < gwf_node_size(refs); i++) {
        const gwf_node *e = gwf_node_at(refs, i);
        gw_path_i(ip, "spec.parentRefs", i);
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        int64_t v;
        gw_rd_str(r, e, "group", gw_path(p, ip, "group"), false, 253);
        gw_rd_str(r, e, "kind", gw_path(p, ip, "kind"), false, 63);
        gw_rd_str(r, e, "name", gw_path(p, ip, "name"), true, 253);
        gw_rd_str(r, e, "namespace", gw_path(p, ip, "namespace"), false, 63);
        gw_rd_str(r, e, "sectionName", gw_path(p, ip, "sectionName"), false,
                  253);
        gw_rd_int(r, e, "port", gw_path(p, ip, "port"), false, 1, 65535, &v);
    }
}

bool
gw_read_route_common(gw_rd *r, gw_route *rt, int64_t *created)
{
    gw_build *b = r->b;
    char ip[GW_PATH_MAX];
    *created = INT64_MAX;
    const gwf_node *md =
        gw_rd_map(r, r->doc->root, "metadata", "metadata", false);
    const char *ts = gw_rd_str(r, md, "creationTimestamp",
                               "metadata.creationTimestamp", false, 64);
    if (ts && gw_parse_timestamp(ts, created) != 0)
        gw_rd_error(r, "metadata.creationTimestamp",
                    "expected an RFC 3339 time such as "
                    "\"2024-01-02T03:04:05Z\"");
    const gwf_node *spec = gw_rd_map(r, r->doc->root, "spec", "spec", true);
    read_parent_refs(r, spec);
    const gwf_node *hs =
        gw_rd_seq(r, spec, "hostnames", "spec.hostnames", false, MAX_HOSTNAMES);
    for (size_t i = 0; i < gwf_node_size(hs); i++) {
        gw_path_i(ip, "spec.hostnames", i);
        const gwf_node *h = gwf_node_at(hs, i);
        size_t len = 0;
        const char *s = gwf_node_str(h, &len);
        if (!s || strlen(s) != len || len > 253 || !gw_valid_hostname(s)) {
            gw_rd_error(r, ip,
                        "expected a hostname (lower-case DNS labels, "
                        "optionally after \"*.\"; not an IP address)");
            continue;
        }
        char *copy = gw_strdup(b, s);
        char **slot = copy ? gw_push(b, &rt->hostnames, &rt->hostname_count,
                                     sizeof(*slot))
                           : NULL;
        if (!slot) {
            free(copy);
            return false;
        }
        *slot = copy;
    }
    return r->errors == 0;
}

void
gw_read_header_filter(gw_rd *r, const gwf_node *hf, const char *path,
                      gw_header_op **ops, size_t *count)
{
    static const char *const keys[] = {"set", "add", "remove"};
    static const gw_header_op_kind kinds[] = {GW_HEADER_SET, GW_HEADER_ADD,
                                              GW_HEADER_REMOVE};
    char p[GW_PATH_MAX], ip[GW_PATH_MAX], fp[GW_PATH_MAX];
    for (size_t k = 0; k < 3; k++) {
        const gwf_node *seq =
            gw_rd_seq(r, hf, keys[k], gw_path(p, path, keys[k]), false, MAX_KV);
        for (size_t i = 0; i < gwf_node_size(seq); i++) {
            const gwf_node *e = gwf_node_at(seq, i);
            gw_path_i(ip, p, i);
            const char *name, *value = NULL;
            if (kinds[k] == GW_HEADER_REMOVE) {
                size_t len = 0;
                name = gwf_node_str(e, &len);
                if (!name || strlen(name) != len || len > 256 ||
                    !gw_valid_header_name(name)) {
                    gw_rd_error(r, ip, "expected a header name");
                    continue;
                }
            } else {
                if (gwf_node_type_of(e) != GWF_NODE_MAP) {
                    gw_rd_error(r, ip, "expected a mapping");
                    continue;
                }
                name =
                    gw_rd_str(r, e, "name", gw_path(fp, ip, "name"), true, 256);
                value = gw_rd_str(r, e, "value", gw_path(fp, ip, "value"), true,
                                  4096);
                if (!name || !value)
                    continue;
                if (!gw_valid_header_name(name)) {
                    gw_rd_error(r, gw_path(fp, ip, "name"),
                                "invalid header name");
                    continue;
                }
                if (gw_has_control(value)) {
                    gw_rd_error(r, gw_path(fp, ip, "value"),
                                "must not contain control characters");
                    continue;
                }
            }
            for (size_t j = 0; j < *count; j++)
                if ((*ops)[j].op == kinds[k] &&
                    strcasecmp((*ops)[j].name, name) == 0)
                    gw_rd_error(r, ip,
                                "header \"%s\" appears twice in %s (names "
                                "compare without case)",
                                name, keys[k]);
            gw_header_op *op = gw_push(r->b, ops, count, sizeof(*op));
            if (!op)
                return;
            op->op = kinds[k];
            op->name = gw_strdup(r->b, name);
            op->value = gw_strdup(r->b, value);
        }
    }
}

bool
gw_read_extension_ref(gw_rd *r, const gwf_node *ext, const char *path,
                      gw_filters *f, gw_route *rt)
{
    char p[GW_PATH_MAX];
    const char *group =
        gw_rd_str(r, ext, "group", gw_path(p, path, "group"), true, 253);
    const char *kind =
        gw_rd_str(r, ext, "kind", gw_path(p, path, "kind"), true, 63);
    const char *name =
        gw_rd_str(r, ext, "name", gw_path(p, path, "name"), true, 253);
    if (!group || !kind || !name)
        return true; /* malformed: reported as an error */
    char ref[600];
    snprintf(ref, sizeof(ref), "%s/%s", r->doc->namespace_, name);
    /* kgateway's ExtensionRef kinds: a TrafficPolicy (merged into the
     * rule's policies, above every targetRef) or a DirectResponse. Any
     * other extension is one gwf cannot run: the rule fails closed. */
    if (!gw_streq(group, GW_KGATEWAY_GROUP) ||
        (!gw_streq(kind, "TrafficPolicy") &&
         !gw_streq(kind, "DirectResponse"))) {
        gw_route_unsupported(
            r->b, rt,
            gw_printf(r->b,
                      "%s: ExtensionRef to %s %s (group %s) is not one gwf "
                      "applies (TrafficPolicy or DirectResponse of %s): the "
                      "rule answers 500 rather than run without it",
                      path, kind, ref, group, GW_KGATEWAY_GROUP));
        return false;
    }
    const gwf_doc *d = gwf_manifests_find(r->b->m, kind, ref);
    if (!d) {
        gw_route_unsupported(
            r->b, rt, gw_printf(r->b, "%s: %s %s not found", path, kind, ref));
        return false;
    }
    gw_extension_ref *x =
        gw_push(r->b, &f->extensions, &f->extension_count, sizeof(*x));
    if (x)
        x->doc = d;
    return true;
}

/* The DirectResponse an ExtensionRef of the filters names, or NULL. */
const gwf_doc *
gw_filters_direct_response(const gw_filters *f)
{
    for (size_t i = 0; i < f->extension_count; i++)
        if (gw_streq(f->extensions[i].doc->kind, "DirectResponse"))
            return f->extensions[i].doc;
    return NULL;
}

/* -- Matches ------------------------------------------------------------ */

/* Exact / PathPrefix values: absolute, no "//", "/./", "/../", "%2f",
 * "#" (the API's validation). */
static bool
valid_path(const char *v)
{
    if (v[0] != '/')
        return false;
    if (strstr(v, "//") || strstr(v, "/./") || strstr(v, "/../") ||
        strcasestr(v, "%2f") || strchr(v, '#'))
        return false;
    size_t n = strlen(v);
    if ((n >= 2 && strcmp(v + n - 2, "/.") == 0) ||
        (n >= 3 && strcmp(v + n - 3, "/..") == 0))
        return false;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static void
read_kv(gw_rd *r, const gwf_node *m, const char *key, const char *path,
        bool fold, gw_kv_match **out, size_t *count)
{
    static const char *const types[] = {"Exact", "RegularExpression", NULL};
    char p[GW_PATH_MAX], ip[GW_PATH_MAX], fp[GW_PATH_MAX];
    const gwf_node *seq =
        gw_rd_seq(r, m, key, gw_path(p, path, key), false, MAX_KV);
    for (size_t i = 0; i < gwf_node_size(seq); i++) {
        const gwf_node *e = gwf_node_at(seq, i);
        gw_path_i(ip, p, i);
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        const char *type =
            gw_rd_enum(r, e, "type", gw_path(fp, ip, "type"), types, "Exact");
        const char *name =
            gw_rd_str(r, e, "name", gw_path(fp, ip, "name"), true, 256);
        const char *value =
            gw_rd_str(r, e, "value", gw_path(fp, ip, "value"), true, 4096);
        if (!type || !name || !value)
            continue;
        if (!gw_valid_header_name(name)) {
            gw_rd_error(r, gw_path(fp, ip, "name"),
                        "invalid name (expected letters, digits and "
                        "!#$%%&'*+-.^_`|~)");
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < *count && !dup; j++)
            dup = fold ? strcasecmp((*out)[j].name, name) == 0
                       : strcmp((*out)[j].name, name) == 0;
        if (dup)
            continue;
        gw_kv_match *kv = gw_push(r->b, out, count, sizeof(*kv));
        if (!kv)
            return;
        kv->regex = strcmp(type, "RegularExpression") == 0;
        if (kv->regex)
            gw_rd_regex(r, value, gw_path(fp, ip, "value"));
        else if (gw_has_control(value))
            gw_rd_error(r, gw_path(fp, ip, "value"),
                        "must not contain control characters");
        kv->name = gw_strdup(r->b, name);
        kv->value = gw_strdup(r->b, value);
    }
}

static void
read_http_match(gw_rd *r, const gwf_node *mn, const char *path, gw_match *m)
{
    static const char *const types[] = {"Exact", "PathPrefix",
                                        "RegularExpression", NULL};
    static const char *const methods[] = {
        "GET",     "HEAD",    "POST",  "PUT",   "DELETE",
        "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};
    char p[GW_PATH_MAX], pp[GW_PATH_MAX];
    const gwf_node *pm =
        gw_rd_map(r, mn, "path", gw_path(pp, path, "path"), false);
    const char *type =
        gw_rd_enum(r, pm, "type", gw_path(p, pp, "type"), types, "PathPrefix");
    const char *value =
        gw_rd_str(r, pm, "value", gw_path(p, pp, "value"), false, 1024);
    if (!value)
        value = "/";
    m->path_kind = gw_streq(type, "Exact")               ? GW_PATH_EXACT
                   : gw_streq(type, "RegularExpression") ? GW_PATH_REGEX
                                                         : GW_PATH_PREFIX;
    if (m->path_kind == GW_PATH_REGEX)
        gw_rd_regex(r, value, p);
    else if (!valid_path(value))
        gw_rd_error(r, p,
                    "must be an absolute path without \"//\", \"/./\", "
                    "\"/../\", \"%%2f\" or \"#\"");
    m->path = gw_strdup(r->b, value);
    if (m->path && m->path_kind == GW_PATH_PREFIX) {
        size_t n = strlen(m->path);
        if (n > 1 && m->path[n - 1] == '/')
            m->path[n - 1] = '\0';
    }
    const char *method =
        gw_rd_enum(r, mn, "method", gw_path(p, path, "method"), methods, NULL);
    m->method = gw_strdup(r->b, method);
    read_kv(r, mn, "headers", path, true, &m->headers, &m->header_count);
    read_kv(r, mn, "queryParams", path, false, &m->queries, &m->query_count);
}

/* -- Filters ------------------------------------------------------------ */

static void
read_path_modifier(gw_rd *r, const gwf_node *pm, const char *path,
                   gw_path_modifier *mod, char **out)
{
    static const char *const types[] = {"ReplaceFullPath", "ReplacePrefixMatch",
                                        NULL};
    char p[GW_PATH_MAX];
    if (!pm)
        return;
    const char *type =
        gw_rd_enum(r, pm, "type", gw_path(p, path, "type"), types, NULL);
    if (!type) {
        if (!gwf_node_get(pm, "type"))
            gw_rd_error(r, p, "is required");
        return;
    }
    bool full = strcmp(type, "ReplaceFullPath") == 0;
    const char *key = full ? "replaceFullPath" : "replacePrefixMatch";
    const char *v = gw_rd_str(r, pm, key, gw_path(p, path, key), true, 1024);
    if (v && (v[0] != '/' || gw_has_control(v) || strchr(v, ' ')))
        gw_rd_error(r, p,
                    "must start with '/' and hold no space or control "
                    "character");
    *mod = full ? GW_PATH_REPLACE_FULL : GW_PATH_REPLACE_PREFIX;
    *out = gw_strdup(r->b, v);
}

static void
read_redirect(gw_rd *r, const gwf_node *n, const char *path, gw_filters *f)
{
    static const char *const schemes[] = {"http", "https", NULL};
    char p[GW_PATH_MAX];
    gw_redirect *rd = calloc(1, sizeof(*rd));
    if (!rd) {
        r->b->oom = true;
        return;
    }
    f->redirect = rd;
    rd->scheme =
        gw_strdup(r->b, gw_rd_enum(r, n, "scheme", gw_path(p, path, "scheme"),
                                   schemes, NULL));
    const char *host =
        gw_rd_str(r, n, "hostname", gw_path(p, path, "hostname"), false, 253);
    if (host && (!gw_valid_hostname(host) || host[0] == '*'))
        gw_rd_error(r, p, "expected a hostname without wildcard");
    rd->hostname = gw_strdup(r->b, host);
    int64_t v = 0;
    if (gw_rd_int(r, n, "port", gw_path(p, path, "port"), false, 1, 65535, &v))
        rd->port = (int)v;
    rd->status = 302;
    if (gw_rd_int(r, n, "statusCode", gw_path(p, path, "statusCode"), false,
                  301, 308, &v)) {
        if (v != 301 && v != 302 && v != 303 && v != 307 && v != 308)
            gw_rd_error(r, p, "expected 301, 302, 303, 307 or 308");
        rd->status = (int)v;
    }
    read_path_modifier(r,
                       gw_rd_map(r, n, "path", gw_path(p, path, "path"), false),
                       p, &rd->path_mod, &rd->path);
}

static void
read_rewrite(gw_rd *r, const gwf_node *n, const char *path, gw_filters *f)
{
    char p[GW_PATH_MAX];
    gw_rewrite *rw = calloc(1, sizeof(*rw));
    if (!rw) {
        r->b->oom = true;
        return;
    }
    f->rewrite = rw;
    const char *host =
        gw_rd_str(r, n, "hostname", gw_path(p, path, "hostname"), false, 253);
    if (host && (!gw_valid_hostname(host) || host[0] == '*'))
        gw_rd_error(r, p, "expected a hostname without wildcard");
    rw->hostname = gw_strdup(r->b, host);
    read_path_modifier(r,
                       gw_rd_map(r, n, "path", gw_path(p, path, "path"), false),
                       p, &rw->path_mod, &rw->path);
}

static void
read_mirror(gw_rd *r, const gwf_node *n, const char *path, gw_filters *f,
            gw_route *rt)
{
    char p[GW_PATH_MAX], fp[GW_PATH_MAX];
    const gwf_node *ref =
        gw_rd_map(r, n, "backendRef", gw_path(p, path, "backendRef"), true);
    const char *reason = NULL;
    char *msg = NULL;
    gw_backend *be =
        ref ? gw_resolve_backend(r, ref, p, rt->grpc, &reason, &msg) : NULL;
    if (reason)
        gw_route_ref_problem(r->b, rt, reason, msg);
    double percent = 100;
    int64_t v;
    bool has_percent = gw_rd_int(r, n, "percent", gw_path(p, path, "percent"),
                                 false, 0, 100, &v);
    if (has_percent)
        percent = (double)v;
    const gwf_node *fr =
        gw_rd_map(r, n, "fraction", gw_path(p, path, "fraction"), false);
    if (fr) {
        if (gwf_node_get(n, "percent"))
            gw_rd_error(r, p, "only one of percent and fraction may be set");
        int64_t num = 0, den = 100;
        gw_rd_int(r, fr, "numerator", gw_path(fp, p, "numerator"), true, 0,
                  INT32_MAX, &num);
        gw_rd_int(r, fr, "denominator", gw_path(fp, p, "denominator"), false, 1,
                  INT32_MAX, &den);
        if (num > den)
            gw_rd_error(r, p, "numerator must not exceed denominator");
        else
            percent = 100.0 * (double)num / (double)den;
    }
    if (!be)
        return; /* a mirror that does not resolve mirrors nothing */
    gw_mirror *m = gw_push(r->b, &f->mirrors, &f->mirror_count, sizeof(*m));
    if (m) {
        m->backend = be;
        m->percent = percent;
    }
}

/* Reads a filter list into f. `unsupported` is set when the rule must
 * answer 500 instead (an unsupported filter type). */
void
gw_read_filters(gw_rd *r, const gwf_node *parent, const char *path, bool grpc,
                gw_filters *f, gw_route *rt, bool *unsupported)
{
    static const char *const http_types[] = {"RequestHeaderModifier",
                                             "ResponseHeaderModifier",
                                             "RequestRedirect",
                                             "URLRewrite",
                                             "RequestMirror",
                                             "ExtensionRef",
                                             "CORS",
                                             "ExternalAuth",
                                             NULL};
    static const char *const grpc_types[] = {
        "RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror",
        "ExtensionRef", NULL};
    char p[GW_PATH_MAX], ip[GW_PATH_MAX], fp[GW_PATH_MAX];
    const gwf_node *seq = gw_rd_seq(
        r, parent, "filters", gw_path(p, path, "filters"), false, MAX_FILTERS);
    int seen[8] = {0};
    for (size_t i = 0; i < gwf_node_size(seq); i++) {
        const gwf_node *e = gwf_node_at(seq, i);
        gw_path_i(ip, p, i);
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        const char *const *types = grpc ? grpc_types : http_types;
        const char *type =
            gw_rd_enum(r, e, "type", gw_path(fp, ip, "type"), types, NULL);
        if (!type) {
            if (!gwf_node_get(e, "type"))
                gw_rd_error(r, fp, "is required");
            continue;
        }
        size_t t = 0;
        while (strcmp(http_types[t], type) != 0)
            t++;
        /* Each of these may appear once per list (CEL); CORS too (a
         * second would be a second cors plugin). */
        if ((t <= 3 || t == 6) && seen[t]++) {
            /* not read again: it would replace (and leak) the first */
            gw_rd_error(r, fp, "%s may appear only once", type);
            continue;
        }
        /* The field named after the type, lower camel case. */
        static const char *const fields[] = {"requestHeaderModifier",
                                             "responseHeaderModifier",
                                             "requestRedirect",
                                             "urlRewrite",
                                             "requestMirror",
                                             "extensionRef",
                                             "cors",
                                             "externalAuth"};
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
            if (k != t &&
                gwf_node_type_of(gwf_node_get(e, fields[k])) != GWF_NODE_NULL)
                gw_rd_error(r, gw_path(fp, ip, fields[k]),
                            "must not be set in a filter of type %s", type);
        char fieldp[GW_PATH_MAX];
        const gwf_node *body =
            gw_rd_map(r, e, fields[t], gw_path(fieldp, ip, fields[t]), t != 6);
        if (!body && t != 6)
            continue;
        switch (t) {
        case 0:
            gw_read_header_filter(r, body, fieldp, &f->request_headers,
                                  &f->request_header_count);
            break;
        case 1:
            gw_read_header_filter(r, body, fieldp, &f->response_headers,
                                  &f->response_header_count);
            break;
        case 2:
            read_redirect(r, body, fieldp, f);
            break;
        case 3:
            read_rewrite(r, body, fieldp, f);
            break;
        case 4:
            read_mirror(r, body, fieldp, f, rt);
            break;
        case 5:
            if (!gw_read_extension_ref(r, body, fieldp, f, rt))
                *unsupported = true;
            break;
        case 6:
            /* The cors plugin checks the fields when the chain is built
             * (gwf gateway's judgement, nginx -t); a filter it refuses
             * fails its rule closed there, with this path. */
            free(f->cors_field);
            f->cors_route = r->doc;
            f->cors_field = gw_strdup(r->b, fieldp);
            break;
        default:
            *unsupported = true;
            gw_route_unsupported(
                r->b, rt,
                gw_printf(r->b, "%s: filter %s is not supported", ip, type));
        }
    }
    if (seen[2] && seen[3])
        gw_rd_error(r, p, "RequestRedirect and URLRewrite may not both be set");
}

/* -- Rules -------------------------------------------------------------- */

/* Whether backendRef e delegates to HTTPRoutes (kgateway): kind HTTPRoute
 * of gateway.networking.k8s.io, by name ("*" or none: every HTTPRoute of
 * the namespace), or kind label of delegation.kgateway.dev (the routes
 * labelled delegation.kgateway.dev/label=<name>). Reads its fields. */
static bool
is_delegation_ref(gw_rd *r, const gwf_node *e, const char *path)
{
    const char *group = gw_node_string(e, "group");
    const char *kind = gw_node_string(e, "kind");
    if (!(gw_streq(group, GW_GROUP) && gw_streq(kind, "HTTPRoute")) &&
        !(gw_streq(group, "delegation.kgateway.dev") &&
          gw_streq(kind, "label")))
        return false;
    char p[GW_PATH_MAX];
    bool label = gw_streq(kind, "label");
    gw_rd_str(r, e, "name", gw_path(p, path, "name"), label, 253);
    gw_rd_str(r, e, "namespace", gw_path(p, path, "namespace"), false, 63);
    if (gwf_node_get(e, "port"))
        gw_rd_error(r, gw_path(p, path, "port"),
                    "must not be set on a backendRef to %s", kind);
    return true;
}

void
gw_read_backend_refs(gw_rd *r, const gwf_node *rn, const char *path,
                     gw_rule *rule, gw_route *rt, bool *unsupported)
{
    char p[GW_PATH_MAX], ip[GW_PATH_MAX], fp[GW_PATH_MAX];
    const gwf_node *seq =
        gw_rd_seq(r, rn, "backendRefs", gw_path(p, path, "backendRefs"), false,
                  MAX_BACKENDS);
    size_t n = gwf_node_size(seq);
    if (!n)
        return;
    rule->backends = calloc(n, sizeof(*rule->backends));
    if (!rule->backends) {
        r->b->oom = true;
        return;
    }
    rule->backend_count = n;
    for (size_t i = 0; i < n; i++) {
        const gwf_node *e = gwf_node_at(seq, i);
        gw_path_i(ip, p, i);
        gw_backend_ref *br = &rule->backends[i];
        if (gwf_node_type_of(e) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        int64_t w = 1;
        gw_rd_int(r, e, "weight", gw_path(fp, ip, "weight"), false, 0, 1000000,
                  &w);
        br->weight = (uint32_t)w;
        if (!rt->grpc && is_delegation_ref(r, e, ip)) {
            /* Children's rules replace this rule (delegation.c). */
            br->delegate = e;
            gw_read_filters(r, e, ip, false, &br->filters, rt, unsupported);
            continue;
        }
        const char *reason = NULL;
        char *msg = NULL;
        br->backend = gw_resolve_backend(r, e, ip, rt->grpc, &reason, &msg);
        if (reason)
            gw_route_ref_problem(r->b, rt, reason, msg);
        gw_read_filters(r, e, ip, rt->grpc, &br->filters, rt, unsupported);
        if (br->filters.cors_field) {
            *unsupported = true;
            gw_route_unsupported(
                r->b, rt,
                gw_printf(r->b,
                          "%s.filters: a CORS filter on a backendRef is "
                          "not applied (CORS runs before the backend is "
                          "chosen): the rule answers 500 rather than run "
                          "without it",
                          ip));
        }
        if (br->filters.extension_count) {
            /* kgateway applies its policies per route rule, not per
             * backendRef: one here cannot be honoured. */
            *unsupported = true;
            gw_route_unsupported(
                r->b, rt,
                gw_printf(r->b,
                          "%s.filters: an ExtensionRef on a backendRef is "
                          "not applied (kgateway attaches policies to the "
                          "rule): the rule answers 500 rather than run "
                          "without it",
                          ip));
        }
    }
}

void
gw_read_timeouts_retry(gw_rd *r, const gwf_node *rn, const char *path,
                       gw_rule *rule)
{
    char p[GW_PATH_MAX], tp[GW_PATH_MAX], ip[GW_PATH_MAX];
    const gwf_node *t =
        gw_rd_map(r, rn, "timeouts", gw_path(tp, path, "timeouts"), false);
    gw_rd_duration(r, t, "request", gw_path(p, tp, "request"),
                   &rule->request_timeout_ms);
    gw_rd_duration(r, t, "backendRequest", gw_path(p, tp, "backendRequest"),
                   &rule->backend_timeout_ms);
    if (rule->request_timeout_ms && rule->backend_timeout_ms &&
        rule->backend_timeout_ms > rule->request_timeout_ms)
        gw_rd_error(r, p, "must not be longer than request");
    const gwf_node *rt =
        gw_rd_map(r, rn, "retry", gw_path(tp, path, "retry"), false);
    int64_t v;
    if (gw_rd_int(r, rt, "attempts", gw_path(p, tp, "attempts"), false, 0, 1000,
                  &v))
        rule->retry.attempts = (int)v;
    gw_rd_duration(r, rt, "backoff", gw_path(p, tp, "backoff"),
                   &rule->retry.backoff_ms);
    const gwf_node *codes =
        gw_rd_seq(r, rt, "codes", gw_path(p, tp, "codes"), false, 200);
    size_t n = gwf_node_size(codes);
    if (n) {
        rule->retry.codes = calloc(n, sizeof(int));
        if (!rule->retry.codes) {
            r->b->oom = true;
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int64_t c;
        gw_path_i(ip, p, i);
        if (gwf_node_int(gwf_node_at(codes, i), &c) != 0 || c < 400 ||
            c > 599) {
            gw_rd_error(r, ip, "expected a status code from 400 to 599");
            continue;
        }
        rule->retry.codes[rule->retry.code_count++] = (int)c;
    }
}

/* Decides whether the rule answers a fixed status instead of proxying. */
void
gw_rule_settle(gw_rule *rule, bool unsupported)
{
    uint64_t resolved = 0;
    for (size_t i = 0; i < rule->backend_count; i++)
        if (rule->backends[i].backend)
            resolved += rule->backends[i].weight;
    if (unsupported)
        rule->fixed_status = 500;
    else if (rule->filters.redirect ||
             gw_filters_direct_response(&rule->filters))
        rule->fixed_status = 0;
    else if (resolved == 0)
        rule->fixed_status = 500;
}

bool
gw_read_matches(gw_rd *r, const gwf_node *rn, const char *path, gw_rule *rule,
                void (*read_one)(gw_rd *r, const gwf_node *mn, const char *path,
                                 gw_match *m),
                const gwf_node **list)
{
    char p[GW_PATH_MAX], ip[GW_PATH_MAX];
    const gwf_node *ms = gw_rd_seq(
        r, rn, "matches", gw_path(p, path, "matches"), false, MAX_MATCHES);
    size_t n = gwf_node_size(ms);
    if (list)
        *list = ms;
    rule->matches = calloc(n ? n : 1, sizeof(*rule->matches));
    if (!rule->matches) {
        r->b->oom = true;
        return false;
    }
    rule->match_count = n ? n : 1;
    if (!n) {
        rule->matches[0].path_kind = GW_PATH_PREFIX;
        rule->matches[0].path = gw_strdup(r->b, "/");
    }
    for (size_t i = 0; i < n; i++) {
        const gwf_node *mn = gwf_node_at(ms, i);
        gw_path_i(ip, p, i);
        if (gwf_node_type_of(mn) != GWF_NODE_MAP) {
            gw_rd_error(r, ip, "expected a mapping");
            continue;
        }
        read_one(r, mn, ip, &rule->matches[i]);
    }
    return true;
}

gw_rule *
gw_rule_new(gw_rd *r, const gwf_node *rn, size_t index, int64_t created,
            bool grpc, char *path)
{
    char p[GW_PATH_MAX];
    gw_path_i(path, "spec.rules", index);
    gw_rule *rule = calloc(1, sizeof(*rule));
    if (!rule) {
        r->b->oom = true;
        return NULL;
    }
    rule->route = r->doc;
    rule->grpc = grpc;
    rule->index = index;
    rule->created = created;
    char idx[24];
    snprintf(idx, sizeof(idx), "%c%zu", grpc ? 'g' : 'r', index);
    rule->id = gw_ident(r->b, r->doc->namespace_, r->doc->name, idx, NULL);
    rule->name = gw_strdup(
        r->b, gw_rd_str(r, rn, "name", gw_path(p, path, "name"), false, 253));
    return rule;
}

gw_rule *
gw_read_http_rule(gw_rd *r, const gwf_node *rn, size_t index, gw_route *rt,
                  int64_t created)
{
    char path[GW_PATH_MAX], p[GW_PATH_MAX];
    gw_rule *rule = gw_rule_new(r, rn, index, created, false, path);
    if (!rule)
        return NULL;
    const gwf_node *ms = NULL;
    if (!gw_read_matches(r, rn, path, rule, read_http_match, &ms)) {
        gw_rule_free(rule);
        return NULL;
    }
    size_t n = gwf_node_size(ms);
    bool unsupported = false;
    gw_read_filters(r, rn, path, false, &rule->filters, rt, &unsupported);
    gw_path_modifier pm = GW_PATH_KEEP;
    if (rule->filters.redirect)
        pm = rule->filters.redirect->path_mod;
    if (rule->filters.rewrite &&
        rule->filters.rewrite->path_mod != GW_PATH_KEEP)
        pm = rule->filters.rewrite->path_mod;
    if (pm == GW_PATH_REPLACE_PREFIX &&
        (n != 1 || !gwf_node_get(gwf_node_at(ms, 0), "path") ||
         rule->matches[0].path_kind != GW_PATH_PREFIX))
        gw_rd_error(r, gw_path(p, path, "filters"),
                    "ReplacePrefixMatch needs exactly one match with a "
                    "PathPrefix path");
    gw_read_backend_refs(r, rn, path, rule, rt, &unsupported);
    gw_read_timeouts_retry(r, rn, path, rule);
    gw_rule_settle(rule, unsupported);
    return rule;
}

void
gw_read_route(gw_build *b, const gwf_doc *d, bool grpc)
{
    gw_rd r;
    gw_rd_init(&r, b, d);
    gw_route rt = {.doc = d, .grpc = grpc};
    int64_t created;
    gw_read_route_common(&r, &rt, &created);
    rt.created = created;
    const gwf_node *spec = gwf_node_get(d->root, "spec");
    const gwf_node *rules =
        gw_rd_seq(&r, spec, "rules", "spec.rules", false, MAX_RULES);
    size_t n = gwf_node_size(rules);
    if (n == 0 && !r.errors) {
        /* The API's default: one rule matching every path, no backend. */
        gw_rule *rule = calloc(1, sizeof(*rule));
        gw_match *m = rule ? calloc(1, sizeof(*m)) : NULL;
        gw_rule **slot =
            m ? gw_push(b, &rt.rules, &rt.rule_count, sizeof(*slot)) : NULL;
        if (!slot) {
            free(m);
            free(rule);
            b->oom = true;
        } else {
            rule->route = d;
            rule->grpc = grpc;
            rule->created = created;
            rule->id =
                gw_ident(b, d->namespace_, d->name, grpc ? "g0" : "r0", NULL);
            rule->matches = m;
            rule->match_count = 1;
            m->path = gw_strdup(b, "/");
            gw_rule_settle(rule, false);
            *slot = rule;
        }
    }
    for (size_t i = 0; i < n && !b->oom; i++) {
        const gwf_node *rn = gwf_node_at(rules, i);
        char ip[GW_PATH_MAX];
        if (gwf_node_type_of(rn) != GWF_NODE_MAP) {
            gw_rd_error(&r, gw_path_i(ip, "spec.rules", i),
                        "expected a mapping");
            continue;
        }
        gw_rule *rule = grpc ? gw_read_grpc_rule(&r, rn, i, &rt, created)
                             : gw_read_http_rule(&r, rn, i, &rt, created);
        gw_rule **slot =
            rule ? gw_push(b, &rt.rules, &rt.rule_count, sizeof(*slot)) : NULL;
        if (!slot) {
            gw_rule_free(rule);
            break;
        }
        *slot = rule;
    }
    for (size_t i = 0; i < rt.rule_count; i++)
        for (size_t k = 0; k < i; k++)
            if (rt.rules[i]->name &&
                gw_streq(rt.rules[i]->name, rt.rules[k]->name)) {
                char ip[GW_PATH_MAX], np[GW_PATH_MAX];
                gw_rd_error(
                    &r, gw_path(np, gw_path_i(ip, "spec.rules", i), "name"),
                    "rule name \"%s\" is used twice", rt.rules[i]->name);
            }
    gw_route *slot = NULL;
    if (!r.errors && !b->oom)
        slot = gw_push(b, &b->routes, &b->route_count, sizeof(*slot));
    if (!slot) {
        gw_route_free(&rt);
        return;
    }
    *slot = rt;
}

void
gw_read_httproutes(gw_build *b)
{
    for (size_t i = 0; i < b->httproutes.count && !b->oom; i++)
        gw_read_route(b, b->httproutes.items[i], false);
}
