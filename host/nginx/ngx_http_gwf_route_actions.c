/*
 * ngx_http_gwf_route_actions.c - what a route does to the request once
 * it is in its location: the Gateway API filters the translator writes
 * into each named location (one per backendRef).
 *
 *   gwf_request_header set|add|remove NAME [VALUE]
 *   gwf_response_header set|add|remove NAME [VALUE]
 *   gwf_rewrite [host=H] [path=full:P | path=prefix:OLD:NEW]
 *   gwf_redirect [status=N] [scheme=S] [host=H] [port=P] [path=...]
 *   gwf_request_timeout TIME
 *   gwf_sample PERCENT
 *
 * They run in the rewrite phase of their location (called from the route
 * table's handler, route.c), once per entry into it, in the order:
 * sample, request headers, rewrite, redirect, request timeout. Response
 * header operations run in a header filter, on every response the
 * location gives, the upstream's and nginx's own error pages alike.
 *
 * Header operations go through the same message operations the plugin
 * chains use (headers.c), so nginx's own fields (Host, Content-Type,
 * Location...) stay right; only Server and Date, which nginx's header
 * filter adds when its field is empty, need one more step here.
 *
 * The request timeout is one timer per request (in the route state, see
 * route.c) whose pool cleanup deletes it; when it fires before the
 * response header went out, an upstream still reading its header is ended
 * as nginx ends one whose read timed out (504, no further try) and any
 * other request is finalized with 504.
 */
#include "ngx_http_gwf_module.h"

enum { HDR_SET, HDR_ADD, HDR_REMOVE };
enum { REWRITE_NONE, REWRITE_FULL, REWRITE_PREFIX };

typedef struct {
    ngx_uint_t op;
    ngx_str_t name;
    ngx_str_t value;
} hdr_op_t;

typedef struct {
    ngx_uint_t kind;
    ngx_str_t full;     /* REWRITE_FULL */
    ngx_str_t old_path; /* REWRITE_PREFIX: normalised, no trailing '/' */
    ngx_str_t new_path; /* ... without its trailing '/' */
} path_rewrite_t;

struct ngx_http_gwf_actions_s {
    ngx_array_t *req_ops;  /* hdr_op_t */
    ngx_array_t *resp_ops; /* hdr_op_t */
    ngx_uint_t rewrite;    /* gwf_rewrite given */
    ngx_str_t rewrite_host;
    path_rewrite_t rewrite_path;
    ngx_uint_t redirect; /* gwf_redirect given */
    ngx_uint_t redirect_status;
    ngx_str_t redirect_scheme;
    ngx_str_t redirect_host;
    ngx_int_t redirect_port; /* -1: not given */
    path_rewrite_t redirect_path;
    ngx_msec_t timeout; /* 0: none */
    ngx_int_t sample;   /* millionths; -1: not given */
};

static ngx_http_output_header_filter_pt ngx_http_next_header_filter;

static ngx_uint_t
is_digit(u_char c)
{
    return c >= '0' && c <= '9';
}

static ngx_uint_t
is_alpha(u_char c)
{
    c |= 0x20;
    return c >= 'a' && c <= 'z';
}

/* ------------------------------------------------------------------------
 * Configuration
 * --------------------------------------------------------------------- */

static ngx_http_gwf_actions_t *
actions_of(ngx_conf_t *cf, ngx_http_gwf_loc_conf_t *lcf)
{
    if (lcf->actions)
        return lcf->actions;
    ngx_http_gwf_actions_t *a = ngx_pcalloc(cf->pool, sizeof *a);
    if (!a)
        return NULL;
    a->redirect_port = -1;
    a->sample = -1;
    lcf->actions = a;
    return a;
}

/* A header name nginx can send: token characters only. */
static ngx_uint_t
valid_name(ngx_str_t *s)
{
    if (!s->len)
        return 0;
    for (size_t i = 0; i < s->len; i++) {
        u_char c = s->data[i];
        if (c <= 0x20 || c >= 0x7f || ngx_strchr("()<>@,;:\\\"/[]?={}", c))
            return 0;
    }
    return 1;
}

/* A value without bytes that would end or split a header line. */
static ngx_uint_t
valid_value(ngx_str_t *s)
{
    for (size_t i = 0; i < s->len; i++)
        if (s->data[i] == '\r' || s->data[i] == '\n' || s->data[i] == '\0')
            return 0;
    return 1;
}

char *
ngx_http_gwf_header_op(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gwf_actions_t *a = actions_of(cf, conf);
    if (!a)
        return NGX_CONF_ERROR;
    ngx_str_t *args = cf->args->elts;
    ngx_uint_t nargs = cf->args->nelts;
    hdr_op_t op = {0, args[2], {0, NULL}};
    if (ngx_strcmp(args[1].data, "set") == 0 && nargs == 4)
        op.op = HDR_SET;
    else if (ngx_strcmp(args[1].data, "add") == 0 && nargs == 4)
        op.op = HDR_ADD;
    else if (ngx_strcmp(args[1].data, "remove") == 0 && nargs == 3)
        op.op = HDR_REMOVE;
    else
        return "takes \"set NAME VALUE\", \"add NAME VALUE\" or "
               "\"remove NAME\"";
    if (nargs == 4)
        op.value = args[3];
    if (!valid_name(&op.name))
        return "has an invalid header name";
    if (!valid_value(&op.value))
        return "has a header value with CR, LF or NUL";
    ngx_array_t **ops =
        cmd->offset ? &a->resp_ops : &a->req_ops; /* offset 1: response */
    if (!*ops) {
        *ops = ngx_array_create(cf->pool, 4, sizeof(hdr_op_t));
        if (!*ops)
            return NGX_CONF_ERROR;
    }
    hdr_op_t *slot = ngx_array_push(*ops);
    if (!slot)
        return NGX_CONF_ERROR;
    *slot = op;
    return NGX_CONF_OK;
}

static ngx_uint_t
has_prefix(ngx_str_t *s, const char *lit)
{
    size_t n = ngx_strlen(lit);
    return s->len >= n && ngx_strncmp(s->data, lit, n) == 0;
}

static ngx_int_t
valid_path(ngx_str_t *p, ngx_uint_t may_be_empty)
{
    if (!p->len)
        return may_be_empty ? NGX_OK : NGX_ERROR;
    return p->data[0] == '/' && valid_value(p) ? NGX_OK : NGX_ERROR;
}

/* path=full:P or path=prefix:OLD:NEW. OLD ends at the first ':' that is
 * followed by '/' or ends the argument (a path starts with '/'; NEW may be
 * empty, which strips OLD). */
static char *
parse_path_rewrite(ngx_str_t *arg, path_rewrite_t *pr)
{
    ngx_str_t v = {arg->len - 5, arg->data + 5};
    if (pr->kind != REWRITE_NONE)
        return "has more than one path=";
    if (has_prefix(&v, "full:")) {
        pr->full.data = v.data + 5;
        pr->full.len = v.len - 5;
        if (valid_path(&pr->full, 0) != NGX_OK)
            return "has a path=full: that is not a path";
        pr->kind = REWRITE_FULL;
        return NGX_CONF_OK;
    }
    if (!has_prefix(&v, "prefix:"))
        return "takes path=full:PATH or path=prefix:OLD:NEW";
    u_char *p = v.data + 7, *end = v.data + v.len, *sep = NULL;
    for (u_char *q = p; q < end; q++)
        if (*q == ':' && (q + 1 == end || q[1] == '/')) {
            sep = q;
            break;
        }
    if (!sep)
        return "takes path=prefix:OLD:NEW";
    pr->old_path.data = p;
    pr->old_path.len = (size_t)(sep - p);
    pr->new_path.data = sep + 1;
    pr->new_path.len = (size_t)(end - sep - 1);
    if (valid_path(&pr->old_path, 0) != NGX_OK ||
        valid_path(&pr->new_path, 1) != NGX_OK)
        return "has a path=prefix: whose OLD or NEW is not a path";
    /* "/x/" and "/x" are the same prefix; NEW's trailing '/' would make
     * "//" before the rest of the path. */
    if (pr->old_path.len > 1 && pr->old_path.data[pr->old_path.len - 1] == '/')
        pr->old_path.len--;
    if (pr->new_path.len && pr->new_path.data[pr->new_path.len - 1] == '/')
        pr->new_path.len--;
    pr->kind = REWRITE_PREFIX;
    return NGX_CONF_OK;
}

static ngx_uint_t
valid_host(ngx_str_t *h)
{
    if (!h->len)
        return 0;
    for (size_t i = 0; i < h->len; i++) {
        u_char c = h->data[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' ||
            c == '@' || c == '\\')
            return 0;
    }
    return 1;
}

char *
ngx_http_gwf_rewrite(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    ngx_http_gwf_actions_t *a = actions_of(cf, conf);
    if (!a)
        return NGX_CONF_ERROR;
    if (a->rewrite)
        return "is duplicate";
    a->rewrite = 1;
    ngx_str_t *args = cf->args->elts;
    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        ngx_str_t *arg = &args[i];
        if (has_prefix(arg, "host=")) {
            a->rewrite_host.data = arg->data + 5;
            a->rewrite_host.len = arg->len - 5;
            if (!valid_host(&a->rewrite_host))
                return "has an invalid host=";
        } else if (has_prefix(arg, "path=")) {
            char *rv = parse_path_rewrite(arg, &a->rewrite_path);
            if (rv != NGX_CONF_OK)
                return rv;
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "gwf_rewrite: unknown argument \"%V\"", arg);
            return NGX_CONF_ERROR;
        }
    }
    return NGX_CONF_OK;
}

char *
ngx_http_gwf_redirect(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    ngx_http_gwf_actions_t *a = actions_of(cf, conf);
    if (!a)
        return NGX_CONF_ERROR;
    if (a->redirect)
        return "is duplicate";
    a->redirect = 1;
    a->redirect_status = NGX_HTTP_MOVED_TEMPORARILY;
    ngx_str_t *args = cf->args->elts;
    for (ngx_uint_t i = 1; i < cf->args->nelts; i++) {
        ngx_str_t *arg = &args[i];
        if (has_prefix(arg, "status=")) {
            ngx_int_t n = ngx_atoi(arg->data + 7, arg->len - 7);
            if (n != 301 && n != 302 && n != 303 && n != 307 && n != 308)
                return "takes status=301, 302, 303, 307 or 308";
            a->redirect_status = (ngx_uint_t)n;
        } else if (has_prefix(arg, "scheme=")) {
            a->redirect_scheme.data = arg->data + 7;
            a->redirect_scheme.len = arg->len - 7;
            ngx_str_t *s = &a->redirect_scheme;
            if (!s->len)
                return "has an empty scheme=";
            for (size_t k = 0; k < s->len; k++)
                if (!is_digit(s->data[k]) && !is_alpha(s->data[k]) &&
                    s->data[k] != '+' && s->data[k] != '-' && s->data[k] != '.')
                    return "has an invalid scheme=";
        } else if (has_prefix(arg, "host=")) {
            a->redirect_host.data = arg->data + 5;
            a->redirect_host.len = arg->len - 5;
            if (!valid_host(&a->redirect_host))
                return "has an invalid host=";
        } else if (has_prefix(arg, "port=")) {
            ngx_int_t n = ngx_atoi(arg->data + 5, arg->len - 5);
            if (n < 1 || n > 65535)
                return "takes port=1..65535";
            a->redirect_port = n;
        } else if (has_prefix(arg, "path=")) {
            char *rv = parse_path_rewrite(arg, &a->redirect_path);
            if (rv != NGX_CONF_OK)
                return rv;
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "gwf_redirect: unknown argument \"%V\"", arg);
            return NGX_CONF_ERROR;
        }
    }
    return NGX_CONF_OK;
}

char *
ngx_http_gwf_request_timeout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    ngx_http_gwf_actions_t *a = actions_of(cf, conf);
    if (!a)
        return NGX_CONF_ERROR;
    if (a->timeout)
        return "is duplicate";
    ngx_str_t *args = cf->args->elts;
    ngx_msec_t ms = ngx_parse_time(&args[1], 0);
    if (ms == (ngx_msec_t)NGX_ERROR || ms == 0)
        return "takes a time over 0 (e.g. 500ms, 10s)";
    a->timeout = ms;
    return NGX_CONF_OK;
}

/* PERCENT, 0 to 100 with decimals, as a probability in millionths
 * (PERCENT * 10000): four decimals count, later ones are ignored. */
char *
ngx_http_gwf_sample(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    (void)cmd;
    ngx_http_gwf_actions_t *a = actions_of(cf, conf);
    if (!a)
        return NGX_CONF_ERROR;
    if (a->sample >= 0)
        return "is duplicate";
    ngx_str_t *v = &((ngx_str_t *)cf->args->elts)[1];
    ngx_int_t whole = 0, frac = 0, digits = 0, scale = 1000;
    size_t i = 0;
    for (; i < v->len && is_digit(v->data[i]) && whole <= 100; i++, digits++)
        whole = whole * 10 + (v->data[i] - '0');
    if (i < v->len && v->data[i] == '.') {
        for (i++; i < v->len && is_digit(v->data[i]); i++) {
            frac += (v->data[i] - '0') * scale;
            scale /= 10;
        }
    }
    ngx_int_t millionths = whole * 10000 + frac;
    if (!digits || i != v->len || millionths > 1000000)
        return "takes a percentage from 0 to 100";
    a->sample = millionths;
    return NGX_CONF_OK;
}

/* ------------------------------------------------------------------------
 * Header operations
 * --------------------------------------------------------------------- */

static ngx_uint_t
name_is(ngx_str_t *name, const char *lit)
{
    size_t n = ngx_strlen(lit);
    return name->len == n && ngx_strncasecmp(name->data, (u_char *)lit, n) == 0;
}

/* nginx's header filters write their own Server and Date when the field
 * is empty: an element they skip (hash 0) marks it as the location's. */
static ngx_int_t
hide_generated(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_table_elt_t **field = name_is(name, "server") ? &r->headers_out.server
                              : name_is(name, "date") ? &r->headers_out.date
                                                      : NULL;
    if (!field || *field)
        return NGX_OK;
    ngx_table_elt_t *h = ngx_pcalloc(r->pool, sizeof *h);
    if (!h)
        return NGX_ERROR;
    *field = h;
    return NGX_OK;
}

static ngx_int_t
apply_ops(ngx_http_request_t *r, ngx_array_t *ops, ngx_uint_t is_response,
          ngx_uint_t *host_touched)
{
    ngx_http_gwf_msg_t m;
    ngx_memzero(&m, sizeof m);
    m.r = r;
    m.is_response = is_response;
    /* A new epoch before and after: our index is fresh, and any other
     * (a chain's) is rebuilt on its next use. */
    gwf_ngx_new_epoch();
    hdr_op_t *op = ops->elts;
    ngx_int_t rc = NGX_OK;
    for (ngx_uint_t i = 0; i < ops->nelts && rc == NGX_OK; i++) {
        const char *name = (const char *)op[i].name.data;
        const char *value = (const char *)op[i].value.data;
        gwf_status st;
        if (op[i].op == HDR_SET)
            st = gwf_ngx_message_ops.set(&m, name, op[i].name.len,
                                         value ? value : "", op[i].value.len);
        else if (op[i].op == HDR_ADD)
            st = gwf_ngx_message_ops.add(&m, name, op[i].name.len,
                                         value ? value : "", op[i].value.len);
        else
            st = gwf_ngx_message_ops.remove(&m, name, op[i].name.len);
        if (st != GWF_OK)
            rc = NGX_ERROR;
        else if (is_response && op[i].op != HDR_ADD)
            rc = hide_generated(r, &op[i].name);
        else if (!is_response && name_is(&op[i].name, "host"))
            *host_touched = 1;
    }
    /* The proxy modules forward removed (marked) request headers. */
    if (rc == NGX_OK && !is_response)
        rc = ngx_http_gwf_hdr_compact_request(&m);
    gwf_ngx_new_epoch();
    return rc;
}

/* A subrequest (a mirror) starts with a copy of its parent's headers_in
 * that shares the parent's header list: a line added to it would land in
 * the parent's list part and never reach the subrequest's own upstream,
 * and a line removed from it would be removed from the parent too (its
 * $http_*, its error_page routing). Before its first header operation a
 * subrequest gets a list of its own, and arrays of its own for the
 * multi-line fields; the values themselves are never written in place. */
static ngx_int_t
own_request_headers(ngx_http_request_t *r)
{
    ngx_uint_t n = 0;
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part;
         part = part->next)
        n += part->nelts;
    /* Built in place: a list copied by value would keep its last part in
     * this frame. The parent's parts stay as they are. */
    ngx_list_part_t old = r->headers_in.headers.part;
    ngx_list_t *list = &r->headers_in.headers;
    if (ngx_list_init(list, r->pool, n ? n : 1, sizeof(ngx_table_elt_t)) !=
        NGX_OK)
        return NGX_ERROR;
    for (ngx_list_part_t *part = &old; part; part = part->next) {
        ngx_table_elt_t *h = part->elts;
        for (ngx_uint_t i = 0; i < part->nelts; i++) {
            if (!h[i].hash)
                continue;
            ngx_table_elt_t *copy = ngx_list_push(list);
            if (!copy)
                return NGX_ERROR;
            *copy = h[i];
        }
    }
    ngx_array_t *arrays[] = {
        &r->headers_in.cookies,
#if (NGX_HTTP_X_FORWARDED_FOR)
        &r->headers_in.x_forwarded_for,
#endif
    };
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
        ngx_array_t *a = arrays[k];
        if (!a->nelts) {
            ngx_memzero(a, sizeof *a); /* initialised on first use */
            continue;
        }
        void *elts = ngx_palloc(r->pool, a->nelts * a->size);
        if (!elts)
            return NGX_ERROR;
        ngx_memcpy(elts, a->elts, a->nelts * a->size);
        a->elts = elts;
        a->nalloc = a->nelts;
        a->pool = r->pool;
    }
    return NGX_OK;
}

static ngx_int_t
ngx_http_gwf_actions_header_filter(ngx_http_request_t *r)
{
    ngx_http_gwf_loc_conf_t *lcf =
        ngx_http_get_module_loc_conf(r, ngx_http_gwf_module);
    ngx_uint_t unused = 0;
    if (lcf->actions && lcf->actions->resp_ops &&
        apply_ops(r, lcf->actions->resp_ops, 1, &unused) != NGX_OK)
        return NGX_ERROR;
    return ngx_http_next_header_filter(r);
}

/* ------------------------------------------------------------------------
 * Paths
 * --------------------------------------------------------------------- */

/* The path `pr` makes of `uri`, in r's pool; *out = *uri when the rewrite
 * does not apply (a prefix OLD that does not match the uri). */
static ngx_int_t
rewrite_path(ngx_http_request_t *r, path_rewrite_t *pr, ngx_str_t *uri,
             ngx_str_t *out)
{
    *out = *uri;
    if (pr->kind == REWRITE_FULL) {
        *out = pr->full;
        return NGX_OK;
    }
    if (pr->kind != REWRITE_PREFIX)
        return NGX_OK;
    ngx_str_t *old = &pr->old_path;
    size_t keep = 0; /* bytes of uri OLD matched */
    if (old->len == 1) {
        keep = 0; /* "/": every path; the rest keeps its '/' */
    } else if (uri->len >= old->len &&
               ngx_memcmp(uri->data, old->data, old->len) == 0 &&
               (uri->len == old->len || uri->data[old->len] == '/')) {
        keep = old->len;
    } else {
        return NGX_OK;
    }
    size_t rest = uri->len - keep;
    size_t len = pr->new_path.len + rest;
    u_char *p = ngx_pnalloc(r->pool, len + 1);
    if (!p)
        return NGX_ERROR;
    out->data = p;
    p = ngx_cpymem(p, pr->new_path.data, pr->new_path.len);
    p = ngx_cpymem(p, uri->data + keep, rest);
    if (p == out->data)
        *p++ = '/';
    out->len = (size_t)(p - out->data);
    return NGX_OK;
}

/* ------------------------------------------------------------------------
 * Rewrite and redirect
 * --------------------------------------------------------------------- */

/* Splits an authority "host[:port]" ("[v6]:port" too) at the first ':'
 * after the host, as nginx's ngx_http_validate_host does. *port: the
 * port, or -1 when there is none or it is not 1..65535. */
static void
split_authority(u_char *p, u_char *end, ngx_str_t *host, ngx_int_t *port)
{
    u_char *q = p;
    if (p < end && *p == '[') {
        q = ngx_strlchr(p, end, ']');
        if (!q)
            q = end;
    }
    u_char *colon = ngx_strlchr(q, end, ':');
    host->data = p;
    host->len = (size_t)((colon ? colon : end) - p);
    *port = -1;
    if (colon && colon + 1 < end) {
        ngx_int_t n = ngx_atoi(colon + 1, (size_t)(end - colon - 1));
        if (n >= 1 && n <= 65535)
            *port = n;
    }
}

/* nginx keeps r->headers_in.server ($host, and gwf_redirect's default
 * host) as the Host header's host: lowercase, without its port or a
 * trailing dot. The message operations store the raw value there, so a
 * Host set with a port ("New.Example:8080") would come back from $host
 * and in a redirect with that port, then a second one. */
static ngx_int_t
sync_server(ngx_http_request_t *r)
{
    ngx_table_elt_t *h = r->headers_in.host;
    if (!h) {
        ngx_str_null(&r->headers_in.server);
        return NGX_OK;
    }
    ngx_str_t host;
    ngx_int_t port;
    split_authority(h->value.data, h->value.data + h->value.len, &host, &port);
    if (host.len > 1 && host.data[host.len - 1] == '.')
        host.len--;
    u_char *low = ngx_pnalloc(r->pool, host.len ? host.len : 1);
    if (!low)
        return NGX_ERROR;
    ngx_strlow(low, host.data, host.len);
    r->headers_in.server.data = low;
    r->headers_in.server.len = host.len;
    return NGX_OK;
}

static ngx_int_t
set_host(ngx_http_request_t *r, ngx_str_t *host)
{
    ngx_http_gwf_msg_t m;
    ngx_memzero(&m, sizeof m);
    m.r = r;
    gwf_ngx_new_epoch();
    gwf_status st =
        ngx_http_gwf_req_set(&m, "host", 4, (char *)host->data, host->len);
    ngx_int_t rc =
        st == GWF_OK ? ngx_http_gwf_hdr_compact_request(&m) : NGX_ERROR;
    gwf_ngx_new_epoch();
    return rc == NGX_OK ? sync_server(r) : rc;
}

static ngx_int_t
run_rewrite(ngx_http_request_t *r, ngx_http_gwf_actions_t *a)
{
    if (a->rewrite_host.len && set_host(r, &a->rewrite_host) != NGX_OK)
        return NGX_ERROR;
    if (a->rewrite_path.kind == REWRITE_NONE)
        return NGX_OK;
    ngx_str_t uri;
    if (rewrite_path(r, &a->rewrite_path, &r->uri, &uri) != NGX_OK)
        return NGX_ERROR;
    r->uri = uri;
    /* proxy_pass without a URI part sends r->uri (escaped again) and
     * r->args instead of the request line as received. */
    r->valid_unparsed_uri = 0;
    r->quoted_uri = 1;
    return NGX_OK;
}

static ngx_uint_t
scheme_port(ngx_str_t *scheme)
{
    if (scheme->len == 5 &&
        ngx_strncasecmp(scheme->data, (u_char *)"https", 5) == 0)
        return 443;
    if (scheme->len == 4 &&
        ngx_strncasecmp(scheme->data, (u_char *)"http", 4) == 0)
        return 80;
    return 0;
}

/* The port the request named: in its request line when that is in
 * absolute form (nginx's host then comes from there too, and the Host
 * header is ignored) unless a route action set Host since, else in its
 * Host header; -1: none. */
static ngx_int_t
request_port(ngx_http_request_t *r, ngx_http_gwf_route_state_t *st)
{
    ngx_str_t host;
    ngx_int_t port = -1;
    if (r->host_start && r->host_end && !st->host_set) {
        /* "http://host:port/..." : the port's digits follow host_end. */
        u_char *p = r->host_end;
        if (*p != ':')
            return -1;
        size_t n = 0;
        while (n < 6 && is_digit(p[1 + n]))
            n++;
        split_authority(p, p + 1 + n, &host, &port);
        return port;
    }
    ngx_table_elt_t *h = r->headers_in.host;
    if (!h)
        return -1;
    split_authority(h->value.data, h->value.data + h->value.len, &host, &port);
    return port;
}

/* Bytes of the query string that cannot be sent as they are in a header
 * value (controls, space, non-ASCII): written %XX. */
static ngx_uint_t
args_escape(u_char c)
{
    return c <= 0x20 || c >= 0x7f;
}

static ngx_int_t
run_redirect(ngx_http_request_t *r, ngx_http_gwf_actions_t *a,
             ngx_http_gwf_route_state_t *st)
{
    ngx_str_t scheme = a->redirect_scheme;
    if (!scheme.len) {
        /* ngx_str_set is two statements: braces below. */
        ngx_str_set(&scheme, "http");
#if (NGX_HTTP_SSL)
        if (r->connection->ssl) {
            ngx_str_set(&scheme, "https");
        }
#endif
    }
    ngx_str_t host = a->redirect_host;
    if (!host.len) {
        host = r->headers_in.server;
        if (!host.len) {
            ngx_http_core_srv_conf_t *cscf =
                ngx_http_get_module_srv_conf(r, ngx_http_core_module);
            host = cscf->server_name;
        }
    }
    ngx_int_t port = a->redirect_port;
    if (port < 0 && !a->redirect_scheme.len)
        port = request_port(r, st);
    if (port > 0 && (ngx_uint_t)port == scheme_port(&scheme))
        port = -1;
    ngx_str_t path;
    if (rewrite_path(r, &a->redirect_path, &r->uri, &path) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    size_t path_escapes =
        (size_t)ngx_escape_uri(NULL, path.data, path.len, NGX_ESCAPE_URI);
    size_t args_escapes = 0;
    for (size_t i = 0; i < r->args.len; i++)
        args_escapes += args_escape(r->args.data[i]);
    /* Every part is bounded by the request's or the configuration's size;
     * the sum cannot wrap. */
    size_t len = scheme.len + sizeof("://") - 1 + host.len + 1 + NGX_INT_T_LEN +
                 path.len + 2 * path_escapes + 1 + r->args.len +
                 2 * args_escapes;
    u_char *loc = ngx_pnalloc(r->pool, len);
    if (!loc)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    u_char *p = ngx_cpymem(loc, scheme.data, scheme.len);
    p = ngx_cpymem(p, "://", 3);
    p = ngx_cpymem(p, host.data, host.len);
    if (port > 0)
        p = ngx_sprintf(p, ":%i", port);
    p = (u_char *)ngx_escape_uri(p, path.data, path.len, NGX_ESCAPE_URI);
    if (r->args.len) {
        static const u_char hex[] = "0123456789ABCDEF";
        *p++ = '?';
        for (size_t i = 0; i < r->args.len; i++) {
            u_char c = r->args.data[i];
            if (args_escape(c)) {
                *p++ = '%';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0xf];
            } else {
                *p++ = c;
            }
        }
    }

    ngx_http_clear_location(r);
    ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
    if (!h)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value.data = loc;
    h->value.len = (size_t)(p - loc);
    h->lowcase_key = (u_char *)"location";
    r->headers_out.location = h;
    return (ngx_int_t)a->redirect_status;
}

/* ------------------------------------------------------------------------
 * Request timeout
 * --------------------------------------------------------------------- */

/* Whether a chain holds the request side (a plugin paused it, or it
 * reads the body first): its own deadline (gwf_max_pause) applies. */
static ngx_uint_t
chain_holds_request(ngx_http_request_t *r)
{
    ngx_http_gwf_ctx_t *ctx = ngx_http_get_module_ctx(r, ngx_http_gwf_module);
    return ctx && ctx->st && !ctx->request_done;
}

#define GWF_TIMEOUT_RETRY                                                      \
    10 /* ms between looks at a request not yet safe                           \
          to end (see request_timed_out) */

static void
request_timed_out(ngx_event_t *ev)
{
    ngx_http_gwf_route_state_t *st = ev->data;
    ngx_http_request_t *r = st->r;
    ngx_connection_t *c = r->connection;
    ngx_http_upstream_t *u = r->upstream;
    if (r->header_sent || c->error || (u && u->header_sent))
        return;
    ngx_http_set_log_request(c->log, r);
    if (u && u->peer.connection) {
        /* As if the upstream's read timed out, with this the last try:
         * nginx ends the upstream and answers 504 itself. */
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "gwf: gwf_request_timeout %M ms expired", st->timeout);
        ngx_connection_t *pc = u->peer.connection;
        u->peer.tries = 1;
        pc->read->timedout = 1;
        /* While TLS to the upstream is being negotiated, nginx's handshake
         * handler counts only a write timeout as a timeout (any other end
         * is a 502). */
        pc->write->timedout = 1;
        pc->read->handler(pc->read);
    } else if (u || r->reading_body || chain_holds_request(r)) {
        /* Between two states nginx would not expect to be ended in (the
         * body still being read for the upstream, a name being resolved,
         * a plugin holding the request): look again shortly; the upstream
         * then times out at once. */
        ngx_add_timer(ev, GWF_TIMEOUT_RETRY);
        return;
    } else {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "gwf: gwf_request_timeout %M ms expired", st->timeout);
        if (r == r->main && c->write->delayed) {
            /* limit_req holds the request back with a delayed write
             * event and its timer. nginx's finalize deletes that timer
             * but leaves the flag, and its writer then waits for a
             * wake-up that never comes: the 504 would never go out and
             * the connection would hang with no timer at all. No
             * response has been written yet, so nothing is rate-limited. */
            c->write->delayed = 0;
        }
        ngx_http_finalize_request(r, NGX_HTTP_GATEWAY_TIME_OUT);
    }
    ngx_http_run_posted_requests(c);
}

static void
arm_timeout(ngx_http_request_t *r, ngx_http_gwf_route_state_t *st,
            ngx_msec_t ms)
{
    st->timeout = ms;
    st->timeout_ev.handler = request_timed_out;
    st->timeout_ev.data = st;
    st->timeout_ev.log = r->connection->log;
    ngx_add_timer(&st->timeout_ev, ms);
}

/* ------------------------------------------------------------------------
 * The location's actions, in the rewrite phase
 * --------------------------------------------------------------------- */

ngx_int_t
ngx_http_gwf_actions_run(ngx_http_request_t *r, ngx_http_gwf_actions_t *a,
                         ngx_http_gwf_route_state_t *st)
{
    if (a->sample >= 0 && (ngx_int_t)(ngx_random() % 1000000) >= a->sample)
        return NGX_HTTP_NO_CONTENT;
    ngx_uint_t host_touched = 0;
    if (r != r->main && !st->own_headers &&
        (a->req_ops || (a->rewrite && a->rewrite_host.len))) {
        if (own_request_headers(r) != NGX_OK)
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        st->own_headers = 1;
    }
    if (a->req_ops && (apply_ops(r, a->req_ops, 0, &host_touched) != NGX_OK ||
                       (host_touched && sync_server(r) != NGX_OK)))
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (a->rewrite && run_rewrite(r, a) != NGX_OK)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    if (host_touched || (a->rewrite && a->rewrite_host.len))
        st->host_set = 1;
    if (a->redirect)
        return run_redirect(r, a, st);
    if (a->timeout)
        arm_timeout(r, st, a->timeout);
    return NGX_DECLINED;
}

ngx_int_t
ngx_http_gwf_actions_init(ngx_conf_t *cf)
{
    (void)cf;
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gwf_actions_header_filter;
    return NGX_OK;
}
