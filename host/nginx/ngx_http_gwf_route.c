/*
 * ngx_http_gwf_route.c - the route table: `gwf_route` lines, parsed at
 * configuration time, matched and dispatched in the rewrite phase.
 *
 * The Gateway API translator writes one `gwf_route` line per (rule,
 * match) in precedence order; the first line whose every condition holds
 * serves the request, by a jump to a named location (weighted, random)
 * or a fixed status. What nginx's own locations cannot express (header
 * and query matches, segment-wise prefixes, weights) runs here; the
 * directives are documented in host/nginx/README.md ("Routes").
 *
 * A table may hold tens of thousands of lines, so matching does not scan
 * them: exact paths and prefixes are indexed in hash tables by path, and
 * a request looks up its whole uri (exact) and each of its '/'-boundary
 * prefixes (prefix), the hashes of all of them computed in one pass over
 * the uri. Lines that need no index (`prefix=/`, no path condition) or
 * cannot have one (regex) are kept in a scan list. Every list holds
 * ranks (line positions) in increasing order; the winner is the matching
 * line of lowest rank, so each list is walked only until it reaches a
 * rank no better than the best found so far: every candidate line is
 * looked at at most once, and a line that cannot match is never looked at.
 *
 * The table runs for the main request whenever it enters a location with
 * a table, never for subrequests nor in the location it jumped to (nginx
 * clears module contexts on a jump, so that fact is kept in per-request
 * state found through the request pool's cleanups, as the chain's stream
 * is; see route_state). An internal redirect by someone else (error_page,
 * an upstream's X-Accel-Redirect) into the table's location is routed
 * again rather than left to nginx's static files.
 *
 * The per-location actions of the named locations (route_actions.c) run
 * from the same rewrite-phase handler, after the jump.
 */
#include "ngx_http_gwf_module.h"

#define GWF_ROUTE_MAX_WEIGHT 1000000
#define GWF_ROUTE_NONE ((ngx_uint_t)-1)
#define GWF_ROUTE_ERROR ((ngx_uint_t)-2) /* no memory */

enum { PATH_ANY, PATH_EXACT, PATH_PREFIX, PATH_REGEX };

/* A header or query condition. */
typedef struct {
    ngx_str_t name;
    ngx_str_t value; /* exact value, when re is NULL */
    ngx_regex_t *re; /* whole-match regex, or NULL */
    unsigned is_query:1;
} route_cond_t;

/* One pass= entry: a named location, or a 500 share. */
typedef struct {
    ngx_str_t location; /* "@name"; empty for a 500 share */
    uint64_t weight;
} route_pass_t;

/* One gwf_route line. */
typedef struct {
    ngx_uint_t path_kind;
    ngx_str_t path; /* exact path or normalised prefix */
    ngx_regex_t *path_re;
    ngx_str_t method;   /* empty: any */
    ngx_array_t conds;  /* route_cond_t */
    ngx_array_t passes; /* route_pass_t */
    uint64_t total_weight;
    ngx_uint_t status; /* status=CODE; 0: pass= */
} route_t;

/* A path in an index, with the ranks of the lines that name it. */
typedef struct path_entry_s path_entry_t;
struct path_entry_s {
    path_entry_t *next;
    ngx_uint_t hash;
    ngx_str_t path;
    ngx_array_t ranks; /* ngx_uint_t, increasing */
};

typedef struct {
    path_entry_t **buckets;
    ngx_uint_t nbuckets; /* a power of two */
    ngx_uint_t entries;
    size_t max_len; /* of the paths indexed */
} path_index_t;

struct ngx_http_gwf_routes_s {
    ngx_array_t routes; /* route_t; the index is the rank */
    path_index_t exact;
    path_index_t prefix;
    ngx_array_t scan; /* ngx_uint_t ranks: prefix=/ and regex lines */
};

/* ------------------------------------------------------------------------
 * Path indexes
 * --------------------------------------------------------------------- */

static ngx_uint_t
path_hash(const u_char *p, size_t len)
{
    ngx_uint_t h = 0;
    for (size_t i = 0; i < len; i++)
        h = ngx_hash(h, p[i]);
    return h;
}

static path_entry_t *
index_find(path_index_t *idx, const u_char *p, size_t len, ngx_uint_t hash)
{
    if (!idx->nbuckets)
        return NULL;
    for (path_entry_t *e = idx->buckets[hash & (idx->nbuckets - 1)]; e;
         e = e->next)
        if (e->hash == hash && e->path.len == len &&
            ngx_memcmp(e->path.data, p, len) == 0)
            return e;
    return NULL;
}

/* Doubles the bucket array once there are as many entries as buckets, so
 * loading n lines costs O(n) amortised. */
static ngx_int_t
index_grow(ngx_pool_t *pool, path_index_t *idx)
{
    ngx_uint_t size = idx->nbuckets ? idx->nbuckets * 2 : 64;
    path_entry_t **buckets = ngx_pcalloc(pool, size * sizeof *buckets);
    if (!buckets)
        return NGX_ERROR;
    for (ngx_uint_t b = 0; b < idx->nbuckets; b++) {
        path_entry_t *e = idx->buckets[b];
        while (e) {
            path_entry_t *next = e->next;
            e->next = buckets[e->hash & (size - 1)];
            buckets[e->hash & (size - 1)] = e;
            e = next;
        }
    }
    idx->buckets = buckets;
    idx->nbuckets = size;
    return NGX_OK;
}

static ngx_int_t
index_add(ngx_pool_t *pool, path_index_t *idx, ngx_str_t *path, ngx_uint_t rank)
{
    ngx_uint_t hash = path_hash(path->data, path->len);
    path_entry_t *e = index_find(idx, path->data, path->len, hash);
    if (!e) {
        if (idx->entries >= idx->nbuckets && index_grow(pool, idx) != NGX_OK)
            return NGX_ERROR;
        e = ngx_palloc(pool, sizeof *e);
        if (!e ||
            ngx_array_init(&e->ranks, pool, 1, sizeof(ngx_uint_t)) != NGX_OK)
            return NGX_ERROR;
        e->hash = hash;
        e->path = *path;
        if (path->len > idx->max_len)
            idx->max_len = path->len;
        e->next = idx->buckets[hash & (idx->nbuckets - 1)];
        idx->buckets[hash & (idx->nbuckets - 1)] = e;
        idx->entries++;
    }
    ngx_uint_t *slot = ngx_array_push(&e->ranks);
    if (!slot)
        return NGX_ERROR;
    *slot = rank;
    return NGX_OK;
}

/* ------------------------------------------------------------------------
 * Parsing gwf_route
 * --------------------------------------------------------------------- */

/* Compiles RE to match whole subjects: "^(?:RE)\z". RE is compiled alone
 * first, so a pattern that is not one (an unbalanced ')') cannot escape
 * the group; matches are checked to span the subject anyway. */
ngx_regex_t *
ngx_http_gwf_regex(ngx_conf_t *cf, ngx_str_t *re, const char *what)
{
    u_char errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t rc;
    ngx_memzero(&rc, sizeof rc);
    rc.pattern = *re;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;
    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: bad regex in %s: %V",
                           &((ngx_str_t *)cf->args->elts)[0], what, &rc.err);
        return NULL;
    }
    ngx_str_t anchored;
    anchored.len = re->len + sizeof("^(?:)\\z") - 1;
    anchored.data = ngx_pnalloc(cf->pool, anchored.len);
    if (!anchored.data)
        return NULL;
    u_char *p = ngx_cpymem(anchored.data, "^(?:", 4);
    p = ngx_cpymem(p, re->data, re->len);
    ngx_memcpy(p, ")\\z", 3);
    ngx_memzero(&rc, sizeof rc);
    rc.pattern = anchored;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;
    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: bad regex in %s: %V",
                           &((ngx_str_t *)cf->args->elts)[0], what, &rc.err);
        return NULL;
    }
    return rc.regex;
}

/* Whether `re` matches the whole of `s`. */
ngx_uint_t
ngx_http_gwf_regex_whole(ngx_http_request_t *r, ngx_regex_t *re, ngx_str_t *s)
{
    int caps[3];
    ngx_int_t rc = ngx_regex_exec(re, s, caps, 3);
    if (rc == NGX_REGEX_NO_MATCHED)
        return 0;
    if (rc < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gwf: " ngx_regex_exec_n " failed: %i", rc);
        return 0;
    }
    return caps[0] == 0 && (size_t)caps[1] == s->len;
}

static ngx_uint_t
has_prefix(ngx_str_t *s, const char *lit)
{
    size_t n = ngx_strlen(lit);
    return s->len >= n && ngx_strncmp(s->data, lit, n) == 0;
}

static ngx_str_t
after(ngx_str_t *s, size_t n)
{
    ngx_str_t rest = {s->len - n, s->data + n};
    return rest;
}

/* NAME:VALUE; NAME is not empty and never holds ':'. */
static ngx_int_t
split_name(ngx_str_t *arg, ngx_str_t *name, ngx_str_t *value)
{
    u_char *colon = ngx_strlchr(arg->data, arg->data + arg->len, ':');
    if (!colon || colon == arg->data)
        return NGX_ERROR;
    name->data = arg->data;
    name->len = (size_t)(colon - arg->data);
    value->data = colon + 1;
    value->len = arg->len - name->len - 1;
    return NGX_OK;
}

static char *
parse_cond(ngx_conf_t *cf, route_t *rt, ngx_str_t *arg, size_t skip,
           ngx_uint_t is_query, ngx_uint_t is_regex)
{
    ngx_str_t body = after(arg, skip);
    route_cond_t *c = ngx_array_push(&rt->conds);
    if (!c)
        return NGX_CONF_ERROR;
    ngx_memzero(c, sizeof *c);
    c->is_query = is_query;
    if (split_name(&body, &c->name, &c->value) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gwf_route: \"%V\" is not NAME:VALUE", arg);
        return NGX_CONF_ERROR;
    }
    if (is_regex) {
        c->re =
            ngx_http_gwf_regex(cf, &c->value, is_query ? "query~" : "header~");
        if (!c->re)
            return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

static char *
parse_path(ngx_conf_t *cf, route_t *rt, ngx_str_t *arg, ngx_uint_t kind,
           size_t skip)
{
    if (rt->path_kind != PATH_ANY || rt->path_re || rt->path.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gwf_route: more than one path condition (\"%V\")",
                           arg);
        return NGX_CONF_ERROR;
    }
    ngx_str_t path = after(arg, skip);
    if (kind == PATH_REGEX) {
        rt->path_re = ngx_http_gwf_regex(cf, &path, "regex=");
        if (!rt->path_re)
            return NGX_CONF_ERROR;
        rt->path_kind = PATH_REGEX;
        rt->path = path;
        return NGX_CONF_OK;
    }
    if (!path.len || path.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gwf_route: \"%V\": the path must start with '/'",
                           arg);
        return NGX_CONF_ERROR;
    }
    if (kind == PATH_PREFIX) {
        /* One trailing '/' is ignored; "/" alone matches every path. */
        if (path.len > 1 && path.data[path.len - 1] == '/')
            path.len--;
        if (path.len == 1) {
            rt->path_kind = PATH_ANY;
            rt->path = path;
            return NGX_CONF_OK;
        }
    }
    rt->path_kind = kind;
    rt->path = path;
    return NGX_CONF_OK;
}

static char *
parse_pass(ngx_conf_t *cf, route_t *rt, ngx_str_t *arg)
{
    ngx_str_t target = after(arg, 5);
    uint64_t weight = 1;
    /* The weight follows the last ':' when that is all digits. */
    u_char *colon = NULL;
    for (u_char *p = target.data + target.len; p > target.data; p--)
        if (p[-1] == ':') {
            colon = p - 1;
            break;
        }
    if (colon && colon + 1 < target.data + target.len) {
        ngx_str_t w = {(size_t)(target.data + target.len - colon - 1),
                       colon + 1};
        ngx_int_t n = ngx_atoi(w.data, w.len);
        if (n != NGX_ERROR) {
            if (n > GWF_ROUTE_MAX_WEIGHT) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "gwf_route: \"%V\": weight over %d", arg,
                                   GWF_ROUTE_MAX_WEIGHT);
                return NGX_CONF_ERROR;
            }
            weight = (uint64_t)n;
            target.len = (size_t)(colon - target.data);
        }
    }
    route_pass_t *ps = ngx_array_push(&rt->passes);
    if (!ps)
        return NGX_CONF_ERROR;
    ps->weight = weight;
    ngx_str_null(&ps->location);
    if (target.len == 3 && ngx_strncmp(target.data, "500", 3) == 0) {
        /* a share of the traffic answered 500 */
    } else if (target.len > 1 && target.data[0] == '@') {
        ps->location = target;
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gwf_route: \"%V\": pass= takes @LOCATION[:WEIGHT] "
                           "or 500[:WEIGHT]",
                           arg);
        return NGX_CONF_ERROR;
    }
    rt->total_weight += weight;
    return NGX_CONF_OK;
}

static char *
parse_arg(ngx_conf_t *cf, route_t *rt, ngx_str_t *arg)
{
    if (has_prefix(arg, "exact="))
        return parse_path(cf, rt, arg, PATH_EXACT, 6);
    if (has_prefix(arg, "prefix="))
        return parse_path(cf, rt, arg, PATH_PREFIX, 7);
    if (has_prefix(arg, "regex="))
        return parse_path(cf, rt, arg, PATH_REGEX, 6);
    if (has_prefix(arg, "method=")) {
        if (rt->method.len || arg->len == 7) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "gwf_route: \"%V\": one non-empty method=", arg);
            return NGX_CONF_ERROR;
        }
        rt->method = after(arg, 7);
        return NGX_CONF_OK;
    }
    if (has_prefix(arg, "header="))
        return parse_cond(cf, rt, arg, 7, 0, 0);
    if (has_prefix(arg, "header~"))
        return parse_cond(cf, rt, arg, 7, 0, 1);
    if (has_prefix(arg, "query="))
        return parse_cond(cf, rt, arg, 6, 1, 0);
    if (has_prefix(arg, "query~"))
        return parse_cond(cf, rt, arg, 6, 1, 1);
    if (has_prefix(arg, "pass="))
        return parse_pass(cf, rt, arg);
    if (has_prefix(arg, "status=")) {
        ngx_int_t code = ngx_atoi(arg->data + 7, arg->len - 7);
        if (rt->status || code < 200 || code > 599) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "gwf_route: \"%V\": one status=, 200 to 599",
                               arg);
            return NGX_CONF_ERROR;
        }
        rt->status = (ngx_uint_t)code;
        return NGX_CONF_OK;
    }
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "gwf_route: unknown argument \"%V\"", arg);
    return NGX_CONF_ERROR;
}

static ngx_http_gwf_routes_t *
routes_create(ngx_pool_t *pool)
{
    ngx_http_gwf_routes_t *t = ngx_pcalloc(pool, sizeof *t);
    if (!t || ngx_array_init(&t->routes, pool, 16, sizeof(route_t)) != NGX_OK ||
        ngx_array_init(&t->scan, pool, 4, sizeof(ngx_uint_t)) != NGX_OK)
        return NULL;
    return t;
}

char *
ngx_http_gwf_route(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwf_loc_conf_t *lcf = conf;
    (void)cmd;
    if (!lcf->routes) {
        lcf->routes = routes_create(cf->pool);
        if (!lcf->routes)
            return NGX_CONF_ERROR;
    }
    ngx_http_gwf_routes_t *t = lcf->routes;
    ngx_uint_t rank = t->routes.nelts;
    route_t *rt = ngx_array_push(&t->routes);
    if (!rt)
        return NGX_CONF_ERROR;
    ngx_memzero(rt, sizeof *rt);
    if (ngx_array_init(&rt->conds, cf->pool, 1, sizeof(route_cond_t)) !=
            NGX_OK ||
        ngx_array_init(&rt->passes, cf->pool, 1, sizeof(route_pass_t)) !=
            NGX_OK)
        return NGX_CONF_ERROR;
    ngx_str_t *args = cf->args->elts;
    for (ngx_uint_t i = 1; i < cf->args->nelts; i++)
        if (parse_arg(cf, rt, &args[i]) != NGX_CONF_OK)
            return NGX_CONF_ERROR;
    if (!rt->status == !rt->passes.nelts)
        return "needs either pass= entries or one status=";
    if (rt->path_kind == PATH_EXACT)
        return index_add(cf->pool, &t->exact, &rt->path, rank) == NGX_OK
                   ? NGX_CONF_OK
                   : NGX_CONF_ERROR;
    if (rt->path_kind == PATH_PREFIX)
        return index_add(cf->pool, &t->prefix, &rt->path, rank) == NGX_OK
                   ? NGX_CONF_OK
                   : NGX_CONF_ERROR;
    ngx_uint_t *slot = ngx_array_push(&t->scan);
    if (!slot)
        return NGX_CONF_ERROR;
    *slot = rank;
    return NGX_CONF_OK;
}

/* ------------------------------------------------------------------------
 * Matching
 * --------------------------------------------------------------------- */

/* The request's value of header `name`: its lines joined with ",".
 * NGX_DECLINED: no such header. */
static ngx_int_t
header_value(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *out)
{
    ngx_table_elt_t *first = NULL;
    size_t total = 0, count = 0;
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part;
         part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (!h[i].hash || h[i].key.len != name->len ||
                ngx_strncasecmp(h[i].key.data, name->data, name->len) != 0)
                continue;
            if (!first)
                first = &h[i];
            total += h[i].value.len + (count ? 1 : 0);
            count++;
        }
    }
    if (!first)
        return NGX_DECLINED;
    if (count == 1) {
        *out = first->value;
        return NGX_OK;
    }
    u_char *p = ngx_pnalloc(r->pool, total ? total : 1);
    if (!p)
        return NGX_ERROR;
    out->data = p;
    out->len = total;
    ngx_uint_t n = 0;
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part;
         part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (!h[i].hash || h[i].key.len != name->len ||
                ngx_strncasecmp(h[i].key.data, name->data, name->len) != 0)
                continue;
            if (n++)
                *p++ = ',';
            p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
        }
    }
    return NGX_OK;
}

static ngx_int_t
hex_digit(u_char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The percent-decoded value of the first query parameter named `name`
 * (raw, case-sensitive). '+' stays '+'; a '%' not followed by two hex
 * digits stays as it is. NGX_DECLINED: no such parameter. */
static ngx_int_t
query_value(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *out)
{
    u_char *p = r->args.data, *end = r->args.data + r->args.len;
    while (p < end) {
        u_char *amp = ngx_strlchr(p, end, '&');
        u_char *stop = amp ? amp : end;
        u_char *eq = ngx_strlchr(p, stop, '=');
        u_char *name_end = eq ? eq : stop;
        if ((size_t)(name_end - p) == name->len &&
            ngx_memcmp(p, name->data, name->len) == 0) {
            u_char *v = eq ? eq + 1 : stop;
            size_t len = (size_t)(stop - v);
            u_char *d = ngx_pnalloc(r->pool, len ? len : 1);
            if (!d)
                return NGX_ERROR;
            out->data = d;
            for (u_char *s = v; s < stop; s++) {
                ngx_int_t hi, lo;
                if (*s == '%' && stop - s >= 3 && (hi = hex_digit(s[1])) >= 0 &&
                    (lo = hex_digit(s[2])) >= 0) {
                    *d++ = (u_char)(hi * 16 + lo);
                    s += 2;
                } else {
                    *d++ = *s;
                }
            }
            out->len = (size_t)(d - out->data);
            return NGX_OK;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return NGX_DECLINED;
}

/* The values a match looked up, so that many lines testing the same
 * header or parameter join or decode it once per request. Bounded: past
 * GWF_ROUTE_CACHE names, values are looked up each time. */
#define GWF_ROUTE_CACHE 32

typedef struct {
    ngx_str_t name;
    ngx_uint_t is_query;
    ngx_int_t rc; /* NGX_OK, NGX_DECLINED (absent) */
    ngx_str_t value;
} cached_value_t;

typedef struct {
    ngx_http_request_t *r;
    ngx_http_gwf_routes_t *t;
    cached_value_t cache[GWF_ROUTE_CACHE];
    ngx_uint_t cached;
} match_t;

static ngx_int_t
cond_value(match_t *m, route_cond_t *c, ngx_str_t *v)
{
    for (ngx_uint_t i = 0; i < m->cached; i++) {
        cached_value_t *e = &m->cache[i];
        if (e->is_query != c->is_query || e->name.len != c->name.len)
            continue;
        if (c->is_query
                ? ngx_memcmp(e->name.data, c->name.data, c->name.len)
                : ngx_strncasecmp(e->name.data, c->name.data, c->name.len))
            continue;
        *v = e->value;
        return e->rc;
    }
    ngx_int_t rc = c->is_query ? query_value(m->r, &c->name, v)
                               : header_value(m->r, &c->name, v);
    if (rc != NGX_ERROR && m->cached < GWF_ROUTE_CACHE) {
        cached_value_t *e = &m->cache[m->cached++];
        e->name = c->name;
        e->is_query = c->is_query;
        e->rc = rc;
        e->value = *v;
    }
    return rc;
}

/* Whether every condition of line `rt` holds (its indexed path does). */
static ngx_uint_t
route_holds(match_t *m, route_t *rt)
{
    ngx_http_request_t *r = m->r;
    if (rt->method.len &&
        (r->method_name.len != rt->method.len ||
         ngx_memcmp(r->method_name.data, rt->method.data, rt->method.len) != 0))
        return 0;
    if (rt->path_kind == PATH_REGEX &&
        !ngx_http_gwf_regex_whole(r, rt->path_re, &r->uri))
        return 0;
    route_cond_t *c = rt->conds.elts;
    for (ngx_uint_t i = 0; i < rt->conds.nelts; i++) {
        ngx_str_t v;
        if (cond_value(m, &c[i], &v) != NGX_OK)
            return 0;
        if (c[i].re ? !ngx_http_gwf_regex_whole(r, c[i].re, &v)
                    : v.len != c[i].value.len ||
                          ngx_memcmp(v.data, c[i].value.data, v.len) != 0)
            return 0;
    }
    return 1;
}

/* Lowers *best to the first rank of `ranks` whose line holds, looking
 * only at ranks below *best. */
static void
best_of(match_t *m, ngx_array_t *ranks, ngx_uint_t *best)
{
    ngx_uint_t *rank = ranks->elts;
    route_t *routes = m->t->routes.elts;
    for (ngx_uint_t i = 0; i < ranks->nelts && rank[i] < *best; i++)
        if (route_holds(m, &routes[rank[i]])) {
            *best = rank[i];
            return;
        }
}

/* The rank of the line that serves the request, GWF_ROUTE_NONE or
 * GWF_ROUTE_ERROR. */
static ngx_uint_t
route_match(ngx_http_request_t *r, ngx_http_gwf_routes_t *t)
{
    ngx_uint_t best = GWF_ROUTE_NONE;
    match_t *m = ngx_palloc(r->pool, sizeof *m);
    if (!m)
        return GWF_ROUTE_ERROR;
    m->r = r;
    m->t = t;
    m->cached = 0;
    u_char *uri = r->uri.data;
    size_t len = r->uri.len;
    ngx_uint_t hash = 0;
    /* Longest prefix first: later lookups then stop early more often. The
     * hashes of the '/'-boundary prefixes come from one pass. Only the
     * boundaries no further than the longest indexed prefix can match, so
     * their room is bounded by the configuration, not by the uri (a
     * hostile uri of 100,000 '/' would otherwise cost 16 bytes each). */
    ngx_uint_t *bounds = NULL, nbounds = 0;
    size_t bounded = ngx_min(len, t->prefix.max_len);
    if (t->prefix.entries) {
        bounds = ngx_palloc(r->pool, (bounded + 1) * sizeof(ngx_uint_t) * 2);
        if (!bounds)
            return GWF_ROUTE_ERROR;
    }
    for (size_t i = 0; i < len; i++) {
        if (bounds && i > 0 && i <= bounded && uri[i] == '/') {
            bounds[2 * nbounds] = i;
            bounds[2 * nbounds + 1] = hash;
            nbounds++;
        }
        hash = ngx_hash(hash, uri[i]);
    }
    path_entry_t *e = index_find(&t->exact, uri, len, hash);
    if (e)
        best_of(m, &e->ranks, &best);
    if (bounds) {
        e = index_find(&t->prefix, uri, len, hash);
        if (e)
            best_of(m, &e->ranks, &best);
        while (nbounds--) {
            e = index_find(&t->prefix, uri, bounds[2 * nbounds],
                           bounds[2 * nbounds + 1]);
            if (e)
                best_of(m, &e->ranks, &best);
        }
    }
    best_of(m, &t->scan, &best);
    return best;
}

/* ------------------------------------------------------------------------
 * Dispatch
 * --------------------------------------------------------------------- */

static ngx_http_gwf_route_state_t *route_state(ngx_http_request_t *r);

/* status=CODE: nginx's own answer for error codes, an empty one below. */
static ngx_int_t
route_status(ngx_http_request_t *r, ngx_uint_t status)
{
    if (status >= NGX_HTTP_SPECIAL_RESPONSE)
        return (ngx_int_t)status;
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK)
        return rc;
    r->headers_out.status = status;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;
    return ngx_http_send_header(r);
}

static ngx_int_t
route_dispatch(ngx_http_request_t *r, ngx_http_gwf_routes_t *t)
{
    ngx_uint_t rank = route_match(r, t);
    if (rank == GWF_ROUTE_NONE)
        return NGX_HTTP_NOT_FOUND;
    if (rank == GWF_ROUTE_ERROR)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    route_t *rt = &((route_t *)t->routes.elts)[rank];
    if (rt->status)
        return route_status(r, rt->status);
    if (!rt->total_weight)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    /* Two draws: weights may sum past ngx_random()'s 31 bits. */
    uint64_t pick = (((uint64_t)ngx_random() << 31) | (uint64_t)ngx_random()) %
                    rt->total_weight;
    route_pass_t *ps = rt->passes.elts;
    ngx_uint_t i = 0;
    while (pick >= ps[i].weight) {
        pick -= ps[i].weight;
        i++;
    }
    if (!ps[i].location.len)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    ngx_http_gwf_route_state_t *st = route_state(r);
    if (!st)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    /* The jump counts one URI change (nginx's redirect budget); every
     * later redirect counts one more. */
    st->jumped = 1;
    st->jump_uri_changes = r->uri_changes - 1;
    st->actions_done = NULL; /* a new entry: its actions run again */
    (void)ngx_http_named_location(r, &ps[i].location);
    /* The jump took a reference on the request, given back here as
     * try_files does. */
    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}

/* ------------------------------------------------------------------------
 * Per-request state and the rewrite-phase handler
 * --------------------------------------------------------------------- */

static void
route_state_cleanup(void *data)
{
    ngx_http_gwf_route_state_t *st = data;
    if (st->timeout_ev.timer_set)
        ngx_del_timer(&st->timeout_ev);
}

/* The request's route state, which outlives nginx's clearing of module
 * contexts on a jump: kept as the data of a request pool cleanup (the
 * pool is shared with subrequests, hence the check of r). */
static ngx_http_gwf_route_state_t *
route_state(ngx_http_request_t *r)
{
    for (ngx_pool_cleanup_t *cln = r->pool->cleanup; cln; cln = cln->next)
        if (cln->handler == route_state_cleanup &&
            ((ngx_http_gwf_route_state_t *)cln->data)->r == r)
            return cln->data;
    ngx_pool_cleanup_t *cln =
        ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_gwf_route_state_t));
    if (!cln)
        return NULL;
    ngx_http_gwf_route_state_t *st = cln->data;
    ngx_memzero(st, sizeof *st);
    st->r = r;
    cln->handler = route_state_cleanup;
    return st;
}

static ngx_int_t
ngx_http_gwf_route_handler(ngx_http_request_t *r)
{
    ngx_http_gwf_loc_conf_t *lcf =
        ngx_http_get_module_loc_conf(r, ngx_http_gwf_module);
    if (!lcf->routes && !lcf->actions)
        return NGX_DECLINED;
    ngx_http_gwf_route_state_t *st = route_state(r);
    if (!st)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    /* The location the table jumped to never runs a table (no loops);
     * any later internal redirect (error_page, X-Accel-Redirect) into a
     * location with a table is routed again, never served by whatever
     * nginx would do in that location. */
    ngx_uint_t jumped_here =
        st->jumped && st->jump_uri_changes == r->uri_changes;
    if (lcf->routes && r == r->main && !jumped_here)
        return route_dispatch(r, lcf->routes);
    if (lcf->actions && st->actions_done != lcf->actions) {
        st->actions_done = lcf->actions;
        return ngx_http_gwf_actions_run(r, lcf->actions, st);
    }
    return NGX_DECLINED;
}

ngx_int_t
ngx_http_gwf_route_init(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf =
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h =
        ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (!h)
        return NGX_ERROR;
    *h = ngx_http_gwf_route_handler;
    return ngx_http_gwf_actions_init(cf);
}
