/*
 * filter.c - the jwt_auth hooks: find the token, verify it, check its
 * claims, then either let the request go on (with claims left for the
 * plugins after us and copied to headers) or answer 401/403.
 *
 * Several providers mean "any one of them" (kgateway): each provider looks
 * for a token where its tokenSource says (its "place"); the first provider
 * whose token verifies gives the claims. But every token the request
 * carries must verify: every value of a repeated header, every occurrence
 * of a query parameter or cookie is a candidate, two candidates in one
 * place are ambiguous, and a token in any provider's place that no
 * provider of that place verified refuses the request - so nothing
 * unverified is forwarded beside a verified token. With no token at all
 * the request is refused (Strict) or passed on unauthenticated
 * (AllowMissing); a token that is present but bad is always refused: 403
 * when only the audience was wrong, else 401 with `WWW-Authenticate:
 * Bearer realm="...", error="invalid_token"` (RFC 6750 3.1). Tokens never
 * reach a log line.
 *
 * Verification is synchronous when the keys are in memory: inline keys,
 * or a remote JWKS already fetched (remote.c). A request that needs keys
 * still being fetched - the first fetch, or a refetch for an unknown kid
 * - pauses as a `waiter` until that fetch ends or fetchTimeout passes,
 * then is decided again without waiting. The waiter's gwf_wait owns the
 * timeout timer and waiter_free ends it, so whichever way the wait ends,
 * nothing of it fires later. A verified token is remembered,
 * already rendered as values and headers, in a per-worker cache
 * (cache.c), with the payload part forwardPayloadHeader sends. The stream
 * context is the worker state itself, so a request allocates nothing
 * unless it verifies a new token, has to wait, or has a token taken out
 * of its query string or cookies.
 */
#include "jwt_auth.h"

#include <gwf/sdk_wait.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define JWT_REALM_MAX 256
/* How long a verified token without exp may stay cached. */
#define JWT_CACHE_NO_EXP_S 300

typedef struct waiter waiter;

typedef struct jwt_worker {
    const jwt_config *cfg;
    jwt_cache *cache;
    jwt_fetcher *fetcher; /* NULL without remote providers */
    waiter *waiters;      /* streams paused for a JWKS fetch */
} jwt_worker;

/* A stream paused until `provider`'s keys arrive, or its wait times out. */
struct waiter {
    waiter *next;
    jwt_worker *w;
    gwf_stream *s;
    size_t provider;
    gwf_wait wait; /* owns the fetchTimeout timer */
};

/* The config plus a cache-less worker for hosts that start no worker. */
typedef struct jwt_plugin {
    jwt_config cfg;
    jwt_worker no_worker;
    int curl_initialised;
} jwt_plugin;

/* The outcome of looking at one provider's token. */
typedef struct attempt {
    jwt_result result;
    json_t *claims; /* the payload while it is checked */
    int wait;       /* the keys are being fetched: pause */
} attempt;

/* What evaluate() did with the request. */
typedef enum verdict { VERDICT_ALLOWED, VERDICT_REPLIED, VERDICT_WAIT } verdict;

/* When evaluate() runs, and so how a token it cannot decide at once ends.
 * DECIDE_EARLY is request_early, alone in the chain: only tokens in the
 * worker's cache are decided; one to verify (or to wait for keys for)
 * is VERDICT_WAIT, left to the stream, before anything was changed. */
typedef enum decide {
    DECIDE_NOW,      /* after a wait: what is known now */
    DECIDE_MAY_WAIT, /* request_headers: may pause for a provider's keys */
    DECIDE_EARLY
} decide;

/* ------------------------------------------------------------------------
 * Finding the token
 * --------------------------------------------------------------------- */

static gwf_view
trim_spaces(gwf_view v)
{
    while (v.len && (v.ptr[0] == ' ' || v.ptr[0] == '\t'))
        v.ptr++, v.len--;
    while (v.len && (v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t'))
        v.len--;
    return v;
}

/* How many candidate tokens a provider sees in its place. Two means "more
 * than one": the request is ambiguous and is refused, whatever they are
 * (an upstream could read another one than the one we verified). */
#define JWT_MANY_TOKENS 2
/* What a place counts when the host could not read it (out of memory):
 * not "no token", which AllowMissing lets through and which would hide a
 * second token, but a place the request is refused for. */
#define JWT_PLACE_UNREAD SIZE_MAX

/* Count a candidate; the first one is the token. */
static void
add_candidate(gwf_view value, gwf_view *token, size_t *count)
{
    if (value.len == 0)
        return; /* "Bearer " or "name=" with nothing: not a token */
    if (*count == 0)
        *token = value;
    (*count)++;
}

/* Every value of the header is a candidate; a value that does not start
 * with the configured prefix is some other credential (Basic ...), not a
 * token, as in Envoy. */
static size_t
tokens_from_header(gwf_stream *s, const jwt_provider *p, gwf_view *token)
{
    size_t prefix_len = p->prefix_len, count = 0;
    gwf_view v;

    for (size_t i = 0; count < JWT_MANY_TOKENS; i++) {
        gwf_status st = s->host->header_get(s, GWF_REQUEST, p->source_name,
                                            p->source_name_len, i, &v);
        if (st == GWF_ERR_NOT_FOUND)
            break;
        if (st != GWF_OK)
            return JWT_PLACE_UNREAD;
        /* The auth scheme is case-insensitive (RFC 9110 11.1). */
        if (v.len < prefix_len ||
            strncasecmp(v.ptr, p->prefix, prefix_len) != 0)
            continue;
        v.ptr += prefix_len;
        v.len -= prefix_len;
        add_candidate(trim_spaces(v), token, &count);
    }
    return count;
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Does `pair` ("name=value") carry `name`? Query names are compared
 * percent-decoded, because the upstream decodes them: "%61ccess_token"
 * is access_token to it. Cookie names are compared as they are. On a
 * match, the value is stored in `value`. */
static int
pair_matches(gwf_view pair, const char *name, int decode, gwf_view *value)
{
    const char *eq = memchr(pair.ptr, '=', pair.len);
    size_t name_len = strlen(name), k = 0, n;

    if (!eq)
        return 0;
    n = (size_t)(eq - pair.ptr);
    for (size_t i = 0; i < n; i++, k++) {
        char c = pair.ptr[i];
        if (decode && c == '%' && i + 2 < n &&
            hex_value(pair.ptr[i + 1]) >= 0 &&
            hex_value(pair.ptr[i + 2]) >= 0) {
            c = (char)(hex_value(pair.ptr[i + 1]) * 16 +
                       hex_value(pair.ptr[i + 2]));
            i += 2;
        }
        if (k >= name_len || c != name[k])
            return 0;
    }
    if (k != name_len)
        return 0;
    value->ptr = eq + 1;
    value->len = pair.len - n - 1;
    return 1;
}

/* Count the pairs of `list` (`sep`-separated) that carry `name`. */
static void
tokens_from_pairs(gwf_view list, char sep, const char *name, int decode,
                  gwf_view *token, size_t *count)
{
    const char *p = list.ptr, *end = list.ptr + list.len;

    while (p < end && *count < JWT_MANY_TOKENS) {
        const char *stop = memchr(p, sep, (size_t)(end - p));
        gwf_view pair = {p, stop ? (size_t)(stop - p) : (size_t)(end - p)};
        gwf_view value;
        if (pair_matches(trim_spaces(pair), name, decode, &value))
            add_candidate(value, token, count);
        p = stop ? stop + 1 : end;
    }
}

static size_t
tokens_from_query(gwf_stream *s, const jwt_provider *p, gwf_view *token)
{
    gwf_view path;
    const char *q;
    size_t count = 0;
    gwf_status st = gwf_header_get(s, GWF_REQUEST, ":path", &path);

    if (st != GWF_OK)
        return st == GWF_ERR_NOT_FOUND ? 0 : JWT_PLACE_UNREAD;
    q = memchr(path.ptr, '?', path.len);
    if (!q)
        return 0;
    path.len -= (size_t)(q + 1 - path.ptr);
    path.ptr = q + 1;
    tokens_from_pairs(path, '&', p->source_name, 1, token, &count);
    return count;
}

/* Every cookie header, every pair of each. */
static size_t
tokens_from_cookies(gwf_stream *s, const jwt_provider *p, gwf_view *token)
{
    gwf_view cookies;
    size_t count = 0;

    for (size_t i = 0; count < JWT_MANY_TOKENS; i++) {
        gwf_status st =
            s->host->header_get(s, GWF_REQUEST, "cookie", 6, i, &cookies);
        if (st == GWF_ERR_NOT_FOUND)
            break;
        if (st != GWF_OK)
            return JWT_PLACE_UNREAD;
        tokens_from_pairs(cookies, ';', p->source_name, 0, token, &count);
    }
    return count;
}

/* The candidate tokens in `p`'s place: 0, 1 (then `*token` is it),
 * JWT_MANY_TOKENS, or JWT_PLACE_UNREAD. */
static size_t
find_tokens(gwf_stream *s, const jwt_provider *p, gwf_view *token)
{
    switch (p->source) {
    case JWT_SOURCE_QUERY:
        return tokens_from_query(s, p, token);
    case JWT_SOURCE_COOKIE:
        return tokens_from_cookies(s, p, token);
    case JWT_SOURCE_HEADER:
    default:
        return tokens_from_header(s, p, token);
    }
}

/* Remove every value of request header `name`; none there is done too.
 * Any other answer (out of memory) is the host's failure: the value may
 * still reach the upstream. */
static gwf_status
remove_header(gwf_stream *s, const char *name)
{
    gwf_status st = gwf_header_remove(s, GWF_REQUEST, name);
    return st == GWF_ERR_NOT_FOUND ? GWF_OK : st;
}

/* Rewrite `list` without the pair `name`=...; the result replaces the
 * header `header` (":path" or "cookie"), or removes it when empty. */
static gwf_status
remove_pair(gwf_stream *s, const char *header, gwf_view list, size_t skip,
            char sep, const char *name)
{
    gwf_strbuf out = {0};
    const char *p = list.ptr + skip, *end = list.ptr + list.len;
    int first = 1;

    gwf_strbuf_append(&out, list.ptr, skip);
    while (p < end) {
        const char *stop = memchr(p, sep, (size_t)(end - p));
        gwf_view pair = {p, stop ? (size_t)(stop - p) : (size_t)(end - p)};
        gwf_view trimmed = trim_spaces(pair), value;
        /* Every pair that carries the name, as tokens_from_pairs counts
         * them (an empty one too: no credential-looking leftover). */
        int match = pair_matches(trimmed, name, sep == '&', &value);
        if (!match && trimmed.len > 0) {
            if (!first)
                gwf_strbuf_append(&out, sep == ';' ? "; " : "&",
                                  sep == ';' ? 2 : 1);
            gwf_strbuf_append(&out, trimmed.ptr, trimmed.len);
            first = 0;
        }
        p = stop ? stop + 1 : end;
    }
    if (out.failed) {
        gwf_strbuf_free(&out);
        return GWF_ERR_NO_MEMORY;
    }
    if (sep == '&' && first && out.len > 0 && out.data[out.len - 1] == '?')
        out.len--; /* "/x?" -> "/x" */
    gwf_status st =
        out.len == 0 ? remove_header(s, header)
                     : s->host->header_set(s, GWF_REQUEST, header,
                                           strlen(header), out.data, out.len);
    gwf_strbuf_free(&out);
    return st;
}

/* forwardToken false: the upstream does not see the credential.
 * Returns what the host could not do: the token may still be there. */
static gwf_status
strip_token(gwf_stream *s, const jwt_provider *p)
{
    gwf_view v;
    gwf_status st = GWF_OK;

    switch (p->source) {
    case JWT_SOURCE_HEADER:
        return remove_header(s, p->source_name);
    case JWT_SOURCE_QUERY:
        st = gwf_header_get(s, GWF_REQUEST, ":path", &v);
        if (st != GWF_OK)
            return st == GWF_ERR_NOT_FOUND ? GWF_OK : st;
        const char *q = memchr(v.ptr, '?', v.len);
        if (q) {
            char *copy = strndup(v.ptr, v.len);
            gwf_view own = {copy, v.len};
            st = copy ? remove_pair(s, ":path", own, (size_t)(q - v.ptr) + 1,
                                    '&', p->source_name)
                      : GWF_ERR_NO_MEMORY;
            free(copy);
        }
        return st;
    case JWT_SOURCE_COOKIE:
        /* Cookies may come in several lines: fold them into one. */
        {
            gwf_strbuf all = {0};
            gwf_view own;
            for (size_t i = 0;
                 (st = s->host->header_get(s, GWF_REQUEST, "cookie", 6, i,
                                           &v)) == GWF_OK;
                 i++) {
                if (i)
                    gwf_strbuf_append(&all, "; ", 2);
                gwf_strbuf_append(&all, v.ptr, v.len);
            }
            if (st == GWF_ERR_NOT_FOUND)
                st = all.failed ? GWF_ERR_NO_MEMORY : GWF_OK;
            if (st == GWF_OK && all.data) {
                own.ptr = all.data;
                own.len = all.len;
                st = remove_pair(s, "cookie", own, 0, ';', p->source_name);
            }
            gwf_strbuf_free(&all);
        }
        return st;
    }
    return GWF_OK;
}

/* ------------------------------------------------------------------------
 * Claims
 * --------------------------------------------------------------------- */

/* A NumericDate claim as whole seconds; 0 absent, -1 not a number. */
static int
numeric_date(const json_t *claims, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);

    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v) && json_real_value(v) > -9e15 &&
        json_real_value(v) < 9e15) {
        *out = (int64_t)json_real_value(v);
        return 1;
    }
    return -1;
}

static int
audience_allowed(const jwt_provider *p, const json_t *claims)
{
    const json_t *aud = json_object_get(claims, "aud"), *item;
    size_t i;

    if (p->audience_count == 0)
        return 1;
    for (size_t k = 0; k < p->audience_count; k++) {
        if (json_is_string(aud) &&
            strcmp(json_string_value(aud), p->audiences[k]) == 0)
            return 1;
        if (json_is_array(aud)) {
            json_array_foreach(aud, i, item)
            {
                if (json_is_string(item) &&
                    strcmp(json_string_value(item), p->audiences[k]) == 0)
                    return 1;
            }
        }
    }
    return 0;
}

/* Time arithmetic on values a client chose (exp, nbf, iat can be anything
 * up to INT64_MAX or down to INT64_MIN, and are looked at before the
 * signature): saturate instead of overflowing. A saturated bound is still
 * the right answer: exp = INT64_MAX + skew means "never expires". */
static int64_t
time_add(int64_t a, int64_t b)
{
    int64_t sum;

    if (__builtin_add_overflow(a, b, &sum))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return sum;
}

static int64_t
time_sub(int64_t a, int64_t b)
{
    int64_t diff;

    if (__builtin_sub_overflow(a, b, &diff))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return diff;
}

/* exp, nbf, iss, lifetime. Audience last: its failure means 403.
 * Valid while now < exp + skew and now + skew >= nbf (RFC 7519 4.1.4,
 * 4.1.5). With maxLifetime, exp - iat must lie in [0, maxLifetime]: a
 * token issued after it expires has no sane lifetime. */
static jwt_result
check_claims(const jwt_provider *p, const json_t *claims, int64_t now,
             int64_t *exp_out)
{
    int64_t exp = 0, nbf = 0, iat = 0, lifetime;
    int has_exp = numeric_date(claims, "exp", &exp);
    int has_nbf = numeric_date(claims, "nbf", &nbf);
    int has_iat = numeric_date(claims, "iat", &iat);
    const json_t *iss;

    if (has_exp < 0 || has_nbf < 0 || has_iat < 0)
        return JWT_ERR_MALFORMED;
    if (p->issuer) {
        iss = json_object_get(claims, "iss");
        if (!json_is_string(iss) ||
            strcmp(json_string_value(iss), p->issuer) != 0)
            return JWT_ERR_ISSUER;
    }
    if (has_exp && now >= time_add(exp, p->clock_skew_s))
        return JWT_ERR_EXPIRED;
    if (has_nbf && time_add(now, p->clock_skew_s) < nbf)
        return JWT_ERR_NOT_YET_VALID;
    if (!has_exp && (p->require_expiration || p->max_lifetime_s))
        return JWT_ERR_NO_EXPIRATION;
    if (p->max_lifetime_s) {
        lifetime = has_iat ? time_sub(exp, iat) : -1;
        if (lifetime < 0 || lifetime > p->max_lifetime_s)
            return JWT_ERR_LIFETIME;
    }
    if (!audience_allowed(p, claims))
        return JWT_ERR_AUDIENCE;
    *exp_out = has_exp ? time_add(exp, p->clock_skew_s)
                       : time_add(now, JWT_CACHE_NO_EXP_S);
    return JWT_OK;
}

static const jwt_jwks *
keys_of(const jwt_worker *w, size_t index)
{
    const jwt_provider *p = &w->cfg->providers[index];
    return p->remote_url ? jwt_fetcher_keys(w->fetcher, p->keys_from) : p->jwks;
}

/* -- A verified token, rendered once -------------------------------------
 *
 * What a verified token leaves on a request - the shared values and the
 * claimsToHeaders values - is rendered to text once, when the token is
 * verified, and cached with it, so a cache hit costs no JSON work. The
 * values are lent to the stream (value_provide), not copied into it: a
 * stream holds a reference to the rendered token until it ends, so the
 * cache may drop or replace the entry meanwhile. One worker's cache and
 * streams are one thread's: the count needs no atomics. */

typedef struct rendered_value {
    char *key; /* "jwt_auth.claim.<name>" */
    size_t key_len;
    gwf_value_type type;
    char *data;
    size_t len;
} rendered_value;

typedef struct verified {
    unsigned refs;  /* the cache's or the verifier's, and each stream's */
    char *provider; /* jwt_auth.provider: the name, or "providers[<i>]" */
    size_t provider_len;
    rendered_value *values;
    size_t value_count;
    gwf_strbuf *headers; /* one per claimsToHeaders entry; data NULL: none */
    size_t header_count;
    gwf_strbuf payload; /* forwardPayloadHeader: the base64url payload */
} verified;

static void
verified_free(void *arg)
{
    verified *v = arg;

    if (!v || --v->refs > 0)
        return;
    free(v->provider);
    for (size_t i = 0; i < v->value_count; i++) {
        free(v->values[i].key);
        free(v->values[i].data);
    }
    for (size_t i = 0; i < v->header_count; i++)
        gwf_strbuf_free(&v->headers[i]);
    gwf_strbuf_free(&v->payload);
    free(v->values);
    free(v->headers);
    free(v);
}

/* One claim value as header text: strings as they are, arrays joined with
 * ",", anything else as compact JSON. */
static void
append_claim_text(gwf_strbuf *out, const json_t *v, int top)
{
    if (json_is_string(v)) {
        gwf_strbuf_append(out, json_string_value(v), json_string_length(v));
    } else if (top && json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            if (i)
                gwf_strbuf_append(out, ",", 1);
            append_claim_text(out, item, 0);
        }
    } else {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text)
            gwf_strbuf_append(out, text, strlen(text));
        else
            out->failed = 1;
        free(text);
    }
}

static int
render_values(verified *v, const json_t *claims)
{
    const char *key;
    json_t *claim;

    v->values = calloc(json_object_size(claims) + 1, sizeof(*v->values));
    if (!v->values)
        return -1;
    json_object_foreach((json_t *)claims, key, claim)
    {
        rendered_value *r = &v->values[v->value_count];
        size_t name_len = strlen(key);
        r->key_len = 15 + name_len;
        r->key = malloc(r->key_len + 1);
        if (!r->key)
            return -1;
        memcpy(r->key, "jwt_auth.claim.", 15);
        memcpy(r->key + 15, key, name_len + 1);
        v->value_count++; /* freed with v from here on */
        if (json_is_string(claim)) {
            r->type = GWF_VALUE_STRING;
            r->len = json_string_length(claim);
            r->data = malloc(r->len + 1);
            if (r->data)
                memcpy(r->data, json_string_value(claim), r->len + 1);
        } else {
            r->type = GWF_VALUE_JSON;
            r->data = json_dumps(claim, JSON_COMPACT | JSON_ENCODE_ANY);
            r->len = r->data ? strlen(r->data) : 0;
        }
        if (!r->data)
            return -1;
    }
    return 0;
}

static int
render_headers(verified *v, const jwt_provider *p, const json_t *claims)
{
    v->headers = calloc(p->claim_header_count + 1, sizeof(*v->headers));
    if (!v->headers)
        return -1;
    v->header_count = p->claim_header_count;
    for (size_t i = 0; i < p->claim_header_count; i++) {
        const jwt_claim_header *ch = &p->claims_to_headers[i];
        const json_t *claim = claims;
        gwf_strbuf *text = &v->headers[i];

        for (size_t k = 0; claim && k < ch->path_len; k++)
            claim = json_object_get(claim, ch->path[k]);
        if (!claim || json_is_null(claim))
            continue;
        append_claim_text(text, claim, 1);
        if (text->failed)
            return -1;
        /* A value a header cannot carry (CR, LF, NUL) is not sent at all:
         * cutting it would forward something the issuer never said. */
        if (text->data && !gwf_is_header_value(text->data, text->len))
            gwf_strbuf_free(text);
    }
    return 0;
}

/* The payload part, still base64url, as Envoy forwards it. `token` has
 * two dots: it parsed. */
static int
render_payload(verified *v, const jwt_provider *p, gwf_view token)
{
    const char *dot1, *dot2;

    if (!p->forward_payload_header)
        return 0;
    dot1 = memchr(token.ptr, '.', token.len);
    dot2 =
        dot1 ? memchr(dot1 + 1, '.', token.len - (size_t)(dot1 + 1 - token.ptr))
             : NULL;
    if (!dot2)
        return -1;
    gwf_strbuf_append(&v->payload, dot1 + 1, (size_t)(dot2 - dot1 - 1));
    return v->payload.failed ? -1 : 0;
}

static int
render_provider(verified *v, const jwt_provider *p, size_t index)
{
    char fallback[40];
    const char *name = p->name;

    if (!name) {
        snprintf(fallback, sizeof(fallback), "providers[%zu]", index);
        name = fallback;
    }
    v->provider_len = strlen(name);
    v->provider = strdup(name);
    return v->provider ? 0 : -1;
}

/* One reference, the caller's. */
static verified *
render(const jwt_provider *p, size_t index, const json_t *claims,
       gwf_view token)
{
    verified *v = calloc(1, sizeof(*v));

    if (!v)
        return NULL;
    v->refs = 1;
    if (render_provider(v, p, index) != 0 || render_values(v, claims) != 0 ||
        render_headers(v, p, claims) != 0 || render_payload(v, p, token) != 0) {
        verified_free(v);
        return NULL;
    }
    return v;
}

/* DECIDE_MAY_WAIT: a remote provider may ask to pause for its keys (the
 * first fetch, or a refetch for an unknown kid); after one wait it may
 * not. DECIDE_EARLY: a token not in the cache asks for the stream
 * (`a.wait`). On success `a.result` is JWT_OK and `*out` the rendered
 * token: borrowed from the cache when `*owned` is 0, else the caller's to
 * free. */
static attempt
verify_token(jwt_worker *w, size_t index, gwf_view token, int64_t now,
             decide when, verified **out, int *owned)
{
    const jwt_provider *p = &w->cfg->providers[index];
    const jwt_jwks *keys;
    attempt a = {JWT_OK, NULL, 0};
    json_error_t jerr;
    jwt_jws jws;
    int64_t valid_until = 0;
    int may_wait = when == DECIDE_MAY_WAIT;

    *owned = 0;
    *out = jwt_cache_get(w->cache, token.ptr, token.len, index, now);
    if (*out)
        return a;
    if (when == DECIDE_EARLY) {
        a.wait = 1;
        return a;
    }
    a.result = jwt_jws_parse(token.ptr, token.len, &jws);
    if (a.result != JWT_OK)
        return a;
    a.claims = json_loadb((const char *)jws.payload, jws.payload_len,
                          JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(a.claims))
        a.result = JWT_ERR_MALFORMED;
    /* Cheap checks first: a token for another issuer costs no verify. */
    if (a.result == JWT_OK)
        a.result = check_claims(p, a.claims, now, &valid_until);
    if (a.result == JWT_OK || a.result == JWT_ERR_AUDIENCE) {
        /* An audience failure is reported only for a genuine token. */
        jwt_result sig;
        keys = keys_of(w, index);
        if (!keys && p->remote_url && may_wait &&
            jwt_fetcher_pending(w->fetcher, p->keys_from)) {
            a.wait = 1;
            sig = JWT_ERR_KEYS_UNAVAILABLE;
        } else if (!keys) {
            sig = JWT_ERR_KEYS_UNAVAILABLE;
        } else {
            sig = jwt_jws_verify(&jws, keys);
            /* A kid we do not know may be a key the provider just
             * rotated in: fetch again (rate-limited) and wait for it. */
            if (sig == JWT_ERR_NO_KEY && jws.kid && p->remote_url && may_wait &&
                jwt_fetcher_refetch(w->fetcher, p->keys_from, now))
                a.wait = 1;
        }
        if (sig != JWT_OK)
            a.result = sig;
    }
    jwt_jws_clear(&jws);
    if (a.result == JWT_OK) {
        *out = render(p, index, a.claims, token);
        if (!*out) {
            a.result = JWT_ERR_MALFORMED; /* no memory: refuse, never guess */
        } else if (w->cache) {
            jwt_cache_put(w->cache, token.ptr, token.len, index, valid_until,
                          *out);
            /* The cache may have dropped it (hash failure): look again. */
            if (jwt_cache_get(w->cache, token.ptr, token.len, index, now) !=
                *out) {
                *out = NULL;
                a.result = JWT_ERR_MALFORMED;
            }
        } else {
            *owned = 1;
        }
    }
    json_decref(a.claims);
    a.claims = NULL;
    return a;
}

/* [value_provide] "jwt_auth.provider" and "jwt_auth.claim.<name>" of a
 * rendered token. */
static gwf_status
provided_value(void *ctx, const char *key, size_t key_len, gwf_value_type *type,
               gwf_view *data)
{
    const verified *v = ctx;

    if (key_len == 17 && memcmp(key, "jwt_auth.provider", 17) == 0) {
        *type = GWF_VALUE_STRING;
        data->ptr = v->provider;
        data->len = v->provider_len;
        return GWF_OK;
    }
    for (size_t i = 0; i < v->value_count; i++) {
        const rendered_value *r = &v->values[i];
        if (r->key_len == key_len && memcmp(r->key, key, key_len) == 0) {
            *type = r->type;
            data->ptr = r->data;
            data->len = r->len;
            return GWF_OK;
        }
    }
    return GWF_ERR_NOT_FOUND;
}

/* Leave every top-level claim, and the provider, for the plugins after
 * us: lent, one call for all of them. */
static gwf_status
apply_values(gwf_stream *s, verified *v)
{
    gwf_status st;

    v->refs++;
    st = s->host->value_provide(s, "jwt_auth.", 9, provided_value,
                                verified_free, v);
    if (st != GWF_OK)
        v->refs--;
    return st;
}

/* A client must not be able to forge what we would have set: every
 * provider's claim and payload headers go, on a request we do not allow
 * with a token. An alias (the ?access_token= slot of a provider without
 * tokenSource) has its provider's headers: they are removed once. */
static gwf_status
remove_client_headers(gwf_stream *s, const jwt_config *cfg)
{
    gwf_status st = GWF_OK;

    for (size_t i = 0; st == GWF_OK && i < cfg->provider_count; i++) {
        const jwt_provider *p = &cfg->providers[i];
        if (p->is_alias)
            continue;
        for (size_t k = 0; st == GWF_OK && k < p->claim_header_count; k++)
            st = remove_header(s, p->claims_to_headers[k].header);
        if (st == GWF_OK && p->forward_payload_header)
            st = remove_header(s, p->forward_payload_header);
    }
    return st;
}

/* Does provider `p` write the header `name` when its token is chosen? */
static int
writes_header(const jwt_provider *p, const char *name)
{
    for (size_t k = 0; k < p->claim_header_count; k++)
        if (strcasecmp(p->claims_to_headers[k].header, name) == 0)
            return 1;
    return p->forward_payload_header &&
           strcasecmp(p->forward_payload_header, name) == 0;
}

/* Replace what the client sent with `value` (or nothing). Returns what
 * the host could not do: the client's value may still be there. */
static gwf_status
replace_header(gwf_stream *s, const char *name, const gwf_strbuf *value)
{
    if (!value->data)
        return remove_header(s, name);
    return s->host->header_set(s, GWF_REQUEST, name, strlen(name), value->data,
                               value->len);
}

/* The headers of an allowed request, as remove_client_headers and then
 * one add per header would leave them, in one call per header: the
 * chosen provider's claim headers and payload header replace the
 * client's (the first entry of a name replaces, a repeated one adds), and
 * the other providers' headers that the chosen one does not write go. */
static gwf_status
write_headers(gwf_stream *s, const jwt_config *cfg, const jwt_provider *p,
              const verified *v)
{
    gwf_status st = GWF_OK;

    for (size_t i = 0; st == GWF_OK && i < cfg->provider_count; i++) {
        const jwt_provider *o = &cfg->providers[i];
        if (o->is_alias || i == p->keys_from) /* p's own (or its alias's) */
            continue;
        for (size_t k = 0; st == GWF_OK && k < o->claim_header_count; k++)
            if (!writes_header(p, o->claims_to_headers[k].header))
                st = remove_header(s, o->claims_to_headers[k].header);
        if (st == GWF_OK && o->forward_payload_header &&
            !writes_header(p, o->forward_payload_header))
            st = remove_header(s, o->forward_payload_header);
    }
    for (size_t i = 0; st == GWF_OK && i < v->header_count; i++) {
        const jwt_claim_header *ch = &p->claims_to_headers[i];
        if (!ch->repeated)
            st = replace_header(s, ch->header, &v->headers[i]);
        else if (v->headers[i].data)
            st = s->host->header_add(s, GWF_REQUEST, ch->header,
                                     strlen(ch->header), v->headers[i].data,
                                     v->headers[i].len);
    }
    /* Rendered with the claims: the token's view into the header map
     * may not survive the calls above, and a hit copies nothing. */
    if (st == GWF_OK && p->forward_payload_header)
        st = replace_header(s, p->forward_payload_header, &v->payload);
    return st;
}

/* ------------------------------------------------------------------------
 * Replies
 * --------------------------------------------------------------------- */

static const char *const outcome_label[JWT_OUTCOME_COUNT] = {
    "allowed", "missing_allowed", "missing", "invalid", "forbidden"};

static void
count(const jwt_config *cfg, jwt_outcome outcome)
{
    gwf_outcome_counter_add(&cfg->requests, outcome);
}

/* realm="<scheme>://<authority><path without query>", as Envoy does,
 * keeping only bytes that cannot break out of the quoted string. */
static void
build_realm(gwf_stream *s, char *out, size_t size)
{
    static const char *const parts[] = {":scheme", "://", ":authority",
                                        ":path"};
    size_t n = 0;

    for (size_t i = 0; i < 4; i++) {
        gwf_view v;
        if (i != 1) {
            if (gwf_header_get(s, GWF_REQUEST, parts[i], &v) != GWF_OK)
                continue;
        } else {
            v = gwf_cstr(parts[i]);
        }
        for (size_t k = 0; k < v.len && n + 1 < size; k++) {
            unsigned char c = (unsigned char)v.ptr[k];
            if (i == 3 && (c == '?' || c == '#'))
                break;
            if (c > 0x20 && c < 0x7f && c != '"' && c != '\\')
                out[n++] = (char)c;
        }
    }
    out[n] = 0;
}

static gwf_action
deny(gwf_stream *s, const jwt_config *cfg, int token_present, jwt_result why)
{
    char realm[JWT_REALM_MAX], challenge[JWT_REALM_MAX + 64];
    gwf_header headers[2];
    const char *body;
    uint32_t status = 401;
    const char *details = "jwt_missing";

    build_realm(s, realm, sizeof(realm));
    if (!token_present) {
        body = "Jwt is missing";
        snprintf(challenge, sizeof(challenge), "Bearer realm=\"%s\"", realm);
    } else if (why == JWT_ERR_AUDIENCE) {
        status = 403;
        details = "jwt_audience";
        body = "Audiences in Jwt are not allowed";
        snprintf(challenge, sizeof(challenge),
                 "Bearer realm=\"%s\", error=\"insufficient_scope\"", realm);
    } else {
        details = "jwt_invalid";
        body = jwt_result_text(why);
        snprintf(challenge, sizeof(challenge),
                 "Bearer realm=\"%s\", error=\"invalid_token\"", realm);
    }
    headers[0].name = gwf_cstr("www-authenticate");
    headers[0].value = gwf_cstr(challenge);
    headers[1].name = gwf_cstr("content-type");
    headers[1].value = gwf_cstr("text/plain");
    gwf_stream_logf(s, GWF_LOG_DEBUG, "request refused: %s", body);
    count(cfg, status == 403   ? JWT_OUTCOME_FORBIDDEN
               : token_present ? JWT_OUTCOME_INVALID
                               : JWT_OUTCOME_MISSING);
    if (s->host->send_local_reply(s, status, headers, 2, body, strlen(body),
                                  details) != GWF_OK)
        return GWF_CONTINUE; /* the host logged why; nothing else to do */
    return GWF_PAUSE;
}

/* Returns the first thing the host could not do (leave the claims, set
 * or remove a header, strip the token): the request would not reach the
 * upstream as the policy says, so the caller refuses it. */
static gwf_status
allow(gwf_stream *s, const jwt_config *cfg, size_t index, verified *v,
      decide when)
{
    const jwt_provider *p = &cfg->providers[index];
    int strip = !p->forward_token;
    /* Early, the plugin is alone in its chain: no plugin reads values. */
    gwf_status st = when == DECIDE_EARLY ? GWF_OK : apply_values(s, v);

    /* Stripped first when that leaves the same request: a token header
     * at the end of nginx's list then leaves it without moving others. */
    if (st == GWF_OK && strip && p->strip_first) {
        st = strip_token(s, p);
        strip = 0;
    }
    if (st == GWF_OK)
        st = write_headers(s, cfg, p, v);
    if (st == GWF_OK && strip)
        st = strip_token(s, p);
    return st;
}

/* ------------------------------------------------------------------------
 * Hooks
 * --------------------------------------------------------------------- */

/* What evaluate() learnt about one place (a header, a query parameter, a
 * cookie), shared by the providers that read it. */
typedef struct place_state {
    unsigned char present;  /* a token (or several) is there */
    unsigned char verified; /* some provider of the place verified it */
    size_t verifier;        /* that provider */
    jwt_result why;         /* else the most telling failure */
} place_state;

/* The first provider (in order) whose token verified: its claims go on. */
typedef struct chosen {
    size_t index;
    gwf_view token;
    verified *v;
    int owned;
} chosen;

/* Keep the more telling of two failures: an audience mismatch on a
 * genuine token beats "another provider's token did not verify". */
static jwt_result
worse(jwt_result old, jwt_result now)
{
    return old == JWT_OK || now == JWT_ERR_AUDIENCE ? now : old;
}

/* Look at every provider's place. Returns VERDICT_WAIT (with the
 * provider in *wait_for) when a token needs keys being fetched; else
 * fills `places` and `first` (first->v NULL: nothing verified). */
static verdict
check_places(gwf_stream *s, jwt_worker *w, decide when, int64_t now,
             place_state *places, chosen *first, size_t *wait_for)
{
    const jwt_config *cfg = w->cfg;
    int verified_after_first = 0;

    for (size_t i = 0; i < cfg->provider_count; i++) {
        const jwt_provider *p = &cfg->providers[i];
        place_state *place = &places[p->place];
        gwf_view token;
        verified *v = NULL;
        int owned = 0;
        size_t n;
        attempt a;
        if (place->verified)
            continue; /* another provider of this place took it */
        n = find_tokens(s, p, &token);
        if (n == 0)
            continue;
        place->present = 1;
        if (n == JWT_PLACE_UNREAD) {
            place->why = worse(place->why, JWT_ERR_UNREAD);
            continue;
        }
        if (n >= JWT_MANY_TOKENS) {
            place->why = worse(place->why, JWT_ERR_AMBIGUOUS);
            continue;
        }
        if (first->v)
            verified_after_first = 1;
        a = verify_token(w, i, token, now, when, &v, &owned);
        if (a.wait) {
            *wait_for = p->keys_from; /* whose fetch ends the wait */
            return VERDICT_WAIT;
        }
        if (a.result != JWT_OK) {
            place->why = worse(place->why, a.result);
            continue;
        }
        place->verified = 1;
        place->verifier = i;
        if (first->v) {
            if (owned)
                verified_free(v);
            continue;
        }
        first->index = i;
        first->token = token;
        first->v = v;
        first->owned = owned;
    }
    /* A borrowed cache entry lives until the next jwt_cache_put, which a
     * later verification may have done: take it from the cache again (a
     * hit, or one more verification when the slot was taken). Early,
     * nothing was verified, so nothing was put. */
    if (first->v && !first->owned && verified_after_first &&
        when != DECIDE_EARLY) {
        attempt a = verify_token(w, first->index, first->token, now, DECIDE_NOW,
                                 &first->v, &first->owned);
        if (a.result != JWT_OK) {
            first->v = NULL;
            places[cfg->providers[first->index].place].verified = 0;
            places[cfg->providers[first->index].place].why = a.result;
        }
    }
    return VERDICT_ALLOWED;
}

/* The other places that held a verified token: their providers' own
 * forwardToken says whether it reaches the upstream. */
static gwf_status
strip_other_tokens(gwf_stream *s, const jwt_config *cfg,
                   const place_state *places, size_t first)
{
    gwf_status st = GWF_OK;

    for (size_t k = 0; st == GWF_OK && k < cfg->provider_count; k++) {
        const jwt_provider *p = &cfg->providers[places[k].verifier];
        if (places[k].verified && places[k].verifier != first &&
            !p->forward_token)
            st = strip_token(s, p);
    }
    return st;
}

/* A refusal: answered (the host answers 500 for a reply it could not
 * make). From a stream hook a failed reply goes on to the host's 500;
 * early, nothing may go on after a refusal, so it is always "replied"
 * (and a reply that was not made is the host's 500 too). */
static verdict
refuse(gwf_stream *s, const jwt_config *cfg, int token_present, jwt_result why,
       decide when)
{
    gwf_action a = deny(s, cfg, token_present, why);
    return a == GWF_PAUSE || when == DECIDE_EARLY ? VERDICT_REPLIED
                                                  : VERDICT_ALLOWED;
}

/* The host could not change the request as the policy says (out of
 * memory): a claim header, the token or the claims for the next plugins
 * would not be what they must. Refused (401), never let through. */
static verdict
refuse_unchanged(gwf_stream *s, const jwt_config *cfg, gwf_status st,
                 decide when)
{
    gwf_stream_logf(s, GWF_LOG_ERROR,
                    "the request could not be changed as jwt_auth must "
                    "(status %d): refused",
                    (int)st);
    return refuse(s, cfg, 1, JWT_ERR_UNCHANGED, when);
}

/* Decide for one request: allow it (claims, headers), answer it, or say
 * which provider's keys it must wait for.
 *
 * Several providers mean "any one of them" for the claims, but every
 * token the request carries must verify: a token present in any
 * provider's place that no provider of that place verified refuses the
 * request, in every mode, so nothing unverified reaches the upstream
 * beside a verified one (Envoy's rule for several tokens). */
static verdict
evaluate(gwf_stream *s, jwt_worker *w, decide when, size_t *wait_for)
{
    const jwt_config *cfg = w->cfg;
    int64_t now = cfg->instance->host->now(cfg->instance, GWF_CLOCK_REALTIME) /
                  1000000000;
    place_state places[JWT_MAX_PROVIDERS];
    chosen first = {0, {NULL, 0}, NULL, 0};
    jwt_result why = JWT_OK;
    int token_present = 0, refused = 0;

    /* Only the places in use: the table is sized for the most providers. */
    memset(places, 0, cfg->provider_count * sizeof(places[0]));
    if (check_places(s, w, when, now, places, &first, wait_for) ==
        VERDICT_WAIT) {
        if (first.owned)
            verified_free(first.v);
        return VERDICT_WAIT;
    }
    for (size_t k = 0; k < cfg->provider_count; k++) {
        token_present |= places[k].present;
        if (places[k].present && !places[k].verified) {
            refused = 1;
            why = worse(why, places[k].why);
        }
    }
    if (first.v && !refused) {
        gwf_status st = allow(s, cfg, first.index, first.v, when);
        if (st == GWF_OK)
            st = strip_other_tokens(s, cfg, places, first.index);
        if (first.owned)
            verified_free(first.v);
        if (st == GWF_OK) {
            count(cfg, JWT_OUTCOME_ALLOWED);
            return VERDICT_ALLOWED;
        }
        return refuse_unchanged(s, cfg, st, when);
    }
    if (first.owned)
        verified_free(first.v);
    if (!token_present && cfg->allow_missing) {
        gwf_status st = remove_client_headers(s, cfg);
        if (st != GWF_OK)
            return refuse_unchanged(s, cfg, st, when);
        count(cfg, JWT_OUTCOME_MISSING_ALLOWED);
        return VERDICT_ALLOWED;
    }
    /* Refused: the reply stands for the request (and the host answers
     * 500 for a reply it could not make); the client's claim headers go
     * all the same. */
    (void)remove_client_headers(s, cfg);
    return refuse(s, cfg, token_present, why, when);
}

/* -- Waiting for keys ------------------------------------------------------
 *
 * A waiter is one paused stream; its gwf_wait owns the fetchTimeout
 * timer. waiter_free is the only way a waiter goes, and it ends the wait
 * first, so no timer can fire on a freed waiter whichever way the wait
 * ended (fetch done, timeout, stream gone, worker stop). */

static void
waiter_free(jwt_worker *w, waiter *gone)
{
    for (waiter **p = &w->waiters; *p; p = &(*p)->next) {
        if (*p == gone) {
            *p = gone->next;
            break;
        }
    }
    gwf_wait_end(&gone->wait);
    free(gone);
}

/* Evaluate a paused stream again, without waiting this time. */
static void
waiter_wake(waiter *wt)
{
    size_t ignored;
    gwf_stream *s = wt->s;
    jwt_worker *w = wt->w;

    waiter_free(w, wt);
    if (evaluate(s, w, DECIDE_NOW, &ignored) == VERDICT_ALLOWED)
        s->host->resume(s);
}

static void
on_wait_timeout(void *arg)
{
    waiter_wake(arg);
}

/* [worker] A fetch ended: wake the streams that waited for it. */
static void
on_fetch_done(void *arg, size_t provider)
{
    jwt_worker *w = arg;
    waiter *wt = w->waiters;

    while (wt) {
        waiter *next = wt->next;
        if (wt->provider == provider)
            waiter_wake(wt);
        wt = next;
    }
}

/* Pause `s` until `provider`'s keys arrive or its fetchTimeout passes. */
static gwf_action
wait_for_keys(gwf_stream *s, jwt_worker *w, size_t provider)
{
    const jwt_config *cfg = w->cfg;
    uint64_t timeout_ns =
        (uint64_t)cfg->providers[provider].fetch_timeout_ms * 1000000u;
    waiter *wt = calloc(1, sizeof(*wt));

    if (!wt || gwf_wait_start(&wt->wait, cfg->instance, s, timeout_ns,
                              on_wait_timeout, wt) != GWF_OK) {
        free(wt);
        /* Decide now, without the keys: a reply, or another provider's
         * token allowed the request. */
        return evaluate(s, w, DECIDE_NOW, &provider) == VERDICT_ALLOWED
                   ? GWF_CONTINUE
                   : GWF_PAUSE;
    }
    wt->w = w;
    wt->s = s;
    wt->provider = provider;
    wt->next = w->waiters;
    w->waiters = wt;
    return GWF_PAUSE;
}

static gwf_action
jwt_request_headers(gwf_stream *s, void *stream_ctx, int32_t end_of_stream)
{
    jwt_worker *w = stream_ctx;
    size_t provider = 0;

    (void)end_of_stream;
    switch (evaluate(s, w, DECIDE_MAY_WAIT, &provider)) {
    case VERDICT_ALLOWED:
        return GWF_CONTINUE;
    case VERDICT_REPLIED:
        return GWF_PAUSE;
    case VERDICT_WAIT:
        break;
    }
    return wait_for_keys(s, w, provider);
}

/* [worker] Alone in its chain (abi.h GWF_ATTR_EARLY_DONE), a request is
 * decided before the host makes a stream for it when every token it
 * carries is in the worker's cache, or it has none: allowed (the claim
 * headers set, the token stripped: GWF_DONE), or refused. A token to
 * verify goes on to the stream (GWF_CONTINUE), unchanged. Beside other
 * plugins, the stream decides, as before. */
static gwf_action
jwt_request_early(gwf_stream *s, void *config, void *route_config, void *worker)
{
    jwt_worker *w = worker;
    size_t ignored;
    gwf_view alone;

    (void)config;
    (void)route_config;
    if (!w || !w->cache ||
        s->host->attribute(s, GWF_ATTR_EARLY_DONE, &alone) != GWF_OK ||
        alone.len != 1 || alone.ptr[0] != '1')
        return GWF_CONTINUE;
    switch (evaluate(s, w, DECIDE_EARLY, &ignored)) {
    case VERDICT_ALLOWED:
        return GWF_DONE;
    case VERDICT_REPLIED:
        return GWF_PAUSE;
    case VERDICT_WAIT:
        break;
    }
    return GWF_CONTINUE;
}

/* [worker] A stream that ends while waiting (client gone, deadline) is
 * forgotten; the host already cancelled its timer, and ending the wait
 * again is harmless. */
static void
jwt_stream_destroy(gwf_stream *s, void *stream_ctx)
{
    jwt_worker *w = stream_ctx;

    for (waiter *wt = w->waiters; wt; wt = wt->next) {
        if (wt->s == s) {
            waiter_free(w, wt);
            return;
        }
    }
}

static gwf_status
jwt_stream_create(gwf_stream *s, const gwf_stream_init *init, void **stream_ctx)
{
    (void)s;
    *stream_ctx =
        init->worker ? init->worker : &((jwt_plugin *)init->config)->no_worker;
    return GWF_OK;
}

static gwf_status
jwt_worker_start(void *config, const gwf_worker_init *init, void **worker)
{
    jwt_plugin *plugin = config;
    jwt_worker *w = calloc(1, sizeof(*w));

    if (!w)
        return GWF_ERR_NO_MEMORY;
    w->cfg = &plugin->cfg;
    w->cache = jwt_cache_new(plugin->cfg.cache_entries, verified_free);
    if (!w->cache && plugin->cfg.cache_entries)
        gwf_logf(init->instance, GWF_LOG_WARN,
                 "no memory for the token cache; every token is verified");
    if (plugin->cfg.has_remote) {
        w->fetcher =
            jwt_fetcher_start(&plugin->cfg, init->instance, on_fetch_done, w);
        if (!w->fetcher) {
            jwt_cache_free(w->cache);
            free(w);
            return GWF_ERR_NO_MEMORY;
        }
    }
    *worker = w;
    return GWF_OK;
}

static void
jwt_worker_stop(void *config, void *worker)
{
    jwt_worker *w = worker;

    (void)config;
    if (!w)
        return;
    jwt_fetcher_stop(w->fetcher);
    while (w->waiters)
        waiter_free(w, w->waiters);
    jwt_cache_free(w->cache);
    free(w);
}

static void jwt_config_destroy(void *config);

static gwf_status
jwt_config_create(const gwf_config_init *init, void **config)
{
    jwt_plugin *plugin = calloc(1, sizeof(*plugin));
    gwf_status st;

    if (!plugin)
        return GWF_ERR_NO_MEMORY;
    plugin->cfg.instance = init->instance;
    plugin->no_worker.cfg = &plugin->cfg;
    st = jwt_config_parse(&plugin->cfg, init->config_json);
    if (st != GWF_OK) {
        jwt_config_destroy(plugin);
        return st;
    }
    if (plugin->cfg.has_remote &&
        curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        gwf_config_errorf(init->instance, "providers",
                          "libcurl failed to initialise");
        plugin->cfg.has_remote = 0;
        jwt_config_destroy(plugin);
        return GWF_ERR_BAD_ARGUMENT;
    }
    plugin->curl_initialised = plugin->cfg.has_remote;
    gwf_outcome_counter_define(&plugin->cfg.requests, init->instance,
                               "jwt_auth_requests_total",
                               "Requests seen by jwt_auth, by result.",
                               "result", outcome_label, JWT_OUTCOME_COUNT);
    *config = plugin;
    return GWF_OK;
}

static void
jwt_config_destroy(void *config)
{
    jwt_plugin *plugin = config;

    if (!plugin)
        return;
    jwt_config_free(&plugin->cfg);
    if (plugin->curl_initialised)
        curl_global_cleanup();
    free(plugin);
}

static gwf_status
jwt_route_config_create(void *config, gwf_instance *inst, gwf_view route_json,
                        void **route_config)
{
    (void)config;
    *route_config = NULL;
    return jwt_route_config_check(inst, route_json);
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "jwt_auth",
    .version = "0.1.0",
    .description = "JWT authentication (kgateway GatewayExtension jwt)",
    .config_create = jwt_config_create,
    .config_destroy = jwt_config_destroy,
    .route_config_create = jwt_route_config_create,
    .worker_start = jwt_worker_start,
    .worker_stop = jwt_worker_stop,
    .stream_create = jwt_stream_create,
    .request_headers = jwt_request_headers,
    .stream_destroy = jwt_stream_destroy,
    .request_early = jwt_request_early,
};
