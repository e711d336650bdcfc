/*
 * config.c - parse and validate the lambda_signer config.
 *
 * Two shapes reach config_create:
 *   - kind "Backend": kgateway's Backend.spec.aws, as is:
 *     {accountId, region, auth{type, secretRef{name, namespace}},
 *      lambda{functionName, qualifier, invocationMode,
 *             payloadTransformMode, endpointURL}};
 *   - kind "GatewayExtension": spec.plugin.config, which adds `mode`
 *     ("lambda": the Backend fields above; "sign": sign any request for
 *     any AWS service, with service, region, hostRewrite,
 *     excludedHeaders, unsignedPayload, normalizePath,
 *     contentSha256Header, signSessionToken, auth).
 *
 * Every field is checked and every problem reported (not only the
 * first), each under its own dotted path, saying what was wrong and what
 * was expected. Values are quoted (cut to 40 bytes) except credentials,
 * which never appear in a message.
 */
#include <gwf/sdk_json.h>
#include "lambda_signer.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Checks one parse; `bad` collects whether anything failed. */
typedef struct parse_ctx {
    gwf_instance *inst;
    int bad;
} parse_ctx;

static void
err(parse_ctx *pc, const char *field, const char *fmt, ...)
    GWF_PRINTF(3, 4);

static void
err(parse_ctx *pc, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pc->inst->host->config_error(pc->inst, field, msg, strlen(msg));
    pc->bad = 1;
}

/* Unknown keys of `obj`, against a NULL-terminated list. */
static void
check_keys(parse_ctx *pc, const json_t *obj, const char *prefix,
           const char *const *allowed, const char *expected)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = 1;
        if (!ok) {
            char field[256];
            snprintf(field, sizeof field, "%s%s%s", prefix,
                     *prefix ? "." : "", key);
            err(pc, field, "unknown field \"%.40s\" (expected one of: %s)",
                key, expected);
        }
    }
}

/* A string field: NULL when absent (or null). Reports a wrong type. */
static const char *
get_string(parse_ctx *pc, const json_t *obj, const char *key,
           const char *field, int required)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            err(pc, field, "required field is missing (expected a string)");
        return NULL;
    }
    if (!json_is_string(v)) {
        err(pc, field, "expected a string, got %s", gwf_json_kind(v));
        return NULL;
    }
    return json_string_value(v);
}

/* A boolean field, `def` when absent. */
static int
get_bool(parse_ctx *pc, const json_t *obj, const char *key, const char *field,
         int def)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return def;
    if (!json_is_boolean(v)) {
        err(pc, field, "expected true or false, got %s", gwf_json_kind(v));
        return def;
    }
    return json_is_true(v);
}

/* An object field: NULL when absent. */
static const json_t *
get_object(parse_ctx *pc, const json_t *obj, const char *key,
           const char *field, int required)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            err(pc, field, "required field is missing (expected an object)");
        return NULL;
    }
    if (!json_is_object(v)) {
        err(pc, field, "expected an object, got %s", gwf_json_kind(v));
        return NULL;
    }
    return v;
}

static int
all_chars(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

static char *
dup_or_fail(parse_ctx *pc, const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        err(pc, "", "out of memory");
    return d;
}

/* region: lower-case letters, digits and '-', like "eu-west-3". */
static void
parse_region(parse_ctx *pc, const json_t *obj, ls_config *cfg)
{
    const char *region = get_string(pc, obj, "region", "region", 0);
    if (!region) {
        cfg->region = dup_or_fail(pc, LS_DEFAULT_REGION);
        return;
    }
    int ok = *region && strlen(region) < 64;
    for (const char *p = region; ok && *p; p++)
        ok = islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
             *p == '-';
    if (!ok) {
        err(pc, "region",
            "invalid region \"%.40s\" (expected an AWS region such as "
            "\"us-east-1\": lower-case letters, digits and '-', at most 63)",
            region);
        return;
    }
    cfg->region = dup_or_fail(pc, region);
}

/* endpointURL: "https://host[:port]" (or http:// for tests and local
 * stand-ins), no path. The host (and port) become what is signed and
 * sent as Host. */
static void
parse_endpoint(parse_ctx *pc, const char *url, ls_config *cfg)
{
    const char *host = NULL;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    size_t len = host ? strlen(host) : 0;
    if (len > 0 && host[len - 1] == '/')
        len--;
    int ok = host && len > 0 && len < 256;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)host[i]) || strchr("-.:[]_", host[i]);
    if (!ok) {
        err(pc, "lambda.endpointURL",
            "invalid endpoint URL \"%.40s\" (expected "
            "\"https://host[:port]\" with no path)",
            url);
        return;
    }
    cfg->host = strndup(host, len);
    if (!cfg->host)
        err(pc, "", "out of memory");
}

static void
parse_lambda(parse_ctx *pc, const json_t *lambda, ls_config *cfg)
{
    static const char *const keys[] = {"functionName", "qualifier",
                                       "invocationMode",
                                       "payloadTransformMode", "endpointURL",
                                       NULL};
    check_keys(pc, lambda, "lambda", keys,
               "functionName, qualifier, invocationMode, "
               "payloadTransformMode, endpointURL");

    const char *name = get_string(pc, lambda, "functionName",
                                  "lambda.functionName", 1);
    if (name && (!*name || strlen(name) > 140 || !all_chars(name, "-_"))) {
        err(pc, "lambda.functionName",
            "invalid function name \"%.40s\" (expected 1-140 letters, "
            "digits, '-' or '_')",
            name);
        name = NULL;
    }
    const char *qualifier =
        get_string(pc, lambda, "qualifier", "lambda.qualifier", 0);
    if (qualifier && strcmp(qualifier, LS_DEFAULT_QUALIFIER) != 0 &&
        (!*qualifier || strlen(qualifier) > 128 ||
         !all_chars(qualifier, "-_"))) {
        err(pc, "lambda.qualifier",
            "invalid qualifier \"%.40s\" (expected \"$LATEST\", a version "
            "number or an alias: 1-128 letters, digits, '-' or '_')",
            qualifier);
        qualifier = NULL;
    }
    cfg->qualifier =
        dup_or_fail(pc, qualifier ? qualifier : LS_DEFAULT_QUALIFIER);

    const char *mode =
        get_string(pc, lambda, "invocationMode", "lambda.invocationMode", 0);
    if (mode && strcmp(mode, "Sync") != 0 && strcmp(mode, "Async") != 0)
        err(pc, "lambda.invocationMode",
            "invalid invocation mode \"%.40s\" (expected \"Sync\" or "
            "\"Async\")",
            mode);
    cfg->async = mode && strcmp(mode, "Async") == 0;

    const char *transform = get_string(pc, lambda, "payloadTransformMode",
                                       "lambda.payloadTransformMode", 0);
    if (transform && strcmp(transform, "Envoy") != 0 &&
        strcmp(transform, "None") != 0)
        err(pc, "lambda.payloadTransformMode",
            "invalid payload transform mode \"%.40s\" (expected \"Envoy\" "
            "or \"None\")",
            transform);
    cfg->envoy_transform = !transform || strcmp(transform, "None") != 0;

    const char *endpoint =
        get_string(pc, lambda, "endpointURL", "lambda.endpointURL", 0);
    if (endpoint)
        parse_endpoint(pc, endpoint, cfg);

    if (name && cfg->qualifier) {
        gwf_strbuf p = {0};
        gwf_strbuf_appendf(&p, "/2015-03-31/functions/%s", name);
        if (strcmp(cfg->qualifier, LS_DEFAULT_QUALIFIER) != 0)
            gwf_strbuf_appendf(&p, ":%s", cfg->qualifier);
        gwf_strbuf_append(&p, "/invocations", 12);
        if (p.failed) {
            gwf_strbuf_free(&p);
            err(pc, "", "out of memory");
        }
        cfg->invoke_path = p.data;
        cfg->function_name = dup_or_fail(pc, name);
    }
}

/* The Backend fields (and GatewayExtension mode lambda). */
static void
parse_lambda_mode(parse_ctx *pc, const json_t *root, ls_config *cfg,
                  int extension)
{
    static const char *const backend_keys[] = {"accountId", "region", "auth",
                                               "lambda", NULL};
    static const char *const ext_keys[] = {"mode", "accountId", "region",
                                           "auth", "lambda", NULL};
    check_keys(pc, root, "", extension ? ext_keys : backend_keys,
               extension ? "mode, accountId, region, auth, lambda"
                         : "accountId, region, auth, lambda");
    const char *account = get_string(pc, root, "accountId", "accountId", 1);
    if (account && (strlen(account) != 12 || !all_chars(account, "") ||
                    strspn(account, "0123456789") != 12))
        err(pc, "accountId",
            "invalid account id \"%.40s\" (expected 12 digits)", account);
    parse_region(pc, root, cfg);
    cfg->service = dup_or_fail(pc, "lambda");
    cfg->normalize_path = 1;
    cfg->token_signed = 1;
    const json_t *lambda = get_object(pc, root, "lambda", "lambda", 1);
    if (lambda)
        parse_lambda(pc, lambda, cfg);
    if (!cfg->host && cfg->region) {
        gwf_strbuf h = {0};
        gwf_strbuf_appendf(&h, "lambda.%s.amazonaws.com", cfg->region);
        cfg->host = h.data;
        if (h.failed) {
            gwf_strbuf_free(&h);
            cfg->host = NULL;
            err(pc, "", "out of memory");
        }
    }
}

static void
parse_excluded(parse_ctx *pc, const json_t *root, ls_config *cfg)
{
    json_t *list = json_object_get(root, "excludedHeaders");
    if (!list || json_is_null(list))
        return;
    if (!json_is_array(list)) {
        err(pc, "excludedHeaders", "expected a list of header names, got %s",
            gwf_json_kind(list));
        return;
    }
    if (json_array_size(list) > LS_MAX_EXCLUDED) {
        err(pc, "excludedHeaders", "at most %d header names, got %zu",
            LS_MAX_EXCLUDED, json_array_size(list));
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        char field[64];
        snprintf(field, sizeof field, "excludedHeaders[%zu]", i);
        if (!json_is_string(v)) {
            err(pc, field, "expected a header name, got %s", gwf_json_kind(v));
            continue;
        }
        const char *name = json_string_value(v);
        if (!gwf_is_header_name(name, strlen(name))) {
            err(pc, field,
                "invalid header name \"%.40s\" (expected an HTTP field "
                "name)",
                name);
            continue;
        }
        char *lower = strdup(name);
        if (!lower) {
            err(pc, "", "out of memory");
            return;
        }
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        cfg->excluded[cfg->excluded_count++] = lower;
    }
}

static void
parse_sign_mode(parse_ctx *pc, const json_t *root, ls_config *cfg)
{
    static const char *const keys[] = {
        "mode",           "service",          "region",
        "hostRewrite",    "excludedHeaders",  "unsignedPayload",
        "normalizePath",  "contentSha256Header", "signSessionToken",
        "auth",           NULL};
    check_keys(pc, root, "", keys,
               "mode, service, region, hostRewrite, excludedHeaders, "
               "unsignedPayload, normalizePath, contentSha256Header, "
               "signSessionToken, auth");
    const char *service = get_string(pc, root, "service", "service", 1);
    if (service && (!*service || strlen(service) >= 64 ||
                    !all_chars(service, "-_."))) {
        err(pc, "service",
            "invalid service \"%.40s\" (expected an AWS signing name such "
            "as \"s3\", \"execute-api\", \"es\": letters, digits, '-', "
            "'_', '.', at most 63)",
            service);
        service = NULL;
    }
    cfg->service = dup_or_fail(pc, service);
    parse_region(pc, root, cfg);
    const char *rewrite =
        get_string(pc, root, "hostRewrite", "hostRewrite", 0);
    if (rewrite) {
        size_t len = strlen(rewrite);
        int ok = len > 0 && len < 256;
        for (size_t i = 0; ok && i < len; i++)
            ok = isalnum((unsigned char)rewrite[i]) ||
                 strchr("-.:[]_", rewrite[i]);
        if (!ok)
            err(pc, "hostRewrite",
                "invalid host \"%.40s\" (expected host or host:port)",
                rewrite);
        else
            cfg->host = dup_or_fail(pc, rewrite);
    }
    parse_excluded(pc, root, cfg);
    int s3 = service && strcmp(service, "s3") == 0;
    cfg->unsigned_payload =
        get_bool(pc, root, "unsignedPayload", "unsignedPayload", 0);
    cfg->normalize_path =
        get_bool(pc, root, "normalizePath", "normalizePath", !s3);
    /* As botocore: S3SigV4Auth always sends the hash it signs, SigV4Auth
     * sends UNSIGNED-PAYLOAD whenever it signs that (else the service
     * hashes the body and the signature does not match). */
    cfg->content_sha256_header =
        get_bool(pc, root, "contentSha256Header", "contentSha256Header",
                 s3 || cfg->unsigned_payload);
    cfg->token_signed =
        get_bool(pc, root, "signSessionToken", "signSessionToken", 1);
}

gwf_status
ls_config_parse(gwf_instance *inst, gwf_view kind, gwf_view json,
                ls_config **out)
{
    parse_ctx pc = {inst, 0};
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json.ptr, json.len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        err(&pc, "", "the config must be a JSON object");
        json_decref(root);
        return GWF_ERR_BAD_ARGUMENT;
    }
    ls_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        json_decref(root);
        return GWF_ERR_NO_MEMORY;
    }
    cfg->instance = inst;

    int extension = !gwf_view_eq(kind, "Backend");
    cfg->mode = LS_MODE_LAMBDA;
    if (extension) {
        const char *mode = get_string(&pc, root, "mode", "mode", 1);
        if (mode && strcmp(mode, "sign") == 0)
            cfg->mode = LS_MODE_SIGN;
        else if (mode && strcmp(mode, "lambda") != 0)
            err(&pc, "mode",
                "invalid mode \"%.40s\" (expected \"sign\" or \"lambda\")",
                mode);
        if (!mode)
            goto done;
    }
    if (cfg->mode == LS_MODE_SIGN)
        parse_sign_mode(&pc, root, cfg);
    else
        parse_lambda_mode(&pc, root, cfg, extension);

    const json_t *auth = get_object(&pc, root, "auth", "auth", 0);
    if (!pc.bad && ls_credentials_resolve(inst, auth, "auth", cfg) != GWF_OK)
        pc.bad = 1;
done:
    json_decref(root);
    if (pc.bad) {
        ls_config_free(cfg);
        return GWF_ERR_BAD_ARGUMENT;
    }
    *out = cfg;
    return GWF_OK;
}

static void
free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void
ls_config_free(ls_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->region);
    free(cfg->service);
    free(cfg->host);
    free(cfg->function_name);
    free(cfg->qualifier);
    free(cfg->invoke_path);
    for (size_t i = 0; i < cfg->excluded_count; i++)
        free(cfg->excluded[i]);
    free_secret(cfg->access_key);
    free_secret(cfg->secret_key);
    free_secret(cfg->session_token);
    free(cfg);
}
