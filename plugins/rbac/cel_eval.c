/*
 * cel_eval.c - evaluating a checked CEL expression against one request.
 *
 * A walk of the checked AST. Values (cel.h's cel_value) are small and
 * held in C locals: strings are views of the program's literals, of the
 * request (headers, attributes, claims) or of the worker's scratch
 * buffer (concatenations, conversions, repeated headers joined with
 * ","); lists and maps are arrays of values: a constant literal's,
 * folded by the checker, or built in the scratch buffer (a literal with
 * computed items, a concatenation, a map() or filter() result, a JWT
 * claim that is a JSON array or object). Nothing is allocated: a
 * result that does not fit the scratch is a limit error.
 *
 * Comprehensions (all, exists, exists_one, map, filter) iterate over
 * their range's items only, binding the variable in a slot of the
 * evaluation (its nesting level, CEL_MAX_VARS at most); all and exists
 * absorb errors as && and || do: [1, 0].exists(x, 1 / x > 0) is true.
 *
 * Semantics are CEL's: int and uint arithmetic that overflows, division
 * or modulo by zero, a missing map key or list index, a conversion out
 * of range, a function applied to a type it has no overload for are
 * errors; && and || absorb errors commutatively (false && error is
 * false, true || error is true); ?: needs a bool; == across kinds is
 * false, and numbers compare across int, uint and double by value. An
 * error at the top is "no match" for the rbac plugin, as in Envoy's CEL
 * matcher. Running out of steps (CEL_MAX_STEPS) or scratch is a
 * CEL_RESULT_LIMIT instead: the plugin fails closed on it.
 */
#define _GNU_SOURCE /* memmem */
#include "cel.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ev {
    const cel_activation *act;
    cel_scratch *sc;
    long steps;
    cel_value vars[CEL_MAX_VARS]; /* comprehension variables by level */
    int have_time;                /* request.time read: time_ns */
    int64_t time_ns;
} ev;

static cel_value eval(ev *e, const cel_node *n);

static cel_value
err(const char *msg)
{
    cel_value v;
    v.kind = CEL_ERROR;
    v.src = 0;
    v.v.s.ptr = msg;
    v.v.s.len = strlen(msg);
    return v;
}

static cel_value
limit(const char *msg)
{
    cel_value v = err(msg);
    v.src = 1;
    return v;
}

/* Charges work beyond one node to the step bound (cel.h): `bytes`
 * scanned and `extra` steps. Returns nonzero past CEL_MAX_STEPS. */
static int
charge(ev *e, size_t bytes, long extra)
{
    e->steps += (long)(bytes / CEL_SCAN_BYTES) + extra;
    return e->steps > CEL_MAX_STEPS;
}

static cel_value
mk_bool(int b)
{
    cel_value v;
    v.kind = CEL_BOOL;
    v.src = 0;
    v.v.b = b != 0;
    return v;
}

static cel_value
mk_int(int64_t i)
{
    cel_value v;
    v.kind = CEL_INT;
    v.src = 0;
    v.v.i = i;
    return v;
}

static cel_value
mk_uint(uint64_t u)
{
    cel_value v;
    v.kind = CEL_UINT;
    v.src = 0;
    v.v.u = u;
    return v;
}

static cel_value
mk_double(double d)
{
    cel_value v;
    v.kind = CEL_DOUBLE;
    v.src = 0;
    v.v.d = d;
    return v;
}

static cel_value
mk_str(cel_kind k, const char *p, size_t len)
{
    cel_value v;
    v.kind = k;
    v.src = 0;
    v.v.s.ptr = p ? p : "";
    v.v.s.len = len;
    return v;
}

static char *
scratch(ev *e, size_t len)
{
    if (len > e->sc->size - e->sc->used)
        return NULL;
    char *p = e->sc->buf + e->sc->used;
    e->sc->used += len;
    return p;
}

/* Room for `n` values in the scratch, aligned; NULL when it is full. */
static cel_value *
scratch_values(ev *e, size_t n)
{
    size_t align = _Alignof(cel_value);
    size_t at = (e->sc->used + align - 1) & ~(align - 1);
    if (at > e->sc->size || n > (e->sc->size - at) / sizeof(cel_value))
        return NULL;
    e->sc->used = at + n * sizeof(cel_value);
    return (cel_value *)(void *)(e->sc->buf + at);
}

static cel_value
mk_seq(cel_kind k, const cel_value *items, size_t n)
{
    cel_value v;
    v.kind = k;
    v.src = CEL_MAP_LITERAL;
    v.v.l.items = items;
    v.v.l.n = n;
    return v;
}

static cel_value
mk_time(cel_kind k, int64_t sec, int32_t ns)
{
    cel_value v;
    v.kind = k;
    v.src = 0;
    v.v.t.sec = sec;
    v.v.t.ns = ns;
    return v;
}

static cel_value
mk_type(cel_kind k)
{
    cel_value v;
    v.kind = CEL_TYPE;
    v.src = 0;
    v.v.i = k;
    return v;
}

/* -- numbers -------------------------------------------------------------- */

static int
is_num(const cel_value *v)
{
    return v->kind == CEL_INT || v->kind == CEL_UINT || v->kind == CEL_DOUBLE;
}

/* Compare two numbers by value: -1, 0, 1, or 2 when unordered (NaN). */
static int
num_cmp(const cel_value *a, const cel_value *b)
{
    if (a->kind == CEL_DOUBLE || b->kind == CEL_DOUBLE) {
        if (a->kind == CEL_DOUBLE && b->kind == CEL_DOUBLE) {
            if (isnan(a->v.d) || isnan(b->v.d))
                return 2;
            return a->v.d < b->v.d ? -1 : a->v.d > b->v.d;
        }
        /* one double, one integer: the integer as a double, as CEL's
         * conformance cases want (dyn(9223372036854775807) >=
         * 9223372036854775808.0 is true) */
        int flip = a->kind != CEL_DOUBLE;
        const cel_value *d = flip ? b : a, *i = flip ? a : b;
        double x = d->v.d;
        double y = i->kind == CEL_INT ? (double)i->v.i : (double)i->v.u;
        int r;
        if (isnan(x))
            return 2;
        r = x < y ? -1 : x > y;
        return flip ? -r : r;
    }
    if (a->kind == b->kind) {
        if (a->kind == CEL_INT)
            return a->v.i < b->v.i ? -1 : a->v.i > b->v.i;
        return a->v.u < b->v.u ? -1 : a->v.u > b->v.u;
    }
    if (a->kind == CEL_INT) /* int vs uint */
        return a->v.i < 0 ? -1
                          : num_cmp(&(cel_value){.kind = CEL_UINT,
                                                 .v.u = (uint64_t)a->v.i},
                                    b);
    return -num_cmp(b, a);
}

/* -- containers ------------------------------------------------------------ */

static int values_equal(ev *e, const cel_value *a, const cel_value *b,
                        cel_value *error);
static cel_value json_claim(ev *e, const char *text, size_t len);

/* Look `key` up in a map value: 1 found (*out), 0 absent, -1 error. */
static int
map_find(ev *e, const cel_value *m, const cel_value *key, cel_value *out)
{
    if (m->src == CEL_MAP_LITERAL) {
        const cel_value *it = m->v.l.items;
        for (size_t i = 0; i < m->v.l.n; i++) {
            cel_value error;
            if (++e->steps > CEL_MAX_STEPS) { /* as `in` on a list */
                *out = limit("evaluation step limit reached");
                return -1;
            }
            int eq = values_equal(e, &it[2 * i], key, &error);
            if (eq < 0) {
                *out = error;
                return -1;
            }
            if (eq) {
                *out = it[2 * i + 1];
                return 1;
            }
        }
        return 0;
    }
    if (key->kind != CEL_STRING) {
        *out = err("no such overload: this map's keys are strings");
        return -1;
    }
    const char *k = key->v.s.ptr;
    size_t klen = key->v.s.len;
    const cel_activation *a = e->act;
    switch (m->src) {
    case CEL_MAP_HEADERS: {
        gwf_view v;
        size_t used = 0;
        /* Any case: Envoy lower-cases the name it looks up, and
         * header_get matches names case-insensitively. */
        int r = a->header(a->ctx, k, klen, &v, e->sc->buf + e->sc->used,
                          e->sc->size - e->sc->used, &used);
        if (r < 0) {
            *out = limit("a header could not be read (scratch space "
                         "exhausted joining it, or the host failed)");
            return -1;
        }
        if (r == 0)
            return 0;
        e->sc->used += used;
        *out = mk_str(CEL_STRING, v.ptr, v.len);
        return 1;
    }
    case CEL_MAP_FILTER_META:
    case CEL_MAP_JWT_AUTHN: {
        gwf_value_type t;
        gwf_view v;
        const char *want = m->src == CEL_MAP_FILTER_META
                               ? "envoy.filters.http.jwt_authn"
                               : "payload";
        if (klen != strlen(want) || memcmp(k, want, klen) != 0)
            return 0;
        int r = a->claim(a->ctx, NULL, 0, &t, &v);
        if (r < 0) {
            *out = limit("the host could not read the JWT payload");
            return -1;
        }
        if (r == 0)
            return 0;
        out->kind = CEL_MAP;
        out->src = m->src == CEL_MAP_FILTER_META ? CEL_MAP_JWT_AUTHN
                                                 : CEL_MAP_JWT_PAYLOAD;
        out->v.l.items = NULL;
        out->v.l.n = 0;
        return 1;
    }
    default: { /* the JWT payload */
        gwf_value_type t;
        gwf_view v;
        int r = a->claim(a->ctx, k, klen, &t, &v);
        if (r < 0) {
            *out = limit("the host could not read a JWT claim");
            return -1;
        }
        if (r == 0)
            return 0;
        if (t == GWF_VALUE_STRING) {
            *out = mk_str(CEL_STRING, v.ptr, v.len);
            return 1;
        }
        /* JSON as Envoy's Struct holds it: numbers are double, arrays
         * lists, objects maps with string keys */
        *out = json_claim(e, v.ptr, v.len);
        return out->kind == CEL_ERROR ? -1 : 1;
    }
    }
}

/* Equality: 1, 0, or -1 with *error set. */
static int
values_equal(ev *e, const cel_value *a, const cel_value *b, cel_value *error)
{
    if (is_num(a) && is_num(b))
        return num_cmp(a, b) == 0;
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case CEL_NULL:
        return 1;
    case CEL_BOOL:
        return a->v.b == b->v.b;
    case CEL_STRING:
    case CEL_BYTES:
        return a->v.s.len == b->v.s.len &&
               (a->v.s.len == 0 ||
                memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0);
    case CEL_TIMESTAMP:
    case CEL_DURATION:
        return a->v.t.sec == b->v.t.sec && a->v.t.ns == b->v.t.ns;
    case CEL_TYPE:
        return a->v.i == b->v.i;
    case CEL_LIST: {
        if (a->v.l.n != b->v.l.n)
            return 0;
        for (size_t i = 0; i < a->v.l.n; i++) {
            if (++e->steps > CEL_MAX_STEPS) {
                *error = limit("evaluation step limit reached");
                return -1;
            }
            int r = values_equal(e, &a->v.l.items[i], &b->v.l.items[i], error);
            if (r != 1)
                return r;
        }
        return 1;
    }
    case CEL_MAP: {
        if (a->src != CEL_MAP_LITERAL || b->src != CEL_MAP_LITERAL) {
            *error = err("a request map cannot be compared");
            return -1;
        }
        if (a->v.l.n != b->v.l.n)
            return 0;
        for (size_t i = 0; i < a->v.l.n; i++) {
            cel_value k = a->v.l.items[2 * i], v = a->v.l.items[2 * i + 1];
            cel_value w;
            if (++e->steps > CEL_MAX_STEPS) {
                *error = limit("evaluation step limit reached");
                return -1;
            }
            int f = map_find(e, b, &k, &w);
            if (f < 0) {
                *error = w;
                return -1;
            }
            if (f == 0)
                return 0;
            int r = values_equal(e, &v, &w, error);
            if (r != 1)
                return r;
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* Ordering for < <= > >=: -1 0 1, 2 for unordered, -2 no overload. */
static int
values_cmp(const cel_value *a, const cel_value *b)
{
    if (is_num(a) && is_num(b))
        return num_cmp(a, b);
    if (a->kind != b->kind)
        return -2;
    switch (a->kind) {
    case CEL_BOOL:
        return a->v.b - b->v.b;
    case CEL_TIMESTAMP:
    case CEL_DURATION:
        if (a->v.t.sec != b->v.t.sec)
            return a->v.t.sec < b->v.t.sec ? -1 : 1;
        return a->v.t.ns < b->v.t.ns ? -1 : a->v.t.ns > b->v.t.ns;
    case CEL_STRING:
    case CEL_BYTES: {
        size_t n = a->v.s.len < b->v.s.len ? a->v.s.len : b->v.s.len;
        int r = n ? memcmp(a->v.s.ptr, b->v.s.ptr, n) : 0;
        if (r)
            return r < 0 ? -1 : 1;
        return a->v.s.len < b->v.s.len ? -1 : a->v.s.len > b->v.s.len;
    }
    default:
        return -2;
    }
}

/* -- operators ----------------------------------------------------------- */

static cel_i128
total_ns(const cel_value *v)
{
    return (cel_i128)v->v.t.sec * 1000000000 + v->v.t.ns;
}

/* Timestamp and duration arithmetic: ts + dur, dur + ts, ts - dur,
 * ts - ts, dur + dur, dur - dur; a result out of range is an error. */
static cel_value
time_arith(cel_fn fn, cel_value a, cel_value b)
{
    cel_kind k;
    cel_i128 t;

    if (fn == CEL_F_ADD && a.kind == CEL_DURATION && b.kind == CEL_TIMESTAMP) {
        cel_value x = a;
        a = b;
        b = x;
    }
    if (fn == CEL_F_ADD && b.kind == CEL_DURATION &&
        (a.kind == CEL_TIMESTAMP || a.kind == CEL_DURATION)) {
        k = a.kind;
        t = total_ns(&a) + total_ns(&b);
    } else if (fn == CEL_F_SUB && b.kind == CEL_DURATION &&
               (a.kind == CEL_TIMESTAMP || a.kind == CEL_DURATION)) {
        k = a.kind;
        t = total_ns(&a) - total_ns(&b);
    } else if (fn == CEL_F_SUB && a.kind == CEL_TIMESTAMP &&
               b.kind == CEL_TIMESTAMP) {
        k = CEL_DURATION;
        t = total_ns(&a) - total_ns(&b);
    } else {
        return err("no matching overload");
    }
    if (k == CEL_TIMESTAMP) {
        cel_i128 sec = t / 1000000000, ns = t % 1000000000;
        if (ns < 0) {
            ns += 1000000000;
            sec--;
        }
        if (sec < CEL_TS_MIN || sec > CEL_TS_MAX)
            return err("timestamp out of range");
        return mk_time(k, (int64_t)sec, (int32_t)ns);
    }
    int64_t sec;
    int32_t ns;
    if (cel_dur_split(t, &sec, &ns) != 0)
        return err("duration out of range");
    return mk_time(k, sec, ns);
}

static cel_value
arith(ev *e, cel_fn fn, cel_value a, cel_value b)
{
    if (a.kind == CEL_TIMESTAMP || a.kind == CEL_DURATION ||
        b.kind == CEL_TIMESTAMP || b.kind == CEL_DURATION)
        return time_arith(fn, a, b);
    if (a.kind != b.kind)
        return err("no matching overload");
    switch (a.kind) {
    case CEL_INT: {
        int64_t r = 0;
        int o = 0;
        switch (fn) {
        case CEL_F_ADD:
            o = __builtin_add_overflow(a.v.i, b.v.i, &r);
            break;
        case CEL_F_SUB:
            o = __builtin_sub_overflow(a.v.i, b.v.i, &r);
            break;
        case CEL_F_MUL:
            o = __builtin_mul_overflow(a.v.i, b.v.i, &r);
            break;
        case CEL_F_DIV:
        case CEL_F_MOD:
            if (b.v.i == 0)
                return err(fn == CEL_F_DIV ? "division by zero"
                                           : "modulus by zero");
            if (a.v.i == INT64_MIN && b.v.i == -1)
                return err("integer overflow");
            r = fn == CEL_F_DIV ? a.v.i / b.v.i : a.v.i % b.v.i;
            break;
        default:
            return err("no matching overload");
        }
        return o ? err("integer overflow") : mk_int(r);
    }
    case CEL_UINT: {
        uint64_t r = 0;
        int o = 0;
        switch (fn) {
        case CEL_F_ADD:
            o = __builtin_add_overflow(a.v.u, b.v.u, &r);
            break;
        case CEL_F_SUB:
            o = __builtin_sub_overflow(a.v.u, b.v.u, &r);
            break;
        case CEL_F_MUL:
            o = __builtin_mul_overflow(a.v.u, b.v.u, &r);
            break;
        case CEL_F_DIV:
        case CEL_F_MOD:
            if (b.v.u == 0)
                return err(fn == CEL_F_DIV ? "division by zero"
                                           : "modulus by zero");
            r = fn == CEL_F_DIV ? a.v.u / b.v.u : a.v.u % b.v.u;
            break;
        default:
            return err("no matching overload");
        }
        return o ? err("unsigned integer overflow") : mk_uint(r);
    }
    case CEL_DOUBLE:
        switch (fn) {
        case CEL_F_ADD:
            return mk_double(a.v.d + b.v.d);
        case CEL_F_SUB:
            return mk_double(a.v.d - b.v.d);
        case CEL_F_MUL:
            return mk_double(a.v.d * b.v.d);
        case CEL_F_DIV:
            return mk_double(a.v.d / b.v.d);
        default:
            return err("no matching overload");
        }
        return err("not reached");
    case CEL_STRING:
    case CEL_BYTES: {
        if (fn != CEL_F_ADD)
            return err("no matching overload");
        size_t len = a.v.s.len + b.v.s.len;
        char *p = scratch(e, len);
        if (!p)
            return limit("scratch space exhausted");
        if (a.v.s.len)
            memcpy(p, a.v.s.ptr, a.v.s.len);
        if (b.v.s.len)
            memcpy(p + a.v.s.len, b.v.s.ptr, b.v.s.len);
        return mk_str(a.kind, p, len);
    }
    case CEL_LIST: {
        if (fn != CEL_F_ADD)
            return err("no matching overload");
        if (a.v.l.n == 0)
            return b;
        if (b.v.l.n == 0)
            return a;
        cel_value *items = scratch_values(e, a.v.l.n + b.v.l.n);
        if (!items)
            return limit("scratch space exhausted concatenating lists");
        memcpy(items, a.v.l.items, a.v.l.n * sizeof(*items));
        memcpy(items + a.v.l.n, b.v.l.items, b.v.l.n * sizeof(*items));
        return mk_seq(CEL_LIST, items, a.v.l.n + b.v.l.n);
    }
    default:
        return err("no matching overload");
    }
}

/* A list or map literal: the checker's folded value, or its items
 * evaluated into the scratch. */
static cel_value
list_value(ev *e, const cel_node *n)
{
    if (n->lit.kind == CEL_LIST || n->lit.kind == CEL_MAP)
        return n->lit; /* constant */
    cel_value *items = scratch_values(e, n->nargs);
    if (!items && n->nargs)
        return limit("scratch space exhausted building a list");
    /* an error in any item is the list's error */
    for (size_t i = 0; i < n->nargs; i++) {
        items[i] = eval(e, n->args[i]);
        if (items[i].kind == CEL_ERROR)
            return items[i];
    }
    if (n->op == CEL_N_LIST)
        return mk_seq(CEL_LIST, items, n->nargs);
    for (size_t i = 0; i < n->nargs; i += 2) {
        const cel_value *k = &items[i];
        if (k->kind != CEL_INT && k->kind != CEL_UINT && k->kind != CEL_BOOL &&
            k->kind != CEL_STRING)
            return err("unsupported key type");
        for (size_t j = 0; j < i; j += 2) {
            cel_value error;
            int eq = values_equal(e, &items[j], k, &error);
            if (eq < 0)
                return error;
            if (eq)
                return err("Failed with repeated key");
        }
    }
    return mk_seq(CEL_MAP, items, n->nargs / 2);
}

static cel_value
in_op(ev *e, cel_value x, cel_value c)
{
    if (c.kind == CEL_LIST) {
        for (size_t i = 0; i < c.v.l.n; i++) {
            cel_value error;
            if (++e->steps > CEL_MAX_STEPS)
                return limit("evaluation step limit reached");
            int eq = values_equal(e, &x, &c.v.l.items[i], &error);
            if (eq < 0)
                return error;
            if (eq)
                return mk_bool(1);
        }
        return mk_bool(0);
    }
    if (c.kind == CEL_MAP) {
        cel_value out;
        int f = map_find(e, &c, &x, &out);
        return f < 0 ? out : mk_bool(f);
    }
    return err("no matching overload for 'in'");
}

static cel_value
index_op(ev *e, cel_value c, cel_value k)
{
    if (c.kind == CEL_LIST) {
        int64_t i;
        if (k.kind == CEL_INT)
            i = k.v.i;
        else if (k.kind == CEL_UINT && k.v.u <= INT64_MAX)
            i = (int64_t)k.v.u;
        else if (k.kind == CEL_DOUBLE && k.v.d == trunc(k.v.d) &&
                 fabs(k.v.d) < 9e18)
            i = (int64_t)k.v.d;
        else
            return err("invalid list index");
        if (i < 0 || (uint64_t)i >= c.v.l.n)
            return err("index out of range");
        return c.v.l.items[i];
    }
    if (c.kind == CEL_MAP) {
        cel_value out;
        int f = map_find(e, &c, &k, &out);
        if (f < 0)
            return out;
        return f ? out : err("no such key");
    }
    return err("no matching overload for '_[_]'");
}

/* -- JSON claims ------------------------------------------------------------
 */

/* A JWT claim's JSON text (as jwt_auth left it) as CEL values in the
 * scratch: arrays become lists, objects maps, numbers doubles. Nesting
 * is bounded (JSON_MAX_DEPTH); a claim too big for the scratch is a
 * limit error. Arrays and objects are counted before they are read, so
 * each is one block of values. */
#define JSON_MAX_DEPTH 32

typedef struct jreader {
    ev *e;
    const char *p, *end;
    int limit; /* the scratch ran out */
} jreader;

static void
json_ws(jreader *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Skip one value; 0 or -1. */
static int
json_skip(jreader *j, int depth)
{
    json_ws(j);
    if (depth > JSON_MAX_DEPTH)
        j->limit = 1; /* valid JSON gwf does not read: fail closed */
    if (j->p >= j->end || depth > JSON_MAX_DEPTH)
        return -1;
    char c = *j->p;
    if (c == '"') {
        for (j->p++; j->p < j->end; j->p++) {
            if (*j->p == '\\') {
                j->p++;
                continue;
            }
            if (*j->p == '"') {
                j->p++;
                return 0;
            }
        }
        return -1;
    }
    if (c == '[' || c == '{') {
        char close = c == '[' ? ']' : '}';
        j->p++;
        json_ws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                if (json_skip(j, depth + 1) != 0)
                    return -1;
                json_ws(j);
                if (j->p >= j->end || *j->p++ != ':')
                    return -1;
            }
            if (json_skip(j, depth + 1) != 0)
                return -1;
            json_ws(j);
            if (j->p >= j->end)
                return -1;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p++ != close)
                return -1;
            return 0;
        }
    }
    while (j->p < j->end && *j->p != ',' && *j->p != ']' && *j->p != '}' &&
           *j->p != ' ' && *j->p != ':' && *j->p != '\n')
        j->p++;
    return 0;
}

static int
hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int
json_string(jreader *j, cel_value *out)
{
    const char *start = ++j->p;
    const char *q = start;
    while (q < j->end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q >= j->end)
        return -1;
    /* the decoded text is never longer than the escaped one */
    char *buf = scratch(j->e, (size_t)(q - start));
    size_t o = 0;
    if (!buf && q > start) {
        j->limit = 1;
        return -1;
    }
    for (const char *p = start; p < q; p++) {
        if (*p != '\\') {
            buf[o++] = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'n':
            buf[o++] = '\n';
            break;
        case 't':
            buf[o++] = '\t';
            break;
        case 'r':
            buf[o++] = '\r';
            break;
        case 'b':
            buf[o++] = '\b';
            break;
        case 'f':
            buf[o++] = '\f';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (q - p < 5 || hex4(p + 1, &cp) != 0)
                return -1;
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && q - p >= 7 && p[1] == '\\' &&
                p[2] == 'u' && hex4(p + 3, &lo) == 0 && lo >= 0xdc00 &&
                lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                return -1;
            }
            /* UTF-8 of cp takes at most the 6 bytes of its escape */
            if (cp < 0x80) {
                buf[o++] = (char)cp;
            } else if (cp < 0x800) {
                buf[o++] = (char)(0xc0 | (cp >> 6));
                buf[o++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                buf[o++] = (char)(0xe0 | (cp >> 12));
                buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                buf[o++] = (char)(0x80 | (cp & 0x3f));
            } else {
                buf[o++] = (char)(0xf0 | (cp >> 18));
                buf[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                buf[o++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default: /* \" \\ \/ */
            buf[o++] = *p;
            break;
        }
    }
    j->p = q + 1;
    *out = mk_str(CEL_STRING, buf, o);
    return 0;
}

static int
json_value(jreader *j, cel_value *out, int depth)
{
    json_ws(j);
    if (depth > JSON_MAX_DEPTH)
        j->limit = 1; /* valid JSON gwf does not read: fail closed */
    if (j->p >= j->end || depth > JSON_MAX_DEPTH)
        return -1;
    char c = *j->p;
    if (c == '"')
        return json_string(j, out);
    if (c == '[' || c == '{') {
        char close = c == '[' ? ']' : '}';
        size_t per = c == '[' ? 1 : 2, n = 0;
        jreader count = *j;
        /* count the items */
        count.p++;
        json_ws(&count);
        if (count.p < count.end && *count.p == close) {
            j->p = count.p + 1;
            *out = mk_seq(c == '[' ? CEL_LIST : CEL_MAP, NULL, 0);
            return 0;
        }
        for (;;) {
            if (json_skip(&count, depth + 1) != 0) {
                j->limit = count.limit;
                return -1;
            }
            if (per == 2) {
                json_ws(&count);
                if (count.p >= count.end || *count.p++ != ':' ||
                    json_skip(&count, depth + 1) != 0) {
                    j->limit = count.limit;
                    return -1;
                }
            }
            n++;
            json_ws(&count);
            if (count.p < count.end && *count.p == ',') {
                count.p++;
                continue;
            }
            break;
        }
        cel_value *items = scratch_values(j->e, n * per);
        if (!items) {
            j->limit = 1;
            return -1;
        }
        j->p++;
        for (size_t i = 0; i < n; i++) {
            if (++j->e->steps > CEL_MAX_STEPS) {
                j->limit = 1;
                return -1;
            }
            if (json_value(j, &items[i * per], depth + 1) != 0)
                return -1;
            json_ws(j);
            if (per == 2) {
                if (items[i * per].kind != CEL_STRING || j->p >= j->end ||
                    *j->p++ != ':' ||
                    json_value(j, &items[i * per + 1], depth + 1) != 0)
                    return -1;
                json_ws(j);
            }
            j->p++; /* ',' or the close, as counted */
        }
        *out = mk_seq(c == '[' ? CEL_LIST : CEL_MAP, items, n);
        return 0;
    }
    const char *start = j->p;
    json_skip(j, depth);
    size_t len = (size_t)(j->p - start);
    if (len == 4 && memcmp(start, "true", 4) == 0) {
        *out = mk_bool(1);
    } else if (len == 5 && memcmp(start, "false", 5) == 0) {
        *out = mk_bool(0);
    } else if (len == 4 && memcmp(start, "null", 4) == 0) {
        out->kind = CEL_NULL;
        out->src = 0;
    } else {
        char buf[64], *end;
        if (len == 0 || len >= sizeof(buf) ||
            !(start[0] == '-' || (start[0] >= '0' && start[0] <= '9')))
            return -1;
        memcpy(buf, start, len);
        buf[len] = '\0';
        *out = mk_double(strtod(buf, &end));
        if (*end)
            return -1;
    }
    return 0;
}

static cel_value
json_claim(ev *e, const char *text, size_t len)
{
    jreader j = {e, text, text + len, 0};
    cel_value v;
    if (json_value(&j, &v, 0) != 0)
        return j.limit ? limit("scratch space, steps or nesting depth "
                               "exhausted reading a JWT claim")
                       : err("a JWT claim that is not valid JSON");
    json_ws(&j);
    if (j.p != j.end)
        return err("a JWT claim that is not valid JSON");
    return v;
}

/* -- functions ------------------------------------------------------------- */

static int
utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            unsigned char d = (unsigned char)s[i + k];
            if ((d & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (d & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static size_t
code_points(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

/* Strict decimal text (optional sign) to int64 / uint64. */
static int
parse_int(const char *s, size_t len, int is_unsigned, int64_t *i, uint64_t *u)
{
    char buf[32];
    char *end;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '+')
        return -1;
    errno = 0;
    if (is_unsigned) {
        if (buf[0] == '-')
            return -1;
        *u = strtoull(buf, &end, 10);
    } else {
        *i = strtoll(buf, &end, 10);
    }
    return errno || *end ? -1 : 0;
}

/* A double as Go's strconv.FormatFloat(d, 'g', -1, 64) writes it, which
 * is how CEL implementations print them: the shortest digits that read
 * back the same, exponent form below 1e-4 and from 1e21. */
static size_t
format_double(double d, char *out, size_t size)
{
    char digits[40];
    int prec, exp10;

    if (isnan(d))
        return (size_t)snprintf(out, size, "NaN");
    if (isinf(d))
        return (size_t)snprintf(out, size, "%s", d > 0 ? "+Inf" : "-Inf");
    if (d == 0)
        return (size_t)snprintf(out, size, signbit(d) ? "-0" : "0");
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof(digits), "%.*e", prec - 1, d);
        if (strtod(digits, NULL) == d)
            break;
    }
    /* digits: [-]d[.ddd]e[+-]XX */
    char *e = strchr(digits, 'e');
    exp10 = atoi(e + 1);
    *e = '\0';
    char mant[24];
    size_t m = 0;
    int neg = digits[0] == '-';
    for (char *p = digits + neg; *p; p++)
        if (*p != '.')
            mant[m++] = *p;
    mant[m] = '\0';
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp10 < -4 || exp10 >= 21) {
        out[o++] = mant[0];
        if (m > 1) {
            out[o++] = '.';
            memcpy(out + o, mant + 1, m - 1);
            o += m - 1;
        }
        o += (size_t)snprintf(out + o, size - o, "e%c%02d",
                              exp10 < 0 ? '-' : '+', abs(exp10));
        return o;
    }
    if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int k = -1; k > exp10; k--)
            out[o++] = '0';
        memcpy(out + o, mant, m);
        o += m;
    } else {
        for (int k = 0; k <= exp10; k++)
            out[o++] = (size_t)k < m ? mant[k] : '0';
        if ((size_t)exp10 + 1 < m) {
            out[o++] = '.';
            memcpy(out + o, mant + exp10 + 1, m - (size_t)exp10 - 1);
            o += m - (size_t)exp10 - 1;
        }
    }
    out[o] = '\0';
    return o;
}

static cel_value
convert(ev *e, cel_fn fn, cel_value x)
{
    switch (fn) {
    case CEL_F_TIMESTAMP:
        if (x.kind == CEL_TIMESTAMP)
            return x;
        if (x.kind == CEL_INT)
            return cel_ts_valid(x.v.i) ? mk_time(CEL_TIMESTAMP, x.v.i, 0)
                                       : err("timestamp out of range");
        if (x.kind == CEL_STRING) {
            int64_t sec;
            int32_t ns;
            if (cel_ts_parse(x.v.s.ptr, x.v.s.len, &sec, &ns) != 0)
                return err("timestamp(): not an RFC 3339 time in range");
            return mk_time(CEL_TIMESTAMP, sec, ns);
        }
        return err("no matching overload for timestamp()");
    case CEL_F_DURATION:
        if (x.kind == CEL_DURATION)
            return x;
        if (x.kind == CEL_STRING) {
            int64_t sec;
            int32_t ns;
            if (cel_dur_parse(x.v.s.ptr, x.v.s.len, &sec, &ns) != 0)
                return err("duration(): not a duration in range");
            return mk_time(CEL_DURATION, sec, ns);
        }
        return err("no matching overload for duration()");
    case CEL_F_INT:
        switch (x.kind) {
        case CEL_INT:
            return x;
        case CEL_TIMESTAMP:
            return mk_int(x.v.t.sec);
        case CEL_UINT:
            return x.v.u > INT64_MAX ? err("range error")
                                     : mk_int((int64_t)x.v.u);
        case CEL_DOUBLE:
            if (isnan(x.v.d) || x.v.d <= -9223372036854775808.0 ||
                x.v.d >= 9223372036854775808.0)
                return err("range error");
            return mk_int((int64_t)x.v.d);
        case CEL_STRING: {
            int64_t i;
            return parse_int(x.v.s.ptr, x.v.s.len, 0, &i, NULL) == 0
                       ? mk_int(i)
                       : err("cannot convert string to int");
        }
        default:
            return err("no matching overload for int()");
        }
        return err("not reached");
    case CEL_F_UINT:
        switch (x.kind) {
        case CEL_UINT:
            return x;
        case CEL_INT:
            return x.v.i < 0 ? err("range error") : mk_uint((uint64_t)x.v.i);
        case CEL_DOUBLE:
            if (!(x.v.d > -1.0 && x.v.d < 18446744073709551616.0))
                return err("range error");
            return mk_uint((uint64_t)x.v.d);
        case CEL_STRING: {
            uint64_t u;
            return parse_int(x.v.s.ptr, x.v.s.len, 1, NULL, &u) == 0
                       ? mk_uint(u)
                       : err("cannot convert string to uint");
        }
        default:
            return err("no matching overload for uint()");
        }
        return err("not reached");
    case CEL_F_DOUBLE:
        switch (x.kind) {
        case CEL_DOUBLE:
            return x;
        case CEL_INT:
            return mk_double((double)x.v.i);
        case CEL_UINT:
            return mk_double((double)x.v.u);
        case CEL_STRING: {
            char buf[128], *end;
            if (x.v.s.len == 0 || x.v.s.len >= sizeof(buf))
                return err("cannot convert string to double");
            memcpy(buf, x.v.s.ptr, x.v.s.len);
            buf[x.v.s.len] = '\0';
            if (buf[0] == ' ' || buf[0] == '\t')
                return err("cannot convert string to double");
            double d = strtod(buf, &end);
            return *end ? err("cannot convert string to double") : mk_double(d);
        }
        default:
            return err("no matching overload for double()");
        }
        return err("not reached");
    case CEL_F_STRING: {
        char buf[64];
        size_t n;
        switch (x.kind) {
        case CEL_STRING:
            return x;
        case CEL_BYTES:
            if (charge(e, x.v.s.len, 0))
                return limit("evaluation step limit reached");
            if (!utf8_valid(x.v.s.ptr, x.v.s.len))
                return err("invalid UTF-8 in bytes, cannot convert to string");
            return mk_str(CEL_STRING, x.v.s.ptr, x.v.s.len);
        case CEL_BOOL:
            return x.v.b ? mk_str(CEL_STRING, "true", 4)
                         : mk_str(CEL_STRING, "false", 5);
        case CEL_INT:
            n = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)x.v.i);
            break;
        case CEL_UINT:
            n = (size_t)snprintf(buf, sizeof(buf), "%llu",
                                 (unsigned long long)x.v.u);
            break;
        case CEL_DOUBLE:
            n = format_double(x.v.d, buf, sizeof(buf));
            break;
        case CEL_TIMESTAMP:
            n = cel_ts_format(x.v.t.sec, x.v.t.ns, buf, sizeof(buf));
            break;
        case CEL_DURATION:
            n = cel_dur_format(x.v.t.sec, x.v.t.ns, buf, sizeof(buf));
            break;
        default:
            return err("no matching overload for string()");
        }
        char *p = scratch(e, n);
        if (!p)
            return limit("scratch space exhausted");
        memcpy(p, buf, n);
        return mk_str(CEL_STRING, p, n);
    }
    case CEL_F_BYTES:
        if (x.kind == CEL_BYTES || x.kind == CEL_STRING)
            return mk_str(CEL_BYTES, x.v.s.ptr, x.v.s.len);
        return err("no matching overload for bytes()");
    case CEL_F_BOOL:
        if (x.kind == CEL_BOOL)
            return x;
        if (x.kind == CEL_STRING) {
            static const char *const t[] = {"1", "t", "true", "TRUE", "True"};
            static const char *const f[] = {"0", "f", "false", "FALSE",
                                            "False"};
            for (size_t i = 0; i < 5; i++) {
                if (x.v.s.len == strlen(t[i]) &&
                    memcmp(x.v.s.ptr, t[i], x.v.s.len) == 0)
                    return mk_bool(1);
                if (x.v.s.len == strlen(f[i]) &&
                    memcmp(x.v.s.ptr, f[i], x.v.s.len) == 0)
                    return mk_bool(0);
            }
            return err("cannot convert string to bool");
        }
        return err("no matching overload for bool()");
    default:
        return err("no matching overload");
    }
}

/* getFullYear() ... getMilliseconds(), with an optional time zone. */
static cel_value
time_field(ev *e, const cel_node *n, cel_value a)
{
    int tz = n->tz_min;

    if (a.kind == CEL_DURATION && n->nargs == 1) {
        switch (n->fn) {
        case CEL_F_GET_HOURS:
            return mk_int(a.v.t.sec / 3600);
        case CEL_F_GET_MINUTES:
            return mk_int(a.v.t.sec / 60);
        case CEL_F_GET_SECONDS:
            return mk_int(a.v.t.sec);
        case CEL_F_GET_MILLISECONDS:
            return mk_int(a.v.t.ns / 1000000);
        default:
            return err("no matching overload for a duration accessor");
        }
    }
    if (a.kind != CEL_TIMESTAMP)
        return err("no matching overload for a timestamp accessor");
    if (n->nargs == 2 && n->args[1]->op != CEL_N_LIT) {
        cel_value z = eval(e, n->args[1]);
        if (z.kind == CEL_ERROR)
            return z;
        if (z.kind != CEL_STRING)
            return err("no matching overload: a time zone is a string");
        /* maybe an IANA name, which Envoy reads and gwf cannot: a limit,
         * so that a Deny policy fails closed rather than open */
        if (cel_tz_parse(z.v.s.ptr, z.v.s.len, &tz) != 0)
            return limit("unsupported time zone (gwf takes fixed offsets "
                         "such as '+05:30' and 'UTC')");
    }
    cel_civil_time c;
    cel_civil(a.v.t.sec, tz, &c);
    switch (n->fn) {
    case CEL_F_GET_FULL_YEAR:
        return mk_int(c.year);
    case CEL_F_GET_MONTH:
        return mk_int(c.month - 1);
    case CEL_F_GET_DATE:
        return mk_int(c.mday);
    case CEL_F_GET_DAY_OF_MONTH:
        return mk_int(c.mday - 1);
    case CEL_F_GET_DAY_OF_WEEK:
        return mk_int(c.wday);
    case CEL_F_GET_DAY_OF_YEAR:
        return mk_int(c.yday);
    case CEL_F_GET_HOURS:
        return mk_int(c.hour);
    case CEL_F_GET_MINUTES:
        return mk_int(c.min);
    case CEL_F_GET_SECONDS:
        return mk_int(c.sec);
    default:
        return mk_int(a.v.t.ns / 1000000);
    }
}

static cel_value
call(ev *e, const cel_node *n)
{
    cel_value a = eval(e, n->args[0]);
    if (a.kind == CEL_ERROR)
        return a;
    switch (n->fn) {
    case CEL_F_SIZE:
        switch (a.kind) {
        case CEL_STRING:
            if (charge(e, a.v.s.len, 0))
                return limit("evaluation step limit reached");
            return mk_int((int64_t)code_points(a.v.s.ptr, a.v.s.len));
        case CEL_BYTES:
            return mk_int((int64_t)a.v.s.len);
        case CEL_LIST:
            return mk_int((int64_t)a.v.l.n);
        case CEL_MAP:
            if (a.src != CEL_MAP_LITERAL)
                return err("the size of a request map is not known");
            return mk_int((int64_t)a.v.l.n);
        default:
            return err("no matching overload for size()");
        }
        return err("not reached");
    case CEL_F_STARTS:
    case CEL_F_ENDS:
    case CEL_F_CONTAINS:
    case CEL_F_MATCHES: {
        cel_value b = eval(e, n->args[1]);
        if (b.kind == CEL_ERROR)
            return b;
        if (a.kind != CEL_STRING || b.kind != CEL_STRING)
            return err("no matching overload");
        const char *s = a.v.s.ptr, *t = b.v.s.ptr;
        size_t sl = a.v.s.len, tl = b.v.s.len;
        if (n->fn == CEL_F_STARTS)
            return mk_bool(tl <= sl && (tl == 0 || memcmp(s, t, tl) == 0));
        if (n->fn == CEL_F_ENDS)
            return mk_bool(tl <= sl &&
                           (tl == 0 || memcmp(s + sl - tl, t, tl) == 0));
        if (charge(e, sl, n->fn == CEL_F_MATCHES ? CEL_MATCH_STEPS : 0))
            return limit("evaluation step limit reached");
        if (n->fn == CEL_F_CONTAINS)
            return mk_bool(tl == 0 || (sl >= tl && memmem(s, sl, t, tl)));
        if (!n->re || !e->sc->match_data)
            return err("matches(): no compiled pattern");
        int rc = pcre2_match(n->re, (PCRE2_SPTR)(sl ? s : ""), sl, 0, 0,
                             e->sc->match_data, e->sc->match_ctx);
        if (rc >= 0)
            return mk_bool(1);
        if (rc == PCRE2_ERROR_NOMATCH)
            return mk_bool(0);
        return limit("matches(): the pattern hit PCRE2's match limit");
    }
    case CEL_F_TYPE:
        return mk_type(a.kind);
    case CEL_F_DYN:
        return a;
    default:
        if (n->fn >= CEL_F_GET_FULL_YEAR && n->fn <= CEL_F_GET_MILLISECONDS)
            return time_field(e, n, a);
        return convert(e, n->fn, a);
    }
}

/* all, exists, exists_one, map, filter over a list's items or a map's
 * keys. */
static cel_value
comprehension(ev *e, const cel_node *n)
{
    cel_value range = eval(e, n->args[0]), error = {0}, *out = NULL;
    size_t count, stride, kept = 0;
    int64_t ones = 0;
    int erred = 0;

    if (range.kind == CEL_ERROR)
        return range;
    if (range.kind == CEL_LIST)
        stride = 1;
    else if (range.kind == CEL_MAP && range.src == CEL_MAP_LITERAL)
        stride = 2;
    else
        return err("no matching overload for a macro's range");
    count = range.v.l.n;
    if ((n->fn == CEL_F_MAP || n->fn == CEL_F_FILTER) && count) {
        out = scratch_values(e, count);
        if (!out)
            return limit("scratch space exhausted by a map() or filter() "
                         "result");
    }
    for (size_t i = 0; i < count; i++) {
        cel_value x = range.v.l.items[i * stride], p;
        e->vars[n->slot] = x;
        p = eval(e, n->args[2]);
        if (p.kind == CEL_ERROR && p.src)
            return p; /* a gwf limit is never absorbed */
        if (n->fn == CEL_F_MAP && n->nargs == 3) {
            if (p.kind == CEL_ERROR)
                return p;
            out[kept++] = p;
            continue;
        }
        if (p.kind != CEL_BOOL && p.kind != CEL_ERROR)
            p = err("no matching overload: a macro's predicate is not a bool");
        if (n->fn == CEL_F_ALL || n->fn == CEL_F_EXISTS) {
            /* && (all) and || (exists): the deciding value wins over an
             * error seen before or after it */
            int decide = n->fn == CEL_F_EXISTS;
            if (p.kind == CEL_BOOL && p.v.b == decide)
                return p;
            if (p.kind == CEL_ERROR && !erred) {
                error = p;
                erred = 1;
            }
            continue;
        }
        if (p.kind == CEL_ERROR)
            return p;
        switch (n->fn) {
        case CEL_F_EXISTS_ONE:
            ones += p.v.b;
            break;
        case CEL_F_FILTER:
            if (p.v.b)
                out[kept++] = x;
            break;
        default: /* map(x, p, e) */
            if (p.v.b) {
                cel_value v = eval(e, n->args[3]);
                if (v.kind == CEL_ERROR)
                    return v;
                out[kept++] = v;
            }
            break;
        }
    }
    switch (n->fn) {
    case CEL_F_ALL:
    case CEL_F_EXISTS:
        return erred ? error : mk_bool(n->fn == CEL_F_ALL);
    case CEL_F_EXISTS_ONE:
        return mk_bool(ones == 1);
    default:
        return mk_seq(CEL_LIST, out, kept);
    }
}

static cel_value
eval(ev *e, const cel_node *n)
{
    if (++e->steps > CEL_MAX_STEPS)
        return limit("evaluation step limit reached");
    switch (n->op) {
    case CEL_N_LIT:
        return n->lit;
    case CEL_N_VAR:
        return e->vars[n->slot];
    case CEL_N_COMP:
        return comprehension(e, n);
    case CEL_N_ATTR: {
        gwf_view v;
        if (n->attr == CEL_ATTR_TIME) {
            if (!e->have_time) {
                if (!e->act->time_ns ||
                    !e->act->time_ns(e->act->ctx, &e->time_ns))
                    return err("request.time is not known");
                e->have_time = 1;
            }
            int64_t sec = e->time_ns / 1000000000, ns = e->time_ns % 1000000000;
            if (ns < 0) {
                ns += 1000000000;
                sec--;
            }
            return mk_time(CEL_TIMESTAMP, sec, (int32_t)ns);
        }
        if (n->attr == CEL_ATTR_HEADERS || n->attr == CEL_ATTR_FILTER_META) {
            cel_value m = mk_seq(CEL_MAP, NULL, 0);
            m.src = n->map_src;
            return m;
        }
        int r = e->act->attr(e->act->ctx, n->attr, &v);
        if (r < 0)
            return limit("the host could not read an attribute");
        if (r == 0)
            return err("no such attribute");
        if (n->type == CEL_INT) {
            int64_t i;
            if (parse_int(v.ptr, v.len, 0, &i, NULL) != 0)
                return err("no such attribute");
            return mk_int(i);
        }
        return mk_str(CEL_STRING, v.ptr, v.len);
    }
    case CEL_N_SELECT:
    case CEL_N_HAS:
    case CEL_N_INDEX: {
        cel_value c = eval(e, n->args[0]), k;
        if (c.kind == CEL_ERROR)
            return c;
        if (n->op == CEL_N_INDEX) {
            k = eval(e, n->args[1]);
            if (k.kind == CEL_ERROR)
                return k;
        } else {
            k = mk_str(CEL_STRING, n->text, n->text_len);
            if (c.kind != CEL_MAP)
                return err("type has no fields");
        }
        if (n->op == CEL_N_HAS) {
            cel_value out;
            int f = map_find(e, &c, &k, &out);
            return f < 0 ? out : mk_bool(f);
        }
        return index_op(e, c, k);
    }
    case CEL_N_CALL:
        return call(e, n);
    case CEL_N_LIST:
    case CEL_N_MAP:
        return list_value(e, n);
    case CEL_N_COND: {
        cel_value c = eval(e, n->args[0]);
        if (c.kind == CEL_ERROR)
            return c;
        if (c.kind != CEL_BOOL)
            return err("no matching overload for '_?_:_'");
        return eval(e, n->args[c.v.b ? 1 : 2]);
    }
    case CEL_N_AND:
    case CEL_N_OR: {
        int absorb = n->op == CEL_N_OR; /* the value that decides */
        cel_value a = eval(e, n->args[0]);
        if (a.kind == CEL_BOOL && a.v.b == absorb)
            return a;
        if (a.kind == CEL_ERROR && a.src)
            return a; /* a gwf limit is never absorbed */
        cel_value b = eval(e, n->args[1]);
        if (b.kind == CEL_BOOL && b.v.b == absorb)
            return b;
        if (b.kind == CEL_ERROR && b.src)
            return b;
        if (a.kind == CEL_ERROR)
            return a;
        if (b.kind == CEL_ERROR)
            return b;
        if (a.kind != CEL_BOOL || b.kind != CEL_BOOL)
            return err("no matching overload for a logical operator");
        return mk_bool(!absorb);
    }
    case CEL_N_NOT: {
        cel_value a = eval(e, n->args[0]);
        if (a.kind == CEL_ERROR)
            return a;
        return a.kind == CEL_BOOL ? mk_bool(!a.v.b)
                                  : err("no matching overload for '!_'");
    }
    case CEL_N_NEG: {
        cel_value a = eval(e, n->args[0]);
        if (a.kind == CEL_ERROR)
            return a;
        if (a.kind == CEL_INT)
            return a.v.i == INT64_MIN ? err("integer overflow")
                                      : mk_int(-a.v.i);
        if (a.kind == CEL_DOUBLE)
            return mk_double(-a.v.d);
        return err("no matching overload for '-_'");
    }
    case CEL_N_BIN: {
        cel_value a = eval(e, n->args[0]);
        if (a.kind == CEL_ERROR)
            return a;
        cel_value b = eval(e, n->args[1]);
        if (b.kind == CEL_ERROR)
            return b;
        switch (n->fn) {
        case CEL_F_EQ:
        case CEL_F_NE: {
            cel_value error;
            int eq = values_equal(e, &a, &b, &error);
            if (eq < 0)
                return error;
            return mk_bool(n->fn == CEL_F_EQ ? eq : !eq);
        }
        case CEL_F_LT:
        case CEL_F_LE:
        case CEL_F_GT:
        case CEL_F_GE: {
            int r = values_cmp(&a, &b);
            if (r == -2)
                return err("no matching overload for a comparison");
            if (r == 2)
                return mk_bool(0); /* NaN */
            switch (n->fn) {
            case CEL_F_LT:
                return mk_bool(r < 0);
            case CEL_F_LE:
                return mk_bool(r <= 0);
            case CEL_F_GT:
                return mk_bool(r > 0);
            default:
                return mk_bool(r >= 0);
            }
            return err("not reached");
        }
        case CEL_F_IN:
            return in_op(e, a, b);
        default:
            return arith(e, n->fn, a, b);
        }
        return err("not reached");
    }
    default:
        return err("unsupported expression");
    }
}

cel_value
cel_eval_value(const cel_program *p, const cel_activation *act, cel_scratch *sc)
{
    ev e;
    e.act = act;
    e.sc = sc;
    e.steps = 0;
    e.have_time = 0;
    e.time_ns = 0;
    sc->used = 0;
    return eval(&e, p->root);
}

cel_result
cel_eval(const cel_program *p, const cel_activation *act, cel_scratch *sc,
         const char **why)
{
    cel_value v = cel_eval_value(p, act, sc);

    if (why)
        *why = NULL;
    if (v.kind == CEL_ERROR) {
        if (why)
            *why = v.v.s.ptr;
        return v.src ? CEL_RESULT_LIMIT : CEL_RESULT_FALSE;
    }
    if (v.kind != CEL_BOOL) {
        if (why)
            *why = "the expression's value is not a bool";
        return CEL_RESULT_FALSE;
    }
    return v.v.b ? CEL_RESULT_TRUE : CEL_RESULT_FALSE;
}

int
cel_scratch_init(cel_scratch *sc, size_t size)
{
    memset(sc, 0, sizeof(*sc));
    sc->buf = malloc(size);
    sc->match_data = pcre2_match_data_create(1, NULL);
    sc->match_ctx = pcre2_match_context_create(NULL);
    if (!sc->buf || !sc->match_data || !sc->match_ctx) {
        cel_scratch_free(sc);
        return -1;
    }
    pcre2_set_match_limit(sc->match_ctx, CEL_MATCH_LIMIT);
    pcre2_set_heap_limit(sc->match_ctx, CEL_MATCH_HEAP_KIB);
    sc->size = size;
    return 0;
}

void
cel_scratch_free(cel_scratch *sc)
{
    free(sc->buf);
    pcre2_match_data_free(sc->match_data);
    pcre2_match_context_free(sc->match_ctx);
    memset(sc, 0, sizeof(*sc));
}
