/*
 * sigv4.c - AWS Signature Version 4: canonical request, string to sign,
 * signature, and the signing-key cache.
 *
 * The steps follow AWS's specification ("Create a signed AWS API
 * request"), checked case by case against the AWS SigV4 test suite
 * (tests/vectors/sigv4) and against botocore over generated requests:
 *
 *   canonical request = METHOD \n URI \n QUERY \n HEADERS \n \n SIGNED \n HASH
 *   string to sign    = AWS4-HMAC-SHA256 \n DATE \n SCOPE \n sha256(creq)
 *   signing key       = HMAC chain over "AWS4"+secret, day, region,
 *                       service, "aws4_request"
 *
 * Decisions worth knowing:
 *  - The query is percent-decoded and re-encoded with AWS's unreserved
 *    set, then sorted by encoded key and value, so "%7E" and "~" sign the
 *    same, and a byte sequence that is not valid percent-encoding is
 *    taken literally ("%zz" signs as "%25zz"). '+' is a literal plus.
 *  - Header values are trimmed and every run of white space (space, tab,
 *    CR, LF: obsolete line folding included) becomes one space; repeated
 *    headers are joined with ',' in the order they came.
 *  - Headers a proxy changes on the way, or that have no meaning end to
 *    end, are never signed: hop-by-hop headers, x-forwarded-for,
 *    x-forwarded-proto, x-amzn-trace-id, plus the configured ones. The
 *    signer's own headers (authorization, x-amz-date, ...) in the input
 *    are replaced, not signed twice.
 *  - The key cache is keyed on day, region, service and the secret's
 *    identity (its address and length): credentials live in an immutable
 *    config, so new credentials mean a new string, and a cache entry can
 *    never pair a new secret with an old key.
 */
#include "sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

static int
is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

static int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void
to_hex(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_lower[in[i] >> 4];
        out[2 * i + 1] = hex_lower[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void
sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HASH_HEX + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    to_hex(md, sizeof md, out);
}

static void
hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
            unsigned char out[32])
{
    unsigned int out_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len);
}

void
sigv4_uri_encode(gwf_strbuf *b, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c))
            continue;
        gwf_strbuf_append(b, s + start, i - start);
        char pct[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};
        gwf_strbuf_append(b, pct, 3);
        start = i + 1;
    }
    gwf_strbuf_append(b, s + start, len - start);
}

/* ------------------------------------------------------------------------
 * Canonical URI
 * --------------------------------------------------------------------- */

/* RFC 3986 5.2.4 dot-segment removal, and AWS's collapsing of empty
 * segments: "/a//b/../c/" -> "/a/c/". Writes into `out` (at least `len`
 * + 1 bytes), returns the new length. An empty result is "/". */
static size_t
normalize_path(const char *path, size_t len, char *out)
{
    /* Segment starts in `out`, to pop on "..". */
    size_t *starts = malloc((len / 2 + 2) * sizeof *starts);
    size_t depth = 0, o = 0;
    if (!starts)
        return 0;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t seg_len = j - i;
        const char *seg = path + i;
        if (seg_len == 0 || (seg_len == 1 && seg[0] == '.')) {
            /* skip */
        } else if (seg_len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (depth > 0)
                o = starts[--depth];
        } else {
            starts[depth++] = o;
            out[o++] = '/';
            memcpy(out + o, seg, seg_len);
            o += seg_len;
        }
        i = j + 1;
    }
    free(starts);
    /* A trailing slash survives when something is left; the leading one
     * is always there (paths on the wire start with '/'). */
    if (o == 0) {
        out[o++] = '/';
    } else if (len > 0 && path[len - 1] == '/') {
        out[o++] = '/';
    }
    return o;
}

void
sigv4_canonical_uri(gwf_strbuf *b, const char *path, size_t len,
                    int normalize)
{
    if (len == 0) {
        gwf_strbuf_append(b, "/", 1);
        return;
    }
    if (normalize) {
        char *norm = malloc(len + 2);
        if (!norm) {
            b->failed = 1;
            return;
        }
        size_t n = normalize_path(path, len, norm);
        if (n == 0) {
            free(norm);
            b->failed = 1;
            return;
        }
        /* Encode every segment, keeping the '/' separators. */
        size_t start = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i == n || norm[i] == '/') {
                sigv4_uri_encode(b, norm + start, i - start);
                if (i < n)
                    gwf_strbuf_append(b, "/", 1);
                start = i + 1;
            }
        }
        free(norm);
        return;
    }
    /* As on the wire: keep '/', unreserved bytes and valid %XX escapes
     * (upper-cased, as AWS's encoder would write them); encode the rest
     * once. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/' || is_unreserved(c)) {
            gwf_strbuf_append(b, (const char *)&c, 1);
        } else if (c == '%' && i + 2 < len &&
                   hex_value((unsigned char)path[i + 1]) >= 0 &&
                   hex_value((unsigned char)path[i + 2]) >= 0) {
            char pct[3] = {'%', hex_upper[hex_value((unsigned char)path[i + 1])],
                           hex_upper[hex_value((unsigned char)path[i + 2])]};
            gwf_strbuf_append(b, pct, 3);
            i += 2;
        } else {
            char pct[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};
            gwf_strbuf_append(b, pct, 3);
        }
    }
}

/* ------------------------------------------------------------------------
 * Canonical query string
 * --------------------------------------------------------------------- */

typedef struct query_pair {
    char *text; /* "key=value", encoded, NUL-terminated */
    size_t key_len;
} query_pair;

/* Percent-decode then AWS-encode one key or value into `b`. */
static void
reencode(gwf_strbuf *b, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < len &&
            (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            c = (unsigned char)(hi << 4 | lo);
            i += 3;
        } else {
            i++;
        }
        if (is_unreserved(c)) {
            gwf_strbuf_append(b, (const char *)&c, 1);
        } else {
            char pct[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};
            gwf_strbuf_append(b, pct, 3);
        }
    }
}

static int
pair_cmp(const void *a, const void *b)
{
    const query_pair *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->text, y->text, n);
    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return strcmp(x->text + x->key_len, y->text + y->key_len);
}

void
sigv4_canonical_query(gwf_strbuf *b, const char *query, size_t len,
                      const char *const *extra, size_t extra_count)
{
    size_t cap = extra_count + 1;
    for (size_t i = 0; i < len; i++)
        cap += query[i] == '&';
    query_pair *pairs = calloc(cap, sizeof *pairs);
    size_t count = 0;
    if (!pairs) {
        b->failed = 1;
        return;
    }
    size_t i = 0;
    while (len > 0 && i <= len) {
        size_t j = i;
        while (j < len && query[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(query + i, '=', j - i);
            size_t key_end = eq ? (size_t)(eq - query) : j;
            gwf_strbuf p = {0};
            reencode(&p, query + i, key_end - i);
            size_t key_len = p.len;
            gwf_strbuf_append(&p, "=", 1);
            if (eq)
                reencode(&p, eq + 1, j - key_end - 1);
            if (p.failed) {
                gwf_strbuf_free(&p);
                b->failed = 1;
                goto done;
            }
            pairs[count].text = p.data;
            pairs[count].key_len = key_len;
            count++;
        }
        i = j + 1;
    }
    for (size_t e = 0; e < extra_count; e++) {
        const char *eq = strchr(extra[e], '=');
        pairs[count].text = strdup(extra[e]);
        if (!pairs[count].text) {
            b->failed = 1;
            goto done;
        }
        pairs[count].key_len = eq ? (size_t)(eq - extra[e]) : strlen(extra[e]);
        count++;
    }
    qsort(pairs, count, sizeof *pairs, pair_cmp);
    for (size_t k = 0; k < count; k++) {
        if (k > 0)
            gwf_strbuf_append(b, "&", 1);
        gwf_strbuf_append(b, pairs[k].text, strlen(pairs[k].text));
    }
done:
    for (size_t k = 0; k < count; k++)
        free(pairs[k].text);
    free(pairs);
}

/* ------------------------------------------------------------------------
 * Canonical headers
 * --------------------------------------------------------------------- */

typedef struct canon_header {
    char *name;  /* lower case, NUL-terminated */
    size_t name_len;
    gwf_view value; /* borrowed, untrimmed */
    size_t order;
} canon_header;

/* Never signed: hop-by-hop headers (a proxy rewrites them), headers
 * proxies add, and the signer's own output. */
static const char *const builtin_excluded[] = {
    "authorization", "connection", "keep-alive", "proxy-connection",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
    "expect", "x-forwarded-for", "x-forwarded-proto", "x-amzn-trace-id",
    "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "host",
};

static int
name_in(const char *name, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0)
            return 1;
    return 0;
}

static int
header_cmp(const void *a, const void *b)
{
    const canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim and collapse white space runs into one space. */
static void
append_trimmed(gwf_strbuf *b, gwf_view v)
{
    size_t i = 0, n = v.len;
    while (i < n && is_space((unsigned char)v.ptr[i]))
        i++;
    while (n > i && is_space((unsigned char)v.ptr[n - 1]))
        n--;
    size_t start = i;
    while (i < n) {
        if (is_space((unsigned char)v.ptr[i])) {
            gwf_strbuf_append(b, v.ptr + start, i - start);
            gwf_strbuf_append(b, " ", 1);
            while (i < n && is_space((unsigned char)v.ptr[i]))
                i++;
            start = i;
        } else {
            i++;
        }
    }
    gwf_strbuf_append(b, v.ptr + start, n - start);
}

static void
add_canon(canon_header *list, size_t *count, const char *name,
          gwf_view value)
{
    list[*count].name = (char *)name;
    list[*count].name_len = strlen(name);
    list[*count].value = value;
    list[*count].order = *count;
    (*count)++;
}

/* ------------------------------------------------------------------------
 * Signing
 * --------------------------------------------------------------------- */

static void
signing_key(const sigv4_credentials *creds, const char *date,
            const char *region, const char *service, sigv4_key_cache *cache,
            unsigned char key[32])
{
    size_t secret_len = strlen(creds->secret_key);
    if (cache && cache->valid && strcmp(cache->date, date) == 0 &&
        strcmp(cache->region, region) == 0 &&
        strcmp(cache->service, service) == 0 &&
        cache->secret == creds->secret_key &&
        cache->secret_len == secret_len) {
        memcpy(key, cache->key, 32);
        return;
    }
    size_t klen = secret_len + 4;
    unsigned char *k0 = malloc(klen);
    unsigned char k[32];
    if (!k0) {
        memset(key, 0, 32);
        return;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, creds->secret_key, secret_len);
    hmac_sha256(k0, klen, date, strlen(date), k);
    OPENSSL_cleanse(k0, klen);
    free(k0);
    hmac_sha256(k, 32, region, strlen(region), k);
    hmac_sha256(k, 32, service, strlen(service), k);
    hmac_sha256(k, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k, sizeof k);
    if (cache && strlen(region) < sizeof cache->region &&
        strlen(service) < sizeof cache->service) {
        cache->valid = 1;
        memcpy(cache->date, date, 9);
        strcpy(cache->region, region);
        strcpy(cache->service, service);
        cache->secret = creds->secret_key;
        cache->secret_len = secret_len;
        memcpy(cache->key, key, 32);
        cache->derivations++;
    }
}

void
sigv4_result_free(sigv4_result *out)
{
    gwf_strbuf_free(&out->canonical_request);
    gwf_strbuf_free(&out->string_to_sign);
    gwf_strbuf_free(&out->signed_headers);
    gwf_strbuf_free(&out->authorization);
    gwf_strbuf_free(&out->presigned_target);
}

/* "k=v" with v AWS-encoded, into a malloc'd string. */
static char *
query_param(const char *key, const char *value, size_t value_len)
{
    gwf_strbuf b = {0};
    gwf_strbuf_append(&b, key, strlen(key));
    gwf_strbuf_append(&b, "=", 1);
    sigv4_uri_encode(&b, value, value_len);
    if (b.failed) {
        gwf_strbuf_free(&b);
        return NULL;
    }
    return b.data;
}

int
sigv4_sign(const sigv4_request *req, const sigv4_params *params,
           const sigv4_credentials *creds, sigv4_key_cache *cache,
           sigv4_result *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "out of memory";
    if (!creds || !creds->access_key || !creds->secret_key ||
        !params->region || !params->service) {
        *why = "no credentials, region or service";
        return -1;
    }
    if (req->host.len == 0) {
        *why = "the request has no host to sign";
        return -1;
    }

    struct tm tm;
    time_t t = (time_t)params->unix_seconds;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 ||
        tm.tm_year + 1900 < 0) {
        *why = "the clock is out of range";
        return -1;
    }
    strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm);
    char date[9];
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';

    if (params->unsigned_payload)
        strcpy(out->payload_hash, SIGV4_UNSIGNED_PAYLOAD);
    else if (req->payload_hash)
        snprintf(out->payload_hash, sizeof out->payload_hash, "%s",
                 req->payload_hash);
    else
        sigv4_sha256_hex(req->payload.ptr, req->payload.len,
                         out->payload_hash);

    gwf_strbuf scope = {0};
    gwf_strbuf_appendf(&scope, "%s/%s/%s/aws4_request", date, params->region,
                       params->service);

    /* Split the target into path and query. */
    const char *target = req->target.ptr ? req->target.ptr : "";
    size_t target_len = req->target.len;
    const char *qmark = memchr(target, '?', target_len);
    size_t path_len = qmark ? (size_t)(qmark - target) : target_len;
    const char *query = qmark ? qmark + 1 : "";
    size_t query_len = qmark ? target_len - path_len - 1 : 0;

    /* Headers to sign. */
    int token_signed = creds->session_token &&
                       params->token_mode == SIGV4_TOKEN_SIGNED;
    size_t cap = req->header_count + 5;
    canon_header *hs = calloc(cap, sizeof *hs);
    char **names = calloc(cap, sizeof *names);
    char *extra[8] = {0};
    size_t extra_count = 0;
    size_t hcount = 0;
    int rc = -1;
    if (!hs || !names)
        goto done;
    add_canon(hs, &hcount, "host", req->host);
    if (!params->presign) {
        add_canon(hs, &hcount, "x-amz-date", gwf_cstr(out->amz_date));
        if (token_signed)
            add_canon(hs, &hcount, "x-amz-security-token",
                      gwf_cstr(creds->session_token));
        if (params->content_sha256_header)
            add_canon(hs, &hcount, "x-amz-content-sha256",
                      gwf_cstr(out->payload_hash));
    }
    for (size_t i = 0; i < req->header_count; i++) {
        gwf_view n = req->headers[i].name;
        if (n.len == 0 || n.ptr[0] == ':')
            continue;
        char *lower = malloc(n.len + 1);
        if (!lower)
            goto done;
        for (size_t k = 0; k < n.len; k++) {
            char c = n.ptr[k];
            lower[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        lower[n.len] = '\0';
        int skip = name_in(lower, n.len, builtin_excluded,
                           sizeof builtin_excluded / sizeof *builtin_excluded) ||
                   name_in(lower, n.len, params->excluded,
                           params->excluded_count) ||
                   (params->only_included &&
                    !name_in(lower, n.len, params->included,
                             params->included_count));
        if (skip) {
            free(lower);
            continue;
        }
        names[i] = lower;
        add_canon(hs, &hcount, lower, req->headers[i].value);
    }
    qsort(hs, hcount, sizeof *hs, header_cmp);

    gwf_strbuf canon_headers = {0};
    for (size_t i = 0; i < hcount; i++) {
        int same = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
        if (same) {
            gwf_strbuf_append(&canon_headers, ",", 1);
        } else {
            if (i > 0) {
                gwf_strbuf_append(&canon_headers, "\n", 1);
                gwf_strbuf_append(&out->signed_headers, ";", 1);
            }
            gwf_strbuf_append(&canon_headers, hs[i].name, hs[i].name_len);
            gwf_strbuf_append(&canon_headers, ":", 1);
            gwf_strbuf_append(&out->signed_headers, hs[i].name,
                              hs[i].name_len);
        }
        append_trimmed(&canon_headers, hs[i].value);
    }
    gwf_strbuf_append(&canon_headers, "\n", 1);

    if (params->presign) {
        gwf_strbuf cred = {0};
        gwf_strbuf_appendf(&cred, "%s/%s", creds->access_key, scope.data);
        char expires[16];
        snprintf(expires, sizeof expires, "%u", params->expires);
        extra[extra_count++] = query_param("X-Amz-Algorithm", SIGV4_ALGORITHM,
                                           strlen(SIGV4_ALGORITHM));
        extra[extra_count++] =
            cred.data ? query_param("X-Amz-Credential", cred.data, cred.len)
                      : NULL;
        extra[extra_count++] =
            query_param("X-Amz-Date", out->amz_date, strlen(out->amz_date));
        extra[extra_count++] = query_param(
            "X-Amz-SignedHeaders",
            out->signed_headers.data ? out->signed_headers.data : "",
            out->signed_headers.len);
        extra[extra_count++] =
            query_param("X-Amz-Expires", expires, strlen(expires));
        if (creds->session_token)
            extra[extra_count++] =
                query_param("X-Amz-Security-Token", creds->session_token,
                            strlen(creds->session_token));
        gwf_strbuf_free(&cred);
        for (size_t e = 0; e < extra_count; e++)
            if (!extra[e]) {
                gwf_strbuf_free(&canon_headers);
                goto done;
            }
    }

    gwf_strbuf *cr = &out->canonical_request;
    gwf_strbuf_append(cr, req->method.ptr, req->method.len);
    gwf_strbuf_append(cr, "\n", 1);
    sigv4_canonical_uri(cr, target, path_len, params->normalize_path);
    gwf_strbuf_append(cr, "\n", 1);
    sigv4_canonical_query(cr, query, query_len, (const char *const *)extra,
                          extra_count - (params->presign && !token_signed &&
                                         creds->session_token));
    gwf_strbuf_append(cr, "\n", 1);
    gwf_strbuf_append(cr, canon_headers.data, canon_headers.len);
    gwf_strbuf_append(cr, "\n", 1);
    gwf_strbuf_append(cr, out->signed_headers.data, out->signed_headers.len);
    gwf_strbuf_append(cr, "\n", 1);
    gwf_strbuf_append(cr, out->payload_hash, strlen(out->payload_hash));
    gwf_strbuf_free(&canon_headers);
    if (cr->failed || scope.failed || out->signed_headers.failed)
        goto done;

    char cr_hash[SIGV4_HASH_HEX + 1];
    sigv4_sha256_hex(cr->data, cr->len, cr_hash);
    gwf_strbuf *sts = &out->string_to_sign;
    gwf_strbuf_appendf(sts, SIGV4_ALGORITHM "\n%s\n%s\n%s", out->amz_date,
                       scope.data, cr_hash);
    if (sts->failed)
        goto done;

    unsigned char key[32], sig[32];
    signing_key(creds, date, params->region, params->service, cache, key);
    hmac_sha256(key, 32, sts->data, sts->len, sig);
    OPENSSL_cleanse(key, sizeof key);
    to_hex(sig, 32, out->signature);

    if (params->presign) {
        gwf_strbuf *pt = &out->presigned_target;
        gwf_strbuf_append(pt, target, target_len);
        for (size_t e = 0; e < extra_count; e++) {
            if (e == 0 && !qmark)
                gwf_strbuf_append(pt, "?", 1);
            else if (e > 0 || query_len > 0)
                gwf_strbuf_append(pt, "&", 1);
            gwf_strbuf_append(pt, extra[e], strlen(extra[e]));
        }
        gwf_strbuf_appendf(pt, "&X-Amz-Signature=%s", out->signature);
        if (pt->failed)
            goto done;
    } else {
        gwf_strbuf_appendf(&out->authorization,
                           SIGV4_ALGORITHM " Credential=%s/%s, "
                                           "SignedHeaders=%s, Signature=%s",
                           creds->access_key, scope.data,
                           out->signed_headers.data, out->signature);
        if (out->authorization.failed)
            goto done;
    }
    rc = 0;
done:
    if (names)
        for (size_t i = 0; i < req->header_count; i++)
            free(names[i]);
    free(names);
    free(hs);
    for (size_t e = 0; e < extra_count; e++)
        free(extra[e]);
    gwf_strbuf_free(&scope);
    if (rc != 0)
        sigv4_result_free(out);
    return rc;
}
