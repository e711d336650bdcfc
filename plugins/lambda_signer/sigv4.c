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
 *  - The key cache is keyed on day, region and service, and on the
 *    secret itself (compared in constant time), so a cache entry can
 *    never pair new credentials with an old key. Secrets longer than the
 *    cache's copy are signed without caching.
 *
 * Speed: a signature with a warm cache costs the hashing it cannot avoid
 * (SHA-256 of the body and of the canonical request, one HMAC) plus
 * building two short strings. So the cache also keeps a fetched SHA-256
 * and the HMAC's inner and outer states already keyed (the HMAC of a
 * message is then two hash continuations), strings are built in buffers
 * sized up front, and the query pairs and lower-cased header names live
 * in one allocation each.
 */
#define _GNU_SOURCE
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SHA256_BLOCK 64

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* 1 for A-Z a-z 0-9 - _ . ~ */
static const unsigned char unreserved[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

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

/* ------------------------------------------------------------------------
 * Buffers: gwf_strbuf, filled without a call per byte. sb_reserve makes
 * room once; the writers below then store directly.
 * --------------------------------------------------------------------- */

static int
sb_grow(gwf_strbuf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static inline int
sb_reserve(gwf_strbuf *b, size_t extra)
{
    if (!b->failed && extra < b->cap && b->len < b->cap - extra)
        return 0;
    return sb_grow(b, extra);
}

static inline void
sb_put(gwf_strbuf *b, const char *s, size_t n)
{
    if (sb_reserve(b, n) != 0)
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void
sb_puts(gwf_strbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static inline void
sb_putc(gwf_strbuf *b, char c)
{
    sb_put(b, &c, 1);
}

/* Append `len` bytes with every byte outside the unreserved set (and
 * `keep`, if not NUL) as %XX. */
static void
encode_into(gwf_strbuf *b, const char *s, size_t len, char keep)
{
    if (sb_reserve(b, len * 3) != 0)
        return;
    char *o = b->data + b->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved[c] || (keep && c == (unsigned char)keep)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex_upper[c >> 4];
            *o++ = hex_upper[c & 15];
        }
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void
sigv4_uri_encode(gwf_strbuf *b, const char *s, size_t len)
{
    encode_into(b, s, len, 0);
}

/* ------------------------------------------------------------------------
 * Hashing
 * --------------------------------------------------------------------- */

void
sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_HASH_HEX + 1])
{
    unsigned char md[32];
    unsigned int md_len = 32;
    EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
    to_hex(md, sizeof md, out);
}

static void
hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
            unsigned char out[32])
{
    unsigned int out_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len);
}

/* The cache's crypto objects, created on first use. 0 or -1. */
static int
cache_crypto(sigv4_key_cache *c)
{
    if (c->md)
        return 0;
    c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->inner = EVP_MD_CTX_new();
    c->outer = EVP_MD_CTX_new();
    c->work = EVP_MD_CTX_new();
    if (!c->md || !c->inner || !c->outer || !c->work) {
        sigv4_key_cache_clear(c);
        return -1;
    }
    return 0;
}

/* Key the cache's HMAC states with `key` (32 bytes < one block). */
static int
cache_key_hmac(sigv4_key_cache *c, const unsigned char key[32])
{
    unsigned char pad[SHA256_BLOCK];
    memset(pad, 0x36, sizeof pad);
    for (int i = 0; i < 32; i++)
        pad[i] ^= key[i];
    int ok = EVP_DigestInit_ex(c->inner, c->md, NULL) &&
             EVP_DigestUpdate(c->inner, pad, sizeof pad);
    memset(pad, 0x5c, sizeof pad);
    for (int i = 0; i < 32; i++)
        pad[i] ^= key[i];
    ok = ok && EVP_DigestInit_ex(c->outer, c->md, NULL) &&
         EVP_DigestUpdate(c->outer, pad, sizeof pad);
    OPENSSL_cleanse(pad, sizeof pad);
    return ok ? 0 : -1;
}

/* HMAC with the cached key: continue the keyed inner and outer states. */
static int
cache_hmac(sigv4_key_cache *c, const void *data, size_t len,
           unsigned char out[32])
{
    unsigned char inner[32];
    unsigned int n = 32;
    int ok = EVP_MD_CTX_copy_ex(c->work, c->inner) &&
             EVP_DigestUpdate(c->work, data, len) &&
             EVP_DigestFinal_ex(c->work, inner, &n) &&
             EVP_MD_CTX_copy_ex(c->work, c->outer) &&
             EVP_DigestUpdate(c->work, inner, sizeof inner) &&
             EVP_DigestFinal_ex(c->work, out, &n);
    return ok ? 0 : -1;
}

#define EMPTY_SHA256                                                           \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Hex SHA-256, with the cache's context when there is one (no context
 * allocated per call), and the well-known value of the empty string. */
static void
digest_hex(sigv4_key_cache *c, const void *data, size_t len, char *out)
{
    if (len == 0) {
        memcpy(out, EMPTY_SHA256, sizeof EMPTY_SHA256);
        return;
    }
    unsigned char md[32];
    unsigned int md_len = 32;
    if (c && c->md && EVP_DigestInit_ex(c->work, c->md, NULL) &&
        EVP_DigestUpdate(c->work, data, len) &&
        EVP_DigestFinal_ex(c->work, md, &md_len)) {
        to_hex(md, sizeof md, out);
        return;
    }
    EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
    to_hex(md, sizeof md, out);
}

void
sigv4_key_cache_clear(sigv4_key_cache *cache)
{
    EVP_MD_CTX_free(cache->inner);
    EVP_MD_CTX_free(cache->outer);
    EVP_MD_CTX_free(cache->work);
    EVP_MD_free(cache->md);
    OPENSSL_cleanse(cache, sizeof *cache);
}

/* ------------------------------------------------------------------------
 * Canonical URI
 * --------------------------------------------------------------------- */

/* RFC 3986 5.2.4 dot-segment removal, and AWS's collapsing of empty
 * segments: "/a//b/../c/" -> "/a/c/". Writes into `out` (at least `len`
 * + 2 bytes), returns the new length, 0 on allocation failure. An empty
 * result is "/". */
static size_t
normalize_path(const char *path, size_t len, char *out)
{
    size_t stack_starts[64];
    size_t *starts = stack_starts;
    if (len / 2 + 2 > 64) {
        starts = malloc((len / 2 + 2) * sizeof *starts);
        if (!starts)
            return 0;
    }
    size_t depth = 0, o = 0, i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t seg_len = j - i;
        const char *seg = path + i;
        if (seg_len == 0 || (seg_len == 1 && seg[0] == '.')) {
            /* an empty or "." segment: nothing */
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
    if (starts != stack_starts)
        free(starts);
    /* A trailing slash survives when something is left; the leading one
     * is always there (paths on the wire start with '/'). */
    if (o == 0)
        out[o++] = '/';
    else if (path[len - 1] == '/')
        out[o++] = '/';
    return o;
}

void
sigv4_canonical_uri(gwf_strbuf *b, const char *path, size_t len,
                    int normalize)
{
    if (len == 0) {
        sb_putc(b, '/');
        return;
    }
    if (normalize) {
        char stack_buf[512];
        char *norm = len + 2 <= sizeof stack_buf ? stack_buf : malloc(len + 2);
        size_t n = norm ? normalize_path(path, len, norm) : 0;
        if (n == 0)
            b->failed = 1;
        else
            encode_into(b, norm, n, '/');
        if (norm != stack_buf)
            free(norm);
        return;
    }
    /* As on the wire: keep '/', unreserved bytes and valid %XX escapes
     * (upper-cased, as AWS's encoder would write them); encode the rest
     * once. */
    if (sb_reserve(b, len * 3) != 0)
        return;
    char *o = b->data + b->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        int hi, lo;
        if (c == '/' || unreserved[c]) {
            *o++ = (char)c;
        } else if (c == '%' && i + 2 < len &&
                   (hi = hex_value((unsigned char)path[i + 1])) >= 0 &&
                   (lo = hex_value((unsigned char)path[i + 2])) >= 0) {
            *o++ = '%';
            *o++ = hex_upper[hi];
            *o++ = hex_upper[lo];
            i += 2;
        } else {
            *o++ = '%';
            *o++ = hex_upper[c >> 4];
            *o++ = hex_upper[c & 15];
        }
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

/* ------------------------------------------------------------------------
 * Canonical query string
 * --------------------------------------------------------------------- */

typedef struct query_pair {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} query_pair;

/* Percent-decode then AWS-encode one key or value at `o` (room for 3
 * bytes per input byte); returns the end. */
static char *
reencode(char *o, const char *s, size_t len)
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
        if (unreserved[c]) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex_upper[c >> 4];
            *o++ = hex_upper[c & 15];
        }
    }
    return o;
}

/* Byte order, shorter first on a tie; the strings compared (header
 * names, query keys) are short, so a loop beats a call to memcmp. */
static inline int
bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

static int
pair_cmp(const void *a, const void *b)
{
    const query_pair *x = a, *y = b;
    int c = bytes_cmp(x->key, x->key_len, y->key, y->key_len);
    return c ? c : bytes_cmp(x->value, x->value_len, y->value, y->value_len);
}

void
sigv4_canonical_query(gwf_strbuf *b, const char *query, size_t len,
                      const char *const *extra, size_t extra_count)
{
    if (len == 0 && extra_count == 0)
        return;
    size_t cap = extra_count + 1;
    for (size_t i = 0; i < len; i++)
        cap += query[i] == '&';
    query_pair stack_pairs[32];
    query_pair *pairs = cap <= 32 ? stack_pairs : malloc(cap * sizeof *pairs);
    /* Every byte becomes at most three: the arena never moves. */
    char stack_arena[1024];
    char *arena = len * 3 + 1 <= sizeof stack_arena ? stack_arena
                                                    : malloc(len * 3 + 1);
    size_t count = 0;
    if (!pairs || !arena) {
        b->failed = 1;
        goto done;
    }
    char *o = arena;
    size_t i = 0;
    while (len > 0 && i <= len) {
        size_t j = i;
        while (j < len && query[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(query + i, '=', j - i);
            size_t key_end = eq ? (size_t)(eq - query) : j;
            query_pair *p = &pairs[count++];
            p->key = o;
            o = reencode(o, query + i, key_end - i);
            p->key_len = (size_t)(o - p->key);
            p->value = o;
            if (eq)
                o = reencode(o, eq + 1, j - key_end - 1);
            p->value_len = (size_t)(o - p->value);
        }
        i = j + 1;
    }
    for (size_t e = 0; e < extra_count; e++) {
        const char *eq = strchr(extra[e], '=');
        size_t n = strlen(extra[e]);
        query_pair *p = &pairs[count++];
        p->key = extra[e];
        p->key_len = eq ? (size_t)(eq - extra[e]) : n;
        p->value = eq ? eq + 1 : extra[e] + n;
        p->value_len = eq ? n - p->key_len - 1 : 0;
    }
    /* Usually a handful of pairs: insertion sort (stable, no calls). */
    for (size_t k = 1; k < count; k++) {
        query_pair p = pairs[k];
        size_t j = k;
        while (j > 0 && pair_cmp(&pairs[j - 1], &p) > 0) {
            pairs[j] = pairs[j - 1];
            j--;
        }
        pairs[j] = p;
    }
    size_t total = count;
    for (size_t k = 0; k < count; k++)
        total += pairs[k].key_len + pairs[k].value_len + 1;
    if (sb_reserve(b, total) != 0)
        goto done;
    for (size_t k = 0; k < count; k++) {
        if (k > 0)
            b->data[b->len++] = '&';
        memcpy(b->data + b->len, pairs[k].key, pairs[k].key_len);
        b->len += pairs[k].key_len;
        b->data[b->len++] = '=';
        memcpy(b->data + b->len, pairs[k].value, pairs[k].value_len);
        b->len += pairs[k].value_len;
    }
    b->data[b->len] = '\0';
done:
    if (pairs != stack_pairs)
        free(pairs);
    if (arena != stack_arena)
        free(arena);
}

/* ------------------------------------------------------------------------
 * Canonical headers
 * --------------------------------------------------------------------- */

typedef struct canon_header {
    const char *name; /* lower case */
    size_t name_len;
    gwf_view value;   /* borrowed, untrimmed */
    size_t order;
} canon_header;

/* Never signed: hop-by-hop headers (a proxy rewrites them), headers
 * proxies add, and the signer's own output (host is given apart). */
#define NAME(s) {s, sizeof s - 1}
static const struct {
    const char *name;
    size_t len;
} builtin_excluded[] = {
    NAME("authorization"), NAME("connection"), NAME("keep-alive"),
    NAME("proxy-connection"), NAME("proxy-authorization"), NAME("te"),
    NAME("trailer"), NAME("transfer-encoding"), NAME("upgrade"),
    NAME("expect"), NAME("x-forwarded-for"), NAME("x-forwarded-proto"),
    NAME("x-amzn-trace-id"), NAME("x-amz-date"),
    NAME("x-amz-security-token"), NAME("x-amz-content-sha256"),
    NAME("host"),
};
#undef NAME

static int
builtin_excluded_name(const char *name, size_t len)
{
    /* Bit n set: some excluded name has n bytes. Most names stop here. */
    static const uint32_t lengths = 1u << 2 | 1u << 4 | 1u << 6 | 1u << 7 |
                                    1u << 10 | 1u << 13 | 1u << 15 |
                                    1u << 16 | 1u << 17 | 1u << 19 |
                                    1u << 20;
    if (len > 20 || !(lengths >> len & 1))
        return 0;
    for (size_t i = 0; i < sizeof builtin_excluded / sizeof *builtin_excluded;
         i++)
        if (builtin_excluded[i].len == len &&
            builtin_excluded[i].name[0] == name[0] &&
            bytes_cmp(builtin_excluded[i].name, len, name, len) == 0)
            return 1;
    return 0;
}

static int
name_in(const char *name, size_t len, const char *const *list, size_t n)
{
    /* (Names may hold any byte, NUL included: compare lengths first.) */
    for (size_t i = 0; i < n; i++)
        if (list[i][0] == name[0] && strlen(list[i]) == len &&
            memcmp(list[i], name, len) == 0)
            return 1;
    return 0;
}

static int
header_cmp(const void *a, const void *b)
{
    const canon_header *x = a, *y = b;
    int c = bytes_cmp(x->name, x->name_len, y->name, y->name_len);
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
    if (sb_reserve(b, n - i) != 0)
        return;
    char *o = b->data + b->len;
    while (i < n) {
        unsigned char c = (unsigned char)v.ptr[i++];
        if (is_space(c)) {
            *o++ = ' ';
            while (i < n && is_space((unsigned char)v.ptr[i]))
                i++;
        } else {
            *o++ = (char)c;
        }
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

/* ------------------------------------------------------------------------
 * Date
 * --------------------------------------------------------------------- */

/* YYYYMMDDTHHMMSSZ from Unix seconds (proleptic Gregorian, UTC), without
 * the C library's locale-aware formatting. -1 outside years 0-9999. */
static int
amz_date(int64_t t, char out[17])
{
    if (t < INT64_C(-62167219200) || t > INT64_C(253402300799))
        return -1;
    int64_t days = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    /* Howard Hinnant's civil_from_days. */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    int v[6] = {(int)y, (int)m, (int)d, (int)(secs / 3600),
                (int)(secs / 60 % 60), (int)(secs % 60)};
    char *o = out;
    o[0] = (char)('0' + v[0] / 1000);
    o[1] = (char)('0' + v[0] / 100 % 10);
    o[2] = (char)('0' + v[0] / 10 % 10);
    o[3] = (char)('0' + v[0] % 10);
    o += 4;
    for (int k = 1; k < 6; k++) {
        if (k == 3)
            *o++ = 'T';
        *o++ = (char)('0' + v[k] / 10);
        *o++ = (char)('0' + v[k] % 10);
    }
    *o++ = 'Z';
    *o = '\0';
    return 0;
}

/* ------------------------------------------------------------------------
 * Signing
 * --------------------------------------------------------------------- */

static void
derive_key(const sigv4_credentials *creds, const char *date,
           const char *region, const char *service, unsigned char key[32])
{
    size_t secret_len = strlen(creds->secret_key);
    unsigned char k[32];
    unsigned char stack_k0[132];
    unsigned char *k0 = secret_len + 4 <= sizeof stack_k0
                            ? stack_k0
                            : malloc(secret_len + 4);
    if (!k0) {
        memset(key, 0, 32);
        return;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, creds->secret_key, secret_len);
    hmac_sha256(k0, secret_len + 4, date, 8, k);
    OPENSSL_cleanse(k0, secret_len + 4);
    if (k0 != stack_k0)
        free(k0);
    hmac_sha256(k, 32, region, strlen(region), k);
    hmac_sha256(k, 32, service, strlen(service), k);
    hmac_sha256(k, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k, sizeof k);
}

/* The signature of `sts`, from the cache when it holds this day, region,
 * service and secret; the cache is refilled otherwise. */
static int
sign_sts(const sigv4_credentials *creds, const char *date,
         const sigv4_params *p, sigv4_key_cache *cache, const char *sts,
         size_t sts_len, unsigned char sig[32])
{
    size_t secret_len = strlen(creds->secret_key);
    int cacheable = cache && strlen(p->region) < sizeof cache->region &&
                    strlen(p->service) < sizeof cache->service &&
                    secret_len < sizeof cache->secret;
    if (!cacheable) {
        unsigned char key[32];
        derive_key(creds, date, p->region, p->service, key);
        hmac_sha256(key, 32, sts, sts_len, sig);
        OPENSSL_cleanse(key, sizeof key);
        return 0;
    }
    if (cache_crypto(cache) != 0)
        return -1;
    if (!(cache->valid && memcmp(cache->date, date, 8) == 0 &&
          strcmp(cache->region, p->region) == 0 &&
          strcmp(cache->service, p->service) == 0 &&
          cache->secret_len == secret_len &&
          CRYPTO_memcmp(cache->secret, creds->secret_key, secret_len) ==
              0)) {
        unsigned char key[32];
        derive_key(creds, date, p->region, p->service, key);
        cache->valid = 0;
        if (cache_key_hmac(cache, key) != 0) {
            OPENSSL_cleanse(key, sizeof key);
            return -1;
        }
        OPENSSL_cleanse(key, sizeof key);
        memcpy(cache->date, date, 8);
        cache->date[8] = '\0';
        strcpy(cache->region, p->region);
        strcpy(cache->service, p->service);
        OPENSSL_cleanse(cache->secret, sizeof cache->secret);
        memcpy(cache->secret, creds->secret_key, secret_len);
        cache->secret_len = secret_len;
        cache->valid = 1;
        cache->derivations++;
    }
    return cache_hmac(cache, sts, sts_len, sig);
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
    sb_puts(&b, key);
    sb_putc(&b, '=');
    encode_into(&b, value, value_len, 0);
    if (b.failed) {
        gwf_strbuf_free(&b);
        return NULL;
    }
    return b.data;
}

/* The headers to sign, sorted, names lower-cased into `names_arena`.
 * Returns the count, or -1 on allocation failure. */
static long
collect_headers(const sigv4_request *req, const sigv4_params *params,
                const sigv4_credentials *creds, const sigv4_result *out,
                canon_header *hs, char *names_arena)
{
    size_t n = 0;
    hs[n++] = (canon_header){"host", 4, req->host, 0};
    if (!params->presign) {
        hs[n++] = (canon_header){"x-amz-date", 10,
                                 {out->amz_date, 16}, 0};
        if (creds->session_token && params->token_mode == SIGV4_TOKEN_SIGNED)
            hs[n++] = (canon_header){"x-amz-security-token", 20,
                                     gwf_cstr(creds->session_token), 0};
        if (params->content_sha256_header)
            hs[n++] = (canon_header){"x-amz-content-sha256", 20,
                                     gwf_cstr(out->payload_hash), 0};
    }
    char *o = names_arena;
    for (size_t i = 0; i < req->header_count; i++) {
        gwf_view nm = req->headers[i].name;
        if (nm.len == 0 || nm.ptr[0] == ':')
            continue;
        for (size_t k = 0; k < nm.len; k++) {
            char c = nm.ptr[k];
            o[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
        }
        if (builtin_excluded_name(o, nm.len) ||
            name_in(o, nm.len, params->excluded, params->excluded_count) ||
            (params->only_included &&
             !name_in(o, nm.len, params->included, params->included_count)))
            continue;
        hs[n] = (canon_header){o, nm.len, req->headers[i].value, n};
        n++;
        o += nm.len;
    }
    for (size_t i = 0; i < n; i++)
        hs[i].order = i;
    /* Few headers, mostly in order already: insertion sort. */
    for (size_t i = 1; i < n; i++) {
        canon_header h = hs[i];
        size_t j = i;
        while (j > 0 && header_cmp(&hs[j - 1], &h) > 0) {
            hs[j] = hs[j - 1];
            j--;
        }
        hs[j] = h;
    }
    return (long)n;
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
    if (amz_date(params->unix_seconds, out->amz_date) != 0) {
        *why = "the clock is out of range";
        return -1;
    }
    char date[9];
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    if (cache && cache_crypto(cache) != 0)
        return -1;

    if (params->unsigned_payload)
        memcpy(out->payload_hash, SIGV4_UNSIGNED_PAYLOAD,
               sizeof SIGV4_UNSIGNED_PAYLOAD);
    else if (req->payload_hash)
        snprintf(out->payload_hash, sizeof out->payload_hash, "%s",
                 req->payload_hash);
    else
        digest_hex(cache, req->payload.ptr ? req->payload.ptr : "",
                   req->payload.len, out->payload_hash);

    /* date/region/service/aws4_request */
    char scope[256];
    size_t region_len = strlen(params->region);
    size_t service_len = strlen(params->service);
    if (region_len + service_len + 24 > sizeof scope) {
        *why = "region or service too long";
        return -1;
    }
    size_t scope_len = 0;
    memcpy(scope, date, 8);
    scope_len = 8;
    scope[scope_len++] = '/';
    memcpy(scope + scope_len, params->region, region_len);
    scope_len += region_len;
    scope[scope_len++] = '/';
    memcpy(scope + scope_len, params->service, service_len);
    scope_len += service_len;
    memcpy(scope + scope_len, "/aws4_request", 14);
    scope_len += 13;

    /* Split the target into path and query. */
    const char *target = req->target.ptr ? req->target.ptr : "";
    size_t target_len = req->target.len;
    const char *qmark = memchr(target, '?', target_len);
    size_t path_len = qmark ? (size_t)(qmark - target) : target_len;
    const char *query = qmark ? qmark + 1 : "";
    size_t query_len = qmark ? target_len - path_len - 1 : 0;

    int token_signed = creds->session_token &&
                       params->token_mode == SIGV4_TOKEN_SIGNED;
    size_t names_len = 0;
    for (size_t i = 0; i < req->header_count; i++)
        names_len += req->headers[i].name.len;
    canon_header stack_hs[24];
    char stack_names[512];
    size_t cap = req->header_count + 4;
    canon_header *hs = cap <= 24 ? stack_hs : malloc(cap * sizeof *hs);
    char *names = names_len <= sizeof stack_names ? stack_names
                                                  : malloc(names_len + 1);
    char *extra[8] = {0};
    size_t extra_count = 0;
    int rc = -1;
    if (!hs || !names)
        goto done;
    long hcount = collect_headers(req, params, creds, out, hs, names);

    size_t values_len = 0;
    for (long i = 0; i < hcount; i++)
        values_len += hs[i].name_len + hs[i].value.len + 2;
    gwf_strbuf *cr = &out->canonical_request;
    if (sb_reserve(cr, req->method.len + path_len * 3 + query_len * 3 +
                           values_len * 2 + 256) != 0)
        goto done;

    /* Signed header names: "host;x-amz-date;..." */
    gwf_strbuf *sh = &out->signed_headers;
    size_t names_total = 0;
    for (long i = 0; i < hcount; i++)
        names_total += hs[i].name_len + 1;
    if (sb_reserve(sh, names_total) != 0)
        goto done;
    for (long i = 0; i < hcount; i++) {
        if (i > 0 && bytes_cmp(hs[i].name, hs[i].name_len, hs[i - 1].name,
                               hs[i - 1].name_len) == 0)
            continue;
        if (i > 0)
            sb_putc(sh, ';');
        sb_put(sh, hs[i].name, hs[i].name_len);
    }
    if (sh->failed)
        goto done;

    if (params->presign) {
        char cred[512];
        int n = snprintf(cred, sizeof cred, "%s/%s", creds->access_key,
                         scope);
        if (n < 0 || (size_t)n >= sizeof cred) {
            *why = "access key too long";
            goto done;
        }
        char expires[16];
        snprintf(expires, sizeof expires, "%u", params->expires);
        extra[extra_count++] = query_param("X-Amz-Algorithm", SIGV4_ALGORITHM,
                                           strlen(SIGV4_ALGORITHM));
        extra[extra_count++] = query_param("X-Amz-Credential", cred,
                                           (size_t)n);
        extra[extra_count++] = query_param("X-Amz-Date", out->amz_date, 16);
        extra[extra_count++] =
            query_param("X-Amz-SignedHeaders", sh->data, sh->len);
        extra[extra_count++] =
            query_param("X-Amz-Expires", expires, strlen(expires));
        if (creds->session_token)
            extra[extra_count++] =
                query_param("X-Amz-Security-Token", creds->session_token,
                            strlen(creds->session_token));
        for (size_t e = 0; e < extra_count; e++)
            if (!extra[e])
                goto done;
    }

    sb_put(cr, req->method.ptr, req->method.len);
    sb_putc(cr, '\n');
    sigv4_canonical_uri(cr, target, path_len, params->normalize_path);
    sb_putc(cr, '\n');
    sigv4_canonical_query(cr, query, query_len, (const char *const *)extra,
                          extra_count - (params->presign && !token_signed &&
                                         creds->session_token));
    sb_putc(cr, '\n');
    for (long i = 0; i < hcount; i++) {
        if (i > 0 && bytes_cmp(hs[i].name, hs[i].name_len, hs[i - 1].name,
                               hs[i - 1].name_len) == 0) {
            sb_putc(cr, ',');
        } else {
            if (i > 0)
                sb_putc(cr, '\n');
            sb_put(cr, hs[i].name, hs[i].name_len);
            sb_putc(cr, ':');
        }
        append_trimmed(cr, hs[i].value);
    }
    sb_put(cr, "\n\n", 2);
    sb_put(cr, sh->data, sh->len);
    sb_putc(cr, '\n');
    sb_puts(cr, out->payload_hash);
    if (cr->failed)
        goto done;

    gwf_strbuf *sts = &out->string_to_sign;
    if (sb_reserve(sts, 16 + 1 + 16 + 1 + scope_len + 1 + 64) != 0)
        goto done;
    sb_put(sts, SIGV4_ALGORITHM "\n", sizeof SIGV4_ALGORITHM);
    sb_put(sts, out->amz_date, 16);
    sb_putc(sts, '\n');
    sb_put(sts, scope, scope_len);
    sb_putc(sts, '\n');
    char cr_hash[SIGV4_HASH_HEX + 1];
    digest_hex(cache, cr->data, cr->len, cr_hash);
    sb_put(sts, cr_hash, SIGV4_HASH_HEX);
    if (sts->failed)
        goto done;

    unsigned char sig[32];
    if (sign_sts(creds, date, params, cache, sts->data, sts->len, sig) != 0)
        goto done;
    to_hex(sig, 32, out->signature);

    if (params->presign) {
        gwf_strbuf *pt = &out->presigned_target;
        sb_put(pt, target, target_len);
        for (size_t e = 0; e < extra_count; e++) {
            if (e == 0 && !qmark)
                sb_putc(pt, '?');
            else if (e > 0 || query_len > 0)
                sb_putc(pt, '&');
            sb_puts(pt, extra[e]);
        }
        sb_puts(pt, "&X-Amz-Signature=");
        sb_put(pt, out->signature, SIGV4_HASH_HEX);
        if (pt->failed)
            goto done;
    } else {
        gwf_strbuf *a = &out->authorization;
        if (sb_reserve(a, 64 + strlen(creds->access_key) + scope_len +
                              sh->len + 64) != 0)
            goto done;
        sb_puts(a, SIGV4_ALGORITHM " Credential=");
        sb_puts(a, creds->access_key);
        sb_putc(a, '/');
        sb_put(a, scope, scope_len);
        sb_puts(a, ", SignedHeaders=");
        sb_put(a, sh->data, sh->len);
        sb_puts(a, ", Signature=");
        sb_put(a, out->signature, SIGV4_HASH_HEX);
        if (a->failed)
            goto done;
    }
    rc = 0;
done:
    if (hs != stack_hs)
        free(hs);
    if (names != stack_names)
        free(names);
    for (size_t e = 0; e < extra_count; e++)
        free(extra[e]);
    if (rc != 0)
        sigv4_result_free(out);
    return rc;
}
