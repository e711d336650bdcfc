/*
 * rate_limit.h - private declarations shared by the rate_limit plugin's
 * files. Nothing here crosses the ABI: the plugin exports only
 * gwf_plugin_entry (filter.c).
 *
 * The plugin has two shapes, chosen by its config:
 *   - global: a GatewayExtension's spec.rateLimit plus, per route, the
 *     TrafficPolicy's rateLimit.global (which descriptors a request
 *     makes). Two modes: `grpcService`, kgateway's own, asks an external
 *     rate limit service over Envoy's RLS v3 protocol (rls_proto.c,
 *     rls.c); `redis`, gwf's addition, counts in Redis itself with
 *     envoyproxy/ratelimit's keys and limits in its descriptor format;
 *   - local: {"local": {"tokenBucket": ...}}, one token bucket in shared
 *     memory for every worker of the data plane, no Redis.
 *
 * Files: config.c (parse and validate, through gwf/sdk_config.h),
 * limits_file.c (envoyproxy/ratelimit's file, with the runtime's limits on
 * hostile input), descriptors.c (the limit tree and matching), cache.c (the
 * per-worker over-limit cache), redis.c (the Redis client) over
 * redis_conn.c (one connection: socket, TLS, hiredis's reader),
 * redis_sentinel.c (where Sentinel says the primary is) and
 * redis_cluster.c (a Redis Cluster's slot map and per-node connections),
 * fixed_window.c (keys and verdicts), local_bucket.c (the shared token bucket),
 * rls_proto.c (RateLimitRequest / RateLimitResponse on the wire), rls.c
 * (the ShouldRateLimit calls, libcurl on the host loop), filter.c (the
 * hooks).
 */
#ifndef RATE_LIMIT_H
#define RATE_LIMIT_H

#include <gwf/sdk.h>
#include <gwf/sdk_grpc.h>
#include <gwf/sdk_config.h>
#include <gwf/sdk_metrics.h>

#include <jansson.h>
#include <stdint.h>

#define RL_MAX_ENTRIES 16     /* entries in one request descriptor */
#define RL_MAX_DESCRIPTORS 16 /* descriptors one route may produce */

/* -- Limits: envoyproxy/ratelimit's descriptor tree --------------------- */

typedef struct rl_limit {
    uint64_t requests_per_unit;
    uint64_t unit_seconds; /* the window: 1, 60, 3600, ... */
    const char *unit_name; /* "second", ... for headers and logs */
    int unlimited;
    int shadow_mode;
    char *metric_label; /* "key_value.key2": the descriptor's path */
    /* rate_limit_decisions_total's series {metric_label, outcome}, by
     * RL_OUTCOME_*, resolved when the config loads (filter.c); 0 where
     * the host has no series handles (metric_add then). */
    uint64_t series[5];
} rl_limit;

/* A descriptor decision's outcome (the decisions metric's label). */
enum {
    RL_OUTCOME_ALLOWED = 0,
    RL_OUTCOME_NEAR_LIMIT = 1,
    RL_OUTCOME_OVER_LIMIT = 2,
    RL_OUTCOME_SHADOW_MODE = 3,
    RL_OUTCOME_ERROR = 4,
    RL_OUTCOME_COUNT = 5
};

typedef struct rl_node rl_node;
struct rl_node {
    char *key;
    size_t key_len;
    char *value;  /* NULL: any value of key */
    int wildcard; /* value ended in '*': value is the prefix */
    size_t value_len;
    int has_limit;
    rl_limit limit;
    rl_node *children;
    size_t child_count;
};

/* Parse the list member `name` of `obj` (at `path`), envoyproxy/
 * ratelimit's `descriptors`, into the children of `root`; mistakes are
 * reported through `c` ("descriptors[0].rate_limit.unit"). Returns
 * gwf_cfg_status's kind of status; `root` is freed by rl_node_free
 * either way. */
gwf_status rl_descriptors_parse(gwf_cfg *c, const char *path, const json_t *obj,
                                const char *name, rl_node *root);
void rl_node_free(rl_node *node);

/* One entry of a request descriptor (values borrowed for one decision). */
typedef struct rl_entry {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} rl_entry;

/* The limit for a request descriptor, or NULL (no limit, or unlimited is
 * returned as a limit with unlimited set). */
const rl_limit *rl_descriptors_match(const rl_node *root,
                                     const rl_entry *entries, size_t count);

/* -- Global config ------------------------------------------------------ */

enum { RL_ALGO_FIXED_WINDOW = 0, RL_ALGO_ROLLING = 1 };
enum { RL_MODE_REDIS = 0, RL_MODE_RLS = 1 };
enum { RL_HEADERS_OFF = 0, RL_HEADERS_DRAFT03 = 1 };

enum { RL_REDIS_SINGLE = 0, RL_REDIS_SENTINEL = 1, RL_REDIS_CLUSTER = 2 };

/* One node of redis.addresses (a sentinel): as configured, and its
 * numeric addresses when the config loaded (tried in turn). */
typedef struct rl_redis_node {
    char *host;
    int port;
    char **addrs;
    size_t addr_count;
} rl_redis_node;

typedef struct rl_redis_config {
    int type;          /* RL_REDIS_* */
    char *master_name; /* Sentinel: masterName */
    /* redis.addresses, in order: the sentinels (Sentinel) or the seed
     * nodes the slot map is first asked of (Cluster). */
    rl_redis_node *sentinels;
    size_t sentinel_count;
    char *host; /* Single: as configured, a name or a literal address */
    int port;
    /* The numeric addresses `host` had when the config loaded, in the
     * resolver's order; a literal is its own one address. redis.c tries
     * them in turn. `resolved`: host is a name, to resolve again (without
     * blocking) when a worker reconnects. */
    char **addrs;
    size_t addr_count;
    int resolved;
    int64_t db;
    char *username; /* NULL: AUTH with the password alone */
    char *password; /* NULL: no AUTH; wiped by gwf_secret_free */
    size_t password_len;
    char *key_prefix;
    /* redis.tls: NULL for plain TCP. Built once when the config loads
     * (its files read then): the CA (or the system CAs), the client
     * certificate and key, peer verification on unless
     * insecureSkipVerify. */
    struct ssl_ctx_st *tls_ctx;
    char *tls_server_name; /* SNI and the name checked; NULL: host */
    int tls_verify_name;   /* check the certificate names the server */
    /* redis.poolSize: clients (each its own connections) per worker;
     * decisions take them in turn. 1 to RL_REDIS_POOL_MAX. */
    unsigned pool_size;
} rl_redis_config;

#define RL_REDIS_POOL_MAX 16

/* redis.tls's SSL_CTX (redis_conn.c): peer verification against
 * `ca_file` (or the system CAs when NULL) unless `insecure`, and the
 * client certificate and key when given; the files are read now. NULL on
 * error: `*field` is the config field at fault, `err` (size `len`) says
 * why, with OpenSSL's reason. Freed with rl_tls_ctx_free (NULL is
 * fine). */
struct ssl_ctx_st *rl_tls_ctx_new(const char *ca_file, const char *cert_file,
                                  const char *key_file, int insecure,
                                  const char **field, char *err, size_t len);
void rl_tls_ctx_free(struct ssl_ctx_st *ctx);

/* kgateway's minimum fillInterval (its CEL rule: at least 50ms). */
#define RL_MIN_FILL_INTERVAL_NS (50 * UINT64_C(1000000))

typedef struct rl_local_config {
    uint64_t max_tokens;
    uint64_t tokens_per_fill;
    uint64_t fill_interval_ns;
    /* percentEnabled / percentEnforced, 0-100 (kgateway's default 100):
     * Envoy's filter_enabled and filter_enforced fractions. */
    uint32_t percent_enabled;
    uint32_t percent_enforced;
    struct rl_bucket *bucket; /* shared memory, see local_bucket.c */
} rl_local_config;

/* Outcomes of the token bucket (rate_limit_local_total) and of the rate
 * limit service's answers (rate_limit_service_total). */
enum { RL_LOCAL_ALLOWED, RL_LOCAL_NOT_ENFORCED, RL_LOCAL_OVER_LIMIT };
enum { RL_RLS_COUNT_OK, RL_RLS_COUNT_OVER_LIMIT, RL_RLS_COUNT_ERROR };

typedef struct rl_metrics {
    int ok;                 /* decisions and redis_latency were defined */
    uint32_t decisions;     /* counter {descriptor, outcome} */
    uint32_t redis_latency; /* histogram, seconds */
    /* redis_latency's one series, resolved once (ABI 0.6); 0: observed by
     * metric_observe, as on an older host. */
    uint64_t redis_latency_series;
    gwf_outcome_counter local; /* {outcome}, token bucket */
    gwf_outcome_counter rls;   /* {outcome}, RLS calls */
} rl_metrics;

/* The external rate limit service (spec.rateLimit.grpcService). */
typedef struct rl_rls_config {
    char *base_url;    /* "http://host:port" or "https://name:port" */
    char *connect_to;  /* CURLOPT_CONNECT_TO entry when the name differs */
    char *authority;   /* grpcService.authority, or NULL */
    char *ca_file;     /* the Backend's tls.caFile, or NULL */
    char *server_name; /* the Backend's tls.serverName, or NULL */
    int tls;
    uint64_t request_timeout_ns; /* grpcService.requestTimeout; 0: none */
    unsigned retry_attempts;     /* retries after the first call */
    uint64_t retry_base_ns, retry_max_ns;
    /* Plain-text service: the SDK's h2c gRPC client's peer, resolved at
     * config time (rl_rls_resolve); NULL: libcurl (TLS, or a name that
     * did not resolve then). */
    gwf_grpc_peer *peer;
} rl_rls_config;

typedef struct rl_config {
    gwf_instance *instance;
    int is_local;
    rl_local_config local;

    int mode; /* RL_MODE_* */
    rl_rls_config rls;
    char *domain;
    int fail_open;
    uint32_t failure_status;
    uint64_t timeout_ns;
    int headers;
    int algorithm;
    int over_limit_cache;
    double near_limit_ratio;
    rl_redis_config redis;
    /* redis.perSecond (envoyproxy/ratelimit's REDIS_PERSECOND_*): where
     * the limits whose unit is second count; NULL: in `redis` with the
     * others. Its key_prefix is NULL: keys take redis.key_prefix. */
    rl_redis_config *redis_per_second;
    rl_node root;
    /* "<redis.keyPrefix><domain>_", the start of every Redis key. */
    char *key_head;
    size_t key_head_len;
    rl_metrics metrics;
    /* The rolling script's SHA-1 in hex (EVALSHA), computed when the
     * config loads; "" if it could not be (EVAL is then used). */
    char rolling_sha[41];
    /* The 429s prepared with a placeholder retry-after (abi.h 0.10),
     * sent with each request's values: retry-after alone, and with the
     * x-ratelimit-* headers; local_reply, the local bucket's. 0: the
     * host did not prepare it (send_local_reply sends it). */
    uint64_t over_reply;
    uint64_t over_reply_headers;
    uint64_t local_reply;
} rl_config;

/* Read a GatewayExtension's spec.rateLimit, or {"local": ...}, into
 * `cfg` (zeroed, its instance set), reporting every mistake through `c`.
 * `cfg` is freed by rl_config_free either way. */
gwf_status rl_config_parse(rl_config *cfg, gwf_cfg *c, const json_t *spec);

/* -- The limits file (limits_file.c) ------------------------------------ */

#define RL_LIMITS_FILE_MAX (4 * 1024 * 1024) /* bytes of the file */
#define RL_LIMITS_MAX_DEPTH 64               /* nested mappings, lists */
#define RL_LIMITS_MAX_NODES 1000000u         /* values in the file */
#define RL_LIMITS_MAX_SCALAR (1024u * 1024)  /* bytes in one scalar */

/* envoyproxy/ratelimit's limits file at `path` - JSON if it starts with
 * '{', else YAML - as a JSON document the caller decrefs; or NULL with
 * the reason in `err` ("line 3: duplicate key ...") and *no_memory set
 * when it was memory that ran out. */
json_t *rl_limits_file_load(const char *path, char *err, size_t err_size,
                            int *no_memory);
/* The numeric addresses of a getaddrinfo result, in order, each once:
 * `*addrs` (`*count` of them) is the caller's, freed with
 * rl_addresses_free. */
struct addrinfo;
gwf_status rl_addresses_from(const struct addrinfo *res, char ***addrs,
                             size_t *count);
void rl_addresses_free(char **addrs, size_t count);
void rl_config_free(rl_config *cfg);

/* -- Route config: which descriptors a request makes --------------------- */

enum {
    RL_ENTRY_GENERIC = 0,
    RL_ENTRY_HEADER = 1,
    RL_ENTRY_REMOTE_ADDRESS = 2,
    RL_ENTRY_PATH = 3,
    RL_ENTRY_JWT_CLAIM = 4
};

typedef struct rl_entry_spec {
    int type;
    char *key;      /* the descriptor key */
    size_t key_len; /* its length, measured once */
    char *value;    /* Generic: the value; Header: the header name;
                    JWTClaim: the shared value's key */
    size_t value_len;
} rl_entry_spec;

typedef struct rl_descriptor_spec {
    rl_entry_spec *entries;
    size_t entry_count;
    /* Every entry is Generic: the descriptor is the same on every
     * request, so its limit is found once (`generic_limit`, NULL when
     * the tree has none) and a worker remembers its verdict "over the
     * limit" by descriptor (rl_route_prepare). */
    int all_generic;
    const rl_limit *generic_limit;
} rl_descriptor_spec;

typedef struct rl_route {
    rl_descriptor_spec *descriptors;
    size_t descriptor_count;
} rl_route;

/* A TrafficPolicy's rateLimit.global into `route` (zeroed), mistakes
 * reported through `c`; `route` is freed by rl_route_free either way. */
gwf_status rl_route_parse(gwf_cfg *c, const json_t *spec, rl_route *route);
void rl_route_free(rl_route *route);
/* Find the limits of `route`'s all-Generic descriptors in `root`. */
void rl_route_prepare(rl_route *route, const rl_node *root);

/* -- Fixed window -------------------------------------------------------- */

/* Window starts already in decimal: a worker formats each window's start
 * once, not once per request (a 10-digit number costs about 100
 * instructions). Zeroed: empty. */
#define RL_WINDOW_TEXTS 4
typedef struct rl_window_texts {
    struct {
        uint64_t start;
        size_t len; /* 0: unused */
        char text[20];
    } at[RL_WINDOW_TEXTS];
    unsigned next; /* the one replaced next */
} rl_window_texts;

/* envoyproxy/ratelimit's key: prefix domain "_" (key "_" value "_")*
 * windowStart, into `b`; `head` is "<prefix><domain>_" (rl_config's
 * key_head); `texts` (NULL: none) keeps recent window starts' digits. */
void rl_fixed_window_key(gwf_strbuf *b, const char *head, size_t head_len,
                         const rl_entry *entries, size_t count,
                         uint64_t unit_seconds, int64_t now_seconds,
                         rl_window_texts *texts);
uint64_t rl_window_start(int64_t now_seconds, uint64_t unit_seconds);
/* <head><key1>_<value1>_..._<keyN>_<valueN>_<tail>, appended to `b` (in
 * one piece when it is under 512 bytes). */
void rl_key_build(gwf_strbuf *b, const char *head, size_t head_len,
                  const rl_entry *entries, size_t count, const char *tail,
                  size_t tail_len);

/* -- Rolling window (GCRA) ---------------------------------------------- */

/* The Lua script, and its SHA-1 in hex into `out` ("" if OpenSSL
 * cannot compute it: EVALSHA then fails and EVAL is used). */
extern const char rl_rolling_script[];
void rl_rolling_sha(char out[41]);
/* The script's reply: an array of RL_ROLLING_REPLY_LEN integers, in this
 * order. */
enum {
    RL_ROLLING_ALLOWED = 0,        /* 1 allowed, 0 over the limit */
    RL_ROLLING_REMAINING = 1,      /* requests left in the period */
    RL_ROLLING_RETRY_AFTER_MS = 2, /* until a request is allowed again */
    RL_ROLLING_RESET_MS = 3,       /* until the key is back to empty */
    RL_ROLLING_REPLY_LEN = 4
};
typedef struct rl_rolling_reply {
    long long allowed;
    long long remaining;
    long long retry_after_ms;
    long long reset_ms;
} rl_rolling_reply;
/* "<prefix><domain>_<key>_<value>_..._rolling<unit seconds>"; `head` as
 * for rl_fixed_window_key. */
void rl_rolling_key(gwf_strbuf *b, const char *head, size_t head_len,
                    const rl_entry *entries, size_t count,
                    uint64_t unit_seconds);

/* -- Over-limit cache (per worker) -------------------------------------- */

typedef struct rl_cache rl_cache;
rl_cache *rl_cache_new(void);
void rl_cache_free(rl_cache *c);
/* Remember that `key` is over its limit until `expires` (seconds). */
void rl_cache_put(rl_cache *c, const char *key, size_t len, int64_t expires,
                  int64_t now);
/* The entry's expiry (seconds) when `key` is cached and live, else 0. */
int64_t rl_cache_has(rl_cache *c, const char *key, size_t len, int64_t now);
/* 1 while no key is cached (then rl_cache_has is always 0). */
int rl_cache_empty(const rl_cache *c);

/* -- Redis (per worker) -------------------------------------------------- */

typedef struct rl_redis rl_redis;
/* What a command's reply means to its caller: `values` (an integer
 * reply, or an array of integers: `count` of them, at most
 * RL_ROLLING_REPLY_LEN) valid when
 * `ok`. `err` is a short reason otherwise. */
typedef void (*rl_redis_cb)(void *arg, int ok, const long long *values,
                            size_t count, const char *err);

/* A client of `rc` (cfg->redis, or its perSecond Redis). */
rl_redis *rl_redis_new(const rl_config *cfg, const rl_redis_config *rc);
void rl_redis_free(rl_redis *r);
/* Queue INCRBY key hits and EXPIRE key seconds (held while the connection
 * is being made: every address of the host is tried in turn, and AUTH and
 * SELECT must succeed first); `cb` gets INCRBY's reply (exactly once, also
 * when the connection fails or is freed). GWF_OK if queued; otherwise cb
 * is not called. `key` is copied. */
gwf_status rl_redis_incr_expire(rl_redis *r, const char *key, size_t len,
                                uint64_t hits, uint64_t expire_seconds,
                                rl_redis_cb cb, void *arg);
/* Run the rolling-window script (rolling.c) on `key`: EVALSHA, and EVAL
 * once if Redis answers NOSCRIPT. `cb` gets {allowed, remaining,
 * retry_after_ms, reset_ms}. */
gwf_status rl_redis_rolling(rl_redis *r, const char *key, size_t len,
                            int64_t now_ms, uint64_t period_ms, uint64_t limit,
                            uint64_t hits, rl_redis_cb cb, void *arg);
/* A decision timed out: while still connecting, the next address is
 * tried at once; once connected, after a few in a row with no reply at
 * all, the connection is dropped and re-made (with backoff). */
void rl_redis_note_timeout(rl_redis *r);

/* -- Local token bucket --------------------------------------------------- */

typedef struct rl_bucket rl_bucket;
rl_bucket *rl_bucket_create(uint64_t max_tokens, int64_t now_ns);
void rl_bucket_destroy(rl_bucket *b);
/* Take one token. 1 if taken; else 0 and `*wait_ns` is the time until
 * the next fill. */
int rl_bucket_take(rl_bucket *b, const rl_local_config *cfg, int64_t now_ns,
                   uint64_t *wait_ns);

/* -- RLS v3 on the wire (rls_proto.c) ----------------------------------- */

#define RL_RLS_MAX_ANSWER (1024 * 1024) /* bytes of one RateLimitResponse */
#define RL_RLS_MAX_STATUSES 256         /* statuses kept from one answer */
#define RL_RLS_MAX_HEADERS 64           /* headers of each list kept */
#define RL_RLS_MAX_ENTRIES (RL_MAX_ENTRIES * RL_MAX_DESCRIPTORS)

enum { RL_RLS_UNKNOWN = 0, RL_RLS_OK = 1, RL_RLS_OVER_LIMIT = 2 };

/* One DescriptorStatus: has_limit when current_limit was there. */
typedef struct rl_rls_status {
    int code;
    int has_limit;
    uint32_t requests_per_unit;
    uint32_t window_seconds; /* 0: a unit Envoy has no window for */
    char *name;              /* current_limit.name, or NULL */
    uint32_t remaining;
    int64_t reset_seconds;
} rl_rls_status;

typedef struct rl_rls_header {
    char *name, *value;
} rl_rls_header;

/* A decoded RateLimitResponse; every string is the answer's own copy. */
typedef struct rl_rls_answer {
    int overall_code;
    rl_rls_status *statuses;
    size_t status_count;
    rl_rls_header *response_headers; /* response_headers_to_add */
    size_t response_header_count;
    rl_rls_header *request_headers; /* request_headers_to_add */
    size_t request_header_count;
    char *raw_body;
    size_t raw_body_len;
    const char *error; /* after -1: what was wrong (static) */
} rl_rls_answer;

/* A gRPC-framed RateLimitRequest {domain, one descriptor of `count`
 * entries, hits_addend} appended to `out` (out->failed on no memory). */
void rl_rls_encode(gwf_strbuf *out, const char *domain, const rl_entry *entries,
                   size_t count, uint32_t hits);
/* Decode one RateLimitResponse message (no gRPC frame): 0, or -1 with
 * a->error set (malformed, a header name or value that is not valid, more
 * than the limits above, out of memory). `a` is the caller's, zeroed
 * here; free it with rl_rls_answer_free either way. */
int rl_rls_decode(const uint8_t *data, size_t len, rl_rls_answer *a);
/* Decode a whole gRPC body: one uncompressed frame holding the message. */
int rl_rls_decode_frame(const uint8_t *data, size_t len, rl_rls_answer *a);
void rl_rls_answer_free(rl_rls_answer *a);
/* Envoy's DRAFT_VERSION_03 x-ratelimit-* values from the statuses: 1 and
 * the three values (`limit` appended to), or 0 when no status has a
 * current_limit (no headers then). */
int rl_rls_draft03(const rl_rls_answer *a, gwf_strbuf *limit,
                   char remaining[24], char reset[24]);

/* -- RLS calls (rls.c, per worker) --------------------------------------- */

typedef struct rl_rls rl_rls;
typedef struct rl_rls_call rl_rls_call;
/* config.c, once the service's Backend is known: resolve it for the
 * SDK's gRPC client (plain text only; TLS stays on libcurl). */
void rl_rls_resolve(rl_config *cfg, const char *host, uint16_t port);
/* The call's end: `a` decoded when ok (rls.c keeps ownership: it is
 * freed after the callback returns), else `err` says why. Called once,
 * never after rl_rls_call_cancel, never from inside rl_rls_call_start.
 * The owner frees the call with rl_rls_call_cancel, also once it ended
 * (from inside the callback too). */
typedef void (*rl_rls_cb)(void *arg, int ok, rl_rls_answer *a, const char *err);

rl_rls *rl_rls_new(const rl_config *cfg);
void rl_rls_free(rl_rls *r);
/* Start one ShouldRateLimit call with the framed request in `body`
 * (taken over, freed by the call). NULL when out of memory (`body` is
 * freed then too). */
rl_rls_call *rl_rls_call_start(rl_rls *r, char *body, size_t len,
                               uint64_t timeout_ns, rl_rls_cb cb, void *arg);
/* End a call at once and free it: its transfer is dropped, its retry
 * timer cancelled, `cb` never runs. NULL is ignored. */
void rl_rls_call_cancel(rl_rls_call *call);

#endif /* RATE_LIMIT_H */
