/*
 * config.c - parse and validate the rate_limit plugin's configs.
 *
 * Three JSON shapes arrive here (docs/manifests.md):
 *   - a GatewayExtension's spec.rateLimit, in one of two modes: kgateway's
 *     `grpcService` (an external rate limit service over Envoy's RLS v3,
 *     with kgateway's defaults: failOpen true, timeout 100ms), or gwf's
 *     `redis`: Redis settings, domain, outcome settings and the limits,
 *     in envoyproxy/ratelimit's own `descriptors` format, inline or from
 *     a file (limits_file.c);
 *   - {"local": {"tokenBucket": ...}}: the TrafficPolicy's local limit;
 *   - a TrafficPolicy's rateLimit.global, per route: which descriptors a
 *     request makes.
 *
 * Read through gwf/sdk_config.h: the SDK checks shapes, types, ranges,
 * the Backend and the Secret, in the words every plugin uses; what only
 * rate_limit knows ("host:port", fields that exclude each other, the
 * domain of a limits file, header names) is checked here and reported
 * through the same gwf_cfg. Every field is checked even after an earlier
 * one failed, so one `gwf validate` shows every mistake. Passwords are
 * never echoed, and are wiped when freed.
 */
#include <gwf/sdk_config.h>
#include <gwf/sdk_file.h>
#include "rate_limit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RL_DEFAULT_TIMEOUT_NS (100 * UINT64_C(1000000))
#define RL_DEFAULT_NEAR_LIMIT_RATIO 0.8
/* Durations have no upper bound of their own: the longest the SDK's
 * reader names in whole hours (gwf_parse_duration stops at 2^63 ns). */
#define RL_MAX_DURATION_NS (UINT64_C(2562047) * 3600 * 1000000000)

/* A copy of `text` (NULL stays NULL), or NULL reported as no memory. */
static char *
copy(gwf_cfg *c, const char *field, const char *text)
{
    char *dup;

    if (!text)
        return NULL;
    dup = strdup(text);
    if (!dup)
        gwf_cfg_no_memory(c, field);
    return dup;
}

/* ------------------------------------------------------------------------
 * Local token bucket: {"local": {"tokenBucket": {...}}}
 * --------------------------------------------------------------------- */

static void
parse_local(rl_config *cfg, gwf_cfg *c, const json_t *spec)
{
    static const char *const spec_fields[] = {"local", NULL};
    static const char *const local_fields[] = {"tokenBucket", "percentEnabled",
                                               "percentEnforced", NULL};
    static const char *const bucket_fields[] = {"maxTokens", "tokensPerFill",
                                                "fillInterval", NULL};
    const json_t *local = NULL, *tb = NULL;
    int64_t n;

    cfg->is_local = 1;
    gwf_cfg_known(c, "", spec, spec_fields);
    if (gwf_cfg_object(c, "", spec, "local", GWF_CFG_REQUIRED, &local) !=
        GWF_OK)
        return;
    gwf_cfg_known(c, "local", local, local_fields);
    /* `local: {}` switches off a limit set at a higher level (kgateway):
     * a config with no bucket, which lets every request through. */
    if (json_is_object(local) && json_object_size(local) == 0)
        return;
    /* Envoy's filter_enabled / filter_enforced, out of 100; kgateway
     * sets both to 100 unless told. */
    n = 100;
    gwf_cfg_int(c, "local", local, "percentEnabled", 0, 0, 100, &n);
    cfg->local.percent_enabled = (uint32_t)n;
    n = 100;
    gwf_cfg_int(c, "local", local, "percentEnforced", 0, 0, 100, &n);
    cfg->local.percent_enforced = (uint32_t)n;
    if (gwf_cfg_object(c, "local", local, "tokenBucket", GWF_CFG_REQUIRED,
                       &tb) != GWF_OK)
        return;
    gwf_cfg_known(c, "local.tokenBucket", tb, bucket_fields);
    n = 0;
    gwf_cfg_int(c, "local.tokenBucket", tb, "maxTokens", GWF_CFG_REQUIRED, 1,
                1000000000, &n);
    cfg->local.max_tokens = (uint64_t)n;
    n = 1;
    gwf_cfg_int(c, "local.tokenBucket", tb, "tokensPerFill", 0, 1, 1000000000,
                &n);
    cfg->local.tokens_per_fill = (uint64_t)n;
    /* kgateway's CEL rule: at least 50ms. */
    gwf_cfg_duration(c, "local.tokenBucket", tb, "fillInterval",
                     GWF_CFG_REQUIRED, RL_MIN_FILL_INTERVAL_NS,
                     RL_MAX_DURATION_NS, &cfg->local.fill_interval_ns);
}

/* ------------------------------------------------------------------------
 * Redis connection settings
 * --------------------------------------------------------------------- */

/* "host:port" as redis.address takes it ("[v6]:port" too): the host
 * (malloc'd) and port, or -1 (reported at `field`). */
static int
split_host_port(gwf_cfg *c, const char *field, const char *text, char **host,
                int *port_out)
{
    const char *colon = strrchr(text, ':');
    char *end;
    long port;

    if (!colon || colon == text) {
        gwf_cfg_fail(c, field, "expected \"host:port\", found \"%.40s\"", text);
        return -1;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 1 || port > 65535) {
        gwf_cfg_fail(c, field,
                     "expected a port from 1 to 65535 after ':', found "
                     "\"%.40s\"",
                     colon + 1);
        return -1;
    }
    if (text[0] == '[' && colon[-1] == ']')
        *host = strndup(text + 1, (size_t)(colon - text - 2));
    else
        *host = strndup(text, (size_t)(colon - text));
    if (!*host) {
        gwf_cfg_no_memory(c, field);
        return -1;
    }
    *port_out = (int)port;
    return 0;
}

/* "host:port", "[v6]:port": the port 1-65535, as for a Backend. */
static void
parse_address(gwf_cfg *c, const char *path, const json_t *redis,
              rl_redis_config *rc)
{
    char field[GWF_CFG_PATH_MAX];
    const char *text = NULL;

    if (gwf_cfg_string(c, path, redis, "address", 0, &text) != GWF_OK || !text)
        return;
    split_host_port(c, gwf_cfg_member(field, path, "address"), text, &rc->host,
                    &rc->port);
}

/* A static Backend: its first host and port (or the reference's port). */
static void
parse_backend_ref(gwf_cfg *c, const char *path, const json_t *redis,
                  rl_redis_config *rc)
{
    char field[GWF_CFG_PATH_MAX];
    gwf_cfg_backend backend;

    if (gwf_cfg_backend_ref(c, path, redis, "backendRef", 0, 0, &backend) !=
        GWF_OK)
        return;
    rc->host = copy(c, gwf_cfg_member(field, path, "backendRef"), backend.host);
    rc->port = backend.port;
}

void
rl_addresses_free(char **addrs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(addrs[i]);
    free(addrs);
}

/* The numeric TCP addresses of `res`, in its order (the resolver's
 * preference, RFC 6724), each once. */
gwf_status
rl_addresses_from(const struct addrinfo *res, char ***out, size_t *count)
{
    char ip[INET6_ADDRSTRLEN], **addrs;
    size_t n = 0, cap = 0;

    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        cap++;
    addrs = calloc(cap ? cap : 1, sizeof(*addrs));
    if (!addrs)
        return GWF_ERR_NO_MEMORY;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        const void *a;
        size_t i;

        if (ai->ai_family == AF_INET)
            a = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
        else if (ai->ai_family == AF_INET6)
            a = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        else
            continue;
        if (!inet_ntop(ai->ai_family, a, ip, sizeof(ip)))
            continue;
        for (i = 0; i < n && strcmp(addrs[i], ip) != 0; i++)
            ;
        if (i < n)
            continue;
        addrs[n] = strdup(ip);
        if (!addrs[n]) {
            rl_addresses_free(addrs, n);
            return GWF_ERR_NO_MEMORY;
        }
        n++;
    }
    *out = addrs;
    *count = n;
    return GWF_OK;
}

/* Workers must not block, and hiredis resolves names with getaddrinfo:
 * resolve a host name here, at config time (main thread), and keep every
 * address it has - a name such as localhost is ::1 and 127.0.0.1, and
 * Redis may listen on only one of them: redis.c tries each in turn (and
 * resolves again, without blocking, when it reconnects). A literal IPv4 or
 * IPv6 address is the only address. */
static gwf_status resolve_name(gwf_cfg *c, const char *field, const char *host,
                               char ***addrs, size_t *count, int *resolved);

static gwf_status
resolve_host(gwf_cfg *c, const char *field, rl_redis_config *rc)
{
    if (!rc->host)
        return GWF_OK;
    return resolve_name(c, field, rc->host, &rc->addrs, &rc->addr_count,
                        &rc->resolved);
}

/* `host`'s numeric addresses into *addrs / *count (a literal is its own
 * one address); *resolved when it was a name. */
static gwf_status
resolve_name(gwf_cfg *c, const char *field, const char *host, char ***addrs,
             size_t *count, int *resolved)
{
    struct in6_addr a6;
    struct in_addr a4;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    gwf_status st;
    int rc;

    if (inet_pton(AF_INET, host, &a4) == 1 ||
        inet_pton(AF_INET6, host, &a6) == 1)
        goto literal;
#ifdef RL_NO_RESOLVE
    /* The fuzz harness: random names must not become DNS queries. */
    (void)hints;
    (void)res;
    (void)st;
    (void)rc;
    (void)field;
    (void)c;
    (void)resolved;
    goto literal;
#else
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res)
        return gwf_cfg_fail(c, field, "cannot resolve \"%.60s\": %s", host,
                            gai_strerror(rc));
    st = rl_addresses_from(res, addrs, count);
    freeaddrinfo(res);
    if (st != GWF_OK)
        return gwf_cfg_no_memory(c, field);
    if (*count == 0)
        return gwf_cfg_fail(c, field, "\"%.60s\" has no IPv4 or IPv6 address",
                            host);
    *resolved = 1;
    return st;
#endif
literal:
    *addrs = calloc(1, sizeof(**addrs));
    if (!*addrs)
        return gwf_cfg_no_memory(c, field);
    (*addrs)[0] = strdup(host);
    if (!(*addrs)[0])
        return gwf_cfg_no_memory(c, field);
    *count = 1;
    return GWF_OK;
}

static void
parse_password(gwf_cfg *c, const char *path, const json_t *redis,
               rl_redis_config *rc)
{
    char field[GWF_CFG_PATH_MAX];
    const char *password = NULL;

    if (json_object_get(redis, "password") &&
        json_object_get(redis, "passwordSecretRef")) {
        gwf_cfg_fail(c, path,
                     "expected one of password and passwordSecretRef, found "
                     "both");
        return;
    }
    if (json_object_get(redis, "passwordSecretRef")) {
        gwf_cfg_secret_key_ref(c, path, redis, "passwordSecretRef", 0,
                               "password", &rc->password, &rc->password_len);
        return;
    }
    if (gwf_cfg_string(c, path, redis, "password", GWF_CFG_NONEMPTY,
                       &password) != GWF_OK ||
        !password)
        return;
    rc->password = copy(c, gwf_cfg_member(field, path, "password"), password);
    rc->password_len = strlen(password);
}

/* <path>.tls: {caFile, certFile, keyFile, serverName, insecureSkipVerify,
 * skipHostnameVerification} (envoyproxy/ratelimit's REDIS_TLS,
 * REDIS_TLS_CACERT, REDIS_TLS_CLIENT_CERT, REDIS_TLS_CLIENT_KEY,
 * REDIS_TLS_SKIP_HOSTNAME_VERIFICATION); `{}` is TLS with the system
 * CAs. The SSL_CTX is built now: a file that cannot be read is this
 * config's error, not a worker's. */
static void
parse_tls(gwf_cfg *c, const char *path, const json_t *redis,
          rl_redis_config *rc)
{
    static const char *const fields[] = {
        "caFile",     "certFile",           "keyFile",
        "serverName", "insecureSkipVerify", "skipHostnameVerification",
        NULL};
    const char *ca = NULL, *cert = NULL, *key = NULL, *name = NULL;
    char tls_path[GWF_CFG_PATH_MAX], field_buf[GWF_CFG_PATH_MAX];
    const char *field = tls_path;
    int insecure = 0, skip_name = 0;
    const json_t *tls = NULL;
    char err[512];

    if (gwf_cfg_object(c, path, redis, "tls", 0, &tls) != GWF_OK || !tls)
        return;
    gwf_cfg_member(tls_path, path, "tls");
    if (gwf_cfg_known(c, tls_path, tls, fields) != GWF_OK)
        return;
    if (gwf_cfg_string(c, tls_path, tls, "caFile", GWF_CFG_NONEMPTY, &ca) !=
            GWF_OK ||
        gwf_cfg_string(c, tls_path, tls, "certFile", GWF_CFG_NONEMPTY, &cert) !=
            GWF_OK ||
        gwf_cfg_string(c, tls_path, tls, "keyFile", GWF_CFG_NONEMPTY, &key) !=
            GWF_OK ||
        gwf_cfg_string(c, tls_path, tls, "serverName", GWF_CFG_NONEMPTY,
                       &name) != GWF_OK ||
        gwf_cfg_bool(c, tls_path, tls, "insecureSkipVerify", 0, &insecure) !=
            GWF_OK ||
        gwf_cfg_bool(c, tls_path, tls, "skipHostnameVerification", 0,
                     &skip_name) != GWF_OK)
        return;
    if (!cert != !key) {
        gwf_cfg_fail(
            c,
            gwf_cfg_member(field_buf, tls_path, cert ? "keyFile" : "certFile"),
            "is required with %s.%s: a client certificate goes "
            "with its key",
            tls_path, cert ? "certFile" : "keyFile");
        return;
    }
#ifndef RL_NO_RESOLVE
    /* rl_tls_ctx_new names the field at fault as the top block's
     * ("redis.tls" or "redis.tls.caFile"): the same member of this
     * block instead. */
    rc->tls_ctx =
        rl_tls_ctx_new(ca, cert, key, insecure, &field, err, sizeof(err));
    if (!rc->tls_ctx) {
        const char *member = strrchr(field, '.');
        if (member && strcmp(member, ".tls") != 0)
            field = gwf_cfg_member(field_buf, tls_path, member + 1);
        else
            field = tls_path;
        gwf_cfg_fail(c, field, "%s", err);
        return;
    }
#else
    /* The fuzz harness links no OpenSSL and reads no named files. */
    (void)field;
    (void)err;
#endif
    if (name)
        rc->tls_server_name =
            copy(c, gwf_cfg_member(field_buf, tls_path, "serverName"), name);
    rc->tls_verify_name = !insecure && !skip_name;
}

/* <path>.addresses: the sentinels (or the cluster's seed nodes), each
 * resolved now as an address is. */
static void
parse_addresses(gwf_cfg *c, const char *path, const json_t *redis,
                rl_redis_config *rc)
{
    char list_field[GWF_CFG_PATH_MAX];
    const char **addrs = NULL;
    size_t count = 0;

    if (gwf_cfg_string_list(c, path, redis, "addresses",
                            GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                            GWF_CFG_NONEMPTY, 64, &addrs, &count) != GWF_OK)
        return;
    gwf_cfg_member(list_field, path, "addresses");
    if (!(rc->sentinels = calloc(count, sizeof(rl_redis_node)))) {
        gwf_cfg_no_memory(c, list_field);
        free(addrs);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        char field[GWF_CFG_PATH_MAX];
        rl_redis_node node = {0};
        int resolved = 0;

        gwf_cfg_item(field, list_field, i);
        if (split_host_port(c, field, addrs[i], &node.host, &node.port) != 0)
            continue;
        rc->sentinels[rc->sentinel_count] = node;
        resolve_name(c, field, node.host,
                     &rc->sentinels[rc->sentinel_count].addrs,
                     &rc->sentinels[rc->sentinel_count].addr_count, &resolved);
        rc->sentinel_count++;
    }
    free(addrs);
}

/* <path>.type: Single (address or backendRef), Sentinel (`addresses`:
 * the sentinels, and `masterName`), or Cluster (`addresses`: the seed
 * nodes the slot map is first asked of). The type, or -1. */
static int
parse_redis_type(gwf_cfg *c, const char *path, const json_t *redis,
                 rl_redis_config *rc)
{
    static const char *const types[] = {"Single", "Sentinel", "Cluster", NULL};
    char field[GWF_CFG_PATH_MAX];
    int type = 0;

    if (gwf_cfg_enum(c, path, redis, "type", 0, types, &type) != GWF_OK)
        return -1;
    rc->type = type;
    if (type == RL_REDIS_SINGLE) {
        if (json_object_get(redis, "addresses"))
            gwf_cfg_fail(c, gwf_cfg_member(field, path, "addresses"),
                         "applies to type Sentinel or Cluster only: a "
                         "Single Redis takes address");
        if (json_object_get(redis, "masterName"))
            gwf_cfg_fail(c, gwf_cfg_member(field, path, "masterName"),
                         "applies to type Sentinel only");
        return type;
    }
    if (json_object_get(redis, "address") ||
        json_object_get(redis, "backendRef"))
        gwf_cfg_fail(c,
                     gwf_cfg_member(field, path,
                                    json_object_get(redis, "address")
                                        ? "address"
                                        : "backendRef"),
                     "applies to type Single only: type %s takes addresses",
                     types[type]);
    parse_addresses(c, path, redis, rc);
    if (type == RL_REDIS_SENTINEL) {
        const char *name = NULL;
        if (gwf_cfg_string(c, path, redis, "masterName",
                           GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                           &name) == GWF_OK &&
            name)
            rc->master_name =
                copy(c, gwf_cfg_member(field, path, "masterName"), name);
        return type;
    }
    if (json_object_get(redis, "masterName"))
        gwf_cfg_fail(c, gwf_cfg_member(field, path, "masterName"),
                     "applies to type Sentinel only");
    /* Redis Cluster has database 0 only (SELECT is refused there). */
    if (json_object_get(redis, "db"))
        gwf_cfg_fail(c, gwf_cfg_member(field, path, "db"),
                     "a Redis Cluster has database 0 only: remove db");
    return type;
}

/* Where the Redis of the block at `path` is: address or backendRef (a
 * Single Redis), or what its type takes. */
static void
parse_redis_where(gwf_cfg *c, const char *path, const json_t *redis,
                  rl_redis_config *rc)
{
    char field[GWF_CFG_PATH_MAX];

    if (parse_redis_type(c, path, redis, rc) != RL_REDIS_SINGLE)
        return;
    if (json_object_get(redis, "address") &&
        json_object_get(redis, "backendRef")) {
        gwf_cfg_fail(c, path,
                     "expected one of address and backendRef, found both");
    } else if (json_object_get(redis, "address")) {
        parse_address(c, path, redis, rc);
        resolve_host(c, gwf_cfg_member(field, path, "address"), rc);
    } else if (json_object_get(redis, "backendRef")) {
        parse_backend_ref(c, path, redis, rc);
        resolve_host(c, gwf_cfg_member(field, path, "backendRef"), rc);
    } else {
        gwf_cfg_fail(c, gwf_cfg_member(field, path, "address"),
                     "is required (or %s.backendRef): expected "
                     "\"host:port\"",
                     path);
    }
}

/* One Redis block, `redis` or `redis.perSecond` (`path`), into `rc`:
 * both take the same fields with the same rules, so one code reads
 * them. keyPrefix and perSecond are the top block's (parse_redis). */
static void
parse_redis_block(gwf_cfg *c, const char *path, const json_t *redis,
                  rl_redis_config *rc)
{
    static const char *const fields[] = {"address",
                                         "backendRef",
                                         "db",
                                         "username",
                                         "password",
                                         "passwordSecretRef",
                                         "keyPrefix",
                                         "type",
                                         "addresses",
                                         "masterName",
                                         "tls",
                                         "perSecond",
                                         "poolSize",
                                         "pipelineWindow",
                                         "pipelineLimit",
                                         NULL};
    static const char *const pipelining[] = {"pipelineWindow", "pipelineLimit"};
    char field[GWF_CFG_PATH_MAX];
    const char *text = NULL;
    int64_t pool = 1;

    /* envoyproxy/ratelimit's REDIS_PIPELINE_WINDOW / _LIMIT tune when its
     * client flushes a batch; gwf writes every command queued in one
     * loop turn at once, with no window to wait or limit to reach. */
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(redis, pipelining[i]))
            gwf_cfg_fail(c, gwf_cfg_member(field, path, pipelining[i]),
                         "is not a setting of gwf: the commands of one event "
                         "loop turn are always written together (pipelined), "
                         "without a window or a limit: remove it");
    gwf_cfg_known(c, path, redis, fields);
    /* REDIS_POOL_SIZE: connections per worker to each Redis (each
     * primary of a cluster); one pipelined connection is the default. */
    gwf_cfg_int(c, path, redis, "poolSize", 0, 1, RL_REDIS_POOL_MAX, &pool);
    rc->pool_size = (unsigned)pool;
    parse_tls(c, path, redis, rc);
    parse_redis_where(c, path, redis, rc);
    gwf_cfg_int(c, path, redis, "db", 0, 0, 65535, &rc->db);
    if (gwf_cfg_string(c, path, redis, "username", GWF_CFG_NONEMPTY, &text) ==
            GWF_OK &&
        text)
        rc->username = copy(c, gwf_cfg_member(field, path, "username"), text);
    parse_password(c, path, redis, rc);
    if (json_object_get(redis, "username") &&
        !json_object_get(redis, "password") &&
        !json_object_get(redis, "passwordSecretRef"))
        gwf_cfg_fail(c, gwf_cfg_member(field, path, "username"),
                     "needs password or passwordSecretRef");
}

/* redis.perSecond: envoyproxy/ratelimit's REDIS_PERSECOND_* - a second
 * Redis for the limits whose unit is second, which are hot and live one
 * second, away from the long-lived others. Keys are built the same way
 * for both (ratelimit's one CACHE_KEY_PREFIX): keyPrefix is the top
 * block's only, and there is one per-second Redis, not a chain. */
static void
parse_per_second(rl_config *cfg, gwf_cfg *c, const json_t *redis)
{
    static const char path[] = "redis.perSecond";
    const json_t *ps = NULL;

    if (gwf_cfg_object(c, "redis", redis, "perSecond", 0, &ps) != GWF_OK || !ps)
        return;
    if (json_object_get(ps, "keyPrefix"))
        gwf_cfg_fail(c, "redis.perSecond.keyPrefix",
                     "applies to redis only: both Redis count with the same "
                     "keys, redis.keyPrefix's");
    if (json_object_get(ps, "perSecond"))
        gwf_cfg_fail(c, "redis.perSecond.perSecond",
                     "is not allowed: there is one per-second Redis");
    cfg->redis_per_second = calloc(1, sizeof(*cfg->redis_per_second));
    if (!cfg->redis_per_second) {
        gwf_cfg_no_memory(c, path);
        return;
    }
    parse_redis_block(c, path, ps, cfg->redis_per_second);
}

static void
parse_redis(rl_config *cfg, gwf_cfg *c, const json_t *spec)
{
    const json_t *redis = NULL;
    const char *text = "";

    if (gwf_cfg_object(c, "", spec, "redis", GWF_CFG_REQUIRED, &redis) !=
        GWF_OK)
        return;
    parse_redis_block(c, "redis", redis, &cfg->redis);
    gwf_cfg_string(c, "redis", redis, "keyPrefix", 0, &text);
    cfg->redis.key_prefix = copy(c, "redis.keyPrefix", text ? text : "");
    parse_per_second(cfg, c, redis);
}

/* "<keyPrefix><domain>_": what every Redis key starts with, made once
 * rather than measured and copied on every decision. */
static void
key_head(rl_config *cfg, gwf_cfg *c)
{
    size_t prefix_len = strlen(cfg->redis.key_prefix);
    size_t domain_len = strlen(cfg->domain);

    cfg->key_head = malloc(prefix_len + domain_len + 2);
    if (!cfg->key_head) {
        gwf_cfg_no_memory(c, "domain");
        return;
    }
    memcpy(cfg->key_head, cfg->redis.key_prefix, prefix_len);
    memcpy(cfg->key_head + prefix_len, cfg->domain, domain_len);
    cfg->key_head[prefix_len + domain_len] = '_';
    cfg->key_head[prefix_len + domain_len + 1] = '\0';
    cfg->key_head_len = prefix_len + domain_len + 1;
}

/* ------------------------------------------------------------------------
 * The GatewayExtension's spec.rateLimit
 * --------------------------------------------------------------------- */

/* The limits from descriptorsFile: its domain and descriptors. */
static void
parse_limits_file(rl_config *cfg, gwf_cfg *c, const char *name)
{
    gwf_instance *inst = cfg->instance;
    gwf_view dir = inst->host->config_dir(inst);
    char err[300], path[4096];
    const char *file_domain = NULL;
    int no_memory;
    json_t *doc;

    if (name[0] == '/' || dir.len == 0)
        snprintf(path, sizeof(path), "%s", name);
    else
        snprintf(path, sizeof(path), "%.*s/%s", (int)dir.len, dir.ptr, name);
    doc = rl_limits_file_load(path, err, sizeof(err), &no_memory);
    if (!doc) {
        if (no_memory)
            gwf_cfg_no_memory(c, "descriptorsFile");
        else
            gwf_cfg_fail(c, "descriptorsFile", "%s", err);
        return;
    }
    if (!json_is_object(doc)) {
        gwf_cfg_fail(c, "descriptorsFile",
                     "%s: expected a mapping {domain, descriptors}, found %s",
                     path, gwf_json_kind(doc));
        json_decref(doc);
        return;
    }
    if (gwf_cfg_string(c, "descriptorsFile", doc, "domain", GWF_CFG_NONEMPTY,
                       &file_domain) == GWF_OK &&
        file_domain) {
        if (cfg->domain && strcmp(cfg->domain, file_domain) != 0)
            gwf_cfg_fail(c, "domain",
                         "\"%.40s\" differs from the domain \"%.40s\" of %s",
                         cfg->domain, file_domain, path);
        else if (!cfg->domain)
            cfg->domain = copy(c, "descriptorsFile.domain", file_domain);
    }
    rl_descriptors_parse(c, "descriptorsFile", doc, "descriptors", &cfg->root);
    json_decref(doc);
}

static void
parse_limits(rl_config *cfg, gwf_cfg *c, const json_t *spec)
{
    const char *domain = NULL, *file = NULL;
    unsigned errors = c->errors;

    if (json_object_get(spec, "descriptors") &&
        json_object_get(spec, "descriptorsFile")) {
        gwf_cfg_fail(c, "descriptors",
                     "expected one of descriptors and descriptorsFile, found "
                     "both");
        return;
    }
    if (gwf_cfg_string(c, "", spec, "domain", GWF_CFG_NONEMPTY, &domain) ==
        GWF_OK)
        cfg->domain = copy(c, "domain", domain);
    if (json_object_get(spec, "descriptorsFile")) {
        if (gwf_cfg_string(c, "", spec, "descriptorsFile", GWF_CFG_NONEMPTY,
                           &file) == GWF_OK)
            parse_limits_file(cfg, c, file);
    } else if (json_object_get(spec, "descriptors")) {
        rl_descriptors_parse(c, "", spec, "descriptors", &cfg->root);
    } else {
        gwf_cfg_fail(c, "descriptors",
                     "is required (or descriptorsFile): expected "
                     "envoyproxy/ratelimit descriptors");
    }
    /* Asked only when all else was right: the file may name it. */
    if (!cfg->domain && c->errors == errors)
        gwf_cfg_fail(c, "domain", "is required: expected a non-empty string");
}

/* ------------------------------------------------------------------------
 * The rate limit service: spec.rateLimit.grpcService (kgateway's shape)
 * --------------------------------------------------------------------- */

#define RL_DEFAULT_RETRY_BASE_NS (1000 * UINT64_C(1000000))
#define RL_MAX_RETRY_ATTEMPTS 10

/* A Backend's spec.tls {caFile?, serverName?, ...}: TLS to the service. */
static void
rls_tls(rl_config *cfg, gwf_cfg *c, const char *ref_field, const json_t *tls)
{
    const json_t *ca = json_object_get(tls, "caFile");
    const json_t *sni = json_object_get(tls, "serverName");
    gwf_instance *inst = cfg->instance;

    cfg->rls.tls = 1;
    if (json_is_string(ca) && json_string_length(ca) > 0) {
        gwf_view dir = inst->host->config_dir(inst);
        gwf_strbuf b = {0};
        char why[512];
        const char *text = json_string_value(ca);

        if (text[0] != '/' && dir.len > 0) {
            gwf_strbuf_append(&b, dir.ptr, dir.len);
            gwf_strbuf_append(&b, "/", 1);
        }
        gwf_strbuf_append(&b, text, strlen(text));
        if (b.failed) {
            gwf_strbuf_free(&b);
            gwf_cfg_no_memory(c, ref_field);
            return;
        }
        cfg->rls.ca_file = b.data;
        /* libcurl opens it on the worker: refuse a FIFO or a missing
         * file now, naming the field. */
        if (gwf_file_check(cfg->rls.ca_file, why, sizeof(why)) != 0)
            gwf_cfg_fail(c, ref_field, "the Backend's spec.tls.caFile: %s",
                         why);
    }
    if (json_is_string(sni) && json_string_length(sni) > 0) {
        if (strpbrk(json_string_value(sni), "/:@ ?#[]"))
            gwf_cfg_fail(c, ref_field,
                         "the Backend's spec.tls.serverName: expected a host "
                         "name");
        else
            cfg->rls.server_name = copy(c, ref_field, json_string_value(sni));
    }
}

/* base_url (and connect_to when TLS names another host than the one
 * connected to). */
static void
rls_url(rl_config *cfg, gwf_cfg *c, const char *host, uint16_t port)
{
    const char *name = cfg->rls.server_name ? cfg->rls.server_name : host;
    int v6 = strchr(name, ':') != NULL, host_v6 = strchr(host, ':') != NULL;
    gwf_strbuf b = {0}, to = {0};

    gwf_strbuf_appendf(&b, "%s://%s%s%s:%u", cfg->rls.tls ? "https" : "http",
                       v6 ? "[" : "", name, v6 ? "]" : "", (unsigned)port);
    if (cfg->rls.server_name)
        gwf_strbuf_appendf(&to, "%s:%u:%s%s%s:%u", cfg->rls.server_name,
                           (unsigned)port, host_v6 ? "[" : "", host,
                           host_v6 ? "]" : "", (unsigned)port);
    if (b.failed || to.failed) {
        gwf_strbuf_free(&b);
        gwf_strbuf_free(&to);
        gwf_cfg_no_memory(c, "grpcService.backendRef");
        return;
    }
    cfg->rls.base_url = b.data;
    cfg->rls.connect_to = to.data;
#ifndef RL_NO_RESOLVE /* the fuzz harness: no DNS, no RLS client linked */
    rl_rls_resolve(cfg, host, port);
#endif
}

/* grpcService.retry {attempts (default 1, 0 allowed), backoff
 * {baseInterval (default 1s), maxInterval (default 10 x base)}}. */
static void
rls_retry(rl_config *cfg, gwf_cfg *c, const json_t *svc)
{
    static const char *const known[] = {"attempts", "backoff", NULL};
    static const char *const backoff_known[] = {"baseInterval", "maxInterval",
                                                NULL};
    static const char path[] = "grpcService.retry";
    static const char bpath[] = "grpcService.retry.backoff";
    const json_t *retry = NULL, *backoff = NULL;
    int64_t attempts = 1;
    uint64_t max_ns = 0;

    cfg->rls.retry_base_ns = RL_DEFAULT_RETRY_BASE_NS;
    if (gwf_cfg_object(c, "grpcService", svc, "retry", 0, &retry) != GWF_OK ||
        !retry)
        return;
    gwf_cfg_known(c, path, retry, known);
    gwf_cfg_int(c, path, retry, "attempts", 0, 0, RL_MAX_RETRY_ATTEMPTS,
                &attempts);
    cfg->rls.retry_attempts = (unsigned)attempts;
    if (gwf_cfg_object(c, path, retry, "backoff", 0, &backoff) == GWF_OK &&
        backoff) {
        gwf_cfg_known(c, bpath, backoff, backoff_known);
        gwf_cfg_duration(c, bpath, backoff, "baseInterval", GWF_CFG_REQUIRED,
                         1000000, RL_MAX_DURATION_NS, &cfg->rls.retry_base_ns);
        if (gwf_cfg_duration(c, bpath, backoff, "maxInterval", 0, 1000000,
                             RL_MAX_DURATION_NS, &max_ns) == GWF_OK &&
            max_ns && max_ns < cfg->rls.retry_base_ns)
            gwf_cfg_fail(c, "grpcService.retry.backoff.maxInterval",
                         "must not be shorter than baseInterval");
    }
    cfg->rls.retry_max_ns =
        max_ns ? max_ns
               : (cfg->rls.retry_base_ns > RL_MAX_DURATION_NS / 10
                      ? RL_MAX_DURATION_NS
                      : cfg->rls.retry_base_ns * 10);
}

static void
parse_grpc_service(rl_config *cfg, gwf_cfg *c, const json_t *spec)
{
    static const char *const known[] = {"backendRef", "authority",
                                        "requestTimeout", "retry", NULL};
    static const char path[] = "grpcService";
    const json_t *svc = NULL;
    const char *authority = NULL;
    gwf_cfg_backend b;

    if (gwf_cfg_object(c, "", spec, path, GWF_CFG_REQUIRED, &svc) != GWF_OK)
        return;
    gwf_cfg_known(c, path, svc, known);
    rls_retry(cfg, c, svc);
    gwf_cfg_duration(c, path, svc, "requestTimeout", 0, 1000000,
                     RL_MAX_DURATION_NS, &cfg->rls.request_timeout_ns);
    if (gwf_cfg_string(c, path, svc, "authority", GWF_CFG_NONEMPTY,
                       &authority) == GWF_OK &&
        authority) {
        if (!gwf_is_header_value(authority, strlen(authority)) ||
            strpbrk(authority, " \t/"))
            gwf_cfg_fail(c, "grpcService.authority",
                         "expected a host name (and port)");
        else
            cfg->rls.authority = copy(c, "grpcService.authority", authority);
    }
    if (gwf_cfg_backend_ref(c, path, svc, "backendRef", GWF_CFG_REQUIRED, 1,
                            &b) != GWF_OK)
        return;
    if (json_is_object(json_object_get(b.spec, "tls")))
        rls_tls(cfg, c, "grpcService.backendRef.name",
                json_object_get(b.spec, "tls"));
    json_decref(b.spec);
    rls_url(cfg, c, b.host, b.port);
}

/* The fields of gwf's Redis mode, which a rate limit service does not
 * have: the service holds the limits and counts them. */
static void
refuse_redis_fields(gwf_cfg *c, const json_t *spec)
{
    static const char *const redis_only[] = {"failureStatus",
                                             "algorithm",
                                             "overLimitCache",
                                             "nearLimitRatio",
                                             "descriptors",
                                             "descriptorsFile",
                                             NULL};

    for (size_t i = 0; redis_only[i]; i++)
        if (json_object_get(spec, redis_only[i]))
            gwf_cfg_fail(c, redis_only[i],
                         "applies to the redis mode only: with grpcService "
                         "the rate limit service holds the limits");
}

static void
parse_rls(rl_config *cfg, gwf_cfg *c, const json_t *spec)
{
    static const char *const fields[] = {"grpcService",
                                         "domain",
                                         "failOpen",
                                         "timeout",
                                         "xRateLimitHeaders",
                                         "redis",
                                         "failureStatus",
                                         "algorithm",
                                         "overLimitCache",
                                         "nearLimitRatio",
                                         "descriptors",
                                         "descriptorsFile",
                                         NULL};
    static const char *const headers[] = {"Off", "DraftVersion03", NULL};
    const char *domain = NULL;

    cfg->mode = RL_MODE_RLS;
    /* kgateway's defaults: failOpen true, timeout 100ms, headers Off.
     * Envoy's failure_mode_deny answers 500. */
    cfg->fail_open = 1;
    cfg->failure_status = 500;
    cfg->timeout_ns = RL_DEFAULT_TIMEOUT_NS;
    cfg->headers = RL_HEADERS_OFF;
    gwf_cfg_known(c, "", spec, fields);
    if (json_object_get(spec, "redis"))
        gwf_cfg_fail(c, "redis",
                     "expected one of grpcService and redis, found both");
    refuse_redis_fields(c, spec);
    gwf_cfg_bool(c, "", spec, "failOpen", 0, &cfg->fail_open);
    gwf_cfg_duration(c, "", spec, "timeout", 0, 1000000, RL_MAX_DURATION_NS,
                     &cfg->timeout_ns);
    gwf_cfg_enum(c, "", spec, "xRateLimitHeaders", 0, headers, &cfg->headers);
    if (gwf_cfg_string(c, "", spec, "domain",
                       GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, &domain) == GWF_OK)
        cfg->domain = copy(c, "domain", domain);
    parse_grpc_service(cfg, c, spec);
}

static void
parse_global(rl_config *cfg, gwf_cfg *c, const json_t *spec)
{
    static const char *const fields[] = {
        "domain",         "failOpen",          "failureStatus",
        "timeout",        "xRateLimitHeaders", "algorithm",
        "overLimitCache", "nearLimitRatio",    "redis",
        "descriptors",    "descriptorsFile",   NULL};
    static const char *const headers[] = {"Off", "DraftVersion03", NULL};
    static const char *const algorithms[] = {"FixedWindow", "Rolling", NULL};
    const json_t *ratio = json_object_get(spec, "nearLimitRatio");
    int64_t n;

    cfg->failure_status = 500;
    cfg->timeout_ns = RL_DEFAULT_TIMEOUT_NS;
    cfg->over_limit_cache = 1;
    cfg->near_limit_ratio = RL_DEFAULT_NEAR_LIMIT_RATIO;
    cfg->headers = RL_HEADERS_OFF;
    cfg->algorithm = RL_ALGO_FIXED_WINDOW;
    gwf_cfg_known(c, "", spec, fields);
    gwf_cfg_bool(c, "", spec, "failOpen", 0, &cfg->fail_open);
    gwf_cfg_bool(c, "", spec, "overLimitCache", 0, &cfg->over_limit_cache);
    n = cfg->failure_status;
    gwf_cfg_int(c, "", spec, "failureStatus", 0, 200, 599, &n);
    cfg->failure_status = (uint32_t)n;
    gwf_cfg_duration(c, "", spec, "timeout", 0, 1, RL_MAX_DURATION_NS,
                     &cfg->timeout_ns);
    /* The enums' indexes are RL_HEADERS_* and RL_ALGO_*. */
    gwf_cfg_enum(c, "", spec, "xRateLimitHeaders", 0, headers, &cfg->headers);
    gwf_cfg_enum(c, "", spec, "algorithm", 0, algorithms, &cfg->algorithm);
    /* A fraction: no SDK reader takes one, so it is checked here. */
    if (ratio && !json_is_null(ratio)) {
        if (!json_is_number(ratio))
            gwf_cfg_fail(c, "nearLimitRatio",
                         "expected a number greater than 0 and at most 1, "
                         "found %s",
                         gwf_json_kind(ratio));
        else if (json_number_value(ratio) <= 0 || json_number_value(ratio) > 1)
            gwf_cfg_fail(c, "nearLimitRatio",
                         "expected a number greater than 0 and at most 1, "
                         "found %g",
                         json_number_value(ratio));
        else
            cfg->near_limit_ratio = json_number_value(ratio);
    }
    if (!json_object_get(spec, "redis"))
        gwf_cfg_fail(c, "grpcService",
                     "is required (or redis, gwf's direct Redis mode): "
                     "expected {backendRef}");
    else
        parse_redis(cfg, c, spec);
    parse_limits(cfg, c, spec);
    if (cfg->redis.key_prefix && cfg->domain)
        key_head(cfg, c);
}

gwf_status
rl_config_parse(rl_config *cfg, gwf_cfg *c, const json_t *spec)
{
    if (json_object_get(spec, "local"))
        parse_local(cfg, c, spec);
    else if (json_object_get(spec, "grpcService"))
        parse_rls(cfg, c, spec);
    else
        parse_global(cfg, c, spec);
    return gwf_cfg_status(c);
}

/* What a Redis block holds (not `rc` itself); the password is wiped. */
static void
redis_config_free(rl_redis_config *rc)
{
    free(rc->host);
    rl_addresses_free(rc->addrs, rc->addr_count);
    for (size_t i = 0; i < rc->sentinel_count; i++) {
        free(rc->sentinels[i].host);
        rl_addresses_free(rc->sentinels[i].addrs, rc->sentinels[i].addr_count);
    }
    free(rc->sentinels);
    free(rc->master_name);
    free(rc->username);
    gwf_secret_free(rc->password, rc->password_len);
    free(rc->key_prefix);
#ifndef RL_NO_RESOLVE
    rl_tls_ctx_free(rc->tls_ctx);
#endif
    free(rc->tls_server_name);
}

void
rl_config_free(rl_config *cfg)
{
    free(cfg->domain);
    free(cfg->key_head);
    free(cfg->rls.base_url);
    free(cfg->rls.connect_to);
    free(cfg->rls.authority);
    free(cfg->rls.ca_file);
    free(cfg->rls.server_name);
    gwf_grpc_peer_free(cfg->rls.peer);
    redis_config_free(&cfg->redis);
    if (cfg->redis_per_second) {
        redis_config_free(cfg->redis_per_second);
        free(cfg->redis_per_second);
    }
    rl_node_free(&cfg->root);
}

/* ------------------------------------------------------------------------
 * The TrafficPolicy's rateLimit.global: descriptors[{entries[]}]
 * --------------------------------------------------------------------- */

/* The object `name` a `type` needs: "is required for type X". */
static const json_t *
type_object(gwf_cfg *c, const char *path, const json_t *e, const char *name,
            const char *type, const char *what)
{
    char field[GWF_CFG_PATH_MAX];
    const json_t *v = NULL;

    if (!json_object_get(e, name) || json_is_null(json_object_get(e, name))) {
        gwf_cfg_fail(c, gwf_cfg_member(field, path, name),
                     "is required for type %s: expected %s", type, what);
        return NULL;
    }
    gwf_cfg_object(c, path, e, name, 0, &v);
    return v;
}

/* A required non-empty string member, copied into *out. */
static void
copy_member(gwf_cfg *c, const char *path, const json_t *obj, const char *name,
            char **out)
{
    char field[GWF_CFG_PATH_MAX];
    const char *text = NULL;

    if (gwf_cfg_string(c, path, obj, name, GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                       &text) == GWF_OK)
        *out = copy(c, gwf_cfg_member(field, path, name), text);
}

static void
parse_generic(gwf_cfg *c, const char *path, const json_t *e, rl_entry_spec *out)
{
    char field[GWF_CFG_PATH_MAX];
    const json_t *g =
        type_object(c, path, e, "generic", "Generic", "an object {key, value}");

    if (!g)
        return;
    gwf_cfg_member(field, path, "generic");
    copy_member(c, field, g, "key", &out->key);
    copy_member(c, field, g, "value", &out->value);
}

static void
parse_header(gwf_cfg *c, const char *path, const json_t *e, rl_entry_spec *out)
{
    char field[GWF_CFG_PATH_MAX];
    const char *name = NULL;

    gwf_cfg_member(field, path, "header");
    if (!json_object_get(e, "header") ||
        json_is_null(json_object_get(e, "header"))) {
        gwf_cfg_fail(c, field,
                     "is required for type Header: expected a header name");
        return;
    }
    if (gwf_cfg_string(c, path, e, "header", GWF_CFG_NONEMPTY, &name) != GWF_OK)
        return;
    if (!gwf_is_header_name(name, strlen(name))) {
        gwf_cfg_fail(c, field, "expected a header name, found \"%.40s\"", name);
        return;
    }
    out->value = copy(c, field, name);
    out->key = copy(c, field, name);
}

static void
parse_jwt_claim(gwf_cfg *c, const char *path, const json_t *e,
                rl_entry_spec *out)
{
    static const char *const fields[] = {"name", "key", NULL};
    static const char prefix[] = "jwt_auth.claim.";
    char field[GWF_CFG_PATH_MAX];
    const char *claim = NULL, *key = NULL;
    const json_t *j = type_object(c, path, e, "jwtClaim", "JWTClaim",
                                  "an object {name, key}");

    if (!j)
        return;
    gwf_cfg_member(field, path, "jwtClaim");
    gwf_cfg_known(c, field, j, fields);
    if (gwf_cfg_string(c, field, j, "name", GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                       &claim) != GWF_OK ||
        gwf_cfg_string(c, field, j, "key", GWF_CFG_NONEMPTY, &key) != GWF_OK)
        return;
    size_t len = sizeof(prefix) + strlen(claim);
    out->value = malloc(len);
    if (!out->value) {
        gwf_cfg_no_memory(c, field);
        return;
    }
    snprintf(out->value, len, "%s%s", prefix, claim);
    out->key = copy(c, field, key ? key : claim);
}

static void
parse_entry(gwf_cfg *c, const char *path, const json_t *e, rl_entry_spec *out)
{
    static const char *const fields[] = {"type", "generic", "header",
                                         "jwtClaim", NULL};
    /* Indexes are RL_ENTRY_*. */
    static const char *const types[] = {"Generic", "Header",   "RemoteAddress",
                                        "Path",    "JWTClaim", NULL};
    char field[GWF_CFG_PATH_MAX];

    if (gwf_cfg_check_object(c, path, e, "an object {type, ...}",
                             GWF_CFG_REQUIRED) != GWF_OK)
        return;
    gwf_cfg_known(c, path, e, fields);
    out->type = -1;
    if (gwf_cfg_enum(c, path, e, "type", GWF_CFG_REQUIRED, types, &out->type) !=
        GWF_OK)
        return;
    gwf_cfg_member(field, path, "type");
    switch (out->type) {
    case RL_ENTRY_GENERIC:
        parse_generic(c, path, e, out);
        break;
    case RL_ENTRY_HEADER:
        parse_header(c, path, e, out);
        break;
    case RL_ENTRY_REMOTE_ADDRESS:
        out->key = copy(c, field, "remote_address");
        break;
    case RL_ENTRY_PATH:
        out->key = copy(c, field, "path");
        break;
    default:
        parse_jwt_claim(c, path, e, out);
        break;
    }
}

static void
parse_descriptor(gwf_cfg *c, const char *path, const json_t *d,
                 rl_descriptor_spec *ds)
{
    static const char *const fields[] = {"entries", NULL};
    char field[GWF_CFG_PATH_MAX], item[GWF_CFG_PATH_MAX];
    const json_t *entries = NULL;

    if (gwf_cfg_check_object(c, path, d, "an object {entries}",
                             GWF_CFG_REQUIRED) != GWF_OK)
        return;
    gwf_cfg_known(c, path, d, fields);
    if (gwf_cfg_list(c, path, d, "entries", GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                     RL_MAX_ENTRIES, &entries) != GWF_OK)
        return;
    gwf_cfg_member(field, path, "entries");
    ds->entries = calloc(json_array_size(entries), sizeof(*ds->entries));
    if (!ds->entries) {
        gwf_cfg_no_memory(c, field);
        return;
    }
    ds->entry_count = json_array_size(entries);
    for (size_t j = 0; j < ds->entry_count; j++)
        parse_entry(c, gwf_cfg_item(item, field, j), json_array_get(entries, j),
                    &ds->entries[j]);
}

gwf_status
rl_route_parse(gwf_cfg *c, const json_t *spec, rl_route *route)
{
    static const char *const fields[] = {"descriptors", "extensionRef", NULL};
    char item[GWF_CFG_PATH_MAX];
    const json_t *list = NULL;

    if (gwf_cfg_check_object(c, "", spec,
                             "an object {descriptors, "
                             "extensionRef}",
                             GWF_CFG_REQUIRED) != GWF_OK)
        return gwf_cfg_status(c);
    gwf_cfg_known(c, "", spec, fields);
    if (gwf_cfg_list(c, "", spec, "descriptors",
                     GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, RL_MAX_DESCRIPTORS,
                     &list) != GWF_OK)
        return gwf_cfg_status(c);
    route->descriptors =
        calloc(json_array_size(list), sizeof(*route->descriptors));
    if (!route->descriptors)
        return gwf_cfg_no_memory(c, "descriptors");
    route->descriptor_count = json_array_size(list);
    for (size_t i = 0; i < route->descriptor_count; i++) {
        rl_descriptor_spec *ds = &route->descriptors[i];

        parse_descriptor(c, gwf_cfg_item(item, "descriptors", i),
                         json_array_get(list, i), ds);
        for (size_t j = 0; j < ds->entry_count; j++) {
            rl_entry_spec *e = &ds->entries[j];
            e->key_len = e->key ? strlen(e->key) : 0;
            e->value_len = e->value ? strlen(e->value) : 0;
        }
    }
    return gwf_cfg_status(c);
}

void
rl_route_free(rl_route *route)
{
    for (size_t i = 0; i < route->descriptor_count; i++) {
        for (size_t j = 0; j < route->descriptors[i].entry_count; j++) {
            free(route->descriptors[i].entries[j].key);
            free(route->descriptors[i].entries[j].value);
        }
        free(route->descriptors[i].entries);
    }
    free(route->descriptors);
}

void
rl_route_prepare(rl_route *route, const rl_node *root)
{
    for (size_t i = 0; i < route->descriptor_count; i++) {
        rl_descriptor_spec *ds = &route->descriptors[i];
        rl_entry entries[RL_MAX_ENTRIES];

        ds->all_generic = ds->entry_count <= RL_MAX_ENTRIES;
        for (size_t j = 0; j < ds->entry_count && ds->all_generic; j++) {
            const rl_entry_spec *e = &ds->entries[j];
            ds->all_generic = e->type == RL_ENTRY_GENERIC;
            entries[j] = (rl_entry){e->key, e->key_len, e->value, e->value_len};
        }
        ds->generic_limit =
            ds->all_generic
                ? rl_descriptors_match(root, entries, ds->entry_count)
                : NULL;
    }
}
