/*
 * sigv4.h - AWS Signature Version 4, independent of any host.
 *
 * The signer takes a request as plain data (method, the target as it is
 * on the wire, headers, the payload or its hash) and produces what AWS
 * wants added to it: either the Authorization header (and X-Amz-Date,
 * X-Amz-Security-Token, X-Amz-Content-Sha256), or a presigned query
 * string. It keeps the canonical request and string to sign it built, so
 * tests can compare every step against AWS's own suite.
 *
 * Nothing here calls the gwf host: the plugin's filter turns a stream into
 * a sigv4_request and the result back into header and path changes. That
 * is also what lets the fuzzer, the differential test and the benchmark
 * drive the signer directly.
 */
#ifndef LAMBDA_SIGNER_SIGV4_H
#define LAMBDA_SIGNER_SIGV4_H

#include <gwf/sdk.h>

#include <stddef.h>
#include <stdint.h>

#define SIGV4_HASH_HEX 64
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

typedef struct sigv4_credentials {
    const char *access_key;
    const char *secret_key;
    const char *session_token; /* NULL when none */
} sigv4_credentials;

/* The derived signing key for one day, region and service. The key only
 * changes when one of the three (or the secret) does, so a worker keeps one of
 * these and the signer re-derives (four HMACs) only when it no longer matches.
 * Not shared between threads. Start from `{0}`; sigv4_key_cache_clear frees
 * what it holds and wipes it (call it once done with a cache that was
 * used). */
typedef struct sigv4_key_cache {
    int valid;
    char date[9]; /* YYYYMMDD */
    char region[64];
    char service[64];
    char secret[128]; /* the secret the key came from */
    size_t secret_len;
    uint64_t derivations; /* how many times a key was derived (tests) */
    /* OpenSSL objects (EVP_MD *, EVP_MD_CTX *), made on first use: the
     * SHA-256 implementation, fetched once, and the HMAC's inner and
     * outer states keyed with the derived key. */
    void *md;
    void *inner;
    void *outer;
    void *work;
} sigv4_key_cache;

enum {
    SIGV4_TOKEN_SIGNED = 0, /* X-Amz-Security-Token is signed */
    SIGV4_TOKEN_AFTER = 1   /* added after signing, not signed */
};

typedef struct sigv4_params {
    const char *region;
    const char *service;
    int64_t unix_seconds;
    /* 1: RFC 3986 dot-segment removal, '/' runs collapsed, every byte
     * outside the unreserved set (and '/') percent-encoded, so a path
     * already encoded on the wire is encoded a second time (what every
     * service but S3 expects). 0: the path is taken as it is on the wire
     * (S3), only bytes that are not already valid there are encoded. */
    int normalize_path;
    /* 1: payload hash "UNSIGNED-PAYLOAD" (the body is not hashed). */
    int unsigned_payload;
    /* 1: add and sign x-amz-content-sha256 (header signing only). */
    int content_sha256_header;
    int token_mode; /* SIGV4_TOKEN_* */
    /* 1: presigned URL (query string) instead of the Authorization
     * header; `expires` seconds becomes X-Amz-Expires. */
    int presign;
    uint32_t expires;
    /* Lower-case header names never signed (besides the built-in
     * exclusions, see sigv4.c). */
    const char *const *excluded;
    size_t excluded_count;
    /* 1: sign only host and the x-amz-* headers the signer adds, plus
     * the names in `included` (for requests the plugin builds itself). */
    int only_included;
    const char *const *included;
    size_t included_count;
} sigv4_params;

typedef struct sigv4_request {
    gwf_view method;
    gwf_view target; /* path and query, as on the wire */
    const gwf_header *headers;
    size_t header_count;
    gwf_view host;            /* the host to sign; overrides any Host header */
    gwf_view payload;         /* the body (hashed unless a hash is given) */
    const char *payload_hash; /* 64 lower-case hex digits, or NULL */
} sigv4_request;

typedef struct sigv4_result {
    gwf_strbuf canonical_request;
    gwf_strbuf string_to_sign;
    char signature[SIGV4_HASH_HEX + 1];
    char amz_date[17];                     /* YYYYMMDDTHHMMSSZ */
    char payload_hash[SIGV4_HASH_HEX + 1]; /* or UNSIGNED-PAYLOAD */
    gwf_strbuf signed_headers;             /* "host;x-amz-date" */
    /* Header signing: the Authorization header's value. */
    gwf_strbuf authorization;
    /* Presigning: the new target (path ? original query & X-Amz-...). */
    gwf_strbuf presigned_target;
    /* Internal: after a successful sigv4_sign, canonical_request,
     * string_to_sign, signed_headers and authorization share this one
     * allocation. Read them; never grow or free them but through
     * sigv4_result_free. */
    char *block;
} sigv4_result;

/* Sign `req`. 0 on success, -1 on allocation failure or a request that
 * cannot be signed (no host, bad parameters); `*why` then says which in
 * a static string that never contains credential material. The result
 * is owned by the caller: sigv4_result_free (its strings are read-only:
 * see `block`). */
int sigv4_sign(const sigv4_request *req, const sigv4_params *params,
               const sigv4_credentials *creds, sigv4_key_cache *cache,
               sigv4_result *out, const char **why);
void sigv4_result_free(sigv4_result *out);
/* Free and wipe the cache; it is `{0}` again afterwards. */
void sigv4_key_cache_clear(sigv4_key_cache *cache);

/* Pieces, exposed for tests, the fuzzer and the benchmark. */

/* Append the canonical URI for `path` (no query) to `b`. */
void sigv4_canonical_uri(gwf_strbuf *b, const char *path, size_t len,
                         int normalize);
/* Append the canonical query string for `query` (no '?') to `b`, with
 * `extra` already-encoded "k=v" pairs (presigning) merged in. */
void sigv4_canonical_query(gwf_strbuf *b, const char *query, size_t len,
                           const char *const *extra, size_t extra_count);
/* Append `len` bytes percent-encoded: everything outside A-Z a-z 0-9
 * - _ . ~ becomes %XX (upper case). */
void sigv4_uri_encode(gwf_strbuf *b, const char *s, size_t len);
/* Lower-case hex SHA-256 of the data. */
void sigv4_sha256_hex(const void *data, size_t len,
                      char out[SIGV4_HASH_HEX + 1]);

#endif
