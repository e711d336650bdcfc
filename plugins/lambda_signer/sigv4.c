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
 * sized up front and written through a pointer, and the query pairs and
 * lower-cased header names live on the stack (one allocation each past a
 * bound). Canonicalisation is table-driven and works a word at a time
 * where it can: header names are lower-cased eight bytes at once and
 * sorted by an 8-byte prefix key (pointers, not structs, move), the
 * query is split, decoded and re-encoded in one pass, header values
 * without white space are copied a word at a time, and the excluded
 * header names are found by length first, and the path is normalised
 * and encoded in one pass. The only per-call allocation is the result's
 * block holding its four strings (and, presigning, the X-Amz-* pairs).
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

static const char hex_upper[] = "0123456789ABCDEF";

/* 1 for A-Z a-z 0-9 - _ . ~ */
static const unsigned char unreserved[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
    ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
    ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
    ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* One more than the value of a hex digit, 0 for any other byte. */
static const unsigned char hex_digit1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* The value of a hex digit, -1 for any other byte. */
static inline int
hex_value(unsigned char c)
{
    return (int)hex_digit1[c] - 1;
}

/* 1 for the white space a header value is trimmed of: space, tab, CR,
 * LF. */
static const unsigned char header_space[256] = {
    [' '] = 1,
    ['\t'] = 1,
    ['\r'] = 1,
    ['\n'] = 1,
};

/* The two lower-case hex digits of every byte value. */
#define HEX_DIGIT(v) ((char)((v) < 10 ? '0' + (v) : 'a' - 10 + (v)))
#define HEX_PAIR(v)                                                            \
    {                                                                          \
        HEX_DIGIT((v) >> 4), HEX_DIGIT((v)&15)                                 \
    }
#define HEX_ROW(r)                                                             \
    HEX_PAIR(r + 0), HEX_PAIR(r + 1), HEX_PAIR(r + 2), HEX_PAIR(r + 3),        \
        HEX_PAIR(r + 4), HEX_PAIR(r + 5), HEX_PAIR(r + 6), HEX_PAIR(r + 7),    \
        HEX_PAIR(r + 8), HEX_PAIR(r + 9), HEX_PAIR(r + 10), HEX_PAIR(r + 11),  \
        HEX_PAIR(r + 12), HEX_PAIR(r + 13), HEX_PAIR(r + 14), HEX_PAIR(r + 15)
static const char hex_pairs[256][2] = {
    HEX_ROW(0),   HEX_ROW(16),  HEX_ROW(32),  HEX_ROW(48),
    HEX_ROW(64),  HEX_ROW(80),  HEX_ROW(96),  HEX_ROW(112),
    HEX_ROW(128), HEX_ROW(144), HEX_ROW(160), HEX_ROW(176),
    HEX_ROW(192), HEX_ROW(208), HEX_ROW(224), HEX_ROW(240),
};
#undef HEX_ROW
#undef HEX_PAIR
#undef HEX_DIGIT

static void
to_hex(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        memcpy(out + 2 * i, hex_pairs[in[i]], 2);
    out[2 * len] = '\0';
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

/* The first eight bytes of a string as a big-endian number, zero-padded.
 * Two strings whose keys differ compare like their keys (in bytes_cmp's
 * order), so sorting mostly compares one number and looks at the bytes
 * only when the first eight are equal. */
static inline uint64_t
prefix_key(const char *s, size_t len)
{
    uint64_t k = 0;
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++)
        k |= (uint64_t)(unsigned char)s[i] << (56 - 8 * i);
    return k;
}

/* bytes_cmp of two strings, given their prefix keys. */
static inline int
keyed_cmp(uint64_t ak, const char *a, size_t an, uint64_t bk, const char *b,
          size_t bn)
{
    if (ak != bk)
        return ak < bk ? -1 : 1;
    /* Equal keys: a string of at most eight bytes is then a prefix of the
     * other (the padding is zeros, and equal), so the shorter is first;
     * otherwise the bytes after the eighth decide. */
    if (an <= 8 || bn <= 8)
        return an < bn ? -1 : an > bn;
    return bytes_cmp(a + 8, an - 8, b + 8, bn - 8);
}

/* prefix_key of a string with at least eight readable bytes from `s`
 * (whatever follows the string). */
static inline uint64_t
prefix_key_word(const char *s, size_t len)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    memcpy(&x, s, 8);
    if (len < 8)
        x &= ~(~UINT64_C(0) << (8 * len));
    return __builtin_bswap64(x);
#else
    return prefix_key(s, len);
#endif
}

/* Copy `n` bytes sixteen, then eight at a time: both sides have room for
 * `n` rounded up to eight, and for sixteen (COPY_SLACK past the end). */
#define COPY_SLACK 16
static inline char *
copy_words(char *dst, const char *src, size_t n)
{
    memcpy(dst, src, 16); /* most names and query keys: no loop */
    for (size_t k = 16; k < n; k += 8)
        memcpy(dst + k, src + k, 8);
    return dst + n;
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
 * segments: "/a//b/../c/" -> "/a/c/", each kept segment percent-encoded
 * on the way (everything outside the unreserved set; the separators are
 * the only '/' left). Writes into `out` (at least 3 * (`len` + 1)
 * bytes), returns the new length, 0 on allocation failure. An empty
 * result is "/". */
static size_t
normalize_path(const char *path, size_t len, char *out)
{
    size_t stack_starts[256];
    size_t *starts = stack_starts;
    if (len / 2 + 2 > 256) {
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
            for (size_t k = 0; k < seg_len; k++) {
                unsigned char c = (unsigned char)seg[k];
                if (unreserved[c]) {
                    out[o++] = (char)c;
                } else {
                    out[o++] = '%';
                    out[o++] = hex_upper[c >> 4];
                    out[o++] = hex_upper[c & 15];
                }
            }
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
sigv4_canonical_uri(gwf_strbuf *b, const char *path, size_t len, int normalize)
{
    if (len == 0) {
        sb_putc(b, '/');
        return;
    }
    if (normalize) {
        /* Normalised and encoded in one pass, straight into `b`. */
        if (sb_reserve(b, (len + 1) * 3) != 0)
            return;
        size_t n = normalize_path(path, len, b->data + b->len);
        if (n == 0) {
            b->failed = 1;
            return;
        }
        b->len += n;
        b->data[b->len] = '\0';
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
    uint64_t prefix; /* prefix_key of the encoded key */
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} query_pair;

/* Percent-decode then AWS-encode bytes of `s` from `*at` up to `len` or
 * the first byte in `stop` (a byte of the input, not of an escape: hex
 * digits are never stop bytes), at `o` (room for 3 bytes per input
 * byte); returns the end of the output and leaves `*at` on the stop byte.
 * An escape must lie wholly before `len`. */
static inline char *
reencode_until(char *o, const char *s, size_t len, size_t *at,
               const unsigned char *stop)
{
    size_t i = *at;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved[c]) {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (stop[c])
            break;
        unsigned hi, lo;
        if (c == '%' && i + 2 < len &&
            (hi = hex_digit1[(unsigned char)s[i + 1]]) != 0 &&
            (lo = hex_digit1[(unsigned char)s[i + 2]]) != 0) {
            c = (unsigned char)((hi - 1) << 4 | (lo - 1));
            i += 3;
            if (unreserved[c]) {
                *o++ = (char)c;
                continue;
            }
        } else {
            i++;
        }
        *o++ = '%';
        *o++ = hex_upper[c >> 4];
        *o++ = hex_upper[c & 15];
    }
    *at = i;
    return o;
}

static const unsigned char stop_key[256] = {['&'] = 1, ['='] = 1};
static const unsigned char stop_value[256] = {['&'] = 1};

static inline int
pair_cmp(const query_pair *x, const query_pair *y)
{
    int c =
        keyed_cmp(x->prefix, x->key, x->key_len, y->prefix, y->key, y->key_len);
    return c ? c : bytes_cmp(x->value, x->value_len, y->value, y->value_len);
}

void
sigv4_canonical_query(gwf_strbuf *b, const char *query, size_t len,
                      const char *const *extra, size_t extra_count)
{
    if (len == 0 && extra_count == 0)
        return;
    /* A pair takes at least one byte and a '&' after it (but the last);
     * past the stack's room, count the '&' for the exact bound. */
    size_t cap = extra_count + len / 2 + 1;
    query_pair stack_pairs[64];
    if (cap > 64) {
        cap = extra_count + 1;
        const char *a = query, *end = query + len;
        while ((a = memchr(a, '&', (size_t)(end - a))) != NULL) {
            cap++;
            a++;
        }
    }
    query_pair *pairs = cap <= 64 ? stack_pairs : malloc(cap * sizeof *pairs);
    /* Every byte becomes at most three: the arena never moves. */
    char stack_arena[1024];
    size_t arena_len = len * 3 + COPY_SLACK; /* + slack for word reads */
    char *arena =
        arena_len <= sizeof stack_arena ? stack_arena : malloc(arena_len);
    size_t count = 0;
    if (!pairs || !arena) {
        b->failed = 1;
        goto done;
    }
    /* One pass: each '&'-separated, non-empty piece is a pair, its key up
     * to the first '=', its value the rest (further '=' included). */
    char *o = arena;
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        query_pair *p = &pairs[count];
        p->key = o;
        o = reencode_until(o, query, len, &i, stop_key);
        p->key_len = (size_t)(o - p->key);
        p->value = o;
        if (i < len && query[i] == '=') {
            i++;
            o = reencode_until(o, query, len, &i, stop_value);
        }
        p->value_len = (size_t)(o - p->value);
        if (i > start)
            count++;
        i++; /* the '&' */
    }
    for (size_t e = 0; e < extra_count; e++) {
        const char *eq = strchr(extra[e], '=');
        size_t n = strlen(extra[e]);
        query_pair *p = &pairs[count++];
        p->key = extra[e];
        p->key_len = eq ? (size_t)(eq - extra[e]) : n;
        p->value = eq ? eq + 1 : extra[e] + n;
        p->value_len = eq ? n - p->key_len - 1 : 0;
        p->prefix = prefix_key(p->key, p->key_len);
    }
    /* The arena pairs' prefix keys, read a word at a time once all of
     * them are written (a word read right after its bytes were stored
     * one by one would stall). */
    for (size_t k = 0; k < count - extra_count; k++)
        pairs[k].prefix = prefix_key_word(pairs[k].key, pairs[k].key_len);
    /* Usually a handful of pairs: insertion sort (stable, no calls). */
    size_t total = count;
    for (size_t k = 0; k < count; k++) {
        total += pairs[k].key_len + pairs[k].value_len + 1;
        if (k == 0)
            continue;
        query_pair p = pairs[k];
        size_t j = k;
        while (j > 0 && pair_cmp(&pairs[j - 1], &p) > 0) {
            pairs[j] = pairs[j - 1];
            j--;
        }
        pairs[j] = p;
    }
    if (sb_reserve(b, total + COPY_SLACK) != 0)
        goto done;
    char *w = b->data + b->len;
    char *arena_end = o;
    for (size_t k = 0; k < count; k++) {
        const query_pair *q = &pairs[k];
        if (k > 0)
            *w++ = '&';
        /* Pairs from the arena may be read a word past their end; the
         * presigning ones are strings of their own. */
        int in_arena = (uintptr_t)q->key >= (uintptr_t)arena &&
                       (uintptr_t)q->key <= (uintptr_t)arena_end;
        if (in_arena) {
            w = copy_words(w, q->key, q->key_len);
            *w++ = '=';
            w = copy_words(w, q->value, q->value_len);
        } else {
            memcpy(w, q->key, q->key_len);
            w += q->key_len;
            *w++ = '=';
            memcpy(w, q->value, q->value_len);
            w += q->value_len;
        }
    }
    b->len = (size_t)(w - b->data);
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

/* The last `len - k` (1 to 7) bytes of `in` as a word in memcpy's byte
 * order, zero-padded, without reading outside `in` and without storing
 * bytes to load them back as a word (which would stall the load). */
static inline uint64_t
load_tail(const char *in, size_t k, size_t len)
{
    size_t r = len - k;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (len >= 8) { /* the word that ends with the name, shifted down */
        uint64_t x;
        memcpy(&x, in + len - 8, 8);
        return x >> (8 * (8 - r));
    }
    const unsigned char *p = (const unsigned char *)in + k;
    if (r >= 4) { /* two overlapping 4-byte loads */
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + r - 4, 4);
        return (uint64_t)lo | (uint64_t)hi << (8 * (r - 4));
    }
    return (uint64_t)p[0] | (uint64_t)p[r / 2] << (8 * (r / 2)) |
           (uint64_t)p[r - 1] << (8 * (r - 1));
#else
    uint64_t x = 0;
    for (size_t i = 0; i < r; i++)
        x |= (uint64_t)(unsigned char)in[k + i] << (56 - 8 * i);
    return x;
#endif
}

typedef struct canon_header {
    uint64_t prefix;  /* prefix_key of the name */
    const char *name; /* lower case */
    size_t name_len;
    gwf_view value; /* borrowed, untrimmed */
    size_t order;
    int same_as_previous; /* (sorted) the previous header has this name */
} canon_header;

/* Never signed: hop-by-hop headers (a proxy rewrites them), headers
 * proxies add, and the signer's own output (host is given apart):
 *   authorization connection keep-alive proxy-connection
 *   proxy-authorization te trailer transfer-encoding upgrade expect
 *   x-forwarded-for x-forwarded-proto x-amzn-trace-id x-amz-date
 *   x-amz-security-token x-amz-content-sha256 host
 * Picked by length first, so a name costs at most two comparisons. */
#define IS(lit) (memcmp(name, lit, sizeof lit - 1) == 0)
static int
builtin_excluded_name(const char *name, size_t len)
{
    switch (len) {
    case 2:
        return IS("te");
    case 4:
        return IS("host");
    case 6:
        return IS("expect");
    case 7:
        return IS("trailer") || IS("upgrade");
    case 10:
        return IS("connection") || IS("keep-alive") || IS("x-amz-date");
    case 13:
        return IS("authorization");
    case 15:
        return IS("x-forwarded-for") || IS("x-amzn-trace-id");
    case 16:
        return IS("proxy-connection");
    case 17:
        return IS("transfer-encoding") || IS("x-forwarded-proto");
    case 19:
        return IS("proxy-authorization");
    case 20:
        return IS("x-amz-security-token") || IS("x-amz-content-sha256");
    default:
        return 0;
    }
}
#undef IS

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

static inline int
header_cmp(const canon_header *x, const canon_header *y)
{
    int c = keyed_cmp(x->prefix, x->name, x->name_len, y->prefix, y->name,
                      y->name_len);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Append `v` trimmed, every white space run as one space, at `o`; returns
 * the end. */
static inline char *
put_trimmed(char *o, gwf_view v)
{
    const unsigned char *p = (const unsigned char *)v.ptr;
    size_t i = 0, n = v.len;
    while (i < n && header_space[p[i]])
        i++;
    while (n > i && header_space[p[n - 1]])
        n--;
    /* A word at a time where the word needs nothing done: no control
     * byte (so no tab, CR or LF), no two spaces in a row, and no space
     * right after the previous word's. It is copied as it is (the output
     * has a word of slack; short reads use load_tail, never past the
     * value). Anything else goes byte by byte, without a branch per
     * byte: white space is written as ' ', and the output only advances
     * past it when the byte before was not white space too. The ends are
     * not white space (trimmed above). */
    unsigned prev_space = 0;
    while (i < n) {
        size_t r = n - i < 8 ? n - i : 8;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        const uint64_t ones = 0x0101010101010101u, highs = ones * 0x80,
                       lows = ones * 0x7f;
        uint64_t x;
        if (r == 8)
            memcpy(&x, p + i, 8);
        else
            x = load_tail((const char *)p, i, n);
        /* The padding of a short word made harmless ('a'). */
        uint64_t check =
            r == 8 ? x : x | (~UINT64_C(0) << (8 * r) & ones * 'a');
        uint64_t control = (check - ones * 0x20) & ~check & highs;
        uint64_t y = check ^ ones * ' ';
        uint64_t spaces = ~(((y & lows) + lows) | y | lows); /* exact */
        if (!control && !(spaces & spaces << 8) &&
            !(prev_space && (spaces & 0x80))) {
            memcpy(o, &x, 8);
            o += r;
            i += r;
            prev_space = (unsigned)(spaces >> (8 * r - 1)) & 1;
            continue;
        }
#endif
        size_t stop = i + r;
        for (; i < stop; i++) {
            unsigned char c = p[i];
            unsigned space = header_space[c];
            *o = space ? ' ' : (char)c;
            o += !(space & prev_space);
            prev_space = space;
        }
    }
    return o;
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
    int v[6] = {(int)y,
                (int)m,
                (int)d,
                (int)(secs / 3600),
                (int)(secs / 60 % 60),
                (int)(secs % 60)};
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
derive_key(const sigv4_credentials *creds, const char *date, const char *region,
           const char *service, unsigned char key[32])
{
    size_t secret_len = strlen(creds->secret_key);
    unsigned char k[32];
    unsigned char stack_k0[132];
    unsigned char *k0 =
        secret_len + 4 <= sizeof stack_k0 ? stack_k0 : malloc(secret_len + 4);
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
         const sigv4_params *p, size_t region_len, size_t service_len,
         sigv4_key_cache *cache, const char *sts, size_t sts_len,
         unsigned char sig[32])
{
    size_t secret_len = strlen(creds->secret_key);
    int cacheable = cache && region_len < sizeof cache->region &&
                    service_len < sizeof cache->service &&
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
          /* (with the NUL: both hold at least len + 1 bytes) */
          memcmp(cache->region, p->region, region_len + 1) == 0 &&
          memcmp(cache->service, p->service, service_len + 1) == 0 &&
          cache->secret_len == secret_len &&
          CRYPTO_memcmp(cache->secret, creds->secret_key, secret_len) == 0)) {
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
    if (out->block) {
        /* The four strings live in the block. */
        free(out->block);
        out->block = NULL;
        out->canonical_request = (gwf_strbuf){0};
        out->string_to_sign = (gwf_strbuf){0};
        out->signed_headers = (gwf_strbuf){0};
        out->authorization = (gwf_strbuf){0};
    } else {
        gwf_strbuf_free(&out->canonical_request);
        gwf_strbuf_free(&out->string_to_sign);
        gwf_strbuf_free(&out->signed_headers);
        gwf_strbuf_free(&out->authorization);
    }
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

/* Lower-case `len` bytes of a header name from `in` to `out`, eight at a
 * time (A-Z only: a byte that is not ASCII stays as it is); returns the
 * prefix_key of the result. Writes whole words: `out` has room for `len`
 * rounded up to eight. */
static inline uint64_t
lower_name(char *out, const char *in, size_t len)
{
    const uint64_t ones = 0x0101010101010101u, highs = ones * 0x80;
    uint64_t prefix = 0;
    for (size_t k = 0; k < len; k += 8) {
        uint64_t x = 0;
        if (len - k >= 8)
            memcpy(&x, in + k, 8);
        else
            x = load_tail(in, k, len);
        uint64_t seven = x & ~highs;
        /* High bit of each byte: (seven >= 'A') && !(seven > 'Z') && the
         * byte is ASCII. No carry crosses a byte: seven < 0x80. */
        uint64_t upper = (seven + ones * (0x80 - 'A')) &
                         ~(seven + ones * (0x80 - 'Z' - 1)) & ~x & highs;
        x |= upper >> 2; /* 0x80 >> 2 is the case bit 0x20 */
        memcpy(out + k, &x, 8);
        if (k == 0) /* the first eight bytes as a big-endian number */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            prefix = __builtin_bswap64(x);
#else
            prefix = x;
#endif
    }
    return prefix;
}

/* Room the names arena needs past the request's names: the signer's own
 * names and the slack of lower_name and copy_words. */
#define NAMES_EXTRA (4 + 10 + 20 + 20 + COPY_SLACK)

/* The headers to sign into `hs`, names lower-cased into `names_arena`;
 * `ord` gets them sorted, each marked when it repeats the previous one's
 * name. Returns the count. */
static size_t
collect_headers(const sigv4_request *req, const sigv4_params *params,
                const sigv4_credentials *creds, const sigv4_result *out,
                canon_header *hs, canon_header **ord, char *names_arena)
{
    size_t n = 0;
    char *o = names_arena;
    /* The signer's own names live in the arena too, so that copy_words
     * may read a whole word of any name. */
#define OWN(lit, v)                                                            \
    do {                                                                       \
        memcpy(o, lit, sizeof lit - 1);                                        \
        hs[n++] = (canon_header){                                              \
            prefix_key(lit, sizeof lit - 1), o, sizeof lit - 1, v, 0, 0};      \
        o += sizeof lit - 1;                                                   \
    } while (0)
    OWN("host", req->host);
    if (!params->presign) {
        OWN("x-amz-date", ((gwf_view){out->amz_date, 16}));
        if (creds->session_token && params->token_mode == SIGV4_TOKEN_SIGNED)
            OWN("x-amz-security-token", gwf_cstr(creds->session_token));
        if (params->content_sha256_header)
            OWN("x-amz-content-sha256", gwf_cstr(out->payload_hash));
    }
#undef OWN
    for (size_t i = 0; i < req->header_count; i++) {
        gwf_view nm = req->headers[i].name;
        if (nm.len == 0 || nm.ptr[0] == ':')
            continue;
        uint64_t prefix = lower_name(o, nm.ptr, nm.len);
        if (builtin_excluded_name(o, nm.len) ||
            (params->excluded_count &&
             name_in(o, nm.len, params->excluded, params->excluded_count)) ||
            (params->only_included &&
             !name_in(o, nm.len, params->included, params->included_count)))
            continue;
        hs[n] = (canon_header){prefix, o, nm.len, req->headers[i].value, n, 0};
        n++;
        o += nm.len;
    }
    /* Few headers, mostly in order already: insertion sort of pointers,
     * stable by arrival order (repeated headers join in the order they
     * came). */
    for (size_t i = 0; i < n; i++) {
        hs[i].order = i;
        canon_header *h = &hs[i];
        size_t j = i;
        while (j > 0 && header_cmp(ord[j - 1], h) > 0) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = h;
    }
    for (size_t i = 1; i < n; i++)
        ord[i]->same_as_previous =
            ord[i]->prefix == ord[i - 1]->prefix &&
            ord[i]->name_len == ord[i - 1]->name_len &&
            (ord[i]->name_len <= 8 ||
             memcmp(ord[i]->name + 8, ord[i - 1]->name + 8,
                    ord[i]->name_len - 8) == 0);
    return n;
}

/* ------------------------------------------------------------------------
 * The signature, step by step
 *
 * sigv4_sign runs the steps below in order over one sign_job: inputs
 * (date, payload hash, scope, path and query), the headers to sign, one
 * block for the result's strings, the signed header names, the presigning
 * query pairs, the canonical request, the string to sign, the signature,
 * and last either the Authorization header or the presigned target.
 * --------------------------------------------------------------------- */

/* Headers and names that fit on the stack (one allocation each past). */
#define STACK_HEADERS 24
#define STACK_NAMES 512
/* The most X-Amz-* query pairs presigning adds. */
#define PRESIGN_PAIRS 8

static const char auth_head[] = SIGV4_ALGORITHM " Credential=",
                  auth_mid[] = ", SignedHeaders=", auth_tail[] = ", Signature=";

/* What the steps of one signature share. */
typedef struct sign_job {
    const sigv4_request *req;
    const sigv4_params *params;
    const sigv4_credentials *creds;
    sigv4_key_cache *cache;
    sigv4_result *out;
    char date[9];    /* YYYYMMDD */
    char scope[256]; /* date/region/service/aws4_request */
    size_t scope_len, region_len, service_len;
    /* The target split at its first '?'. */
    const char *target, *qmark, *query;
    size_t target_len, path_len, query_len;
    int token_signed; /* the session token is a signed header or pair */
    /* The headers to sign (collect_headers), and their sorted order. */
    canon_header *hs, **ord;
    char *names;
    size_t hcount;
    size_t headers_len; /* header lines at most: name, ':', value, '\n' */
    size_t names_total; /* signed names with their separators */
    /* Presigning: the encoded "X-Amz-...=v" pairs, malloc'd. */
    char *extra[PRESIGN_PAIRS];
    size_t extra_count;
    canon_header stack_hs[STACK_HEADERS], *stack_ord[STACK_HEADERS];
    char stack_names[STACK_NAMES];
} sign_job;

/* The inputs every later step reads: the checks, X-Amz-Date and the day,
 * the payload hash, the credential scope, and the target split into path
 * and query. 0, or -1 with `*why` set. */
static int
sign_inputs(sign_job *j, const char **why)
{
    const sigv4_request *req = j->req;
    const sigv4_params *params = j->params;
    const sigv4_credentials *creds = j->creds;
    sigv4_result *out = j->out;
    if (!creds || !creds->access_key || !creds->secret_key || !params->region ||
        !params->service) {
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
    memcpy(j->date, out->amz_date, 8);
    j->date[8] = '\0';
    if (j->cache && cache_crypto(j->cache) != 0)
        return -1;

    if (params->unsigned_payload)
        memcpy(out->payload_hash, SIGV4_UNSIGNED_PAYLOAD,
               sizeof SIGV4_UNSIGNED_PAYLOAD);
    else if (req->payload_hash)
        snprintf(out->payload_hash, sizeof out->payload_hash, "%s",
                 req->payload_hash);
    else
        digest_hex(j->cache, req->payload.ptr ? req->payload.ptr : "",
                   req->payload.len, out->payload_hash);

    j->region_len = strlen(params->region);
    j->service_len = strlen(params->service);
    if (j->region_len + j->service_len + 24 > sizeof j->scope) {
        *why = "region or service too long";
        return -1;
    }
    char *s = j->scope;
    memcpy(s, j->date, 8);
    s += 8;
    *s++ = '/';
    memcpy(s, params->region, j->region_len);
    s += j->region_len;
    *s++ = '/';
    memcpy(s, params->service, j->service_len);
    s += j->service_len;
    memcpy(s, "/aws4_request", 14);
    j->scope_len = (size_t)(s - j->scope) + 13;

    j->target = req->target.ptr ? req->target.ptr : "";
    j->target_len = req->target.len;
    j->qmark = memchr(j->target, '?', j->target_len);
    j->path_len = j->qmark ? (size_t)(j->qmark - j->target) : j->target_len;
    j->query = j->qmark ? j->qmark + 1 : "";
    j->query_len = j->qmark ? j->target_len - j->path_len - 1 : 0;
    j->token_signed =
        creds->session_token && params->token_mode == SIGV4_TOKEN_SIGNED;
    return 0;
}

/* The headers to sign, sorted, with the room their lines and names take.
 * -1 when their arrays cannot be allocated. */
static int
sign_headers(sign_job *j)
{
    const sigv4_request *req = j->req;
    size_t names_len = NAMES_EXTRA;
    for (size_t i = 0; i < req->header_count; i++)
        names_len += req->headers[i].name.len;
    size_t cap = req->header_count + 4;
    j->hs = cap <= STACK_HEADERS ? j->stack_hs : malloc(cap * sizeof *j->hs);
    j->ord = cap <= STACK_HEADERS ? j->stack_ord : malloc(cap * sizeof *j->ord);
    j->names = names_len <= STACK_NAMES ? j->stack_names : malloc(names_len);
    if (!j->hs || !j->ord || !j->names)
        return -1;
    j->hcount = collect_headers(req, j->params, j->creds, j->out, j->hs, j->ord,
                                j->names);
    for (size_t i = 0; i < j->hcount; i++) {
        j->headers_len += j->hs[i].name_len + j->hs[i].value.len + 2;
        j->names_total += j->hs[i].name_len + 1;
    }
    return 0;
}

/* One allocation for the result's four strings, each given the most it
 * can take (so none ever grows):
 *  - signed names: names_total, and copy_words' slack;
 *  - canonical request: method, URI (normalising may add two bytes,
 *    every byte may triple), query (every byte may triple, plus the
 *    presigning pairs: encoded values triple too; separators), header
 *    lines, signed names, payload hash, slack;
 *  - string to sign: algorithm, date, scope, hash;
 *  - authorization: fixed text, access key, scope, names, signature.
 * -1 when it cannot be allocated. */
static int
sign_result_block(sign_job *j)
{
    const sigv4_credentials *creds = j->creds;
    sigv4_result *out = j->out;
    size_t key_len = strlen(creds->access_key);
    size_t presign_len = 0;
    if (j->params->presign)
        presign_len =
            6 * 32 +
            3 * (key_len + 1 + j->scope_len + 16 + 10 + j->names_total +
                 (creds->session_token ? strlen(creds->session_token) : 0));
    size_t sh_cap = j->names_total + COPY_SLACK + 1;
    size_t cr_cap = j->req->method.len + 1 + (j->path_len + 2) * 3 + 1 +
                    j->query_len * 4 + presign_len + 2 + COPY_SLACK + 1 +
                    j->headers_len + 2 + j->names_total + 1 + SIGV4_HASH_HEX +
                    COPY_SLACK + 1;
    size_t sts_cap =
        sizeof SIGV4_ALGORITHM + 17 + j->scope_len + 1 + SIGV4_HASH_HEX + 1;
    size_t auth_cap = sizeof auth_head + key_len + 1 + j->scope_len +
                      sizeof auth_mid + j->names_total + sizeof auth_tail +
                      SIGV4_HASH_HEX + 1;
    out->block = malloc(sh_cap + cr_cap + sts_cap + auth_cap);
    if (!out->block)
        return -1;
    gwf_strbuf *sh = &out->signed_headers, *cr = &out->canonical_request;
    gwf_strbuf *sts = &out->string_to_sign, *a = &out->authorization;
    *sh = (gwf_strbuf){out->block, 0, sh_cap, 0};
    *cr = (gwf_strbuf){sh->data + sh_cap, 0, cr_cap, 0};
    *sts = (gwf_strbuf){cr->data + cr_cap, 0, sts_cap, 0};
    *a = (gwf_strbuf){sts->data + sts_cap, 0, auth_cap, 0};
    cr->data[0] = sts->data[0] = a->data[0] = '\0';
    return 0;
}

/* The signed header names, "host;x-amz-date;...", each name once. */
static void
sign_signed_headers(sign_job *j)
{
    gwf_strbuf *sh = &j->out->signed_headers;
    char *w = sh->data;
    for (size_t i = 0; i < j->hcount; i++) {
        const canon_header *h = j->ord[i];
        if (h->same_as_previous)
            continue;
        if (i > 0)
            *w++ = ';';
        w = copy_words(w, h->name, h->name_len);
    }
    *w = '\0';
    sh->len = (size_t)(w - sh->data);
}

/* Presigning, first step: the X-Amz-* query pairs (algorithm, credential,
 * date, signed headers, expiry, session token) that the canonical query
 * signs and the presigned target carries. 0, or -1 with `*why` set. */
static int
presign_pairs(sign_job *j, const char **why)
{
    const sigv4_credentials *creds = j->creds;
    const gwf_strbuf *sh = &j->out->signed_headers;
    char cred[512];
    int n = snprintf(cred, sizeof cred, "%s/%s", creds->access_key, j->scope);
    if (n < 0 || (size_t)n >= sizeof cred) {
        *why = "access key too long";
        return -1;
    }
    char expires[16];
    snprintf(expires, sizeof expires, "%u", j->params->expires);
    char **e = j->extra;
    size_t k = 0;
    e[k++] = query_param("X-Amz-Algorithm", SIGV4_ALGORITHM,
                         strlen(SIGV4_ALGORITHM));
    e[k++] = query_param("X-Amz-Credential", cred, (size_t)n);
    e[k++] = query_param("X-Amz-Date", j->out->amz_date, 16);
    e[k++] = query_param("X-Amz-SignedHeaders", sh->data, sh->len);
    e[k++] = query_param("X-Amz-Expires", expires, strlen(expires));
    if (creds->session_token)
        e[k++] = query_param("X-Amz-Security-Token", creds->session_token,
                             strlen(creds->session_token));
    j->extra_count = k;
    for (size_t i = 0; i < k; i++)
        if (!e[i])
            return -1;
    return 0;
}

/* The canonical request: METHOD \n URI \n QUERY \n HEADERS \n \n SIGNED
 * \n HASH. A session token added after signing is left out of the query.
 * -1 on allocation failure. */
static int
sign_canonical_request(sign_job *j)
{
    const sigv4_request *req = j->req;
    const sigv4_params *params = j->params;
    sigv4_result *out = j->out;
    gwf_strbuf *cr = &out->canonical_request;
    const gwf_strbuf *sh = &out->signed_headers;
    sb_put(cr, req->method.ptr, req->method.len);
    sb_putc(cr, '\n');
    sigv4_canonical_uri(cr, j->target, j->path_len, params->normalize_path);
    sb_putc(cr, '\n');
    sigv4_canonical_query(
        cr, j->query, j->query_len, (const char *const *)j->extra,
        j->extra_count -
            (params->presign && !j->token_signed && j->creds->session_token));
    /* The header lines, the signed names and the payload hash: room
     * for them was counted in sign_result_block (a no-op unless the
     * query grew the buffer past what was reserved). */
    if (sb_reserve(cr, 1 + j->headers_len + 2 + sh->len + 1 + SIGV4_HASH_HEX +
                           COPY_SLACK) != 0)
        return -1;
    char *w = cr->data + cr->len;
    *w++ = '\n';
    for (size_t i = 0; i < j->hcount; i++) {
        const canon_header *h = j->ord[i];
        if (h->same_as_previous) {
            *w++ = ',';
        } else {
            if (i > 0)
                *w++ = '\n';
            w = copy_words(w, h->name, h->name_len);
            *w++ = ':';
        }
        w = put_trimmed(w, h->value);
    }
    *w++ = '\n';
    *w++ = '\n';
    memcpy(w, sh->data, sh->len);
    w += sh->len;
    *w++ = '\n';
    size_t hash_len = strlen(out->payload_hash);
    memcpy(w, out->payload_hash, hash_len);
    w += hash_len;
    *w = '\0';
    cr->len = (size_t)(w - cr->data);
    return cr->failed ? -1 : 0;
}

/* The string to sign: AWS4-HMAC-SHA256 \n DATE \n SCOPE \n the hex
 * SHA-256 of the canonical request. */
static void
sign_string_to_sign(sign_job *j)
{
    sigv4_result *out = j->out;
    gwf_strbuf *sts = &out->string_to_sign;
    char *w = sts->data;
    memcpy(w, SIGV4_ALGORITHM "\n", sizeof SIGV4_ALGORITHM);
    w += sizeof SIGV4_ALGORITHM;
    memcpy(w, out->amz_date, 16);
    w += 16;
    *w++ = '\n';
    memcpy(w, j->scope, j->scope_len);
    w += j->scope_len;
    *w++ = '\n';
    /* 64 digits and a NUL */
    digest_hex(j->cache, out->canonical_request.data,
               out->canonical_request.len, w);
    w += SIGV4_HASH_HEX;
    sts->len = (size_t)(w - sts->data);
}

/* The signature: the HMAC of the string to sign with the day's key, in
 * hex. -1 on failure. */
static int
sign_signature(sign_job *j)
{
    const gwf_strbuf *sts = &j->out->string_to_sign;
    unsigned char sig[32];
    if (sign_sts(j->creds, j->date, j->params, j->region_len, j->service_len,
                 j->cache, sts->data, sts->len, sig) != 0)
        return -1;
    to_hex(sig, 32, j->out->signature);
    return 0;
}

/* Presigning, last step: the new target, the original one with the
 * X-Amz-* pairs and X-Amz-Signature appended to its query. -1 on
 * allocation failure. */
static int
presign_target(sign_job *j)
{
    gwf_strbuf *pt = &j->out->presigned_target;
    sb_put(pt, j->target, j->target_len);
    for (size_t e = 0; e < j->extra_count; e++) {
        if (e == 0 && !j->qmark)
            sb_putc(pt, '?');
        else if (e > 0 || j->query_len > 0)
            sb_putc(pt, '&');
        sb_puts(pt, j->extra[e]);
    }
    sb_puts(pt, "&X-Amz-Signature=");
    sb_put(pt, j->out->signature, SIGV4_HASH_HEX);
    return pt->failed ? -1 : 0;
}

/* Header signing, last step: the Authorization header's value,
 * "AWS4-HMAC-SHA256 Credential=KEY/SCOPE, SignedHeaders=..., Signature=...".
 */
static void
sign_authorization(sign_job *j)
{
    sigv4_result *out = j->out;
    const gwf_strbuf *sh = &out->signed_headers;
    gwf_strbuf *a = &out->authorization;
    size_t key_len = strlen(j->creds->access_key);
    char *w = a->data;
    memcpy(w, auth_head, sizeof auth_head - 1);
    w += sizeof auth_head - 1;
    memcpy(w, j->creds->access_key, key_len);
    w += key_len;
    *w++ = '/';
    memcpy(w, j->scope, j->scope_len);
    w += j->scope_len;
    memcpy(w, auth_mid, sizeof auth_mid - 1);
    w += sizeof auth_mid - 1;
    memcpy(w, sh->data, sh->len);
    w += sh->len;
    memcpy(w, auth_tail, sizeof auth_tail - 1);
    w += sizeof auth_tail - 1;
    memcpy(w, out->signature, SIGV4_HASH_HEX + 1); /* with its NUL */
    w += SIGV4_HASH_HEX;
    a->len = (size_t)(w - a->data);
}

static void
sign_job_free(sign_job *j)
{
    if (j->hs != j->stack_hs)
        free(j->hs);
    if (j->ord != j->stack_ord)
        free(j->ord);
    if (j->names != j->stack_names)
        free(j->names);
    for (size_t e = 0; e < j->extra_count; e++)
        free(j->extra[e]);
}

int
sigv4_sign(const sigv4_request *req, const sigv4_params *params,
           const sigv4_credentials *creds, sigv4_key_cache *cache,
           sigv4_result *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = "out of memory";
    sign_job j;
    j.req = req;
    j.params = params;
    j.creds = creds;
    j.cache = cache;
    j.out = out;
    j.hs = j.stack_hs;
    j.ord = j.stack_ord;
    j.names = j.stack_names;
    j.hcount = j.headers_len = j.names_total = j.extra_count = 0;
    if (sign_inputs(&j, why) != 0)
        return -1;
    int rc = -1;
    if (sign_headers(&j) != 0 || sign_result_block(&j) != 0)
        goto done;
    sign_signed_headers(&j);
    if (params->presign && presign_pairs(&j, why) != 0)
        goto done;
    if (sign_canonical_request(&j) != 0)
        goto done;
    sign_string_to_sign(&j);
    if (sign_signature(&j) != 0)
        goto done;
    if (params->presign) {
        if (presign_target(&j) != 0)
            goto done;
    } else {
        sign_authorization(&j);
    }
    rc = 0;
done:
    sign_job_free(&j);
    if (rc != 0)
        sigv4_result_free(out);
    return rc;
}
