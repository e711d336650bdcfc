/*
 * config.c - parse and validate the rate_limit plugin's configs.
 *
 * Three JSON shapes arrive here (docs/manifests.md):
 *   - a GatewayExtension's spec.rateLimit: Redis settings, domain, outcome
 *     settings and the limits, in envoyproxy/ratelimit's own `descriptors`
 *     format, inline or from a file (YAML or JSON, the file envoyproxy/
 *     ratelimit reads: `domain` + `descriptors`);
 *   - {"local": {"tokenBucket": ...}}: the TrafficPolicy's local limit;
 *   - a TrafficPolicy's rateLimit.global, per route: which descriptors a
 *     request makes.
 *
 * Every field is checked even after an earlier one failed, so one
 * `gwf validate` shows every mistake; each error names its field path,
 * what was found and what was expected. Passwords are never echoed.
 */
#include <gwf/sdk_file.h>
#include <gwf/sdk_json.h>
#include "rate_limit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define RL_DEFAULT_TIMEOUT_NS (100 * UINT64_C(1000000))
#define RL_DEFAULT_NEAR_LIMIT_RATIO 0.8
#define RL_FILE_MAX (4 * 1024 * 1024)

/* Every key of `obj` must be in `allowed` (NULL-terminated). */
static gwf_status
check_fields(gwf_instance *inst, const char *path, const json_t *obj,
             const char *const *allowed, const char *expected)
{
    const char *key;
    json_t *v;
    gwf_status st = GWF_OK;
    char field[256];

    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i;
        for (i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (allowed[i])
            continue;
        snprintf(field, sizeof(field), "%s%s%s", path, *path ? "." : "", key);
        st = gwf_config_errorf(inst, field,
                               "unknown field \"%.40s\" (expected one of: "
                               "%s)",
                               key, expected);
    }
    return st;
}

static char *
dup_string(const json_t *s)
{
    return strndup(json_string_value(s), json_string_length(s));
}

/* A string without NUL bytes, not empty. */
static gwf_status
get_string(gwf_instance *inst, const char *field, const json_t *v, char **out)
{
    if (!v)
        return gwf_config_errorf(inst, field, "is required: expected a string");
    if (!json_is_string(v))
        return gwf_config_errorf(inst, field, "expected a string, found %s",
                                 gwf_json_kind(v));
    if (json_string_length(v) == 0)
        return gwf_config_errorf(inst, field, "expected a non-empty string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return gwf_config_errorf(inst, field,
                                 "expected a string without NUL bytes");
    *out = dup_string(v);
    return *out ? GWF_OK : GWF_ERR_NO_MEMORY;
}

static gwf_status
get_bool(gwf_instance *inst, const char *field, const json_t *v, int *out)
{
    if (!v)
        return GWF_OK;
    if (!json_is_boolean(v))
        return gwf_config_errorf(
            inst, field, "expected true or false, found %s", gwf_json_kind(v));
    *out = json_is_true(v);
    return GWF_OK;
}

static gwf_status
get_duration(gwf_instance *inst, const char *field, const json_t *v,
             uint64_t *ns)
{
    if (!json_is_string(v))
        return gwf_config_errorf(inst, field,
                                 "expected a duration such as \"100ms\" "
                                 "or \"1s\", found %s",
                                 gwf_json_kind(v));
    if (gwf_parse_duration(json_string_value(v), json_string_length(v), ns) !=
            0 ||
        *ns == 0)
        return gwf_config_errorf(inst, field,
                                 "expected a duration greater than zero "
                                 "such as \"100ms\" or \"1s\", found "
                                 "\"%.40s\"",
                                 json_string_value(v));
    return GWF_OK;
}

static gwf_status
get_int(gwf_instance *inst, const char *field, const json_t *v, int64_t min,
        int64_t max, int64_t *out)
{
    json_int_t n;

    if (!json_is_integer(v))
        return gwf_config_errorf(inst, field,
                                 "expected an integer %" PRId64 "-%" PRId64
                                 ", found %s",
                                 min, max, gwf_json_kind(v));
    n = json_integer_value(v);
    if (n < min || n > max)
        return gwf_config_errorf(inst, field,
                                 "expected an integer %" PRId64 "-%" PRId64
                                 ", found %" PRIdMAX,
                                 min, max, (intmax_t)n);
    *out = (int64_t)n;
    return GWF_OK;
}

/* ------------------------------------------------------------------------
 * Local token bucket: {"local": {"tokenBucket": {...}}}
 * --------------------------------------------------------------------- */

static gwf_status
parse_local(rl_config *cfg, const json_t *local)
{
    static const char *const local_fields[] = {"tokenBucket", NULL};
    static const char *const bucket_fields[] = {"maxTokens", "tokensPerFill",
                                                "fillInterval", NULL};
    gwf_instance *inst = cfg->instance;
    const json_t *tb, *v;
    gwf_status st = GWF_OK;
    int64_t n;

    cfg->is_local = 1;
    cfg->local.tokens_per_fill = 1;
    if (!json_is_object(local))
        return gwf_config_errorf(inst, "local",
                                 "expected an object {tokenBucket}, found %s",
                                 gwf_json_kind(local));
    if (check_fields(inst, "local", local, local_fields, "tokenBucket"))
        st = GWF_ERR_BAD_ARGUMENT;
    tb = json_object_get(local, "tokenBucket");
    if (!tb)
        return gwf_config_errorf(inst, "local.tokenBucket",
                                 "is required: expected an object "
                                 "{maxTokens, tokensPerFill, fillInterval}");
    if (!json_is_object(tb))
        return gwf_config_errorf(inst, "local.tokenBucket",
                                 "expected an object {maxTokens, "
                                 "tokensPerFill, fillInterval}, found %s",
                                 gwf_json_kind(tb));
    if (check_fields(inst, "local.tokenBucket", tb, bucket_fields,
                     "maxTokens, tokensPerFill, fillInterval"))
        st = GWF_ERR_BAD_ARGUMENT;
    v = json_object_get(tb, "maxTokens");
    if (!v)
        st = gwf_config_errorf(inst, "local.tokenBucket.maxTokens",
                               "is required: expected an integer "
                               "1-1000000000");
    else if (get_int(inst, "local.tokenBucket.maxTokens", v, 1, 1000000000,
                     &n) == GWF_OK)
        cfg->local.max_tokens = (uint64_t)n;
    else
        st = GWF_ERR_BAD_ARGUMENT;
    v = json_object_get(tb, "tokensPerFill");
    if (v) {
        if (get_int(inst, "local.tokenBucket.tokensPerFill", v, 1, 1000000000,
                    &n) == GWF_OK)
            cfg->local.tokens_per_fill = (uint64_t)n;
        else
            st = GWF_ERR_BAD_ARGUMENT;
    }
    v = json_object_get(tb, "fillInterval");
    if (!v)
        st = gwf_config_errorf(inst, "local.tokenBucket.fillInterval",
                               "is required: expected a duration such as "
                               "\"1s\"");
    else if (get_duration(inst, "local.tokenBucket.fillInterval", v,
                          &cfg->local.fill_interval_ns) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    return st;
}

/* ------------------------------------------------------------------------
 * The limits file: envoyproxy/ratelimit's YAML (or JSON), read into a
 * jansson document. YAML scalars follow the core schema for the few types
 * the format uses: integers, booleans, null, strings.
 * --------------------------------------------------------------------- */

static json_t *
yaml_scalar(const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    char *end;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(text, len);
    if (len == 0 || strcmp(text, "~") == 0 || strcmp(text, "null") == 0)
        return json_null();
    if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0 ||
        strcmp(text, "TRUE") == 0)
        return json_true();
    if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0 ||
        strcmp(text, "FALSE") == 0)
        return json_false();
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno == 0 && end == text + len && len > 0 &&
        (text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
        return json_integer(n);
    return json_stringn(text, len);
}

#define RL_YAML_DEPTH 64

/* A YAML stream's first document as JSON. Containers are owned by their
 * parent (the stack borrows them); `root` owns the whole tree. */
static json_t *
yaml_to_json(yaml_parser_t *p, char *err, size_t err_size)
{
    json_t *stack[RL_YAML_DEPTH];
    json_t *keys[RL_YAML_DEPTH];
    json_t *root = NULL;
    int depth = 0;
    yaml_event_t ev;

    for (;;) {
        json_t *node = NULL;
        yaml_event_type_t type;
        size_t line;

        if (!yaml_parser_parse(p, &ev)) {
            snprintf(err, err_size, "line %zu: %s", p->problem_mark.line + 1,
                     p->problem ? p->problem : "YAML error");
            goto fail;
        }
        type = ev.type;
        line = ev.start_mark.line + 1;
        if (type == YAML_SCALAR_EVENT)
            node = yaml_scalar(&ev);
        else if (type == YAML_SEQUENCE_START_EVENT)
            node = json_array();
        else if (type == YAML_MAPPING_START_EVENT)
            node = json_object();
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT ||
            (type == YAML_DOCUMENT_END_EVENT && root))
            break;
        if (type == YAML_ALIAS_EVENT) {
            snprintf(err, err_size, "line %zu: aliases are not supported",
                     line);
            goto fail;
        }
        if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            depth--;
            json_decref(keys[depth]);
            continue;
        }
        if (!node)
            continue;
        if (depth == 0) {
            json_decref(root);
            root = node;
        } else if (json_is_array(stack[depth - 1])) {
            json_array_append_new(stack[depth - 1], node);
        } else if (!keys[depth - 1]) {
            if (!json_is_string(node)) {
                snprintf(err, err_size,
                         "line %zu: a mapping key is not a plain string", line);
                json_decref(node);
                goto fail;
            }
            keys[depth - 1] = node;
            continue;
        } else {
            json_object_set_new(stack[depth - 1],
                                json_string_value(keys[depth - 1]), node);
            json_decref(keys[depth - 1]);
            keys[depth - 1] = NULL;
        }
        if (json_is_array(node) || json_is_object(node)) {
            if (depth == RL_YAML_DEPTH) {
                snprintf(err, err_size,
                         "line %zu: nesting deeper than %d levels", line,
                         RL_YAML_DEPTH);
                goto fail;
            }
            stack[depth] = node;
            keys[depth] = NULL;
            depth++;
        }
    }
    if (!root)
        root = json_object();
    return root;
fail:
    for (int i = 0; i < depth; i++)
        json_decref(keys[i]);
    json_decref(root);
    return NULL;
}

/* The file's document: JSON if it starts with '{', else YAML. */
static json_t *
load_limits_file(const char *path, char *err, size_t err_size)
{
    size_t len = 0, i = 0;
    /* gwf_file_read: the master reads it; a FIFO or a device named here
     * is refused at once instead of blocking it (gwf/sdk_file.h). */
    char *data = gwf_file_read(path, RL_FILE_MAX, &len, err, err_size);
    json_t *doc = NULL;

    if (!data)
        return NULL;
    while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' ||
                       data[i] == '\t'))
        i++;
    if (i < len && data[i] == '{') {
        json_error_t je;
        doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc)
            snprintf(err, err_size, "line %d: %s", je.line, je.text);
    } else {
        yaml_parser_t p;
        yaml_parser_initialize(&p);
        yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
        doc = yaml_to_json(&p, err, err_size);
        yaml_parser_delete(&p);
    }
    free(data);
    return doc;
}

/* ------------------------------------------------------------------------
 * Redis connection settings
 * --------------------------------------------------------------------- */

static gwf_status
parse_address(rl_config *cfg, const char *field, const json_t *v)
{
    const char *text, *colon;
    char *end;
    long port;

    if (!json_is_string(v))
        return gwf_config_errorf(cfg->instance, field,
                                 "expected \"host:port\", found %s",
                                 gwf_json_kind(v));
    text = json_string_value(v);
    colon = strrchr(text, ':');
    if (!colon || colon == text || strlen(text) != json_string_length(v))
        return gwf_config_errorf(cfg->instance, field,
                                 "expected \"host:port\", found \"%.40s\"",
                                 text);
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
        return gwf_config_errorf(cfg->instance, field,
                                 "expected a port 1-65535 after ':', found "
                                 "\"%.40s\"",
                                 colon + 1);
    if (text[0] == '[' && colon[-1] == ']')
        cfg->redis.host = strndup(text + 1, (size_t)(colon - text - 2));
    else
        cfg->redis.host = strndup(text, (size_t)(colon - text));
    cfg->redis.port = (int)port;
    return cfg->redis.host ? GWF_OK : GWF_ERR_NO_MEMORY;
}

/* "name" or "namespace/name" from {name, namespace}. */
static gwf_status
parse_ref(gwf_instance *inst, const char *field, const json_t *ref, char *out,
          size_t size)
{
    static const char *const ref_fields[] = {
        "name", "namespace", "key", "group", "kind", "port", NULL};
    const json_t *name, *ns;
    char sub[160];

    if (!json_is_object(ref))
        return gwf_config_errorf(inst, field,
                                 "expected an object {name, namespace}, "
                                 "found %s",
                                 gwf_json_kind(ref));
    if (check_fields(inst, field, ref, ref_fields, "name, namespace"))
        return GWF_ERR_BAD_ARGUMENT;
    name = json_object_get(ref, "name");
    ns = json_object_get(ref, "namespace");
    snprintf(sub, sizeof(sub), "%s.name", field);
    if (!json_is_string(name) || json_string_length(name) == 0)
        return gwf_config_errorf(inst, sub,
                                 "is required: expected a "
                                 "non-empty string");
    if (ns && (!json_is_string(ns) || json_string_length(ns) == 0)) {
        snprintf(sub, sizeof(sub), "%s.namespace", field);
        return gwf_config_errorf(inst, sub, "expected a non-empty string");
    }
    if (ns)
        snprintf(out, size, "%s/%s", json_string_value(ns),
                 json_string_value(name));
    else
        snprintf(out, size, "%s", json_string_value(name));
    return GWF_OK;
}

static gwf_status
parse_backend_ref(rl_config *cfg, const json_t *ref)
{
    gwf_instance *inst = cfg->instance;
    const char *field = "redis.backendRef";
    char name[256];
    gwf_view spec;
    json_t *doc, *hosts, *first;
    json_error_t je;
    gwf_status st;

    if (parse_ref(inst, field, ref, name, sizeof(name)) != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    st = inst->host->lookup_document(inst, "Backend", name, &spec);
    if (st == GWF_ERR_NOT_FOUND)
        return gwf_config_errorf(inst, field, "Backend %s not found", name);
    if (st != GWF_OK)
        return gwf_config_errorf(inst, field,
                                 "cannot look up Backend %s (status %d)", name,
                                 (int)st);
    doc = json_loadb(spec.ptr, spec.len, 0, &je);
    hosts = json_object_get(json_object_get(doc, "static"), "hosts");
    first = json_array_get(hosts, 0);
    if (!json_is_string(json_object_get(first, "host")) ||
        !json_is_integer(json_object_get(first, "port"))) {
        json_decref(doc);
        return gwf_config_errorf(inst, field,
                                 "Backend %s: expected a static Backend "
                                 "with hosts[0].host and port",
                                 name);
    }
    cfg->redis.host = strdup(json_string_value(json_object_get(first, "host")));
    cfg->redis.port = (int)json_integer_value(json_object_get(first, "port"));
    json_decref(doc);
    return cfg->redis.host ? GWF_OK : GWF_ERR_NO_MEMORY;
}

static gwf_status
parse_password_secret(rl_config *cfg, const json_t *ref)
{
    gwf_instance *inst = cfg->instance;
    const char *field = "redis.passwordSecretRef";
    const char *key = "password";
    char name[256];
    gwf_view spec;
    json_t *doc, *v;
    json_error_t je;
    gwf_status st;

    if (parse_ref(inst, field, ref, name, sizeof(name)) != GWF_OK)
        return GWF_ERR_BAD_ARGUMENT;
    if (json_is_string(json_object_get(ref, "key")))
        key = json_string_value(json_object_get(ref, "key"));
    st = inst->host->lookup_document(inst, "Secret", name, &spec);
    if (st == GWF_ERR_NOT_FOUND)
        return gwf_config_errorf(inst, field, "Secret %s not found", name);
    if (st != GWF_OK)
        return gwf_config_errorf(
            inst, field, "cannot look up Secret %s (status %d)", name, (int)st);
    doc = json_loadb(spec.ptr, spec.len, 0, &je);
    v = json_object_get(json_object_get(doc, "stringData"), key);
    if (json_is_string(v)) {
        cfg->redis.password = dup_string(v);
    } else {
        v = json_object_get(json_object_get(doc, "data"), key);
        char *decoded = NULL;
        size_t len = 0;
        if (json_is_string(v) &&
            gwf_base64_decode(json_string_value(v), json_string_length(v),
                              &decoded, &len) == 0) {
            if (strlen(decoded) == len) /* no NUL inside a password */
                cfg->redis.password = decoded;
            else
                free(decoded);
        }
    }
    json_decref(doc);
    if (!cfg->redis.password || !cfg->redis.password[0])
        return gwf_config_errorf(inst, field,
                                 "Secret %s has no usable key \"%.40s\" in "
                                 "stringData or data (base64)",
                                 name, key);
    return GWF_OK;
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
static gwf_status
resolve_host(rl_config *cfg, const char *field)
{
    struct in6_addr a6;
    struct in_addr a4;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    gwf_status st;
    int rc;

    if (!cfg->redis.host)
        return GWF_OK;
    if (inet_pton(AF_INET, cfg->redis.host, &a4) == 1 ||
        inet_pton(AF_INET6, cfg->redis.host, &a6) == 1)
        goto literal;
#ifdef RL_NO_RESOLVE
    /* The fuzz harness: random names must not become DNS queries. */
    (void)hints;
    (void)res;
    (void)st;
    (void)rc;
    (void)field;
    goto literal;
#else
    rc = getaddrinfo(cfg->redis.host, NULL, &hints, &res);
    if (rc != 0 || !res)
        return gwf_config_errorf(cfg->instance, field,
                                 "cannot resolve \"%.60s\": %s",
                                 cfg->redis.host, gai_strerror(rc));
    st = rl_addresses_from(res, &cfg->redis.addrs, &cfg->redis.addr_count);
    freeaddrinfo(res);
    if (st == GWF_OK && cfg->redis.addr_count == 0)
        return gwf_config_errorf(cfg->instance, field,
                                 "\"%.60s\" has no IPv4 or IPv6 address",
                                 cfg->redis.host);
    cfg->redis.resolved = 1;
    return st;
#endif
literal:
    cfg->redis.addrs = calloc(1, sizeof(*cfg->redis.addrs));
    if (!cfg->redis.addrs)
        return GWF_ERR_NO_MEMORY;
    cfg->redis.addrs[0] = strdup(cfg->redis.host);
    if (!cfg->redis.addrs[0])
        return GWF_ERR_NO_MEMORY;
    cfg->redis.addr_count = 1;
    return GWF_OK;
}

static gwf_status
parse_redis(rl_config *cfg, const json_t *redis)
{
    static const char *const fields[] = {
        "address",  "backendRef",        "db",        "username",
        "password", "passwordSecretRef", "keyPrefix", NULL};
    gwf_instance *inst = cfg->instance;
    const json_t *address, *backend, *v;
    gwf_status st = GWF_OK;
    int64_t n;

    if (!redis)
        return gwf_config_errorf(inst, "redis",
                                 "is required: expected an object "
                                 "{address | backendRef, db, username, "
                                 "password | passwordSecretRef, keyPrefix}");
    if (!json_is_object(redis))
        return gwf_config_errorf(inst, "redis", "expected an object, found %s",
                                 gwf_json_kind(redis));
    if (check_fields(inst, "redis", redis, fields,
                     "address, backendRef, db, username, password, "
                     "passwordSecretRef, keyPrefix"))
        st = GWF_ERR_BAD_ARGUMENT;
    address = json_object_get(redis, "address");
    backend = json_object_get(redis, "backendRef");
    if (address && backend)
        st = gwf_config_errorf(inst, "redis",
                               "expected one of address and backendRef, "
                               "found both");
    else if (address) {
        if (parse_address(cfg, "redis.address", address) != GWF_OK ||
            resolve_host(cfg, "redis.address") != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    } else if (backend) {
        if (parse_backend_ref(cfg, backend) != GWF_OK ||
            resolve_host(cfg, "redis.backendRef") != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    } else {
        st = gwf_config_errorf(inst, "redis.address",
                               "is required (or redis.backendRef): "
                               "expected \"host:port\"");
    }
    v = json_object_get(redis, "db");
    if (v) {
        if (get_int(inst, "redis.db", v, 0, 65535, &n) == GWF_OK)
            cfg->redis.db = n;
        else
            st = GWF_ERR_BAD_ARGUMENT;
    }
    v = json_object_get(redis, "username");
    if (v && get_string(inst, "redis.username", v, &cfg->redis.username))
        st = GWF_ERR_BAD_ARGUMENT;
    v = json_object_get(redis, "password");
    if (v && json_object_get(redis, "passwordSecretRef"))
        st = gwf_config_errorf(inst, "redis",
                               "expected one of password and "
                               "passwordSecretRef, found both");
    else if (v) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v))
            st = gwf_config_errorf(inst, "redis.password",
                                   "expected a non-empty string without "
                                   "NUL bytes");
        else
            cfg->redis.password = dup_string(v);
    } else if ((v = json_object_get(redis, "passwordSecretRef"))) {
        if (parse_password_secret(cfg, v) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    }
    if (cfg->redis.username && !cfg->redis.password)
        st = gwf_config_errorf(inst, "redis.username",
                               "needs password or passwordSecretRef");
    v = json_object_get(redis, "keyPrefix");
    if (v) {
        if (!json_is_string(v) ||
            strlen(json_string_value(v)) != json_string_length(v))
            st = gwf_config_errorf(inst, "redis.keyPrefix",
                                   "expected a string, found %s",
                                   gwf_json_kind(v));
        else
            cfg->redis.key_prefix = dup_string(v);
    } else {
        cfg->redis.key_prefix = strdup("");
    }
    return st;
}

/* ------------------------------------------------------------------------
 * The GatewayExtension's spec.rateLimit
 * --------------------------------------------------------------------- */

static gwf_status
parse_limits(rl_config *cfg, const json_t *spec)
{
    gwf_instance *inst = cfg->instance;
    const json_t *inline_list = json_object_get(spec, "descriptors");
    const json_t *file = json_object_get(spec, "descriptorsFile");
    const json_t *domain = json_object_get(spec, "domain");
    gwf_status st = GWF_OK;

    if (inline_list && file)
        return gwf_config_errorf(inst, "descriptors",
                                 "expected one of descriptors and "
                                 "descriptorsFile, found both");
    if (domain && get_string(inst, "domain", domain, &cfg->domain))
        st = GWF_ERR_BAD_ARGUMENT;
    if (file) {
        char err[300], path[4096];
        gwf_view dir = inst->host->config_dir(inst);
        json_t *doc, *file_domain;

        if (!json_is_string(file) || json_string_length(file) == 0)
            return gwf_config_errorf(inst, "descriptorsFile",
                                     "expected a file name, found %s",
                                     gwf_json_kind(file));
        if (json_string_value(file)[0] == '/' || dir.len == 0)
            snprintf(path, sizeof(path), "%s", json_string_value(file));
        else
            snprintf(path, sizeof(path), "%.*s/%s", (int)dir.len, dir.ptr,
                     json_string_value(file));
        doc = load_limits_file(path, err, sizeof(err));
        if (!doc)
            return gwf_config_errorf(inst, "descriptorsFile", "%s", err);
        if (!json_is_object(doc)) {
            json_decref(doc);
            return gwf_config_errorf(inst, "descriptorsFile",
                                     "%s: expected a mapping {domain, "
                                     "descriptors}",
                                     path);
        }
        file_domain = json_object_get(doc, "domain");
        if (json_is_string(file_domain) && cfg->domain &&
            strcmp(cfg->domain, json_string_value(file_domain)) != 0)
            st = gwf_config_errorf(inst, "domain",
                                   "\"%.40s\" differs from the domain "
                                   "\"%.40s\" of %s",
                                   cfg->domain, json_string_value(file_domain),
                                   path);
        else if (!cfg->domain && file_domain &&
                 get_string(inst, "descriptorsFile", file_domain, &cfg->domain))
            st = GWF_ERR_BAD_ARGUMENT;
        if (rl_descriptors_parse(inst, "descriptorsFile",
                                 json_object_get(doc, "descriptors"),
                                 &cfg->root) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
        json_decref(doc);
    } else if (inline_list) {
        if (rl_descriptors_parse(inst, "descriptors", inline_list,
                                 &cfg->root) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    } else {
        st = gwf_config_errorf(inst, "descriptors",
                               "is required (or descriptorsFile): "
                               "expected envoyproxy/ratelimit descriptors");
    }
    if (!cfg->domain && st == GWF_OK)
        st = gwf_config_errorf(inst, "domain",
                               "is required: expected a non-empty string");
    return st;
}

static gwf_status
parse_global(rl_config *cfg, const json_t *spec)
{
    static const char *const fields[] = {
        "domain",         "failOpen",          "failureStatus",
        "timeout",        "xRateLimitHeaders", "algorithm",
        "overLimitCache", "nearLimitRatio",    "redis",
        "descriptors",    "descriptorsFile",   NULL};
    gwf_instance *inst = cfg->instance;
    gwf_status st = GWF_OK;
    const json_t *v;
    int64_t n;

    cfg->failure_status = 500;
    cfg->timeout_ns = RL_DEFAULT_TIMEOUT_NS;
    cfg->over_limit_cache = 1;
    cfg->near_limit_ratio = RL_DEFAULT_NEAR_LIMIT_RATIO;
    if (check_fields(inst, "", spec, fields,
                     "domain, failOpen, failureStatus, timeout, "
                     "xRateLimitHeaders, algorithm, overLimitCache, "
                     "nearLimitRatio, redis, descriptors, descriptorsFile"))
        st = GWF_ERR_BAD_ARGUMENT;
    if (get_bool(inst, "failOpen", json_object_get(spec, "failOpen"),
                 &cfg->fail_open))
        st = GWF_ERR_BAD_ARGUMENT;
    if (get_bool(inst, "overLimitCache",
                 json_object_get(spec, "overLimitCache"),
                 &cfg->over_limit_cache))
        st = GWF_ERR_BAD_ARGUMENT;
    v = json_object_get(spec, "failureStatus");
    if (v) {
        if (get_int(inst, "failureStatus", v, 200, 599, &n) == GWF_OK)
            cfg->failure_status = (uint32_t)n;
        else
            st = GWF_ERR_BAD_ARGUMENT;
    }
    v = json_object_get(spec, "timeout");
    if (v && get_duration(inst, "timeout", v, &cfg->timeout_ns))
        st = GWF_ERR_BAD_ARGUMENT;
    v = json_object_get(spec, "xRateLimitHeaders");
    if (v) {
        if (json_is_string(v) && strcmp(json_string_value(v), "Off") == 0)
            cfg->headers = RL_HEADERS_OFF;
        else if (json_is_string(v) &&
                 strcmp(json_string_value(v), "DraftVersion03") == 0)
            cfg->headers = RL_HEADERS_DRAFT03;
        else
            st = gwf_config_errorf(inst, "xRateLimitHeaders",
                                   "expected \"Off\" or \"DraftVersion03\", "
                                   "found %s%.40s%s",
                                   json_is_string(v) ? "\"" : "",
                                   json_is_string(v) ? json_string_value(v)
                                                     : gwf_json_kind(v),
                                   json_is_string(v) ? "\"" : "");
    }
    v = json_object_get(spec, "algorithm");
    if (v) {
        if (json_is_string(v) &&
            strcmp(json_string_value(v), "FixedWindow") == 0)
            cfg->algorithm = RL_ALGO_FIXED_WINDOW;
        else if (json_is_string(v) &&
                 strcmp(json_string_value(v), "Rolling") == 0)
            cfg->algorithm = RL_ALGO_ROLLING;
        else
            st = gwf_config_errorf(inst, "algorithm",
                                   "expected \"FixedWindow\" or "
                                   "\"Rolling\", found %s%.40s%s",
                                   json_is_string(v) ? "\"" : "",
                                   json_is_string(v) ? json_string_value(v)
                                                     : gwf_json_kind(v),
                                   json_is_string(v) ? "\"" : "");
    }
    v = json_object_get(spec, "nearLimitRatio");
    if (v) {
        if (!json_is_number(v) || json_number_value(v) <= 0 ||
            json_number_value(v) > 1)
            st = gwf_config_errorf(inst, "nearLimitRatio",
                                   "expected a number greater than 0 and "
                                   "at most 1");
        else
            cfg->near_limit_ratio = json_number_value(v);
    }
    if (parse_redis(cfg, json_object_get(spec, "redis")) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    if (parse_limits(cfg, spec) != GWF_OK)
        st = GWF_ERR_BAD_ARGUMENT;
    return st;
}

gwf_status
rl_config_parse(rl_config *cfg, const json_t *spec)
{
    const json_t *local = json_object_get(spec, "local");

    if (local) {
        if (json_object_size(spec) != 1)
            return gwf_config_errorf(cfg->instance, "",
                                     "a local config has only the field "
                                     "\"local\"");
        return parse_local(cfg, local);
    }
    return parse_global(cfg, spec);
}

void
rl_config_free(rl_config *cfg)
{
    free(cfg->domain);
    free(cfg->redis.host);
    rl_addresses_free(cfg->redis.addrs, cfg->redis.addr_count);
    free(cfg->redis.username);
    if (cfg->redis.password) {
        /* Do not leave the secret in freed memory. */
        volatile char *p = cfg->redis.password;
        while (*p)
            *p++ = 0;
    }
    free(cfg->redis.password);
    free(cfg->redis.key_prefix);
    rl_node_free(&cfg->root);
}

/* ------------------------------------------------------------------------
 * The TrafficPolicy's rateLimit.global: descriptors[{entries[]}]
 * --------------------------------------------------------------------- */

static gwf_status
parse_entry(gwf_instance *inst, const char *path, const json_t *e,
            rl_entry_spec *out)
{
    static const char *const fields[] = {"type", "generic", "header",
                                         "jwtClaim", NULL};
    char field[160];
    const json_t *type = json_object_get(e, "type");
    const char *t;

    if (!json_is_object(e))
        return gwf_config_errorf(inst, path,
                                 "expected an object {type, ...}, found %s",
                                 gwf_json_kind(e));
    if (check_fields(inst, path, e, fields, "type, generic, header, jwtClaim"))
        return GWF_ERR_BAD_ARGUMENT;
    snprintf(field, sizeof(field), "%s.type", path);
    if (!json_is_string(type))
        return gwf_config_errorf(inst, field,
                                 "is required: expected one of Generic, "
                                 "Header, RemoteAddress, Path, JWTClaim");
    t = json_string_value(type);
    if (strcmp(t, "Generic") == 0) {
        const json_t *g = json_object_get(e, "generic");
        snprintf(field, sizeof(field), "%s.generic", path);
        out->type = RL_ENTRY_GENERIC;
        if (!json_is_object(g))
            return gwf_config_errorf(inst, field,
                                     "is required for type Generic: "
                                     "expected an object {key, value}");
        snprintf(field, sizeof(field), "%s.generic.key", path);
        if (get_string(inst, field, json_object_get(g, "key"), &out->key))
            return GWF_ERR_BAD_ARGUMENT;
        snprintf(field, sizeof(field), "%s.generic.value", path);
        return get_string(inst, field, json_object_get(g, "value"),
                          &out->value);
    }
    if (strcmp(t, "Header") == 0) {
        const json_t *h = json_object_get(e, "header");
        snprintf(field, sizeof(field), "%s.header", path);
        out->type = RL_ENTRY_HEADER;
        if (!h)
            return gwf_config_errorf(inst, field,
                                     "is required for type Header: "
                                     "expected a header name");
        if (get_string(inst, field, h, &out->value))
            return GWF_ERR_BAD_ARGUMENT;
        if (!gwf_is_header_name(out->value, strlen(out->value)))
            return gwf_config_errorf(inst, field,
                                     "expected a header name, found "
                                     "\"%.40s\"",
                                     out->value);
        out->key = strdup(out->value);
        return out->key ? GWF_OK : GWF_ERR_NO_MEMORY;
    }
    if (strcmp(t, "RemoteAddress") == 0) {
        out->type = RL_ENTRY_REMOTE_ADDRESS;
        out->key = strdup("remote_address");
        return out->key ? GWF_OK : GWF_ERR_NO_MEMORY;
    }
    if (strcmp(t, "Path") == 0) {
        out->type = RL_ENTRY_PATH;
        out->key = strdup("path");
        return out->key ? GWF_OK : GWF_ERR_NO_MEMORY;
    }
    if (strcmp(t, "JWTClaim") == 0) {
        const json_t *c = json_object_get(e, "jwtClaim");
        const json_t *key;
        char *claim = NULL;
        size_t len;

        out->type = RL_ENTRY_JWT_CLAIM;
        snprintf(field, sizeof(field), "%s.jwtClaim", path);
        if (!json_is_object(c))
            return gwf_config_errorf(inst, field,
                                     "is required for type JWTClaim: "
                                     "expected an object {name, key}");
        {
            static const char *const claim_fields[] = {"name", "key", NULL};
            if (check_fields(inst, field, c, claim_fields, "name, key"))
                return GWF_ERR_BAD_ARGUMENT;
        }
        snprintf(field, sizeof(field), "%s.jwtClaim.name", path);
        if (get_string(inst, field, json_object_get(c, "name"), &claim))
            return GWF_ERR_BAD_ARGUMENT;
        len = strlen("jwt_auth.claim.") + strlen(claim) + 1;
        out->value = malloc(len);
        if (out->value)
            snprintf(out->value, len, "jwt_auth.claim.%s", claim);
        key = json_object_get(c, "key");
        if (key) {
            snprintf(field, sizeof(field), "%s.jwtClaim.key", path);
            free(claim);
            return get_string(inst, field, key, &out->key);
        }
        out->key = claim;
        return out->value ? GWF_OK : GWF_ERR_NO_MEMORY;
    }
    return gwf_config_errorf(inst, field,
                             "expected one of Generic, Header, "
                             "RemoteAddress, Path, JWTClaim, found "
                             "\"%.40s\"",
                             t);
}

gwf_status
rl_route_parse(gwf_instance *inst, const json_t *spec, rl_route *route)
{
    static const char *const fields[] = {"descriptors", "extensionRef", NULL};
    const json_t *list = json_object_get(spec, "descriptors");
    gwf_status st = GWF_OK;
    char path[96];
    size_t i;

    if (!json_is_object(spec))
        return gwf_config_errorf(inst, "",
                                 "expected an object "
                                 "{descriptors, extensionRef}");
    if (check_fields(inst, "", spec, fields, "descriptors, extensionRef"))
        st = GWF_ERR_BAD_ARGUMENT;
    if (!json_is_array(list) || json_array_size(list) == 0)
        return gwf_config_errorf(inst, "descriptors",
                                 "is required: expected a list of at least "
                                 "one {entries: [...]}");
    if (json_array_size(list) > RL_MAX_DESCRIPTORS)
        return gwf_config_errorf(inst, "descriptors",
                                 "expected at most %d descriptors, found "
                                 "%zu",
                                 RL_MAX_DESCRIPTORS, json_array_size(list));
    route->descriptors =
        calloc(json_array_size(list), sizeof(*route->descriptors));
    if (!route->descriptors)
        return GWF_ERR_NO_MEMORY;
    route->descriptor_count = json_array_size(list);
    for (i = 0; i < json_array_size(list); i++) {
        const json_t *d = json_array_get(list, i);
        const json_t *entries = json_object_get(d, "entries");
        rl_descriptor_spec *ds = &route->descriptors[i];
        static const char *const dfields[] = {"entries", NULL};

        snprintf(path, sizeof(path), "descriptors[%zu]", i);
        if (!json_is_object(d)) {
            st = gwf_config_errorf(inst, path,
                                   "expected an object {entries}, found %s",
                                   gwf_json_kind(d));
            continue;
        }
        if (check_fields(inst, path, d, dfields, "entries"))
            st = GWF_ERR_BAD_ARGUMENT;
        snprintf(path, sizeof(path), "descriptors[%zu].entries", i);
        if (!json_is_array(entries) || json_array_size(entries) == 0 ||
            json_array_size(entries) > RL_MAX_ENTRIES) {
            st = gwf_config_errorf(inst, path,
                                   "is required: expected a list of 1-%d "
                                   "entries",
                                   RL_MAX_ENTRIES);
            continue;
        }
        ds->entries = calloc(json_array_size(entries), sizeof(*ds->entries));
        if (!ds->entries)
            return GWF_ERR_NO_MEMORY;
        ds->entry_count = json_array_size(entries);
        for (size_t j = 0; j < ds->entry_count; j++) {
            char epath[128];
            snprintf(epath, sizeof(epath), "descriptors[%zu].entries[%zu]", i,
                     j);
            if (parse_entry(inst, epath, json_array_get(entries, j),
                            &ds->entries[j]) != GWF_OK)
                st = GWF_ERR_BAD_ARGUMENT;
        }
    }
    return st;
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
