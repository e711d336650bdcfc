/*
 * jwt_auth.h - private header of the jwt_auth plugin, shared by its files:
 *
 *   jwks.c    JSON Web Key Sets: parse, turn each usable key into an
 *             OpenSSL key, answer "which keys may verify this alg/kid"
 *   token.c   compact JWS: split, base64url-decode, parse the header,
 *             verify the signature with one key
 *   config.c  the GatewayExtension's spec.jwt and the route's jwtAuth
 *   cache.c   the per-worker cache of verified tokens
 *   filter.c  the hooks: find the token, verify, check claims, reply
 *
 * Nothing here is exported from the .so: the only public symbol is
 * gwf_plugin_entry (filter.c). jwks.c and token.c also build into a static
 * library that the vector tests, the fuzz harness and the benchmark link
 * directly.
 */
#ifndef JWT_AUTH_H
#define JWT_AUTH_H

#include <gwf/sdk.h>
#include <gwf/sdk_metrics.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* Largest token we look at (bytes of the compact form). Real tokens are
 * a few hundred bytes to a few KiB; anything bigger is refused before any
 * decoding so a hostile client cannot make us allocate or hash much. */
#define JWT_MAX_TOKEN_LEN 16384
/* Largest JWKS document we parse. */
#define JWT_MAX_JWKS_LEN (1024 * 1024)

/* ------------------------------------------------------------------------
 * Algorithms
 * --------------------------------------------------------------------- */

typedef enum jwt_alg {
    JWT_ALG_UNKNOWN = 0,
    JWT_ALG_HS256,
    JWT_ALG_HS384,
    JWT_ALG_HS512,
    JWT_ALG_RS256,
    JWT_ALG_RS384,
    JWT_ALG_RS512,
    JWT_ALG_PS256,
    JWT_ALG_PS384,
    JWT_ALG_PS512,
    JWT_ALG_ES256,
    JWT_ALG_ES384,
    JWT_ALG_ES512,
    JWT_ALG_EDDSA
} jwt_alg;

/* "RS256" -> JWT_ALG_RS256; JWT_ALG_UNKNOWN for anything else, "none"
 * included: "none" is never a usable algorithm here. */
jwt_alg jwt_alg_from_name(const char *name, size_t len);
const char *jwt_alg_name(jwt_alg alg);

/* ------------------------------------------------------------------------
 * Keys (jwks.c)
 * --------------------------------------------------------------------- */

typedef enum jwt_kty {
    JWT_KTY_RSA = 1,
    JWT_KTY_EC,
    JWT_KTY_OKP,
    JWT_KTY_OCT
} jwt_kty;

typedef struct jwt_key {
    jwt_kty kty;
    char *kid;             /* NULL when the key has none */
    jwt_alg alg;           /* the key's "alg", or UNKNOWN when absent */
    int curve_nid;         /* EC: NID of the curve; OKP: NID_ED25519 */
    size_t ec_coord_len;   /* EC: bytes of one coordinate (32, 48, 66) */
    EVP_PKEY *pkey;        /* RSA, EC, OKP */
    unsigned char *secret; /* oct */
    size_t secret_len;
    /* RSA and EC: a verify context per algorithm the key allows, set up
     * once (digest, padding, salt length) and duplicated per use, and the
     * digests, fetched once. Creating them per verification costs more
     * than the RSA-2048 verify itself in OpenSSL 3.0. Read-only after
     * load, so workers share them. */
    EVP_PKEY_CTX *prepared[JWT_ALG_EDDSA + 1];
    EVP_MD *md[JWT_ALG_EDDSA + 1];
} jwt_key;

typedef struct jwt_jwks {
    jwt_key *keys;
    size_t count;
} jwt_jwks;

/* Parse a JWKS (`{"keys": [...]}`) or a single JWK object. Keys that can
 * never verify (use other than "sig", key_ops without "verify", unknown
 * kty or curve, a private-only or malformed key) are skipped, and their
 * reason is written to `warn` (may be NULL) for the first one. Returns
 * NULL and a reason in `err` when the document is not a JWKS at all or no
 * key is usable. Caller frees with jwt_jwks_free. */
jwt_jwks *jwt_jwks_parse(const char *json, size_t len, char *err,
                         size_t err_size, char *warn, size_t warn_size);
/* The same from an already parsed JSON value. */
jwt_jwks *jwt_jwks_from_json(const json_t *doc, char *err, size_t err_size,
                             char *warn, size_t warn_size);
/* A PEM public key as kgateway reads jwks.local: the first block, a
 * "PUBLIC KEY" (RSA, EC P-256, Ed25519) or an "RSA PUBLIC KEY", made a
 * set of one key without kid, bound to RS256, ES256 or EdDSA. NULL and
 * the reason in `err` otherwise. */
jwt_jwks *jwt_jwks_from_pem(const char *text, size_t len, char *err,
                            size_t err_size);
/* 1 when `text` holds a PEM BEGIN line ("-----BEGIN"). */
int jwt_text_is_pem(const char *text, size_t len);
/* jwks.local's text: a PEM public key when it holds a BEGIN line (then,
 * if that fails, JSON, as kgateway tries them), else a JWKS or one JWK. */
jwt_jwks *jwt_jwks_parse_local(const char *text, size_t len, char *err,
                               size_t err_size, char *warn, size_t warn_size);
void jwt_jwks_free(jwt_jwks *set);

/* 1 when `key` may verify tokens signed with `alg`: the key's own "alg"
 * when it has one, else what its kty (and curve) allow. This is the rule
 * that makes HMAC-with-a-public-key confusion impossible: an RSA or EC key
 * never verifies an HS* token, an oct key never verifies anything else. */
int jwt_key_allows(const jwt_key *key, jwt_alg alg);

/* ------------------------------------------------------------------------
 * Tokens (token.c)
 * --------------------------------------------------------------------- */

/* Why a token was refused; also the short reason in the reply body. */
typedef enum jwt_result {
    JWT_OK = 0,
    JWT_ERR_MALFORMED, /* not three base64url parts, bad JSON, ... */
    JWT_ERR_TOO_LARGE,
    JWT_ERR_ALG,         /* none, unknown, or refused by every key */
    JWT_ERR_UNSUPPORTED, /* crit, b64=false */
    JWT_ERR_NO_KEY,      /* no key with that kid / of that type */
    JWT_ERR_SIGNATURE,
    JWT_ERR_EXPIRED,
    JWT_ERR_NOT_YET_VALID,
    JWT_ERR_NO_EXPIRATION,
    JWT_ERR_LIFETIME,
    JWT_ERR_ISSUER,
    JWT_ERR_AUDIENCE,
    JWT_ERR_KEYS_UNAVAILABLE, /* remote JWKS not fetched (yet) */
    JWT_ERR_AMBIGUOUS,        /* several tokens in one place */
    JWT_ERR_UNREAD,           /* the host could not read a token's place */
    JWT_ERR_UNCHANGED /* the host could not take a verified token's claims */
} jwt_result;

const char *jwt_result_text(jwt_result r);

/* A parsed compact JWS. `payload` and `signature` are decoded bytes;
 * `signing_input` points into the caller's token (valid as long as it). */
typedef struct jwt_jws {
    json_t *header;
    jwt_alg alg;
    const char *kid; /* into header, or NULL */
    size_t kid_len;
    unsigned char *payload;
    size_t payload_len;
    unsigned char *signature;
    size_t signature_len;
    const char *signing_input; /* header "." payload, as sent */
    size_t signing_input_len;
} jwt_jws;

/* Split and decode `token` (strict base64url: no padding, no stray bits,
 * exactly two dots). The header must be a JSON object with a string
 * "alg"; "crit" and "b64" are refused because we implement no extension.
 * Returns JWT_OK and fills `jws` (free with jwt_jws_clear), or the reason. */
jwt_result jwt_jws_parse(const char *token, size_t len, jwt_jws *jws);
void jwt_jws_clear(jwt_jws *jws);

/* Verify `jws` with one key: the alg must be allowed by the key, and the
 * signature must check. Constant time for HMAC. */
jwt_result jwt_jws_verify_key(const jwt_jws *jws, const jwt_key *key);

/* Verify with a key set: when the token has a kid, the keys with that kid
 * and the keys without any; else every key that allows the alg (Envoy's
 * rule: a kid-less key matches every kid). */
jwt_result jwt_jws_verify(const jwt_jws *jws, const jwt_jwks *set);

/* Strict base64url decode into a malloc'd buffer (NUL-terminated for
 * convenience). 0 on success, -1 on any invalid input. */
int jwt_b64url_decode(const char *in, size_t len, unsigned char **out,
                      size_t *out_len);
/* base64url encode without padding into `out` (4*ceil(len/3) + 1 bytes). */
size_t jwt_b64url_encode(const unsigned char *in, size_t len, char *out);

/* ------------------------------------------------------------------------
 * Config (config.c)
 * --------------------------------------------------------------------- */

typedef enum jwt_source_kind {
    JWT_SOURCE_HEADER = 0,
    JWT_SOURCE_QUERY,
    JWT_SOURCE_COOKIE
} jwt_source_kind;

typedef struct jwt_claim_header {
    char **path; /* "a.b.c" split at dots */
    size_t path_len;
    const char *header; /* into the config document */
    int repeated;       /* an earlier entry of the provider has the header */
} jwt_claim_header;

typedef struct jwt_provider {
    const char *name;   /* all strings point into jwt_config.doc */
    const char *issuer; /* NULL: any */
    const char **audiences;
    size_t audience_count;

    jwt_source_kind source;
    const char *source_name; /* header, query parameter or cookie name */
    const char *prefix;      /* header only; "" for none */
    size_t source_name_len, prefix_len;
    /* The token's header (or cookie) is none of any provider's claim or
     * payload headers: stripping it before they are written leaves the
     * same headers (a rewritten Cookie line then comes before the claim
     * headers, not after), and an nginx list with nothing to move up. */
    int strip_first;
    /* The first provider (this one or an earlier one) that reads the same
     * place: same source, name and prefix. A token there must verify
     * with one of that place's providers. */
    size_t place;

    jwt_claim_header *claims_to_headers;
    size_t claim_header_count;
    const char *forward_payload_header; /* NULL: none */
    int forward_token;
    int require_expiration;
    int64_t max_lifetime_s; /* 0: unbounded */
    int64_t clock_skew_s;

    jwt_jwks *jwks; /* local keys; NULL for a remote provider */
    /* The slot whose keys (and remote fetch) this one uses: itself, or
     * for an alias slot the provider it was made for. A provider without
     * tokenSource reads Envoy's two default places, Authorization: Bearer
     * and ?access_token=; config.c gives the second one a slot of its own
     * (after every provider), which shares the provider's keys and
     * strings and owns nothing. */
    size_t keys_from;
    int is_alias;
    int default_source; /* no tokenSource was given */

    /* jwks.remote (remote.c fetches it on every worker). */
    char *remote_url;        /* NULL: local keys */
    char *remote_connect_to; /* curl CONNECT_TO from backendRef, or NULL */
    char *remote_ca_file;    /* NULL: the system's CAs */
    int remote_plain_http;   /* http:// (warned about at config time) */
    int64_t cache_duration_ms;
    int64_t fetch_timeout_ms;
    int64_t failed_refetch_ms; /* wait after a failed fetch and its retries */
    int retries;               /* retryPolicy.numRetries; 0 without it */
    int64_t retry_base_ms;     /* retryPolicy.backOff */
    int64_t retry_max_ms;
} jwt_provider;

/* The `result` label of jwt_auth_requests_total. */
typedef enum jwt_outcome {
    JWT_OUTCOME_ALLOWED = 0,
    JWT_OUTCOME_MISSING_ALLOWED,
    JWT_OUTCOME_MISSING,
    JWT_OUTCOME_INVALID,
    JWT_OUTCOME_FORBIDDEN,
    JWT_OUTCOME_COUNT
} jwt_outcome;

typedef struct jwt_config {
    gwf_instance *instance;
    json_t *doc;
    int allow_missing;
    jwt_provider *providers;
    size_t provider_count;
    size_t cache_entries; /* per worker; 0 disables the cache */
    /* jwt_auth_requests_total{result}, counted by jwt_outcome */
    gwf_outcome_counter requests;
    int has_remote; /* some provider fetches its keys */
} jwt_config;

/* Slots: kgateway's 32 providers, each with an alias slot at most. */
#define JWT_MAX_PROVIDERS 64
/* Bounds of the provider durations, so that time arithmetic on them stays
 * far from int64 limits and the values stay plausible. */
#define JWT_MAX_CLOCK_SKEW_S (24 * 3600)               /* 24h */
#define JWT_MAX_LIFETIME_S ((int64_t)3650 * 24 * 3600) /* 87600h */
/* kgateway's cacheDuration pattern allows up to four components of five
 * digits: 4 x 99999h is the largest value it accepts, so ours too. */
#define JWT_MAX_CACHE_DURATION_S ((int64_t)399996 * 3600) /* 399996h */

/* [main] Parse spec.jwt. Reports every mistake through config_error
 * (gwf/sdk_config.h) and returns GWF_OK, GWF_ERR_BAD_ARGUMENT or
 * GWF_ERR_NO_MEMORY. What it made is freed by jwt_config_free, failure
 * or not. */
gwf_status jwt_config_parse(jwt_config *cfg, gwf_view json);
void jwt_config_free(jwt_config *cfg);
/* [main] Check the route's jwtAuth section; returns as jwt_config_parse. */
gwf_status jwt_route_config_check(gwf_instance *inst, gwf_view json);

/* ------------------------------------------------------------------------
 * Verified-token cache (cache.c), one per worker: no locks
 * --------------------------------------------------------------------- */

typedef struct jwt_cache jwt_cache;

/* `entries` slots (rounded up to a power of two); the cache owns what is
 * put in it and releases it with `release`. NULL when `entries` is 0 or
 * on no memory. */
jwt_cache *jwt_cache_new(size_t entries, void (*release)(void *));
void jwt_cache_free(jwt_cache *c);
/* What was put for a token that `provider` verified before: the same
 * bytes (compared in full, in constant time), still valid at `now_s`
 * (never beyond the token's exp plus skew; an expired entry is dropped).
 * No allocation, no hashing beyond the token's last 32 bytes. Borrowed:
 * valid until the next jwt_cache_put. NULL when `c` is NULL. */
void *jwt_cache_get(jwt_cache *c, const char *token, size_t len,
                    size_t provider, int64_t now_s);
/* Remember a verified token until `valid_until_s` (the cache keeps its
 * own copy of the token); takes ownership of `value`, released at once
 * when there is no memory for the copy. With `c` NULL nothing happens and
 * `value` stays the caller's. */
void jwt_cache_put(jwt_cache *c, const char *token, size_t len, size_t provider,
                   int64_t valid_until_s, void *value);
/* Entries in use (at most the slot count). */
size_t jwt_cache_count(const jwt_cache *c);

/* ------------------------------------------------------------------------
 * Remote JWKS (remote.c): one fetcher per worker, libcurl multi-socket
 * driven by the host's worker-scope fd watches and timers
 * --------------------------------------------------------------------- */

typedef struct jwt_fetcher jwt_fetcher;

/* Called on the worker when a fetch for `provider` ended (keys replaced,
 * or the fetch failed and the old keys, if any, stay). */
typedef void (*jwt_fetch_done_cb)(void *arg, size_t provider);

/* [worker] Start fetching every remote provider's keys now. NULL on no
 * memory. */
jwt_fetcher *jwt_fetcher_start(const jwt_config *cfg, gwf_instance *inst,
                               jwt_fetch_done_cb done, void *arg);
/* [worker] Cancel every watch, timer and transfer; free. */
void jwt_fetcher_stop(jwt_fetcher *f);
/* The current keys of a remote provider (NULL before the first success).
 * Borrowed until the next callback of the host loop. */
const jwt_jwks *jwt_fetcher_keys(const jwt_fetcher *f, size_t provider);
/* 1 while the first fetch has neither succeeded nor failed. */
int jwt_fetcher_pending(const jwt_fetcher *f, size_t provider);
/* Fetch again now because a token named an unknown kid, unless a fetch
 * is running (returns 1: wait for it) or one started less than
 * JWT_KID_REFETCH_S ago (returns 0: don't wait). */
int jwt_fetcher_refetch(jwt_fetcher *f, size_t provider, int64_t now_s);

#define JWT_KID_REFETCH_S 30

#endif /* JWT_AUTH_H */
