/*
 * cel_check.c - typing the parsed AST and binding it to what gwf knows.
 *
 * Run once per expression at config load, it:
 *  - bounds the tree's depth (CEL_MAX_DEPTH), which bounds the
 *    evaluator's recursion;
 *  - binds Envoy's attribute names (request.*, source.*, destination.*,
 *    metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload'])
 *    to CEL_N_ATTR nodes; any other identifier is an error naming it;
 *  - binds function names and arities (size, startsWith, endsWith,
 *    contains, matches, int, uint, double, string, bytes, bool, type,
 *    dyn, timestamp, duration and the time accessors); any other
 *    function is an error naming it;
 *  - turns the macros all, exists, exists_one, map and filter into
 *    comprehension nodes and binds their variables (CEL_N_VAR, by
 *    nesting level), and the type names (int, string, ...,
 *    google.protobuf.Timestamp) into type literals;
 *  - folds a list or map literal of constants into one value, so that
 *    `x in ['a', 'b']` reads it without building it per request;
 *  - reads a time accessor's literal time zone ("+05:30", "UTC"), and
 *    refuses an IANA name (gwf has no tz database);
 *  - compiles a matches() pattern, which must be a string literal, with
 *    PCRE2;
 *  - computes each node's static type where it is known and refuses an
 *    operator or function applied to types it has no overload for
 *    (CEL_DYN, a JWT claim say, is checked when evaluated);
 *  - allows the request's maps (headers, the JWT payload) only where
 *    they are read by key: m[k], m.k, has(m.k), k in m.
 * Every error carries the offset of the node at fault.
 */
#include "cel.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct checker {
    const char *src;
    size_t len;
    cel_error *err;
    int failed;
    int check_types;                /* 0: type errors are left to evaluation */
    const char *vars[CEL_MAX_VARS]; /* comprehension variables in scope */
    int nvars;
} checker;

static void
fail(checker *c, const cel_node *n, const char *fmt, const char *a)
{
    if (c->failed)
        return;
    c->failed = 1;
    cel_fail(c->err, c->src, c->len, n->offset, fmt, a ? a : "");
}

/* A type error: a config error when types are checked (always, for the
 * rbac plugin), else left to evaluation (CEL's disable_check, for the
 * conformance cases that ask for it). */
static void
type_fail(checker *c, const cel_node *n, const char *fmt, const char *a)
{
    if (c->check_types)
        fail(c, n, fmt, a);
}

const char *
cel_type_name(cel_kind k)
{
    static const char *const names[] = {"dyn",
                                        "null_type",
                                        "bool",
                                        "int",
                                        "uint",
                                        "double",
                                        "string",
                                        "bytes",
                                        "list",
                                        "map",
                                        "google.protobuf.Timestamp",
                                        "google.protobuf.Duration",
                                        "type",
                                        "error"};
    return (unsigned)k <= CEL_ERROR ? names[k] : "?";
}

void
cel_regex_free(void *re)
{
    pcre2_code_free(re);
}

static int
is_special_map(const cel_node *n)
{
    return n->type == CEL_MAP && n->map_src != CEL_MAP_LITERAL;
}

static size_t
depth(const cel_node *n)
{
    size_t d = 0;
    for (size_t i = 0; i < n->nargs; i++) {
        size_t k = depth(n->args[i]);
        if (k > d)
            d = k;
    }
    return d + 1;
}

/* request.x / source.x / destination.x */
static const struct {
    const char *obj, *field;
    cel_attr attr;
    cel_kind type;
} attrs[] = {
    {"request", "path", CEL_ATTR_PATH, CEL_STRING},
    {"request", "url_path", CEL_ATTR_URL_PATH, CEL_STRING},
    {"request", "host", CEL_ATTR_HOST, CEL_STRING},
    {"request", "scheme", CEL_ATTR_SCHEME, CEL_STRING},
    {"request", "method", CEL_ATTR_METHOD, CEL_STRING},
    {"request", "headers", CEL_ATTR_HEADERS, CEL_MAP},
    {"request", "referer", CEL_ATTR_REFERER, CEL_STRING},
    {"request", "useragent", CEL_ATTR_USERAGENT, CEL_STRING},
    {"request", "protocol", CEL_ATTR_PROTOCOL, CEL_STRING},
    {"request", "query", CEL_ATTR_QUERY, CEL_STRING},
    {"source", "address", CEL_ATTR_SOURCE_ADDRESS, CEL_STRING},
    {"source", "port", CEL_ATTR_SOURCE_PORT, CEL_INT},
    {"destination", "address", CEL_ATTR_DEST_ADDRESS, CEL_STRING},
    {"destination", "port", CEL_ATTR_DEST_PORT, CEL_INT},
    {"metadata", "filter_metadata", CEL_ATTR_FILTER_META, CEL_MAP},
    {"request", "time", CEL_ATTR_TIME, CEL_TIMESTAMP},
};

static void
bind_attribute(checker *c, cel_node *n)
{
    const cel_node *obj = n->args[0];

    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        if (strcmp(obj->text, attrs[i].obj) == 0 &&
            strcmp(n->text, attrs[i].field) == 0) {
            uint32_t at = obj->offset;
            cel_node_free(n->args[0]);
            free(n->args);
            n->args = NULL;
            n->nargs = 0;
            n->op = CEL_N_ATTR;
            n->attr = attrs[i].attr;
            n->type = attrs[i].type;
            n->map_src = attrs[i].attr == CEL_ATTR_HEADERS ? CEL_MAP_HEADERS
                         : attrs[i].attr == CEL_ATTR_FILTER_META
                             ? CEL_MAP_FILTER_META
                             : 0;
            n->offset = at; /* the attribute's first character */
            return;
        }
    }
    char what[160];
    snprintf(what, sizeof(what), "%.60s.%.60s", obj->text, n->text);
    fail(c, obj,
         "attribute '%s' is not one gwf provides (request.path, url_path, "
         "host, scheme, method, headers, referer, useragent, protocol, "
         "query, time; source.address, source.port; destination.address, "
         "destination.port; metadata.filter_metadata)",
         what);
}

/* A special map read with key node `key` (NULL for a field name `name`):
 * the static type of the result, and its map source. */
static void
special_lookup(checker *c, cel_node *n, const cel_node *map,
               const cel_node *key, const char *name, size_t name_len)
{
    const char *k = name;
    size_t klen = name_len;

    if (key && key->op == CEL_N_LIT && key->lit.kind == CEL_STRING) {
        k = key->lit.v.s.ptr;
        klen = key->lit.v.s.len;
    } else if (key && key->type != CEL_DYN && key->type != CEL_STRING) {
        type_fail(c, key, "the keys of this map are strings, found %s",
                  cel_type_name(key->type));
        return;
    }
    switch (map->map_src) {
    case CEL_MAP_HEADERS:
        /* Any case: Envoy looks a name up lower-cased, as header_get
         * matches names. */
        n->type = CEL_STRING;
        return;
    case CEL_MAP_FILTER_META:
        if (!k || klen != 28 ||
            memcmp(k, "envoy.filters.http.jwt_authn", 28) != 0) {
            fail(c, key ? key : n,
                 "metadata.filter_metadata: gwf provides only "
                 "['envoy.filters.http.jwt_authn'] (the jwtAuth "
                 "claims)%s",
                 "");
            return;
        }
        n->type = CEL_MAP;
        n->map_src = CEL_MAP_JWT_AUTHN;
        return;
    case CEL_MAP_JWT_AUTHN:
        if (!k || klen != 7 || memcmp(k, "payload", 7) != 0) {
            fail(c, key ? key : n,
                 "filter_metadata['envoy.filters.http.jwt_authn']: gwf "
                 "provides only ['payload'] (the JWT's claims)%s",
                 "");
            return;
        }
        n->type = CEL_MAP;
        n->map_src = CEL_MAP_JWT_PAYLOAD;
        return;
    default:
        n->type = CEL_DYN; /* a claim: string, number, bool, null */
        return;
    }
}

static int
numeric(cel_kind k)
{
    return k == CEL_INT || k == CEL_UINT || k == CEL_DOUBLE;
}

static void check_node(checker *c, cel_node *n);

static void
no_overload(checker *c, const cel_node *n, const char *op, cel_kind a,
            cel_kind b)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "'%s' applied to (%s, %s)", op, cel_type_name(a),
             cel_type_name(b));
    type_fail(c, n, "no matching overload for %s", msg);
}

static const char *
bin_name(cel_fn f)
{
    static const char *const names[] = {
        "", "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "in"};
    return f <= CEL_F_IN ? names[f] : "?";
}

static void
check_bin(checker *c, cel_node *n)
{
    cel_node *l = n->args[0], *r = n->args[1];
    cel_kind a = l->type, b = r->type;
    int known = a != CEL_DYN && b != CEL_DYN;

    if (n->fn == CEL_F_IN) {
        if (is_special_map(l)) {
            fail(c, l,
                 "this request map can only be read by key (m[k], m.k, "
                 "has(m.k), k in m)%s",
                 "");
            return;
        }
        if (b != CEL_DYN && b != CEL_LIST && b != CEL_MAP)
            no_overload(c, n, "in", a, b);
        if (is_special_map(r) && r->map_src != CEL_MAP_HEADERS &&
            r->map_src != CEL_MAP_JWT_PAYLOAD)
            fail(c, r, "'in' on this map is not supported%s", "");
        if (is_special_map(r) && a != CEL_DYN && a != CEL_STRING)
            no_overload(c, n, "in", a, b);
        n->type = CEL_BOOL;
        return;
    }
    if (is_special_map(l) || is_special_map(r)) {
        fail(c, is_special_map(l) ? l : r,
             "this request map can only be read by key (m[k], m.k, "
             "has(m.k), k in m)%s",
             "");
        return;
    }
    switch (n->fn) {
    case CEL_F_EQ:
    case CEL_F_NE:
        n->type = CEL_BOOL; /* any two values compare (unequal kinds: false) */
        return;
    case CEL_F_LT:
    case CEL_F_LE:
    case CEL_F_GT:
    case CEL_F_GE:
        n->type = CEL_BOOL;
        if (known && !(numeric(a) && numeric(b)) &&
            !(a == b && (a == CEL_STRING || a == CEL_BYTES || a == CEL_BOOL ||
                         a == CEL_TIMESTAMP || a == CEL_DURATION)))
            no_overload(c, n, bin_name(n->fn), a, b);
        return;
    default:
        if (known) {
            int ok = a == b && numeric(a);
            cel_kind t = a;
            if (n->fn == CEL_F_ADD && a == b &&
                (a == CEL_STRING || a == CEL_BYTES || a == CEL_LIST ||
                 a == CEL_DURATION))
                ok = 1;
            if (n->fn == CEL_F_ADD &&
                ((a == CEL_TIMESTAMP && b == CEL_DURATION) ||
                 (a == CEL_DURATION && b == CEL_TIMESTAMP))) {
                ok = 1;
                t = CEL_TIMESTAMP;
            }
            if (n->fn == CEL_F_SUB && b == CEL_DURATION &&
                (a == CEL_TIMESTAMP || a == CEL_DURATION))
                ok = 1;
            if (n->fn == CEL_F_SUB && a == CEL_TIMESTAMP &&
                b == CEL_TIMESTAMP) {
                ok = 1;
                t = CEL_DURATION;
            }
            if (n->fn == CEL_F_MOD && a == CEL_DOUBLE)
                ok = 0;
            if (!ok)
                no_overload(c, n, bin_name(n->fn), a, b);
            n->type = t;
        } else {
            n->type = n->fn == CEL_F_ADD && (a == CEL_LIST || b == CEL_LIST)
                          ? CEL_LIST
                          : CEL_DYN;
        }
        return;
    }
}

static const struct {
    const char *name;
    cel_fn fn;
    int member;  /* 1: target.f(args), 0: f(args), 2: either */
    size_t args; /* not counting the target */
    cel_kind result;
} functions[] = {
    {"size", CEL_F_SIZE, 2, 0, CEL_INT},
    {"startsWith", CEL_F_STARTS, 1, 1, CEL_BOOL},
    {"endsWith", CEL_F_ENDS, 1, 1, CEL_BOOL},
    {"contains", CEL_F_CONTAINS, 1, 1, CEL_BOOL},
    {"matches", CEL_F_MATCHES, 2, 1, CEL_BOOL},
    {"int", CEL_F_INT, 0, 1, CEL_INT},
    {"uint", CEL_F_UINT, 0, 1, CEL_UINT},
    {"double", CEL_F_DOUBLE, 0, 1, CEL_DOUBLE},
    {"string", CEL_F_STRING, 0, 1, CEL_STRING},
    {"bytes", CEL_F_BYTES, 0, 1, CEL_BYTES},
    {"bool", CEL_F_BOOL, 0, 1, CEL_BOOL},
    {"type", CEL_F_TYPE, 0, 1, CEL_TYPE},
    {"dyn", CEL_F_DYN, 0, 1, CEL_DYN},
    {"timestamp", CEL_F_TIMESTAMP, 0, 1, CEL_TIMESTAMP},
    {"duration", CEL_F_DURATION, 0, 1, CEL_DURATION},
    /* accessors: an optional time zone argument (accessor()) */
    {"getFullYear", CEL_F_GET_FULL_YEAR, 1, 0, CEL_INT},
    {"getMonth", CEL_F_GET_MONTH, 1, 0, CEL_INT},
    {"getDate", CEL_F_GET_DATE, 1, 0, CEL_INT},
    {"getDayOfMonth", CEL_F_GET_DAY_OF_MONTH, 1, 0, CEL_INT},
    {"getDayOfWeek", CEL_F_GET_DAY_OF_WEEK, 1, 0, CEL_INT},
    {"getDayOfYear", CEL_F_GET_DAY_OF_YEAR, 1, 0, CEL_INT},
    {"getHours", CEL_F_GET_HOURS, 1, 0, CEL_INT},
    {"getMinutes", CEL_F_GET_MINUTES, 1, 0, CEL_INT},
    {"getSeconds", CEL_F_GET_SECONDS, 1, 0, CEL_INT},
    {"getMilliseconds", CEL_F_GET_MILLISECONDS, 1, 0, CEL_INT},
};

static int
accessor(cel_fn f)
{
    return f >= CEL_F_GET_FULL_YEAR && f <= CEL_F_GET_MILLISECONDS;
}

/* getHours, getMinutes, getSeconds and getMilliseconds also read
 * durations (without a time zone). */
static int
duration_accessor(cel_fn f)
{
    return f >= CEL_F_GET_HOURS && f <= CEL_F_GET_MILLISECONDS;
}

static void
compile_regex(checker *c, cel_node *n, const cel_node *pat)
{
    int code;
    PCRE2_SIZE at;
    uint32_t opts = PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C;

#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    if (pat->op != CEL_N_LIT || pat->lit.kind != CEL_STRING) {
        fail(c, pat,
             "matches() needs a string literal pattern (compiled at config "
             "time); a computed pattern is not supported%s",
             "");
        return;
    }
    n->re = pcre2_compile((PCRE2_SPTR)pat->lit.v.s.ptr, pat->lit.v.s.len, opts,
                          &code, &at, NULL);
    if (!n->re) {
        char msg[160];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
        fail(c, pat, "matches(): invalid pattern: %s", msg);
    }
}

static void
check_call(checker *c, cel_node *n)
{
    size_t i, nargs = n->nargs - (n->member ? 1 : 0);
    const cel_node *target = n->member ? n->args[0] : NULL;

    for (i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
        if (strcmp(functions[i].name, n->text) == 0)
            break;
    if (i == sizeof(functions) / sizeof(functions[0])) {
        fail(c, n, "function '%s' is not supported", n->text);
        return;
    }
    /* matches(s, re) and size(x) also exist as globals with one more arg */
    size_t want = functions[i].args;
    if (!n->member && functions[i].member == 2)
        want++;
    if (accessor(functions[i].fn) && nargs == 1)
        want = 1; /* the time zone */
    if ((n->member && functions[i].member == 0) ||
        (!n->member && functions[i].member == 1) || nargs != want) {
        fail(c, n, "no matching overload for '%s' with these arguments",
             n->text);
        return;
    }
    n->fn = functions[i].fn;
    n->type = functions[i].result;
    /* the value the function reads: target or first arg */
    const cel_node *x = target ? target : n->args[0];
    for (size_t k = 0; k < n->nargs; k++)
        if (is_special_map(n->args[k])) {
            fail(c, n->args[k],
                 "this request map can only be read by key (m[k], m.k, "
                 "has(m.k), k in m)%s",
                 "");
            return;
        }
    cel_kind t = x->type;
    switch (n->fn) {
    case CEL_F_SIZE:
        if (t != CEL_DYN && t != CEL_STRING && t != CEL_BYTES &&
            t != CEL_LIST && t != CEL_MAP)
            type_fail(c, n, "no matching overload for 'size' applied to %s",
                      cel_type_name(t));
        return;
    case CEL_F_STARTS:
    case CEL_F_ENDS:
    case CEL_F_CONTAINS:
    case CEL_F_MATCHES: {
        const cel_node *y = n->args[n->nargs - 1];
        if ((t != CEL_DYN && t != CEL_STRING) ||
            (y->type != CEL_DYN && y->type != CEL_STRING)) {
            no_overload(c, n, n->text, t, y->type);
            return;
        }
        if (n->fn == CEL_F_MATCHES)
            compile_regex(c, n, y);
        return;
    }
    case CEL_F_INT:
    case CEL_F_UINT:
    case CEL_F_DOUBLE:
        if (t != CEL_DYN && !numeric(t) && t != CEL_STRING &&
            !(t == CEL_TIMESTAMP && n->fn == CEL_F_INT))
            type_fail(c, n, "no matching overload for this conversion from %s",
                      cel_type_name(t));
        return;
    case CEL_F_STRING:
        if (t == CEL_LIST || t == CEL_MAP || t == CEL_NULL)
            type_fail(c, n, "no matching overload for string() from %s",
                      cel_type_name(t));
        return;
    case CEL_F_BYTES:
        if (t != CEL_DYN && t != CEL_STRING && t != CEL_BYTES)
            type_fail(c, n, "no matching overload for bytes() from %s",
                      cel_type_name(t));
        return;
    case CEL_F_BOOL:
        if (t != CEL_DYN && t != CEL_STRING && t != CEL_BOOL)
            type_fail(c, n, "no matching overload for bool() from %s",
                      cel_type_name(t));
        return;
    case CEL_F_TIMESTAMP:
        if (t != CEL_DYN && t != CEL_STRING && t != CEL_INT &&
            t != CEL_TIMESTAMP)
            type_fail(c, n, "no matching overload for timestamp() from %s",
                      cel_type_name(t));
        return;
    case CEL_F_DURATION:
        if (t != CEL_DYN && t != CEL_STRING && t != CEL_DURATION)
            type_fail(c, n, "no matching overload for duration() from %s",
                      cel_type_name(t));
        return;
    case CEL_F_TYPE:
    case CEL_F_DYN:
        return;
    default:
        break;
    }
    if (!accessor(n->fn))
        return;
    if (t != CEL_DYN && t != CEL_TIMESTAMP &&
        !(t == CEL_DURATION && duration_accessor(n->fn) && n->nargs == 1)) {
        type_fail(c, n, "no matching overload for %s", n->text);
        return;
    }
    if (n->nargs == 2) {
        const cel_node *tz = n->args[1];
        if (tz->type != CEL_DYN && tz->type != CEL_STRING) {
            type_fail(c, tz, "a time zone is a string, found %s",
                      cel_type_name(tz->type));
            return;
        }
        if (tz->op == CEL_N_LIT && tz->lit.kind == CEL_STRING &&
            cel_tz_parse(tz->lit.v.s.ptr, tz->lit.v.s.len, &n->tz_min) != 0)
            fail(c, tz,
                 "time zone '%s' is not supported: gwf takes a fixed offset "
                 "such as '+05:30', '-08:00' or 'UTC' (it reads no time "
                 "zone database)",
                 tz->lit.v.s.ptr);
    }
}

static const struct {
    const char *name;
    cel_fn fn;
} macros[] = {{"all", CEL_F_ALL},
              {"exists", CEL_F_EXISTS},
              {"exists_one", CEL_F_EXISTS_ONE},
              {"map", CEL_F_MAP},
              {"filter", CEL_F_FILTER}};

static cel_fn
macro_of(const cel_node *n)
{
    if (n->op != CEL_N_CALL || !n->member)
        return CEL_F_NONE;
    for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
        if (strcmp(n->text, macros[i].name) == 0)
            return macros[i].fn;
    return CEL_F_NONE;
}

/* The nesting level of comprehension variable `name`, innermost first;
 * -1 when none is in scope. */
static int
var_slot(const checker *c, const char *name)
{
    for (int i = c->nvars - 1; i >= 0; i--)
        if (strcmp(c->vars[i], name) == 0)
            return i;
    return -1;
}

/* A type name (int, string, null_type, type, ...) as a type literal. */
static int
type_literal(cel_node *n, const char *name)
{
    static const struct {
        const char *name;
        cel_kind kind;
    } types[] = {{"null_type", CEL_NULL},
                 {"bool", CEL_BOOL},
                 {"int", CEL_INT},
                 {"uint", CEL_UINT},
                 {"double", CEL_DOUBLE},
                 {"string", CEL_STRING},
                 {"bytes", CEL_BYTES},
                 {"list", CEL_LIST},
                 {"map", CEL_MAP},
                 {"type", CEL_TYPE},
                 {"google.protobuf.Timestamp", CEL_TIMESTAMP},
                 {"google.protobuf.Duration", CEL_DURATION}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, name) == 0) {
            for (size_t k = 0; k < n->nargs; k++)
                cel_node_free(n->args[k]);
            free(n->args);
            n->args = NULL;
            n->nargs = 0;
            n->op = CEL_N_LIT;
            n->type = CEL_TYPE;
            n->lit.kind = CEL_TYPE;
            n->lit.src = 0;
            n->lit.v.i = types[i].kind;
            return 1;
        }
    return 0;
}

static void check_bool_operand(checker *c, const cel_node *n, const char *op);

/* range.all(x, p), .exists(x, p), .exists_one(x, p), .map(x, e),
 * .map(x, p, e), .filter(x, p): args range, x, p [, e]. */
static void
check_comprehension(checker *c, cel_node *n, cel_fn fn)
{
    size_t want = fn == CEL_F_MAP && n->nargs == 4 ? 4 : 3;
    cel_node *range = n->args[0], *var = n->nargs > 1 ? n->args[1] : NULL;

    if (n->nargs != want || var->op != CEL_N_IDENT) {
        fail(c, n,
             "%s() takes a variable name and an expression, as in "
             "list.all(x, x > 0) (map() may take a predicate before the "
             "expression)",
             n->text);
        return;
    }
    if (c->nvars >= CEL_MAX_VARS) {
        fail(c, n, "comprehensions nest deeper than 16 levels%s", "");
        return;
    }
    check_node(c, range);
    if (c->failed)
        return;
    if (is_special_map(range)) {
        fail(c, range,
             "this request map can only be read by key (m[k], m.k, "
             "has(m.k), k in m), not iterated%s",
             "");
        return;
    }
    if (range->type != CEL_DYN && range->type != CEL_LIST &&
        range->type != CEL_MAP) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s() over %s", n->text,
                 cel_type_name(range->type));
        type_fail(c, n, "no matching overload for %s", msg);
        if (c->failed)
            return;
    }
    n->slot = c->nvars;
    c->vars[c->nvars++] = var->text;
    for (size_t i = 2; i < n->nargs && !c->failed; i++)
        check_node(c, n->args[i]);
    c->nvars--;
    if (c->failed)
        return;
    for (size_t i = 2; i < n->nargs; i++)
        if (is_special_map(n->args[i])) {
            fail(c, n->args[i], "this request map can only be read by key%s",
                 "");
            return;
        }
    if (fn != CEL_F_MAP || want == 4)
        check_bool_operand(c, n->args[2], n->text);
    n->op = CEL_N_COMP;
    n->fn = fn;
    n->type = fn == CEL_F_MAP || fn == CEL_F_FILTER ? CEL_LIST : CEL_BOOL;
}

/* A list or map literal whose items are all constants becomes one value
 * (n->lit over n->items), built here once. A map with keys that might
 * repeat is left to evaluation, which reports the repeat. */
static void
fold_literal(cel_node *n)
{
    size_t count = n->nargs;
    for (size_t i = 0; i < count; i++) {
        const cel_node *a = n->args[i];
        if (a->op != CEL_N_LIT &&
            !(a->lit.kind == CEL_LIST || a->lit.kind == CEL_MAP))
            return;
    }
    if (n->op == CEL_N_MAP)
        for (size_t i = 0; i < count; i += 2) {
            const cel_value *k = &n->args[i]->lit;
            if (k->kind != CEL_INT && k->kind != CEL_UINT &&
                k->kind != CEL_BOOL && k->kind != CEL_STRING)
                return;
            for (size_t j = 0; j < i; j += 2) {
                const cel_value *p = &n->args[j]->lit;
                int same;
                if (p->kind != k->kind) {
                    if (numeric(p->kind) && numeric(k->kind))
                        return; /* 1 and 1u: equal keys, an error */
                    continue;
                }
                if (k->kind == CEL_STRING)
                    same = p->v.s.len == k->v.s.len &&
                           (k->v.s.len == 0 ||
                            memcmp(p->v.s.ptr, k->v.s.ptr, k->v.s.len) == 0);
                else if (k->kind == CEL_BOOL)
                    same = p->v.b == k->v.b;
                else
                    same = p->v.u == k->v.u;
                if (same)
                    return; /* a repeated key: an evaluation error */
            }
        }
    if (count) {
        n->items = malloc(count * sizeof(*n->items));
        if (!n->items)
            return; /* left to evaluation */
        for (size_t i = 0; i < count; i++)
            n->items[i] = n->args[i]->lit;
    }
    n->lit.kind = n->op == CEL_N_LIST ? CEL_LIST : CEL_MAP;
    n->lit.src = CEL_MAP_LITERAL;
    n->lit.v.l.items = n->items;
    n->lit.v.l.n = n->op == CEL_N_LIST ? count : count / 2;
}

static void
check_bool_operand(checker *c, const cel_node *n, const char *op)
{
    if (n->type != CEL_DYN && n->type != CEL_BOOL) {
        char msg[64];
        snprintf(msg, sizeof(msg), "'%s' applied to %s", op,
                 cel_type_name(n->type));
        type_fail(c, n, "no matching overload for %s", msg);
    }
}

static void
check_node(checker *c, cel_node *n)
{
    if (c->failed)
        return;
    cel_fn macro = macro_of(n);
    if (macro != CEL_F_NONE) {
        check_comprehension(c, n, macro);
        return;
    }
    /* google.protobuf.Timestamp and .Duration: type names */
    if (n->op == CEL_N_SELECT && n->args[0]->op == CEL_N_SELECT &&
        n->args[0]->args[0]->op == CEL_N_IDENT &&
        strcmp(n->args[0]->args[0]->text, "google") == 0 &&
        strcmp(n->args[0]->text, "protobuf") == 0 &&
        var_slot(c, "google") < 0) {
        char name[96];
        snprintf(name, sizeof(name), "google.protobuf.%.60s", n->text);
        if (!type_literal(n, name))
            fail(c, n, "type '%s' is not supported", name);
        return;
    }
    /* Attributes first: request.x is bound before its parts are seen. */
    if ((n->op == CEL_N_SELECT || n->op == CEL_N_HAS) &&
        n->args[0]->op == CEL_N_IDENT && var_slot(c, n->args[0]->text) < 0) {
        if (n->op == CEL_N_HAS) {
            fail(c, n,
                 "has() of '%s' is not supported (the attribute is "
                 "always present or not one gwf provides)",
                 n->text);
            return;
        }
        bind_attribute(c, n);
        return;
    }
    if (n->op == CEL_N_CALL) { /* the function's name first */
        size_t i = 0;
        while (i < sizeof(functions) / sizeof(functions[0]) &&
               strcmp(functions[i].name, n->text) != 0)
            i++;
        if (i == sizeof(functions) / sizeof(functions[0])) {
            fail(c, n, "function '%s' is not supported", n->text);
            return;
        }
    }
    for (size_t i = 0; i < n->nargs && !c->failed; i++)
        check_node(c, n->args[i]);
    if (c->failed)
        return;
    switch (n->op) {
    case CEL_N_LIT:
    case CEL_N_ATTR:
    case CEL_N_COMP: /* checked by check_comprehension */
    case CEL_N_VAR:
        return;
    case CEL_N_IDENT: {
        int slot = var_slot(c, n->text);
        if (slot >= 0) {
            n->op = CEL_N_VAR;
            n->slot = slot;
            n->type = CEL_DYN;
            return;
        }
        if (!type_literal(n, n->text))
            fail(c, n, "undeclared reference to '%s'", n->text);
        return;
    }
    case CEL_N_SELECT:
    case CEL_N_HAS: {
        const cel_node *m = n->args[0];
        if (is_special_map(m)) {
            special_lookup(c, n, m, NULL, n->text, n->text_len);
            if (n->op == CEL_N_HAS) {
                n->type = CEL_BOOL;
                n->map_src = 0;
            }
            n->map_src = n->type == CEL_MAP ? n->map_src : 0;
            if (n->op == CEL_N_HAS && m->map_src != CEL_MAP_HEADERS &&
                m->map_src != CEL_MAP_JWT_PAYLOAD)
                fail(c, n, "has() on this map is not supported%s", "");
            return;
        }
        if (m->type != CEL_DYN && m->type != CEL_MAP)
            type_fail(c, n, "type '%s' has no fields", cel_type_name(m->type));
        n->type = n->op == CEL_N_HAS ? CEL_BOOL : CEL_DYN;
        return;
    }
    case CEL_N_INDEX: {
        const cel_node *m = n->args[0], *k = n->args[1];
        if (is_special_map(k)) {
            fail(c, k, "this request map can only be read by key%s", "");
            return;
        }
        if (is_special_map(m)) {
            special_lookup(c, n, m, k, NULL, 0);
            return;
        }
        if (m->type == CEL_LIST && k->type != CEL_DYN && !numeric(k->type))
            no_overload(c, n, "_[_]", m->type, k->type);
        else if (m->type != CEL_DYN && m->type != CEL_LIST &&
                 m->type != CEL_MAP)
            no_overload(c, n, "_[_]", m->type, k->type);
        n->type = CEL_DYN;
        return;
    }
    case CEL_N_CALL:
        check_call(c, n);
        return;
    case CEL_N_LIST:
    case CEL_N_MAP:
        for (size_t i = 0; i < n->nargs; i++)
            if (is_special_map(n->args[i])) {
                fail(c, n->args[i],
                     "this request map can only be read by key%s", "");
                return;
            }
        if (n->op == CEL_N_MAP)
            for (size_t i = 0; i < n->nargs; i += 2) {
                cel_kind t = n->args[i]->type;
                if (t != CEL_DYN && t != CEL_INT && t != CEL_UINT &&
                    t != CEL_BOOL && t != CEL_STRING)
                    type_fail(c, n->args[i], "unsupported map key type: %s",
                              cel_type_name(t));
            }
        n->type = n->op == CEL_N_LIST ? CEL_LIST : CEL_MAP;
        n->map_src = CEL_MAP_LITERAL;
        fold_literal(n);
        return;
    case CEL_N_COND:
        for (size_t i = 0; i < 3; i++)
            if (is_special_map(n->args[i])) {
                fail(c, n->args[i],
                     "this request map can only be read by key%s", "");
                return;
            }
        check_bool_operand(c, n->args[0], "_?_:_");
        n->type =
            n->args[1]->type == n->args[2]->type ? n->args[1]->type : CEL_DYN;
        return;
    case CEL_N_AND:
    case CEL_N_OR:
        check_bool_operand(c, n->args[0], n->op == CEL_N_AND ? "&&" : "||");
        check_bool_operand(c, n->args[1], n->op == CEL_N_AND ? "&&" : "||");
        n->type = CEL_BOOL;
        return;
    case CEL_N_NOT:
        check_bool_operand(c, n->args[0], "!");
        n->type = CEL_BOOL;
        return;
    case CEL_N_NEG: {
        cel_kind t = n->args[0]->type;
        if (t != CEL_DYN && t != CEL_INT && t != CEL_DOUBLE) {
            char msg[64];
            snprintf(msg, sizeof(msg), "'-_' applied to %s", cel_type_name(t));
            type_fail(c, n, "no matching overload for %s", msg);
        }
        n->type = t;
        return;
    }
    case CEL_N_BIN:
        check_bin(c, n);
        return;
    }
}

int
cel_check(cel_node *root, const char *src, size_t len, int check_types,
          cel_error *err)
{
    checker c;

    memset(&c, 0, sizeof(c));
    c.src = src;
    c.len = len;
    c.err = err;
    c.check_types = check_types;

    if (depth(root) > CEL_MAX_DEPTH) {
        cel_fail(err, src, len, root->offset,
                 "expression nests deeper than %d levels", CEL_MAX_DEPTH);
        return -1;
    }
    check_node(&c, root);
    if (!c.failed && is_special_map(root))
        fail(&c, root, "this request map can only be read by key%s", "");
    return c.failed ? -1 : 0;
}

int
cel_compile(const char *src, size_t len, cel_program *out, cel_error *err)
{
    return cel_compile_ex(src, len, 1, out, err);
}

int
cel_compile_ex(const char *src, size_t len, int check_types, cel_program *out,
               cel_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (len > CEL_MAX_EXPR_LEN) {
        cel_fail(err, src, len, 0, "expression longer than %d bytes",
                 CEL_MAX_EXPR_LEN);
        return -1;
    }
    out->root = cel_parse(src, len, err);
    if (!out->root)
        return -1;
    if (cel_check(out->root, src, len, check_types, err) != 0) {
        cel_node_free(out->root);
        out->root = NULL;
        return -1;
    }
    out->source = src;
    out->source_len = len;
    return 0;
}

void
cel_program_free(cel_program *p)
{
    cel_node_free(p->root);
    p->root = NULL;
}
