/*
 * emit_nginx.c - the nginx emitter: gw_model -> nginx configuration.
 *
 * Layout of what is written (full nginx.conf; --http-include writes only
 * the part inside http {}):
 *
 *   main: load_module, worker_processes, pid/error_log in the prefix
 *   http: logs and temp paths in the prefix, then
 *     map/geo + log_format gwf_log_<i>   listener policies' access logs
 *     upstream <backend id> { server ADDR:PORT max_fails=0; ... }
 *     server { listen; server_name; certificates; access_log PATH FMT;
 *              location / { gwf_route ...; ... }      the routing table
 *              location @<rule>_b<i> { filters; proxy_pass }
 *              location = /_gwf/mirror/... { internal; gwf_sample; }
 *              location @gwf_unavailable { return 503; } }
 *
 * Decisions worth knowing:
 * - Named locations are per server in nginx, so a rule served on several
 *   virtual hosts has its named locations written in each of them.
 * - A rule whose filters replace a path prefix needs the matched prefix,
 *   which differs between its matches: such a rule gets one set of named
 *   locations per match (@<rule>_m<j>_b<i>).
 * - An endpoint is listed (attempts + 1) times in its upstream, where
 *   attempts is the largest retry count of the rules using it, so that
 *   nginx's round robin can retry a backend with a single endpoint; with
 *   max_fails=0 a retried error never takes an endpoint out of service.
 * - A backend nginx got no response from (connection refused or reset,
 *   on every try) answers 503, not nginx's 502: what the conformance
 *   suite accepts once retries are exhausted (500 or 503). error_page
 *   sends nginx's own 502 (never a backend's) to @gwf_unavailable.
 * - Retries use proxy_next_upstream, which knows only some status codes;
 *   a rule asking to retry on another code is an error, not a silently
 *   weaker configuration. nginx has no retry backoff: it is ignored.
 * - Every manifest value is written quoted (gw_nginx_quote); names that
 *   nginx interprets beyond a literal (server names, upstream hosts,
 *   header names, methods) must also fit their grammar, so "~regex" can
 *   never become a regex server name nor "a b" two arguments.
 * - Output is built in memory (open_memstream) and returned only when no
 *   error was found; TLS files are written last, under the same rule.
 */
#define _GNU_SOURCE /* open_memstream, vasprintf */
#include "emit_nginx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gwf/manifest.h>

/* Retries beyond this are capped: each one adds a copy of every endpoint
 * to the upstream. */
#define MAX_RETRIES 16
/* nginx timers are milliseconds in an ngx_msec_t; keep them in int. */
#define MAX_TIMEOUT_MS 2147483647u

/* One named location of the virtual host being written: the location
 * of (rule, match, backendRef), its directives, and the name the routing
 * table reaches it by: its own, or that of the first location of the
 * host whose directives are the same. Most rules only proxy to a
 * Service; sharing their locations keeps nginx's memory and reload time
 * in proportion to the distinct behaviours, not to the number of rules
 * (20,000 rules to one Service: one location instead of 20,000). */
typedef struct named_loc {
    const gw_rule *rule;
    size_t match;                /* 0 unless the rule has locations per match */
    long backend;                /* -1: the rule's redirect location; -2: its
                                    DirectResponse's */
    const gw_policy_set *policy; /* the TrafficPolicies of the entries
                                    that reach it, or NULL */
    char *body;
    bool shared; /* another location of the host has this body and
                    is written instead */
    char name[300];
} named_loc;

typedef struct emitter {
    FILE *f;
    named_loc *locs; /* the current virtual host's, sorted by
                        (rule id, match, backend) */
    size_t loc_count;
    const gw_model *m;
    const gw_emit_options *o;
    gwf_diag *errors;
    size_t errors_at_start;
    const char *tls_dir;
    char *tls_dir_owned;
    bool unavailable;         /* a location of the current virtual host sends
                                 nginx's 502 to @gwf_unavailable */
    const gw_policy_set *set; /* the TrafficPolicies of the location
                                 being written, or NULL */
} emitter;

static bool
failed(const emitter *e)
{
    return e->errors->count > e->errors_at_start;
}

/* One error about `field` of `doc` (doc may be NULL for a hand-built
 * model or an option). */
static void __attribute__((format(printf, 4, 5)))
fail(emitter *e, const gwf_doc *doc, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (doc)
        gwf_doc_errorf(e->errors, doc, field, "%s", msg);
    else if (field)
        gwf_diag_addf(e->errors, "%s: %s", field, msg);
    else
        gwf_diag_addf(e->errors, "%s", msg);
}

/* -- Grammar of the values nginx interprets ------------------------------ */

static bool
has_control_byte(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

char *
gw_nginx_quote(const char *s)
{
    if (!s || has_control_byte(s))
        return NULL;
    size_t len = strlen(s), extra = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '"' || s[i] == '\\')
            extra++;
    if (len > SIZE_MAX / 2 - 3)
        return NULL;
    char *out = malloc(len + extra + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            out[o++] = '\\';
        out[o++] = s[i];
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* RFC 9110 tchar: header names and methods. */
static bool
is_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9'))
            continue;
        if (!strchr("!#$%&'*+-.^_`|~", c))
            return false;
    }
    return true;
}

/* A DNS name as nginx may use it for a server name or upstream host:
 * letters, digits, '-' and '.', 1..253 bytes, not starting with '.' or
 * '-'. With `wildcard`, a leading "*." is allowed too. */
static bool
is_dns_name(const char *s, bool wildcard)
{
    if (!s)
        return false;
    if (wildcard && s[0] == '*' && s[1] == '.')
        s += 2;
    size_t len = strlen(s);
    if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* Identifiers the model promises to be [a-z0-9_]: checked all the same,
 * as they become upstream and location names unquoted. */
static bool
is_identifier(const char *s)
{
    if (!s || !*s || strlen(s) > 200)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* One part of a TLS file name "<namespace>_<name>": a Secret's namespace
 * or name, which Kubernetes makes of [a-z0-9.-]. No '_' (so that the
 * file name stands for one Secret only) and no '/'. */
static bool
is_file_component(const char *s)
{
    if (!s || !*s || s[0] == '.' || strlen(s) > 253)
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* -- Writing -------------------------------------------------------------- */

/* Writes " " and the quoted form of `value`; a control byte is an error
 * about `field` of `doc`. */
static void
put_arg(emitter *e, const gwf_doc *doc, const char *field, const char *value)
{
    char *q = gw_nginx_quote(value ? value : "");
    if (!q) {
        char shown[64];
        gwf_quote(shown, sizeof shown, value ? value : "",
                  value ? strlen(value) : 0);
        fail(e, doc, field, "%s: control bytes are not allowed", shown);
        return;
    }
    fprintf(e->f, " %s", q);
    free(q);
}

/* put_arg of a formatted value ("header=NAME:VALUE"). */
static void __attribute__((format(printf, 4, 5)))
put_argf(emitter *e, const gwf_doc *doc, const char *field, const char *fmt,
         ...)
{
    char *value = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&value, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fail(e, doc, field, "out of memory");
        return;
    }
    put_arg(e, doc, field, value);
    free(value);
}

/* A path the operator gave (not a manifest): bare when it is made of
 * [A-Za-z0-9/._+-] only, so the file reads as nginx.conf files usually
 * do, else quoted. */
static void
put_path_arg(emitter *e, const char *what, const char *path)
{
    if (strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789/._+-") == strlen(path))
        fprintf(e->f, " %s", path);
    else
        put_arg(e, NULL, what, path);
}

/* "spec.rules[3]" + suffix, for error fields. */
static const char *
rule_field(char *buf, size_t size, const gw_rule *r, const char *suffix)
{
    snprintf(buf, size, "spec.rules[%zu]%s", r->index, suffix);
    return buf;
}

static uint64_t
clamp_ms(uint64_t ms)
{
    return ms > MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : ms;
}

/* -- TrafficPolicy fields nginx does itself -------------------------------- */

/* The policy giving field f to the location being written, or NULL. */
static const gw_route_policy *
route_field(const emitter *e, gw_route_field f)
{
    return e->set ? e->set->route_fields[f] : NULL;
}

/* kgateway: a TrafficPolicy attached above the route (Gateway, listener)
 * gives way to the HTTPRoute's own timeouts and retry; one attached to
 * the route, the rule or by ExtensionRef wins over them. */
static bool
policy_wins(const emitter *e, gw_route_field f, bool rule_has)
{
    return route_field(e, f) && !(rule_has && e->set->route_above[f]);
}

static uint64_t
request_timeout(const emitter *e, const gw_rule *r)
{
    const gw_route_policy *p = route_field(e, GW_RF_TIMEOUTS);
    if (p && p->has_request_timeout &&
        policy_wins(e, GW_RF_TIMEOUTS, r->request_timeout_ms != 0))
        return p->request_timeout_ms;
    return r->request_timeout_ms;
}

/* The retry of the location, and its per-try timeout (0: none). */
static const gw_retry *
retry_of(const emitter *e, const gw_rule *r, uint64_t *per_try)
{
    const gw_route_policy *p = route_field(e, GW_RF_RETRY);
    *per_try = 0;
    if (p && p->has_retry &&
        policy_wins(e, GW_RF_RETRY, r->retry.attempts > 0)) {
        *per_try = p->per_try_timeout_ms;
        return &p->retry;
    }
    return &r->retry;
}

static uint64_t
min_nonzero(uint64_t a, uint64_t b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}

/* -- Backends -------------------------------------------------------------- */

/* An upstream block can be written for it (and a mirror sent to it). */
static bool
backend_usable(const gw_backend *b)
{
    return b && b->kind == GW_BACKEND_ENDPOINTS && b->endpoint_count > 0;
}

/* A backendRef to it gets a named location: endpoints, or a Lambda
 * function called through the lambda_signer plugin. */
static bool
backend_servable(const gw_backend *b)
{
    return backend_usable(b) || (b && b->kind == GW_BACKEND_LAMBDA);
}

/* How many times each endpoint of `b` is listed: one more than the
 * largest retry count of a rule that proxies to it. */
static int
endpoint_copies(const gw_model *m, const gw_backend *b)
{
    int attempts = 0;
    for (size_t i = 0; i < m->rule_count; i++) {
        const gw_rule *r = m->rules[i];
        for (size_t j = 0; j < r->backend_count; j++)
            if (r->backends[j].backend == b && r->retry.attempts > attempts)
                attempts = r->retry.attempts;
    }
    /* A TrafficPolicy's retry may ask for more (rarely: most models
     * have none, and skip the walk over every entry). */
    bool policy_retries = false;
    for (size_t i = 0; i < m->policy_set_count && !policy_retries; i++) {
        const gw_route_policy *p = m->policy_sets[i]->route_fields[GW_RF_RETRY];
        policy_retries = p && p->retry.attempts > attempts;
    }
    for (size_t i = 0; policy_retries && i < m->port_count; i++)
        for (size_t k = 0; k < m->ports[i].vhost_count; k++) {
            const gw_vhost *v = &m->ports[i].vhosts[k];
            for (size_t j = 0; j < v->entry_count; j++) {
                const gw_entry *en = &v->entries[j];
                const gw_route_policy *p =
                    en->policy ? en->policy->route_fields[GW_RF_RETRY] : NULL;
                if (!p || p->retry.attempts <= attempts)
                    continue;
                for (size_t b2 = 0; b2 < en->rule->backend_count; b2++)
                    if (en->rule->backends[b2].backend == b)
                        attempts = p->retry.attempts;
            }
        }
    if (attempts > MAX_RETRIES)
        attempts = MAX_RETRIES;
    return attempts + 1;
}

static void
emit_upstream(emitter *e, const gw_backend *b)
{
    if (!is_identifier(b->id)) {
        fail(e, b->doc, NULL, "backend id is not [a-z0-9_]");
        return;
    }
    fprintf(e->f, "    upstream %s {\n", b->id);
    int copies = endpoint_copies(e->m, b);
    for (size_t i = 0; i < b->endpoint_count; i++) {
        const gw_endpoint *ep = &b->endpoints[i];
        unsigned char addr[sizeof(struct in6_addr)];
        bool v6 = ep->address && inet_pton(AF_INET6, ep->address, addr) == 1;
        bool v4 = ep->address && inet_pton(AF_INET, ep->address, addr) == 1;
        if (!v4 && !v6 && !is_dns_name(ep->address, false)) {
            fail(e, b->doc, "spec",
                 "endpoint address %s is neither an IP "
                 "address nor a DNS name",
                 ep->address ? ep->address : "(none)");
            continue;
        }
        if (ep->port < 1 || ep->port > 65535) {
            fail(e, b->doc, "spec", "endpoint %s: port %d out of range",
                 ep->address, ep->port);
            continue;
        }
        for (int c = 0; c < copies; c++)
            fprintf(e->f, "        server %s%s%s:%d max_fails=0;\n",
                    v6 ? "[" : "", ep->address, v6 ? "]" : "", ep->port);
    }
    fprintf(e->f, "        keepalive 32;\n    }\n");
}

/* -- Filters ------------------------------------------------------------- */

static void
emit_header_ops(emitter *e, const gw_rule *r, const char *directive,
                const gw_header_op *ops, size_t count)
{
    char field[96];
    rule_field(field, sizeof field, r, ".filters");
    for (size_t i = 0; i < count; i++) {
        const gw_header_op *op = &ops[i];
        if (!is_token(op->name)) {
            fail(e, r->route, field, "header name %s is not an HTTP token",
                 op->name ? op->name : "(none)");
            continue;
        }
        static const char *const verbs[] = {"set", "add", "remove"};
        if (op->op > GW_HEADER_REMOVE) {
            fail(e, r->route, field, "unknown header operation");
            continue;
        }
        /* Quoted although a token: '#' or '\'' may start one. */
        fprintf(e->f, "            %s %s", directive, verbs[op->op]);
        put_arg(e, r->route, field, op->name);
        if (op->op != GW_HEADER_REMOVE)
            put_arg(e, r->route, field, op->value ? op->value : "");
        fprintf(e->f, ";\n");
    }
}

/* path=full:P or path=prefix:OLD:NEW for a rewrite or redirect; `match`
 * is the rule's match the location serves (for the prefix). */
static void
put_path_modifier(emitter *e, const gw_rule *r, const gw_match *match,
                  gw_path_modifier mod, const char *path, const char *field)
{
    if (mod == GW_PATH_KEEP)
        return;
    if (!path || path[0] != '/') {
        fail(e, r->route, field, "replacement path must start with '/'");
        return;
    }
    if (mod == GW_PATH_REPLACE_FULL) {
        put_argf(e, r->route, field, "path=full:%s", path);
        return;
    }
    if (match->path_kind != GW_PATH_PREFIX) {
        fail(e, r->route, field, "ReplacePrefixMatch needs a PathPrefix match");
        return;
    }
    if (strchr(match->path, ':')) {
        fail(e, r->route, field,
             "ReplacePrefixMatch of a prefix containing ':' is not "
             "supported");
        return;
    }
    put_argf(e, r->route, field, "path=prefix:%s:%s", match->path, path);
}

static void
emit_rewrite(emitter *e, const gw_rule *r, const gw_match *match,
             const gw_rewrite *rw)
{
    char field[96];
    rule_field(field, sizeof field, r, ".filters");
    if (rw->hostname && !is_dns_name(rw->hostname, false)) {
        fail(e, r->route, field, "URLRewrite hostname %s is not a hostname",
             rw->hostname);
        return;
    }
    fprintf(e->f, "            gwf_rewrite");
    if (rw->hostname)
        put_argf(e, r->route, field, "host=%s", rw->hostname);
    put_path_modifier(e, r, match, rw->path_mod, rw->path, field);
    fprintf(e->f, ";\n");
}

static void
emit_redirect(emitter *e, const gw_rule *r, const gw_match *match,
              const gw_redirect *rd)
{
    char field[96];
    rule_field(field, sizeof field, r, ".filters");
    int status = rd->status ? rd->status : 302;
    if (status != 301 && status != 302 && status != 303 && status != 307 &&
        status != 308) {
        fail(e, r->route, field, "RequestRedirect statusCode %d", status);
        return;
    }
    if (rd->scheme && strcmp(rd->scheme, "http") != 0 &&
        strcmp(rd->scheme, "https") != 0) {
        fail(e, r->route, field,
             "RequestRedirect scheme must be http or "
             "https");
        return;
    }
    if (rd->hostname && !is_dns_name(rd->hostname, false)) {
        fail(e, r->route, field,
             "RequestRedirect hostname %s is not a "
             "hostname",
             rd->hostname);
        return;
    }
    if (rd->port < 0 || rd->port > 65535) {
        fail(e, r->route, field, "RequestRedirect port %d out of range",
             rd->port);
        return;
    }
    fprintf(e->f, "            gwf_redirect status=%d", status);
    if (rd->scheme)
        fprintf(e->f, " scheme=%s", rd->scheme);
    if (rd->hostname)
        put_argf(e, r->route, field, "host=%s", rd->hostname);
    if (rd->port)
        fprintf(e->f, " port=%d", rd->port);
    put_path_modifier(e, r, match, rd->path_mod, rd->path, field);
    fprintf(e->f, ";\n");
}

/* The exact-location URI of mirror k of the rule (`backend` < 0) or of
 * one of its backendRefs. */
static void
mirror_uri(char *buf, size_t size, const gw_rule *r, long backend, size_t k)
{
    if (backend < 0)
        snprintf(buf, size, "/_gwf/mirror/%s_r%zu", r->id, k);
    else
        snprintf(buf, size, "/_gwf/mirror/%s_b%ld_m%zu", r->id, backend, k);
}

static bool
mirror_usable(const gw_mirror *mi)
{
    return backend_usable(mi->backend) && mi->percent > 0;
}

static void
emit_mirror_refs(emitter *e, const gw_rule *r, long backend,
                 const gw_filters *f)
{
    for (size_t k = 0; k < f->mirror_count; k++) {
        if (!mirror_usable(&f->mirrors[k]))
            continue;
        char uri[300];
        mirror_uri(uri, sizeof uri, r, backend, k);
        fprintf(e->f, "            mirror %s;\n", uri);
    }
}

static void
emit_mirror_locations(emitter *e, const gw_rule *r, long backend,
                      const gw_filters *f)
{
    for (size_t k = 0; k < f->mirror_count; k++) {
        const gw_mirror *mi = &f->mirrors[k];
        if (!mirror_usable(mi))
            continue;
        if (!is_identifier(mi->backend->id)) {
            fail(e, mi->backend->doc, NULL, "backend id is not [a-z0-9_]");
            continue;
        }
        double pct = mi->percent > 100 ? 100 : mi->percent;
        char uri[300];
        mirror_uri(uri, sizeof uri, r, backend, k);
        fprintf(e->f,
                "        location = %s {\n"
                "            internal;\n"
                "            gwf_sample %.6g;\n"
                "            proxy_set_header Host $http_host;\n"
                "            proxy_http_version 1.1;\n"
                "            proxy_set_header Connection \"\";\n"
                "            proxy_pass http%s://%s$request_uri;\n"
                "        }\n",
                uri, pct, mi->backend->tls ? "s" : "", mi->backend->id);
    }
}

/* -- Proxying ------------------------------------------------------------ */

static const char *
nginx_retry_code(int code)
{
    switch (code) {
    case 403:
        return "http_403";
    case 404:
        return "http_404";
    case 429:
        return "http_429";
    case 500:
        return "http_500";
    case 502:
        return "http_502";
    case 503:
        return "http_503";
    case 504:
        return "http_504";
    default:
        return NULL;
    }
}

static void
emit_retry(emitter *e, const gw_rule *r, const char *px)
{
    uint64_t per_try;
    const gw_retry *rt = retry_of(e, r, &per_try);
    if (rt->attempts <= 0)
        return;
    fprintf(e->f, "            %s_next_upstream error timeout non_idempotent",
            px);
    for (size_t k = 0; k < rt->code_count; k++) {
        const char *name = nginx_retry_code(rt->codes[k]);
        if (!name) {
            char field[96];
            snprintf(field, sizeof field, "spec.rules[%zu].retry.codes[%zu]",
                     r->index, k);
            fail(e, r->route, field,
                 "nginx cannot retry on status %d (it can on 403, 404, 429, "
                 "500, 502, 503, 504)",
                 rt->codes[k]);
            continue;
        }
        fprintf(e->f, " %s", name);
    }
    int attempts = rt->attempts > MAX_RETRIES ? MAX_RETRIES : rt->attempts;
    fprintf(e->f, ";\n            %s_next_upstream_tries %d;\n", px,
            attempts + 1);
}

/* The waits on the upstream: timeouts.backendRequest and a TrafficPolicy's
 * retry.perTryTimeout bound each (connect, send, read), its
 * timeouts.streamIdle the sends and reads. */
static void
emit_upstream_timeouts(emitter *e, const gw_rule *r, const char *px)
{
    uint64_t per_try;
    retry_of(e, r, &per_try);
    uint64_t connect = min_nonzero(r->backend_timeout_ms, per_try);
    const gw_route_policy *t = route_field(e, GW_RF_TIMEOUTS);
    uint64_t io =
        min_nonzero(connect, t && t->has_stream_idle ? t->stream_idle_ms : 0);
    if (connect)
        fprintf(e->f, "            %s_connect_timeout %llums;\n", px,
                (unsigned long long)clamp_ms(connect));
    if (io)
        fprintf(e->f,
                "            %s_send_timeout %llums;\n"
                "            %s_read_timeout %llums;\n",
                px, (unsigned long long)clamp_ms(io), px,
                (unsigned long long)clamp_ms(io));
}

/* "scheme://host[:port]" of a Lambda Backend: spec.aws.lambda.endpointURL,
 * else https://lambda.<spec.aws.region>.amazonaws.com, checked to be
 * exactly that shape (it is written unquoted after proxy_pass). */
static bool
lambda_endpoint(emitter *e, const gw_backend *b, char *out, size_t size)
{
    const gwf_node *root = b->doc ? b->doc->root : NULL;
    const char *url = gwf_node_str(
        gwf_node_find(root, "spec.aws.lambda.endpointURL", NULL), NULL);
    if (!url) {
        const char *region =
            gwf_node_str(gwf_node_find(root, "spec.aws.region", NULL), NULL);
        if (!region)
            region = "us-east-1";
        if (!*region ||
            strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
                strlen(region) ||
            strlen(region) > 64) {
            fail(e, b->doc, "spec.aws.region", "not a region name");
            return false;
        }
        snprintf(out, size, "https://lambda.%s.amazonaws.com", region);
        return true;
    }
    const char *rest = NULL;
    if (strncmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        rest = url + 7;
    char host[300];
    size_t host_len = rest ? strcspn(rest, ":") : 0;
    const char *port = rest ? rest + host_len : NULL;
    bool ok = rest && host_len > 0 && host_len < sizeof host &&
              (*port == '\0' ||
               (port[1] && strspn(port + 1, "0123456789") == strlen(port + 1) &&
                strlen(port + 1) <= 5 && atoi(port + 1) >= 1 &&
                atoi(port + 1) <= 65535));
    if (ok) {
        memcpy(host, rest, host_len);
        host[host_len] = '\0';
        ok = is_dns_name(host, false);
    }
    if (!ok) {
        fail(e, b->doc, "spec.aws.lambda.endpointURL",
             "expected http(s)://host[:port] with a DNS name or IPv4 "
             "address");
        return false;
    }
    snprintf(out, size, "%s", url);
    return true;
}

/* The lambda_signer plugin turns the request into a signed Invoke call
 * (method, path, Host, body) and the answer back; nginx only carries it
 * to the endpoint. The Backend is found in the manifests the module
 * loads (gwf_manifests, written at http level). */
static void
emit_lambda_proxy(emitter *e, const gw_rule *r, const gw_backend *b)
{
    char endpoint[400];
    if (!lambda_endpoint(e, b, endpoint, sizeof endpoint))
        return;
    if (!b->doc || !is_dns_name(b->doc->namespace_, false) ||
        !is_dns_name(b->doc->name, false)) {
        fail(e, b->doc, "metadata",
             "a Lambda Backend needs a namespace and "
             "name made of [a-z0-9.-]");
        return;
    }
    fprintf(e->f,
            "            gwf_backend \"%s/%s\";\n"
            "            proxy_http_version 1.1;\n"
            "            proxy_set_header Connection \"\";\n",
            b->doc->namespace_, b->doc->name);
    emit_upstream_timeouts(e, r, "proxy");
    emit_retry(e, r, "proxy");
    if (strncmp(endpoint, "https://", 8) == 0)
        fprintf(e->f, "            proxy_ssl_server_name on;\n");
    fprintf(e->f, "            proxy_pass %s;\n", endpoint);
}

/* autoHostRewrite: the Host the upstream gets is its DNS name (a static
 * Backend's host, an ExternalName), as Envoy's auto_host_rewrite gives
 * the endpoint's hostname; a backend of IP addresses has none, and the
 * request's Host is kept, as in Envoy. */
static void
emit_proxy(emitter *e, const gw_rule *r, const gw_backend *b, bool auto_host)
{
    if (b->kind == GW_BACKEND_LAMBDA) {
        emit_lambda_proxy(e, r, b);
        return;
    }
    bool grpc = r->grpc || b->protocol == GW_PROTO_GRPC;
    const char *px = grpc ? "grpc" : "proxy";
    const char *name = b->endpoint_count ? b->endpoints[0].address : NULL;
    unsigned char ip[sizeof(struct in6_addr)];
    if (auto_host && name && is_dns_name(name, false) &&
        inet_pton(AF_INET, name, ip) != 1 &&
        inet_pton(AF_INET6, name, ip) != 1) {
        fprintf(e->f, "            %s_set_header Host", px);
        put_arg(e, b->doc, "spec", name);
        fprintf(e->f, ";\n");
    } else {
        fprintf(e->f, "            %s_set_header Host $http_host;\n", px);
    }
    if (!grpc) {
        fprintf(e->f, "            proxy_http_version 1.1;\n");
        if (b->protocol == GW_PROTO_WS)
            fprintf(e->f, "            proxy_set_header Upgrade "
                          "$http_upgrade;\n"
                          "            proxy_set_header Connection "
                          "$gwf_connection_upgrade;\n");
        else
            fprintf(e->f, "            proxy_set_header Connection \"\";\n");
        fprintf(e->f, "            error_page 502 =503 @gwf_unavailable;\n");
        e->unavailable = true;
    }
    emit_upstream_timeouts(e, r, px);
    emit_retry(e, r, px);
    if (b->tls && !grpc) {
        fprintf(e->f, "            proxy_ssl_server_name on;\n");
        if (!is_dns_name(b->endpoints[0].address, false)) {
            /* an IP literal: nginx sends no SNI for it anyway */
        } else {
            fprintf(e->f, "            proxy_ssl_name");
            put_arg(e, b->doc, "spec", b->endpoints[0].address);
            fprintf(e->f, ";\n");
        }
    }
    if (grpc)
        fprintf(e->f, "            grpc_pass grpc%s://%s;\n", b->tls ? "s" : "",
                b->id);
    else
        fprintf(e->f, "            proxy_pass http%s://%s;\n",
                b->tls ? "s" : "", b->id);
}

/* -- Named locations ------------------------------------------------------- */

/* Whether the rule's named locations depend on the match that chose them
 * (a ReplacePrefixMatch needs the matched prefix). */
static bool
uses_prefix_modifier(const gw_filters *f)
{
    return (f->rewrite && f->rewrite->path_mod == GW_PATH_REPLACE_PREFIX) ||
           (f->redirect && f->redirect->path_mod == GW_PATH_REPLACE_PREFIX);
}

static bool
per_match(const gw_rule *r)
{
    if (r->match_count < 2)
        return false;
    if (uses_prefix_modifier(&r->filters))
        return true;
    for (size_t i = 0; i < r->backend_count; i++)
        if (uses_prefix_modifier(&r->backends[i].filters))
            return true;
    return false;
}

#define LOC_REDIRECT (-1)
#define LOC_DIRECT_RESPONSE (-2)

/* "@<rule>[_m<j>][_p<set>]_b<i>", "..._redirect" or "..._dr". */
static void
location_name(char *buf, size_t size, const gw_rule *r, size_t match,
              long backend, const gw_policy_set *policy)
{
    char m[32] = "", p[32] = "";
    if (per_match(r))
        snprintf(m, sizeof m, "_m%zu", match);
    if (policy)
        snprintf(p, sizeof p, "_p%zu", policy->index);
    if (backend == LOC_REDIRECT)
        snprintf(buf, size, "@%s%s%s_redirect", r->id, m, p);
    else if (backend == LOC_DIRECT_RESPONSE)
        snprintf(buf, size, "@%s%s%s_dr", r->id, m, p);
    else
        snprintf(buf, size, "@%s%s%s_b%ld", r->id, m, p, backend);
}

/* Whether policy d sets field f only to switch it off (`disable`, or a
 * rateLimit.local without tokenBucket): it won the field, and the field
 * adds no plugin. */
static bool
field_off(const gwf_doc *d, gwf_policy_field f)
{
    return gwf_policy_field_off(d->spec, f);
}

/* The TrafficPolicies of a location: one gwf_policy line per policy,
 * naming the fields it gives (the merged result, attach_policies.c).
 * A field switched off is left out, and a set of nothing but such fields
 * writes nothing: nginx then runs no chain for the location at all. */
static void
emit_policies(emitter *e, const gw_policy_set *set)
{
    if (!set)
        return;
    const gwf_doc *live[GWF_PF_COUNT];
    for (size_t f = 0; f < GWF_PF_COUNT; f++)
        live[f] =
            set->fields[f] && !field_off(set->fields[f], (gwf_policy_field)f)
                ? set->fields[f]
                : NULL;
    for (size_t f = 0; f < GWF_PF_COUNT; f++) {
        const gwf_doc *d = live[f];
        bool first = d != NULL;
        for (size_t k = 0; k < f && first; k++)
            first = live[k] != d;
        if (!first)
            continue; /* written with an earlier field */
        if (!is_dns_name(d->namespace_, false) ||
            !is_dns_name(d->name, false)) {
            fail(e, d, "metadata",
                 "a TrafficPolicy needs a namespace and name made of "
                 "[a-z0-9.-]");
            return;
        }
        fprintf(e->f, "            gwf_policy \"%s/%s\"", d->namespace_,
                d->name);
        for (size_t k = f; k < GWF_PF_COUNT; k++)
            if (live[k] == d)
                fprintf(e->f, " %s",
                        gwf_policy_field_name((gwf_policy_field)k));
        fprintf(e->f, ";\n");
    }
}

/* A rule's CORS filter: the cors plugin configured with the filter's node
 * of the HTTPRoute, in the cors place of the location's chain, where it
 * wins over a TrafficPolicy's cors (docs/gateway.md). */
static void
emit_route_filter(emitter *e, const gw_rule *r)
{
    const gw_filters *f = &r->filters;
    if (!f->cors_field || !f->cors_route)
        return;
    const gwf_doc *d = f->cors_route;
    if (!is_dns_name(d->namespace_, false) || !is_dns_name(d->name, false)) {
        fail(e, d, "metadata",
             "an HTTPRoute with a CORS filter needs a namespace and name "
             "made of [a-z0-9.-]");
        return;
    }
    /* The path is gwf's own: spec.rules[N].filters[M].cors. */
    fprintf(e->f, "            gwf_route_filter \"%s/%s\" \"%s\";\n",
            d->namespace_, d->name, f->cors_field);
}

/* The location of a rule whose ExtensionRef names a DirectResponse: the
 * direct_response plugin answers (after the rule's policies); the
 * rule's response header filters still apply, as Envoy applies a
 * route's response headers to its direct responses. */
static void
emit_direct_response_location(emitter *e, const gw_rule *r)
{
    const gwf_doc *d = gw_filters_direct_response(&r->filters);
    const gw_route_policy *hm = route_field(e, GW_RF_HEADER_MODIFIERS);
    if (!d || !is_dns_name(d->namespace_, false) ||
        !is_dns_name(d->name, false)) {
        fail(e, d ? d : r->route, d ? "metadata" : NULL,
             "a DirectResponse needs a namespace and name made of "
             "[a-z0-9.-]");
        return;
    }
    const gw_filters *f = &r->filters;
    emit_header_ops(e, r, "gwf_response_header", f->response_headers,
                    f->response_header_count);
    if (hm)
        emit_header_ops(e, r, "gwf_response_header", hm->response_headers,
                        hm->response_header_count);
    fprintf(e->f, "            gwf_direct_response \"%s/%s\";\n", d->namespace_,
            d->name);
}

/* The directives of the redirect location of a rule whose own filters
 * redirect. */
static void
emit_redirect_location(emitter *e, const gw_rule *r, size_t match)
{
    const gw_filters *f = &r->filters;
    const gw_route_policy *hm = route_field(e, GW_RF_HEADER_MODIFIERS);
    if (hm)
        emit_header_ops(e, r, "gwf_request_header", hm->request_headers,
                        hm->request_header_count);
    emit_header_ops(e, r, "gwf_request_header", f->request_headers,
                    f->request_header_count);
    emit_header_ops(e, r, "gwf_response_header", f->response_headers,
                    f->response_header_count);
    if (hm)
        emit_header_ops(e, r, "gwf_response_header", hm->response_headers,
                        hm->response_header_count);
    emit_redirect(e, r, &r->matches[match], f->redirect);
}

/* A regular expression (PCRE, for nginx's `if ... ~`) that matches the
 * decimal numbers above `limit`, leading zeros allowed: more digits, or
 * as many with a larger digit after a common prefix. */
static void
put_above_regex(FILE *f, uint64_t limit)
{
    char d[24];
    int n = snprintf(d, sizeof d, "%llu", (unsigned long long)limit);
    fprintf(f, "\"^0*([1-9][0-9]{%d,}", n);
    for (int i = 0; i < n; i++)
        if (d[i] != '9')
            fprintf(f, "|%.*s[%c-9][0-9]{%d}", i, d, d[i] + 1, n - i - 1);
    fprintf(f, ")$\"");
}

/* The content types kgateway's responseCompression compresses (text/html,
 * always compressed by nginx, is not listed again). */
static const char gzip_types[] =
    "application/javascript application/json application/xhtml+xml "
    "image/svg+xml text/css text/plain text/xml";

/* What a TrafficPolicy asks of the request before it is proxied and of
 * the response: timeouts.streamIdle towards the client, buffer,
 * compression, urlRewrite (the HTTPRoute's URLRewrite path, `rw`, wins). */
static void
emit_policy_request(emitter *e, const gw_rule *r, const gw_rewrite *rw)
{
    const gw_route_policy *p = route_field(e, GW_RF_TIMEOUTS);
    if (p && p->has_stream_idle && p->stream_idle_ms)
        fprintf(e->f,
                "            client_body_timeout %llums;\n"
                "            send_timeout %llums;\n",
                (unsigned long long)clamp_ms(p->stream_idle_ms),
                (unsigned long long)clamp_ms(p->stream_idle_ms));
    p = route_field(e, GW_RF_BUFFER);
    if (p && p->max_request_size) {
        /* client_max_body_size ends a chunked body at the limit; a
         * declared Content-Length above it is refused before reading
         * (nginx checks it only where it chooses a location, not in a
         * named one). */
        fprintf(e->f,
                "            client_max_body_size %llu;\n"
                "            if ($http_content_length ~ ",
                (unsigned long long)p->max_request_size);
        put_above_regex(e->f, p->max_request_size);
        fprintf(e->f, ") {\n                return 413;\n            }\n");
    }
    p = route_field(e, GW_RF_COMPRESSION);
    if (p && p->gzip == 1)
        fprintf(e->f,
                "            gzip on;\n"
                "            gzip_types %s;\n"
                "            gzip_proxied any;\n"
                "            gzip_vary on;\n"
                "            gzip_min_length 30;\n",
                gzip_types);
    else if (p && p->gzip == 0)
        fprintf(e->f, "            gzip off;\n");
    p = route_field(e, GW_RF_URL_REWRITE);
    if (p && p->path_pattern && !r->grpc &&
        !(rw && rw->path_mod != GW_PATH_KEEP)) {
        fprintf(e->f, "            rewrite");
        put_arg(e, p->doc, "spec.urlRewrite.pathRegex.pattern",
                p->path_pattern);
        put_arg(e, p->doc, "spec.urlRewrite.pathRegex.substitution",
                p->path_replacement);
        fprintf(e->f, " break;\n");
    }
}

/* The directives of the location of backendRef i. */
static void
emit_backend_location(emitter *e, const gw_rule *r, size_t match, size_t i)
{
    const gw_backend_ref *ref = &r->backends[i];
    const gw_filters *rf = &r->filters, *bf = &ref->filters;
    const gw_match *mt = &r->matches[match];
    /* A TrafficPolicy's headerModifiers run as Envoy's header_mutation
     * filter does, around the route's own: its request headers before the
     * HTTPRoute filters', its response headers after them. */
    const gw_route_policy *hm = route_field(e, GW_RF_HEADER_MODIFIERS);
    if (hm)
        emit_header_ops(e, r, "gwf_request_header", hm->request_headers,
                        hm->request_header_count);
    emit_header_ops(e, r, "gwf_request_header", rf->request_headers,
                    rf->request_header_count);
    emit_header_ops(e, r, "gwf_request_header", bf->request_headers,
                    bf->request_header_count);
    emit_header_ops(e, r, "gwf_response_header", rf->response_headers,
                    rf->response_header_count);
    emit_header_ops(e, r, "gwf_response_header", bf->response_headers,
                    bf->response_header_count);
    if (hm)
        emit_header_ops(e, r, "gwf_response_header", hm->response_headers,
                        hm->response_header_count);
    /* A backendRef's own rewrite or redirect wins over the rule's. */
    const gw_rewrite *rw = bf->rewrite ? bf->rewrite : rf->rewrite;
    const gw_redirect *rd = bf->redirect;
    if (rw)
        emit_rewrite(e, r, mt, rw);
    if (rd) {
        emit_redirect(e, r, mt, rd);
        return;
    }
    emit_policy_request(e, r, rw);
    uint64_t timeout = request_timeout(e, r);
    if (timeout)
        fprintf(e->f, "            gwf_request_timeout %llums;\n",
                (unsigned long long)clamp_ms(timeout));
    emit_mirror_refs(e, r, -1, rf);
    emit_mirror_refs(e, r, (long)i, bf);
    const gw_route_policy *ah = route_field(e, GW_RF_AUTO_HOST_REWRITE);
    emit_proxy(e, r, ref->backend,
               ah && ah->auto_host_rewrite && !r->grpc &&
                   !(rw && rw->hostname));
}

/* The mirror locations of a rule (once per rule and server). */
static void
emit_rule_mirrors(emitter *e, const gw_rule *r)
{
    if (r->fixed_status || r->filters.redirect)
        return;
    emit_mirror_locations(e, r, -1, &r->filters);
    for (size_t i = 0; i < r->backend_count; i++)
        if (backend_servable(r->backends[i].backend) &&
            !r->backends[i].filters.redirect)
            emit_mirror_locations(e, r, (long)i, &r->backends[i].filters);
}

/* -- The routing table ----------------------------------------------------- */

static void
emit_match(emitter *e, const gw_rule *r, size_t j)
{
    const gw_match *mt = &r->matches[j];
    char field[128];
    snprintf(field, sizeof field, "spec.rules[%zu].matches[%zu]", r->index, j);
    static const char *const kinds[] = {"prefix", "exact", "regex"};
    if (mt->path_kind > GW_PATH_REGEX || !mt->path || !mt->path[0]) {
        fail(e, r->route, field, "bad path match");
        return;
    }
    put_argf(e, r->route, field, "%s=%s", kinds[mt->path_kind], mt->path);
    if (mt->method) {
        if (!is_token(mt->method))
            fail(e, r->route, field, "method %s is not an HTTP token",
                 mt->method);
        else
            put_argf(e, r->route, field, "method=%s", mt->method);
    }
    for (size_t k = 0; k < mt->header_count; k++) {
        const gw_kv_match *h = &mt->headers[k];
        if (!is_token(h->name)) {
            fail(e, r->route, field, "header name %s is not an HTTP token",
                 h->name ? h->name : "(none)");
            continue;
        }
        put_argf(e, r->route, field, "header%c%s:%s", h->regex ? '~' : '=',
                 h->name, h->value ? h->value : "");
    }
    for (size_t k = 0; k < mt->query_count; k++) {
        const gw_kv_match *q = &mt->queries[k];
        if (!q->name || !q->name[0] || strchr(q->name, ':')) {
            fail(e, r->route, field,
                 "query parameter name %s is empty or contains ':'",
                 q->name ? q->name : "(none)");
            continue;
        }
        put_argf(e, r->route, field, "query%c%s:%s", q->regex ? '~' : '=',
                 q->name, q->value ? q->value : "");
    }
}

static const char *loc_name(emitter *e, const gw_rule *r, size_t match,
                            long backend, const gw_policy_set *policy);

static void
emit_action(emitter *e, const gw_entry *en)
{
    const gw_rule *r = en->rule;
    size_t j = en->match;
    int fixed = en->fixed_status ? en->fixed_status : r->fixed_status;
    if (fixed) {
        if (fixed < 200 || fixed > 599) {
            fail(e, r->route, NULL, "fixed status %d", fixed);
            return;
        }
        fprintf(e->f, " status=%d", fixed);
        return;
    }
    long only = r->filters.redirect                       ? LOC_REDIRECT
                : gw_filters_direct_response(&r->filters) ? LOC_DIRECT_RESPONSE
                                                          : 0;
    if (only) {
        const char *to = loc_name(e, r, j, only, en->policy);
        if (to)
            fprintf(e->f, " pass=%s", to);
        return;
    }
    if (r->backend_count == 0) {
        fprintf(e->f, " status=500");
        return;
    }
    for (size_t i = 0; i < r->backend_count; i++) {
        const gw_backend_ref *ref = &r->backends[i];
        if (backend_servable(ref->backend)) {
            const char *to = loc_name(e, r, j, (long)i, en->policy);
            if (to)
                fprintf(e->f, " pass=%s:%u", to, ref->weight);
        } else {
            fprintf(e->f, " pass=500:%u", ref->weight);
        }
    }
}

static void
emit_route_line(emitter *e, const gw_entry *en)
{
    const gw_rule *r = en->rule;
    if (!is_identifier(r->id)) {
        fail(e, r->route, NULL, "rule id is not [a-z0-9_]");
        return;
    }
    if (en->match >= r->match_count) {
        fail(e, r->route, NULL, "entry names match %zu of %zu", en->match,
             r->match_count);
        return;
    }
    fprintf(e->f, "            gwf_route");
    emit_match(e, r, en->match);
    emit_action(e, en);
    fprintf(e->f, ";\n");
}

/* (rule, match) pairs whose named locations a server needs, sorted by
 * rule id then match, without duplicates. */
typedef struct loc_key {
    const gw_rule *rule;
    size_t match;
    const gw_policy_set *policy;
} loc_key;

static size_t
set_order(const gw_policy_set *p)
{
    return p ? p->index + 1 : 0;
}

static int
loc_key_cmp(const void *a, const void *b)
{
    const loc_key *x = a, *y = b;
    int c = strcmp(x->rule->id, y->rule->id);
    if (c)
        return c;
    if (x->match != y->match)
        return x->match < y->match ? -1 : 1;
    return set_order(x->policy) < set_order(y->policy)   ? -1
           : set_order(x->policy) > set_order(y->policy) ? 1
                                                         : 0;
}

static int
named_loc_cmp(const void *a, const void *b)
{
    const named_loc *x = a, *y = b;
    int c = strcmp(x->rule->id, y->rule->id);
    if (c)
        return c;
    if (x->match != y->match)
        return x->match < y->match ? -1 : 1;
    if (set_order(x->policy) != set_order(y->policy))
        return set_order(x->policy) < set_order(y->policy) ? -1 : 1;
    return x->backend < y->backend ? -1 : x->backend > y->backend;
}

/* The name the table reaches (rule, match, backend) by. */
static const char *
loc_name(emitter *e, const gw_rule *r, size_t match, long backend,
         const gw_policy_set *policy)
{
    named_loc key = {.rule = r,
                     .match = per_match(r) ? match : 0,
                     .backend = backend,
                     .policy = policy};
    const named_loc *l =
        bsearch(&key, e->locs, e->loc_count, sizeof key, named_loc_cmp);
    if (!l && !failed(e)) /* else an error already says why */
        fail(e, r->route, NULL, "no named location for rule %zu", r->index);
    return l ? l->name : NULL;
}

/* Appends the location of (rule, match, backend), its directives
 * written to memory. */
static void
add_named_loc(emitter *e, const gw_rule *r, size_t match, long backend,
              const gw_policy_set *policy)
{
    named_loc *l = &e->locs[e->loc_count];
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len), *out = e->f;
    if (!mem) {
        fail(e, NULL, NULL, "out of memory");
        return;
    }
    e->f = mem;
    e->set = policy;
    emit_policies(e, policy);
    emit_route_filter(e, r);
    if (backend == LOC_REDIRECT)
        emit_redirect_location(e, r, match);
    else if (backend == LOC_DIRECT_RESPONSE)
        emit_direct_response_location(e, r);
    else
        emit_backend_location(e, r, match, (size_t)backend);
    e->f = out;
    e->set = NULL;
    if (fclose(mem) != 0 || !buf) {
        free(buf);
        fail(e, NULL, NULL, "out of memory");
        return;
    }
    *l = (named_loc){.rule = r,
                     .match = match,
                     .backend = backend,
                     .policy = policy,
                     .body = buf};
    location_name(l->name, sizeof l->name, r, match, backend, policy);
    e->loc_count++;
}

static int
body_order(const void *a, const void *b)
{
    const named_loc *x = *(named_loc *const *)a, *y = *(named_loc *const *)b;
    int c = strcmp(x->body, y->body);
    return c ? c : (x < y ? -1 : x > y);
}

/* Every location of the rule (match) on this host: the redirect's, or
 * one per servable backendRef. */
static size_t
rule_loc_count(const gw_rule *r)
{
    if (r->fixed_status)
        return 0;
    if (r->filters.redirect || gw_filters_direct_response(&r->filters))
        return 1;
    size_t n = 0;
    for (size_t i = 0; i < r->backend_count; i++)
        if (backend_servable(r->backends[i].backend))
            n++;
    return n;
}

/* Collects the named locations of the host's entries into e->locs,
 * sorted by (rule id, match, backend), and gives locations with the same
 * directives the name of the first of them. */
static void
collect_named_locations(emitter *e, const gw_vhost *v)
{
    size_t cap = 0, n = 0;
    for (size_t i = 0; i < v->entry_count; i++)
        cap += rule_loc_count(v->entries[i].rule);
    loc_key *keys = calloc(v->entry_count ? v->entry_count : 1, sizeof *keys);
    e->locs = calloc(cap ? cap : 1, sizeof *e->locs);
    named_loc **order = calloc(cap ? cap : 1, sizeof *order);
    if (!keys || !e->locs || !order) {
        fail(e, NULL, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < v->entry_count; i++) {
        const gw_rule *r = v->entries[i].rule;
        if (!is_identifier(r->id) || v->entries[i].match >= r->match_count)
            continue; /* reported by emit_route_line */
        if (v->entries[i].fixed_status)
            continue; /* answers a status: no location */
        keys[n].rule = r;
        keys[n].match = per_match(r) ? v->entries[i].match : 0;
        keys[n].policy = v->entries[i].policy;
        n++;
    }
    qsort(keys, n, sizeof *keys, loc_key_cmp);
    for (size_t i = 0; i < n; i++) {
        const gw_rule *r = keys[i].rule;
        if ((i > 0 && loc_key_cmp(&keys[i - 1], &keys[i]) == 0) ||
            r->fixed_status)
            continue;
        if (r->filters.redirect) {
            add_named_loc(e, r, keys[i].match, LOC_REDIRECT, keys[i].policy);
            continue;
        }
        if (gw_filters_direct_response(&r->filters)) {
            add_named_loc(e, r, keys[i].match, LOC_DIRECT_RESPONSE,
                          keys[i].policy);
            continue;
        }
        for (size_t b = 0; b < r->backend_count; b++)
            if (backend_servable(r->backends[b].backend))
                add_named_loc(e, r, keys[i].match, (long)b, keys[i].policy);
    }
    for (size_t i = 0; i < e->loc_count; i++)
        order[i] = &e->locs[i];
    qsort(order, e->loc_count, sizeof *order, body_order);
    for (size_t i = 1; i < e->loc_count; i++)
        if (strcmp(order[i - 1]->body, order[i]->body) == 0) {
            memcpy(order[i]->name, order[i - 1]->name, sizeof order[i]->name);
            order[i]->shared = true;
        }
done:
    free(order);
    free(keys);
}

static void
free_named_locations(emitter *e)
{
    for (size_t i = 0; i < e->loc_count; i++)
        free(e->locs[i].body);
    free(e->locs);
    e->locs = NULL;
    e->loc_count = 0;
}

/* Writes each distinct location once, then the mirror locations of each
 * rule once. */
static void
emit_named_locations(emitter *e)
{
    for (size_t i = 0; i < e->loc_count; i++) {
        const named_loc *l = &e->locs[i];
        if (!l->shared)
            fprintf(e->f, "        location %s {\n%s        }\n", l->name,
                    l->body);
    }
    for (size_t i = 0; i < e->loc_count; i++)
        if (i == 0 || e->locs[i - 1].rule != e->locs[i].rule)
            emit_rule_mirrors(e, e->locs[i].rule);
}

/* -- Servers --------------------------------------------------------------- */

/* The listener of an HTTPS port that serves `host` (NULL: no host), as
 * an index into p->tls_hostnames, or -1: an exact hostname, else the
 * longest wildcard that covers it, else the listener without hostname.
 * Both the certificate of a virtual host and the SNI check use it, so
 * that they agree with nginx's own choice by server_name. */
static long
listener_of(const gw_port *p, const char *host)
{
    long wildcard = -1, any = -1;
    size_t wildcard_len = 0, host_len = host ? strlen(host) : 0;
    for (size_t k = 0; k < p->tls_count; k++) {
        const char *h = p->tls_hostnames[k];
        if (!h) {
            if (any < 0)
                any = (long)k;
            continue;
        }
        if (!host)
            continue;
        if (strcasecmp(h, host) == 0)
            return (long)k;
        if (h[0] != '*' || h[1] != '.')
            continue;
        size_t suffix_len = strlen(h + 1); /* ".example.com" */
        if (host_len > suffix_len && suffix_len > wildcard_len &&
            strcasecmp(host + host_len - suffix_len, h + 1) == 0) {
            wildcard = (long)k;
            wildcard_len = suffix_len;
        }
    }
    return wildcard >= 0 ? wildcard : any;
}

static const gw_tls_cert *
vhost_cert(const gw_port *p, const char *hostname)
{
    long k = listener_of(p, hostname);
    return k < 0 ? NULL : p->tls_certs[k];
}

/* Several HTTPS listeners on one port: a request whose Host belongs to
 * another listener than the SNI name it was sent with is misdirected
 * (421), as the Gateway API asks. nginx picks the certificate by SNI and
 * the server by Host; $gwf_sni_<port index> tells which listener the
 * SNI name belongs to ("any" when the client sent none). */
static bool
port_checks_sni(const gw_port *p)
{
    return p->protocol == GW_LISTENER_HTTPS && p->tls_count > 1;
}

static bool
hostname_listed_before(const gw_port *p, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (p->tls_hostnames[j] &&
            strcasecmp(p->tls_hostnames[j], p->tls_hostnames[k]) == 0)
            return true;
    return false;
}

static void
emit_sni_map(emitter *e, const gw_port *p, size_t index)
{
    long any = listener_of(p, NULL);
    fprintf(e->f,
            "    map $ssl_server_name $gwf_sni_%zu {\n"
            "        hostnames;\n",
            index);
    if (any < 0)
        fprintf(e->f, "        default none;\n");
    else
        fprintf(e->f, "        default %ld;\n", any);
    fprintf(e->f, "        \"\" any;\n");
    for (size_t k = 0; k < p->tls_count; k++) {
        const char *h = p->tls_hostnames[k];
        if (!h || hostname_listed_before(p, k))
            continue;
        if (!is_dns_name(h, true)) {
            fail(e, NULL, "hostname", "listener hostname %s is not a hostname",
                 h);
            continue;
        }
        fprintf(e->f, "        \"%s\" %zu;\n", h, k);
    }
    fprintf(e->f, "    }\n");
}

static void
emit_sni_check(emitter *e, const gw_port *p, size_t index, const char *host)
{
    if (!port_checks_sni(p))
        return;
    long k = listener_of(p, host);
    char want[32] = "none";
    if (k >= 0)
        snprintf(want, sizeof want, "%ld", k);
    fprintf(e->f,
            "        if ($gwf_sni_%zu !~ \"^(any|%s)$\") {\n"
            "            return 421;\n"
            "        }\n",
            index, want);
}

static bool
cert_usable(const gw_tls_cert *c)
{
    return c && c->secret && c->cert_pem && c->key_pem;
}

static void
emit_certificate(emitter *e, const gw_tls_cert *c)
{
    if (!cert_usable(c)) {
        fprintf(e->f, "        ssl_reject_handshake on;\n");
        return;
    }
    const char *ns = c->secret->namespace_, *name = c->secret->name;
    if (!is_file_component(ns) || !is_file_component(name)) {
        fail(e, c->secret, "metadata",
             "namespace and name must be made of "
             "[A-Za-z0-9.-] to name a certificate file");
        return;
    }
    static const char *const kinds[][2] = {{"ssl_certificate", "crt"},
                                           {"ssl_certificate_key", "key"}};
    for (size_t k = 0; k < 2; k++) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s_%s.%s", e->tls_dir, ns, name,
                         kinds[k][1]);
        if (n < 0 || (size_t)n >= sizeof path) {
            fail(e, c->secret, NULL, "certificate path too long");
            return;
        }
        fprintf(e->f, "        %s", kinds[k][0]);
        put_path_arg(e, "TLS directory", path);
        fprintf(e->f, ";\n");
    }
}

static void
emit_listen(emitter *e, const gw_port *p, bool grpc, bool default_server)
{
    fprintf(e->f, "        listen ");
    const char *a = e->o->listen_address;
    if (a) {
        unsigned char buf[sizeof(struct in6_addr)];
        bool v6 = inet_pton(AF_INET6, a, buf) == 1;
        fprintf(e->f, "%s%s%s:", v6 ? "[" : "", a, v6 ? "]" : "");
    }
    fprintf(e->f, "%d", p->port);
    if (p->protocol == GW_LISTENER_HTTPS)
        fprintf(e->f, " ssl");
    /* HTTPS offers h2 by ALPN; see port_serves_grpc_only for plain
     * HTTP. */
    if (grpc || p->protocol == GW_LISTENER_HTTPS)
        fprintf(e->f, " http2");
    if (default_server)
        fprintf(e->f, " default_server");
    fprintf(e->f, ";\n");
}

/* nginx 1.22 cannot serve HTTP/1.1 and HTTP/2 cleartext (prior
 * knowledge, what gRPC clients send) on one plain port: `http2` on such
 * a port makes it HTTP/2 only. So a plain port speaks HTTP/2 only when
 * everything it serves is GRPCRoutes; on a port shared with HTTPRoutes,
 * HTTP/1.1 clients keep working and gRPC needs TLS (HTTPS ports offer h2
 * by ALPN). */
static bool
port_serves_grpc_only(const gw_port *p)
{
    bool grpc = false;
    for (size_t i = 0; i < p->vhost_count; i++)
        for (size_t j = 0; j < p->vhosts[i].entry_count; j++) {
            if (!p->vhosts[i].entries[j].rule->grpc)
                return false;
            grpc = true;
        }
    return grpc;
}
static void emit_access_logs(emitter *e, const gw_port *p, const char *host);

/* nginx checks a declared Content-Length where it chooses a location:
 * for the routing location that is its default of 1m. A buffer policy
 * allowing more raises it to the largest such limit of the host (each
 * named location then holds its own, emit_policy_request). */
static void
emit_body_limit(emitter *e, const gw_vhost *v)
{
    uint64_t most = 0;
    for (size_t i = 0; i < v->entry_count; i++) {
        const gw_policy_set *s = v->entries[i].policy;
        const gw_route_policy *p = s ? s->route_fields[GW_RF_BUFFER] : NULL;
        if (p && p->max_request_size > most)
            most = p->max_request_size;
    }
    if (most > 1024 * 1024)
        fprintf(e->f, "            client_max_body_size %llu;\n",
                (unsigned long long)most);
}

static void
emit_vhost(emitter *e, const gw_port *p, size_t index, const gw_vhost *v,
           bool grpc, bool default_server)
{
    if (v->hostname && !is_dns_name(v->hostname, true)) {
        fail(e, NULL, "hostname",
             "virtual host %s on port %d is not a "
             "hostname",
             v->hostname, p->port);
        return;
    }
    fprintf(e->f, "    server {\n");
    emit_listen(e, p, grpc, default_server);
    fprintf(e->f, "        server_name");
    put_arg(e, NULL, "hostname", v->hostname ? v->hostname : "");
    fprintf(e->f, ";\n");
    if (p->protocol == GW_LISTENER_HTTPS)
        emit_certificate(e, vhost_cert(p, v->hostname));
    emit_access_logs(e, p, v->hostname);
    emit_sni_check(e, p, index, v->hostname);
    fprintf(e->f, "        location / {\n");
    if (v->entry_count == 0)
        fprintf(e->f, "            return 404;\n");
    emit_body_limit(e, v);
    e->unavailable = false;
    collect_named_locations(e, v);
    for (size_t i = 0; i < v->entry_count; i++)
        emit_route_line(e, &v->entries[i]);
    fprintf(e->f, "        }\n");
    emit_named_locations(e);
    free_named_locations(e);
    if (e->unavailable)
        fprintf(e->f, "        location @gwf_unavailable {\n"
                      "            return 503;\n        }\n");
    fprintf(e->f, "    }\n");
}

static bool
is_vhost_hostname(const gw_port *p, const char *h)
{
    for (size_t i = 0; i < p->vhost_count; i++)
        if (p->vhosts[i].hostname && strcasecmp(p->vhosts[i].hostname, h) == 0)
            return true;
    return false;
}

/* A server with a certificate and no routes: what answers for a name
 * nothing else on the port serves. */
static void
emit_empty_server(emitter *e, const gw_port *p, size_t index, bool grpc,
                  const char *hostname)
{
    fprintf(e->f, "    server {\n");
    emit_listen(e, p, grpc, hostname == NULL);
    fprintf(e->f, "        server_name");
    put_arg(e, NULL, "hostname", hostname ? hostname : "");
    fprintf(e->f, ";\n");
    if (p->protocol == GW_LISTENER_HTTPS)
        emit_certificate(e, vhost_cert(p, hostname));
    emit_access_logs(e, p, hostname);
    emit_sni_check(e, p, index, hostname);
    fprintf(e->f, "        location / {\n            return 404;\n"
                  "        }\n    }\n");
}

static void
emit_port(emitter *e, const gw_port *p, size_t index)
{
    if (p->port < 1 || p->port > 65535) {
        fail(e, NULL, "port", "port %d out of range", p->port);
        return;
    }
    if (p->protocol != GW_LISTENER_HTTP && p->protocol != GW_LISTENER_HTTPS) {
        fail(e, NULL, "protocol", "port %d: unknown protocol", p->port);
        return;
    }
    bool grpc = port_serves_grpc_only(p);
    bool have_default = false;
    for (size_t i = 0; i < p->vhost_count; i++) {
        bool catch_all = !p->vhosts[i].hostname && !have_default;
        have_default = have_default || catch_all;
        emit_vhost(e, p, index, &p->vhosts[i], grpc, catch_all);
    }
    /* nginx chooses the certificate by SNI among the servers: a listener
     * hostname that no virtual host carries (its routes all have more
     * precise hostnames) still needs a server with its certificate. */
    if (p->protocol == GW_LISTENER_HTTPS)
        for (size_t k = 0; k < p->tls_count; k++) {
            const char *h = p->tls_hostnames[k];
            if (h && !is_vhost_hostname(p, h) &&
                !hostname_listed_before(p, k) && is_dns_name(h, true))
                emit_empty_server(e, p, index, grpc, h);
        }
    if (!have_default) /* requests for a hostname no listener serves */
        emit_empty_server(e, p, index, grpc, NULL);
}

/* -- Access logs (HTTPListenerPolicy, ListenerPolicy) --------------------- */

/* Each gw_access_log becomes `log_format gwf_log_<i>` at http level
 * (escape=json for a jsonFormat, whose object is written member by
 * member in the manifest's order) and `access_log PATH gwf_log_<i>` in
 * every server of a listener it is on. Envoy's operators become nginx
 * variables; what needs more than one variable is a map:
 *   %REQ(a?b)%     map $http_a -> $http_b when empty
 *   %REQ(a):N%     map with a regex keeping the first N bytes
 *   %DURATION%     $request_time ("1.234" s) as integer milliseconds
 *   %DOWNSTREAM_REMOTE_ADDRESS%, %DOWNSTREAM_LOCAL_ADDRESS%
 *                  ip:port, [ipv6]:port
 *   %START_TIME(%s)%  $msec without its fraction
 * A literal '$' (which nginx would read as a variable) is written as
 * ${gwf_log_dollar}, a geo variable whose value is "$". A jsonFormat
 * member that is one numeric operator is written unquoted (Envoy keeps
 * its type); one without a value is null. */

static const char *
log_var_of_header(char *buf, size_t size, const char *name, bool resp)
{
    static const char *const pseudo[][2] = {
        {":method", "request_method"}, {":path", "request_uri"},
        {":authority", "http_host"},   {":scheme", "scheme"},
        {":status", "status"},
    };
    for (size_t i = 0; i < sizeof pseudo / sizeof pseudo[0]; i++)
        if (strcmp(name, pseudo[i][0]) == 0)
            return pseudo[i][1];
    int n = snprintf(buf, size, "%s%s", resp ? "sent_http_" : "http_", name);
    if (n < 0 || (size_t)n >= size)
        return NULL;
    for (char *c = buf; *c; c++)
        if (*c == '-')
            *c = '_';
    return is_identifier(buf) ? buf : NULL;
}

/* Writes literal text into f: JSON-escaped when json, '$' through the
 * geo variable. Control bytes that remain (text formats) are written as
 * nginx's quoted-string escapes by log_quote. */
static void
log_literal(FILE *f, const char *s, bool json)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '$')
            fputs("${gwf_log_dollar}", f);
        else if (json && (*p == '"' || *p == '\\'))
            fprintf(f, "\\%c", *p);
        else if (json && (*p < 0x20 || *p == 0x7f))
            fprintf(f, "\\u%04x", *p); /* DEL too: log_quote refuses it */
        else
            fputc(*p, f);
    }
}

/* The variable (without '$') a piece logs, making the maps it needs
 * into `maps`; NULL for a literal or a missing value. */
static const char *
log_piece_var(emitter *e, FILE *maps, const gw_log_piece *p, char *buf,
              size_t size, size_t log, size_t *map_n)
{
    char a[300], b[300];
    const char *v = NULL;
    switch (p->op) {
    case GW_LOG_START_TIME:
        v = "time_iso8601";
        break;
    case GW_LOG_REQ:
    case GW_LOG_RESP:
        v = log_var_of_header(a, sizeof a, p->text, p->op == GW_LOG_RESP);
        break;
    case GW_LOG_PROTOCOL:
        v = "server_protocol";
        break;
    case GW_LOG_RESPONSE_CODE:
        v = "status";
        break;
    case GW_LOG_DURATION:
        v = "gwf_log_duration_ms";
        break;
    case GW_LOG_BYTES_SENT:
        v = "body_bytes_sent";
        break;
    case GW_LOG_REMOTE:
        v = "gwf_log_remote";
        break;
    case GW_LOG_REMOTE_IP:
        v = "remote_addr";
        break;
    case GW_LOG_UPSTREAM_HOST:
        v = "upstream_addr";
        break;
    case GW_LOG_START_TIME_S:
        v = "gwf_log_start_s";
        break;
    case GW_LOG_LOCAL:
        v = "gwf_log_local";
        break;
    case GW_LOG_SERVER_NAME:
        v = "ssl_server_name";
        break;
    case GW_LOG_HOSTNAME:
        v = "hostname";
        break;
    default:
        return NULL;
    }
    if (!v) {
        fail(e, NULL, "access log", "header %s has no nginx variable",
             p->text ? p->text : "");
        return NULL;
    }
    if (p->fallback) {
        const char *fb = log_var_of_header(b, sizeof b, p->fallback, false);
        if (!fb) {
            fail(e, NULL, "access log", "header %s has no nginx variable",
                 p->fallback);
            return NULL;
        }
        snprintf(buf, size, "gwf_log_%zu_%zu", log, (*map_n)++);
        fprintf(maps,
                "    map $%s $%s {\n        \"\" $%s;\n        default $%s;\n"
                "    }\n",
                v, buf, fb, v);
        snprintf(a, sizeof a, "%s", buf);
        v = a;
    }
    /* PCRE's {0,N} takes N up to 65535; a longer cap never cuts what
     * nginx's header buffers hold. */
    if (p->max_len && p->max_len <= 65535) {
        snprintf(buf, size, "gwf_log_%zu_%zu", log, (*map_n)++);
        fprintf(maps,
                "    map $%s $%s {\n        \"~(?s)^(?<%s_c>.{0,%u})\" "
                "$%s_c;\n    }\n",
                v, buf, buf, (unsigned)p->max_len, buf);
        return buf;
    }
    snprintf(buf, size, "%s", v);
    return buf;
}

static bool
numeric_op(gw_log_op op)
{
    return op == GW_LOG_RESPONSE_CODE || op == GW_LOG_DURATION ||
           op == GW_LOG_BYTES_SENT;
}

/* One value's pieces into f. */
static void
log_value(emitter *e, FILE *f, FILE *maps, const gw_log_value *v, bool json,
          size_t log, size_t *map_n)
{
    for (size_t k = 0; k < v->piece_count; k++) {
        const gw_log_piece *p = &v->pieces[k];
        char var[300];
        if (p->op == GW_LOG_TEXT) {
            log_literal(f, p->text ? p->text : "", json);
            continue;
        }
        if (p->op == GW_LOG_MISSING) {
            fputc('-', f);
            continue;
        }
        const char *name =
            log_piece_var(e, maps, p, var, sizeof var, log, map_n);
        if (name)
            fprintf(f, "${%s}", name);
    }
}

/* The log_format text of log `i` (malloc'd) and its maps into `maps`. */
static char *
log_format_text(emitter *e, const gw_access_log *l, size_t i, FILE *maps)
{
    char *text = NULL;
    size_t len = 0, map_n = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        fail(e, NULL, "access log", "out of memory");
        return NULL;
    }
    if (!l->json) {
        if (l->value_count == 1)
            log_value(e, f, maps, &l->values[0], false, i, &map_n);
    } else {
        fputc('{', f);
        for (size_t k = 0; k < l->value_count; k++) {
            const gw_log_value *v = &l->values[k];
            fputs(k ? ",\"" : "\"", f);
            log_literal(f, v->key ? v->key : "", true);
            fputs("\":", f);
            const gw_log_piece *one = v->piece_count == 1 ? v->pieces : NULL;
            if (v->raw && one)
                fputs(one->text ? one->text : "null", f);
            else if (one && one->op == GW_LOG_MISSING)
                fputs("null", f);
            else if (one && numeric_op(one->op) && !one->max_len)
                log_value(e, f, maps, v, true, i, &map_n);
            else {
                fputc('"', f);
                log_value(e, f, maps, v, true, i, &map_n);
                fputc('"', f);
            }
        }
        fputc('}', f);
    }
    if (fclose(f) != 0) {
        free(text);
        fail(e, NULL, "access log", "out of memory");
        return NULL;
    }
    return text;
}

/* s as one quoted nginx argument; tab, CR and LF as nginx's escapes.
 * NULL for another control byte. */
static char *
log_quote(const char *s)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    bool bad = false;
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p < 0x20 || *p == 0x7f)
            bad = true;
        else
            fputc(*p, f);
    }
    fputc('"', f);
    if (fclose(f) != 0 || bad) {
        free(out);
        return NULL;
    }
    return out;
}

/* http level: the helper variables, each log's maps and format. */
static void
emit_log_formats(emitter *e)
{
    const gw_model *m = e->m;
    if (m->access_log_count == 0)
        return;
    fprintf(e->f,
            "    map $request_time $gwf_log_duration_ms {\n"
            "        \"~^0\\.0*(?<gwf_log_ms>[1-9][0-9]*)$\" $gwf_log_ms;\n"
            "        \"~^(?<gwf_log_s>[1-9][0-9]*)\\.(?<gwf_log_f>[0-9]{3})$\" "
            "$gwf_log_s$gwf_log_f;\n"
            "        default 0;\n    }\n"
            "    map $remote_addr $gwf_log_remote {\n"
            "        \"~:\" \"[$remote_addr]:$remote_port\";\n"
            "        default \"$remote_addr:$remote_port\";\n    }\n"
            "    map $server_addr $gwf_log_local {\n"
            "        \"~:\" \"[$server_addr]:$server_port\";\n"
            "        default \"$server_addr:$server_port\";\n    }\n"
            "    map $msec $gwf_log_start_s {\n"
            "        \"~^(?<gwf_log_es>[0-9]+)\" $gwf_log_es;\n    }\n"
            "    geo $gwf_log_dollar {\n        default \"$\";\n    }\n");
    for (size_t i = 0; i < m->access_log_count && !failed(e); i++) {
        const gw_access_log *l = &m->access_logs[i];
        char *maps_text = NULL;
        size_t maps_len = 0;
        FILE *maps = open_memstream(&maps_text, &maps_len);
        if (!maps) {
            fail(e, NULL, "access log", "out of memory");
            return;
        }
        char *text = log_format_text(e, l, i, maps);
        fclose(maps);
        char *q = text ? log_quote(text) : NULL;
        if (!q && text)
            fail(e, l->policy, "accessLog",
                 "the format has a control byte nginx cannot write");
        if (q && maps_text)
            fprintf(e->f, "%s    log_format gwf_log_%zu%s %s;\n", maps_text, i,
                    l->json ? " escape=json" : "", q);
        free(q);
        free(text);
        free(maps_text);
    }
}

/* How well listener l matches virtual host `host` (NULL: no Host) of
 * port p, as the Gateway API picks a listener for a request: 3 the same
 * hostname, 2 a wildcard covering it (longer wins, by the second
 * value), 1 no hostname, 0 not at all. */
static int
listener_match(const gw_listener *l, const gw_port *p, const char *host,
               size_t *len)
{
    *len = 0;
    if (l->port != p->port || l->protocol != p->protocol)
        return 0;
    if (!l->hostname)
        return 1;
    if (!host)
        return 0;
    if (strcasecmp(l->hostname, host) == 0)
        return 3;
    if (l->hostname[0] != '*' || l->hostname[1] != '.')
        return 0;
    /* "*.example.com" serves "a.example.com", "*.a.example.com" */
    const char *suffix = l->hostname + 1;
    size_t hl = strlen(host), sl = strlen(suffix);
    *len = sl;
    return hl > sl && strcasecmp(host + hl - sl, suffix) == 0 ? 2 : 0;
}

/* The listener of gateway g that serves `host` on port p, or -1. */
static long
serving_listener(const gw_gateway *g, const gw_port *p, const char *host)
{
    long best = -1;
    int best_rank = 0;
    size_t best_len = 0;
    for (size_t k = 0; k < g->listener_count; k++) {
        size_t len;
        int rank = listener_match(&g->listeners[k], p, host, &len);
        if (rank > best_rank || (rank == best_rank && rank && len > best_len)) {
            best = (long)k;
            best_rank = rank;
            best_len = len;
        }
    }
    return best;
}

/* server level: the access logs of the listener of each Gateway that
 * serves this port and hostname; one policy's sink once. */
static void
emit_access_logs(emitter *e, const gw_port *p, const char *host)
{
    const gw_model *m = e->m;
    for (size_t i = 0; i < m->access_log_count; i++) {
        const gw_access_log *l = &m->access_logs[i];
        if (l->gateway >= m->gateway_count ||
            l->listener >= m->gateways[l->gateway].listener_count ||
            serving_listener(&m->gateways[l->gateway], p, host) !=
                (long)l->listener)
            continue;
        if (!l->path || l->path[0] != '/' || strchr(l->path, '$')) {
            fail(e, l->policy, "fileSink.path", "not an absolute path");
            continue;
        }
        fprintf(e->f, "        access_log");
        put_arg(e, l->policy, "fileSink.path", l->path);
        fprintf(e->f, " gwf_log_%zu;\n", i);
    }
}

/* -- The whole file ------------------------------------------------------- */

static bool
any_websocket(const gw_model *m)
{
    for (size_t i = 0; i < m->backend_count; i++)
        if (m->backends[i]->protocol == GW_PROTO_WS)
            return true;
    return false;
}

static bool
any_lambda(const gw_model *m)
{
    for (size_t i = 0; i < m->backend_count; i++)
        if (m->backends[i]->kind == GW_BACKEND_LAMBDA)
            return true;
    return false;
}

/* Whether a location runs a plugin chain: a Lambda Backend, a
 * DirectResponse, a rule's CORS filter, a TrafficPolicy field a plugin
 * runs (the fields nginx does itself run none). */
static bool
any_plugin(const gw_model *m)
{
    if (any_lambda(m))
        return true;
    for (size_t i = 0; i < m->policy_set_count; i++)
        for (size_t f = 0; f < GWF_PF_COUNT; f++)
            if (m->policy_sets[i]->fields[f])
                return true;
    for (size_t i = 0; i < m->rule_count; i++)
        if (gw_filters_direct_response(&m->rules[i]->filters) ||
            m->rules[i]->filters.cors_field)
            return true;
    return false;
}

static void
emit_http_body(emitter *e)
{
    const gw_model *m = e->m;
    if (any_plugin(m)) {
        /* The plugins read their documents (a Lambda Backend and the
         * Secret of its credentials, TrafficPolicies, GatewayExtensions,
         * DirectResponses) from the manifests themselves. nginx checks
         * only those its chains use: a document gwf cannot honour fails
         * the routes it reaches closed (gwf gateway's judgement, made
         * with the same runtime), never the whole configuration. */
        if (e->o->manifest_path_count == 0)
            fail(e, NULL, NULL,
                 "a plugin runs (a TrafficPolicy, DirectResponse or Lambda "
                 "Backend) but no manifest paths were given to load them "
                 "in nginx");
        fprintf(e->f, "    gwf_manifests_check referenced;\n");
        for (size_t i = 0; i < e->o->manifest_path_count; i++) {
            const char *path = e->o->manifest_paths[i];
            if (!path || path[0] != '/') {
                fail(e, NULL, "manifest path", "%s is not absolute",
                     path ? path : "(none)");
                continue;
            }
            fprintf(e->f, "    gwf_manifests");
            put_path_arg(e, "manifest path", path);
            fprintf(e->f, ";\n");
        }
    }
    if (e->o->plugin_path) {
        fprintf(e->f, "    gwf_plugin_path");
        put_path_arg(e, "plugin path", e->o->plugin_path);
        fprintf(e->f, ";\n");
    }
    if (any_websocket(m))
        fprintf(e->f, "    map $http_upgrade $gwf_connection_upgrade {\n"
                      "        default upgrade;\n"
                      "        \"\" close;\n"
                      "    }\n");
    for (size_t i = 0; i < m->backend_count; i++)
        if (backend_usable(m->backends[i]))
            emit_upstream(e, m->backends[i]);
    emit_log_formats(e);
    for (size_t i = 0; i < m->port_count; i++)
        if (port_checks_sni(&m->ports[i]))
            emit_sni_map(e, &m->ports[i], i);
    for (size_t i = 0; i < m->port_count; i++)
        emit_port(e, &m->ports[i], i);
}

/* "DIR/suffix" as one argument. */
static void
put_dir_arg(emitter *e, const char *suffix)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", e->o->output_dir, suffix);
    if (n < 0 || (size_t)n >= sizeof path) {
        fail(e, NULL, "output directory", "path too long");
        return;
    }
    put_path_arg(e, "output directory", path);
}

static void
emit_main(emitter *e)
{
    const gw_emit_options *o = e->o;
    fprintf(e->f, "# Written by gwf gateway render; edits are lost on the "
                  "next render.\n");
    if (o->module_path) {
        fprintf(e->f, "load_module");
        put_path_arg(e, "module path", o->module_path);
        fprintf(e->f, ";\n");
    }
    fprintf(e->f, "worker_processes %d;\npid",
            o->worker_processes > 0 ? o->worker_processes : 1);
    put_dir_arg(e, "nginx.pid");
    fprintf(e->f, ";\nerror_log");
    put_dir_arg(e, "logs/error.log");
    fprintf(e->f, " notice;\npcre_jit on;\n\nevents {\n"
                  "    worker_connections 1024;\n}\n\nhttp {\n"
                  "    access_log");
    put_dir_arg(e, "logs/access.log");
    static const char *const temps[][2] = {
        {"client_body_temp_path", "tmp/client_body"},
        {"proxy_temp_path", "tmp/proxy"},
        {"fastcgi_temp_path", "tmp/fastcgi"},
        {"uwsgi_temp_path", "tmp/uwsgi"},
        {"scgi_temp_path", "tmp/scgi"},
    };
    fprintf(e->f, ";\n");
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++) {
        fprintf(e->f, "    %s", temps[i][0]);
        put_dir_arg(e, temps[i][1]);
        fprintf(e->f, ";\n");
    }
    /* Gateway hostnames may be up to 253 bytes. */
    fprintf(e->f, "    server_names_hash_bucket_size 512;\n"
                  "    map_hash_bucket_size 512;\n\n");
    emit_http_body(e);
    fprintf(e->f, "}\n");
}

/* -- Files ------------------------------------------------------------------
 */

static int
make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

static void
make_prefix_dirs(emitter *e)
{
    static const char *const dirs[] = {"logs", "tmp"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", e->o->output_dir, dirs[i]);
        if (make_dir(path, 0755) < 0)
            fail(e, NULL, path, "%s", strerror(errno));
    }
}

static int
write_secret_file(const char *path, const char *text)
{
    int fd =
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    if (fchmod(fd, 0600) < 0) {
        close(fd);
        return -1;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    return close(fd);
}

static void
write_certificates(emitter *e)
{
    bool made_dir = false;
    for (size_t i = 0; i < e->m->port_count; i++) {
        const gw_port *p = &e->m->ports[i];
        if (p->protocol != GW_LISTENER_HTTPS)
            continue;
        for (size_t k = 0; k < p->tls_count; k++) {
            const gw_tls_cert *c = p->tls_certs[k];
            /* Checked again here: only certificates some server uses
             * went through emit_certificate. */
            if (!cert_usable(c) || !is_file_component(c->secret->namespace_) ||
                !is_file_component(c->secret->name))
                continue;
            if (!made_dir && make_dir(e->tls_dir, 0700) < 0) {
                fail(e, NULL, e->tls_dir, "%s", strerror(errno));
                return;
            }
            made_dir = true;
            const char *pem[] = {c->cert_pem, c->key_pem};
            const char *ext[] = {"crt", "key"};
            for (size_t j = 0; j < 2; j++) {
                char path[PATH_MAX];
                snprintf(path, sizeof path, "%s/%s_%s.%s", e->tls_dir,
                         c->secret->namespace_, c->secret->name, ext[j]);
                if (write_secret_file(path, pem[j]) < 0)
                    fail(e, c->secret, NULL, "%s: %s", path, strerror(errno));
            }
        }
    }
}

/* -- Summary --------------------------------------------------------------- */

static bool
parent_accepted(const gw_route_parent *p)
{
    for (size_t i = 0; i < p->conditions.count; i++)
        if (strcmp(p->conditions.items[i].type, "Accepted") == 0)
            return p->conditions.items[i].status;
    return false;
}

static char *
summary_text(const gw_model *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    for (size_t g = 0; g < m->gateway_count; g++) {
        const gw_gateway *gw = &m->gateways[g];
        size_t attached = 0, refused = 0;
        for (size_t r = 0; r < m->route_count; r++) {
            const gw_route_status *rs = &m->routes[r];
            bool names_it = false, accepted = false;
            for (size_t p = 0; p < rs->parent_count; p++) {
                if (rs->parents[p].gateway != gw->doc)
                    continue;
                names_it = true;
                accepted = accepted || parent_accepted(&rs->parents[p]);
            }
            attached += names_it && accepted;
            refused += names_it && !accepted;
        }
        fprintf(f,
                "gateway %s/%s: %zu listeners, %zu routes attached, "
                "%zu refused\n",
                gw->doc && gw->doc->namespace_ ? gw->doc->namespace_ : "?",
                gw->doc && gw->doc->name ? gw->doc->name : "?",
                gw->listener_count, attached, refused);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* -- Entry point ----------------------------------------------------------- */

static int
check_options(emitter *e)
{
    const gw_emit_options *o = e->o;
    if (!o->output_dir || o->output_dir[0] != '/') {
        fail(e, NULL, "output directory", "must be an absolute path");
        return -1;
    }
    if (o->tls_dir && o->tls_dir[0] != '/') {
        fail(e, NULL, "TLS directory", "must be an absolute path");
        return -1;
    }
    if (o->listen_address) {
        unsigned char buf[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, o->listen_address, buf) != 1 &&
            inet_pton(AF_INET6, o->listen_address, buf) != 1) {
            fail(e, NULL, "address", "%s is not an IPv4 or IPv6 address",
                 o->listen_address);
            return -1;
        }
    }
    if (o->tls_dir) {
        e->tls_dir = o->tls_dir;
    } else if (asprintf(&e->tls_dir_owned, "%s/tls", o->output_dir) < 0) {
        e->tls_dir_owned = NULL;
        fail(e, NULL, NULL, "out of memory");
        return -1;
    } else {
        e->tls_dir = e->tls_dir_owned;
    }
    return 0;
}

int
gw_emit_nginx(const gw_model *m, const gw_emit_options *o, gw_emit_out *out,
              gwf_diag *errors)
{
    memset(out, 0, sizeof *out);
    emitter e = {
        .m = m, .o = o, .errors = errors, .errors_at_start = errors->count};
    char *text = NULL;
    size_t len = 0;
    if (check_options(&e) < 0)
        goto done;
    e.f = open_memstream(&text, &len);
    if (!e.f) {
        fail(&e, NULL, NULL, "out of memory");
        goto done;
    }
    if (o->http_include) {
        fprintf(e.f, "# Written by gwf gateway render; edits are lost on the "
                     "next render.\n");
        emit_http_body(&e);
    } else {
        emit_main(&e);
    }
    if (fclose(e.f) != 0)
        fail(&e, NULL, NULL, "out of memory");
    e.f = NULL;
    if (failed(&e))
        goto done;
    if (!o->http_include)
        make_prefix_dirs(&e);
    write_certificates(&e);
    if (failed(&e))
        goto done;
    out->summary = summary_text(m);
    if (!out->summary) {
        fail(&e, NULL, NULL, "out of memory");
        goto done;
    }
    out->config = text;
    out->config_len = len;
    text = NULL;
done:
    free(text);
    free(e.tls_dir_owned);
    return (int)(errors->count - e.errors_at_start);
}

void
gw_emit_out_free(gw_emit_out *out)
{
    free(out->config);
    free(out->summary);
    memset(out, 0, sizeof *out);
}
