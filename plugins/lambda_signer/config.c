/*
 * config.c - parse and validate the lambda_signer config.
 *
 * Two shapes reach config_create:
 *   - kind "Backend": kgateway's Backend.spec.aws, as is:
 *     {accountId (deprecated), region,
 *      auth{type, secretRef{name, namespace}, assumeRole{roleArn}},
 *      lambda{accountId, functionName, qualifier, invocationMode,
 *             payloadTransformMode, endpointURL}}, and `ec2` refused
 *     by name;
 *   - kind "GatewayExtension": spec.plugin.config, which adds `mode`
 *     ("lambda": the Backend fields above; "sign": sign any request for
 *     any AWS service, with service, region, hostRewrite,
 *     excludedHeaders, unsignedPayload, normalizePath,
 *     contentSha256Header, signSessionToken, auth).
 *
 * Read through gwf/sdk_config.h: the SDK checks the shapes (unknown
 * fields, types, enums, list bounds) in the words every plugin uses; the
 * AWS rules (account ids, regions, function names, endpoints) are checked
 * here and reported through the same gwf_cfg. Every problem is reported
 * (not only the first), each under its own dotted path. Values are
 * quoted (cut to 40 bytes) except credentials, which never appear in a
 * message.
 */
#include "lambda_signer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
all_chars(const char *s, const char *extra)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
            return 0;
    return 1;
}

static char *
dup_or_fail(gwf_cfg *c, const char *field, const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        gwf_cfg_no_memory(c, field);
    return d;
}

/* region: lower-case letters, digits and '-', like "eu-west-3". */
static void
parse_region(gwf_cfg *c, const json_t *obj, ls_config *cfg)
{
    const char *region = NULL;
    if (gwf_cfg_string(c, "", obj, "region", 0, &region) != GWF_OK)
        return;
    if (!region) {
        cfg->region = dup_or_fail(c, "region", LS_DEFAULT_REGION);
        return;
    }
    int ok = *region && strlen(region) < 64;
    for (const char *p = region; ok && *p; p++)
        ok = islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
             *p == '-';
    if (!ok) {
        gwf_cfg_fail(c, "region",
                     "invalid region \"%.40s\" (expected an AWS region such "
                     "as \"us-east-1\": lower-case letters, digits and '-', "
                     "at most 63)",
                     region);
        return;
    }
    cfg->region = dup_or_fail(c, "region", region);
}

/* endpointURL: "https://host[:port][/path]" (http:// too, for tests and
 * local stand-ins), as kgateway's pattern allows. The host (and port)
 * become what is signed and sent as Host; a path is a prefix the Invoke
 * path is appended to (a trailing '/' dropped), as Envoy's aws_lambda
 * cluster does with a path in the endpoint. A query or fragment has no
 * place in an endpoint: refused. */
static void
parse_endpoint(gwf_cfg *c, const char *url, ls_config *cfg)
{
    const char *host = NULL;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    size_t len = host ? strcspn(host, "/") : 0;
    int ok = host && len > 0 && len < 256 && strlen(url) <= 2048;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)host[i]) || strchr("-.:[]_", host[i]);
    const char *path = ok ? host + len : "";
    size_t path_len = strlen(path);
    while (path_len > 0 && path[path_len - 1] == '/')
        path_len--;
    for (size_t i = 0; ok && i < path_len; i++)
        ok = isalnum((unsigned char)path[i]) || strchr("-._~/%@:+=", path[i]);
    if (!ok) {
        gwf_cfg_fail(c, "lambda.endpointURL",
                     "invalid endpoint URL \"%.40s\" (expected "
                     "\"https://host[:port][/path]\", no query or fragment)",
                     url);
        return;
    }
    cfg->host = strndup(host, len);
    cfg->endpoint_path = strndup(path, path_len);
    if (!cfg->host || !cfg->endpoint_path)
        gwf_cfg_no_memory(c, "lambda.endpointURL");
}

/* A 12-digit account id at `field` (kgateway's pattern ^[0-9]{12}$);
 * NULL when absent or invalid (reported). */
static const char *
account_id(gwf_cfg *c, const char *path, const json_t *obj, const char *field)
{
    const char *account = NULL;
    gwf_cfg_string(c, path, obj, "accountId", 0, &account);
    if (account &&
        (strlen(account) != 12 || strspn(account, "0123456789") != 12)) {
        gwf_cfg_fail(c, field,
                     "invalid account id \"%.40s\" (expected 12 digits)",
                     account);
        return NULL;
    }
    return account;
}

static void
parse_lambda(gwf_cfg *c, const json_t *lambda, ls_config *cfg)
{
    static const char *const keys[] = {"accountId",
                                       "functionName",
                                       "qualifier",
                                       "invocationMode",
                                       "payloadTransformMode",
                                       "endpointURL",
                                       NULL};
    static const char *const invocation_modes[] = {"Sync", "Async", NULL};
    static const char *const transform_modes[] = {"Envoy", "None", NULL};
    gwf_cfg_known(c, "lambda", lambda, keys);

    const char *name = NULL;
    gwf_cfg_string(c, "lambda", lambda, "functionName", GWF_CFG_REQUIRED,
                   &name);
    if (name && (!*name || strlen(name) > 140 || !all_chars(name, "-_"))) {
        gwf_cfg_fail(c, "lambda.functionName",
                     "invalid function name \"%.40s\" (expected 1-140 "
                     "letters, digits, '-' or '_')",
                     name);
        name = NULL;
    }
    const char *qualifier = NULL;
    gwf_cfg_string(c, "lambda", lambda, "qualifier", 0, &qualifier);
    if (qualifier && strcmp(qualifier, LS_DEFAULT_QUALIFIER) != 0 &&
        (!*qualifier || strlen(qualifier) > 128 ||
         !all_chars(qualifier, "-_"))) {
        gwf_cfg_fail(c, "lambda.qualifier",
                     "invalid qualifier \"%.40s\" (expected \"$LATEST\", a "
                     "version number or an alias: 1-128 letters, digits, "
                     "'-' or '_')",
                     qualifier);
        qualifier = NULL;
    }
    cfg->qualifier = dup_or_fail(c, "lambda.qualifier",
                                 qualifier ? qualifier : LS_DEFAULT_QUALIFIER);

    int invocation = 0; /* Sync */
    gwf_cfg_enum(c, "lambda", lambda, "invocationMode", 0, invocation_modes,
                 &invocation);
    cfg->async = invocation == 1;

    int transform = 0; /* Envoy */
    gwf_cfg_enum(c, "lambda", lambda, "payloadTransformMode", 0,
                 transform_modes, &transform);
    cfg->envoy_transform = transform == 0;

    const char *endpoint = NULL;
    gwf_cfg_string(c, "lambda", lambda, "endpointURL", 0, &endpoint);
    if (endpoint)
        parse_endpoint(c, endpoint, cfg);

    if (name && cfg->qualifier) {
        gwf_strbuf p = {0};
        gwf_strbuf_appendf(&p, "%s/2015-03-31/functions/%s",
                           cfg->endpoint_path ? cfg->endpoint_path : "", name);
        if (strcmp(cfg->qualifier, LS_DEFAULT_QUALIFIER) != 0)
            gwf_strbuf_appendf(&p, ":%s", cfg->qualifier);
        gwf_strbuf_append(&p, "/invocations", 12);
        if (p.failed) {
            gwf_strbuf_free(&p);
            gwf_cfg_no_memory(c, "lambda.functionName");
        }
        cfg->invoke_path = p.data;
        cfg->function_name = dup_or_fail(c, "lambda.functionName", name);
    }
}

/* The Backend fields (and GatewayExtension mode lambda). The account id
 * is kgateway's: lambda.accountId (preferred) or the deprecated
 * aws.accountId, one of them required; when both are set,
 * lambda.accountId takes precedence (kgateway's rule), and a different
 * deprecated value is logged. gwf signs no account id (the Invoke path
 * names the function, as Envoy's does): it is checked, and logged. */
static void
parse_lambda_mode(gwf_cfg *c, const json_t *root, ls_config *cfg, int extension)
{
    static const char *const backend_keys[] = {"accountId", "region", "auth",
                                               "lambda",    "ec2",    NULL};
    static const char *const ext_keys[] = {"mode", "accountId", "region",
                                           "auth", "lambda",    NULL};
    gwf_cfg_known(c, "", root, extension ? ext_keys : backend_keys);
    if (json_object_get(root, "ec2")) {
        gwf_cfg_fail(c, "ec2",
                     "EC2 instance discovery (aws.ec2) is not supported by "
                     "gwf (expected aws.lambda)");
        return;
    }
    const char *deprecated = account_id(c, "", root, "accountId");
    const json_t *lambda_obj = json_object_get(root, "lambda");
    const char *preferred =
        json_is_object(lambda_obj)
            ? account_id(c, "lambda", lambda_obj, "lambda.accountId")
            : NULL;
    if (deprecated)
        gwf_logf(c->inst, GWF_LOG_INFO,
                 "accountId: deprecated in kgateway, set lambda.accountId "
                 "instead%s",
                 preferred && strcmp(preferred, deprecated) != 0
                     ? " (lambda.accountId differs and takes precedence)"
                     : "");
    if (!deprecated && !preferred && !json_object_get(root, "accountId") &&
        !(json_is_object(lambda_obj) &&
          json_object_get(lambda_obj, "accountId")))
        gwf_cfg_fail(c, "lambda.accountId",
                     "missing (accountId must be specified on aws or "
                     "aws.lambda for lambda backends)");
    const char *account = preferred ? preferred : deprecated;
    if (account) {
        memcpy(cfg->account_id, account, 12);
        cfg->account_id[12] = '\0';
    }
    parse_region(c, root, cfg);
    cfg->service = dup_or_fail(c, "", "lambda");
    cfg->normalize_path = 1;
    cfg->token_signed = 1;
    const json_t *lambda = NULL;
    gwf_cfg_object(c, "", root, "lambda", GWF_CFG_REQUIRED, &lambda);
    if (lambda)
        parse_lambda(c, lambda, cfg);
    if (!cfg->host && cfg->region) {
        gwf_strbuf h = {0};
        gwf_strbuf_appendf(&h, "lambda.%s.amazonaws.com", cfg->region);
        cfg->host = h.data;
        if (h.failed) {
            gwf_strbuf_free(&h);
            cfg->host = NULL;
            gwf_cfg_no_memory(c, "region");
        }
    }
}

static void
parse_excluded(gwf_cfg *c, const json_t *root, ls_config *cfg)
{
    const char **names = NULL;
    size_t count = 0;
    if (gwf_cfg_string_list(c, "", root, "excludedHeaders", 0, 0,
                            LS_MAX_EXCLUDED, &names, &count) != GWF_OK ||
        !names)
        return;
    for (size_t i = 0; i < count; i++) {
        char field[GWF_CFG_PATH_MAX];
        gwf_cfg_item(field, "excludedHeaders", i);
        if (!gwf_is_header_name(names[i], strlen(names[i]))) {
            gwf_cfg_fail(c, field,
                         "invalid header name \"%.40s\" (expected an HTTP "
                         "field name)",
                         names[i]);
            continue;
        }
        char *lower = strdup(names[i]);
        if (!lower) {
            gwf_cfg_no_memory(c, field);
            break;
        }
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        cfg->excluded[cfg->excluded_count++] = lower;
    }
    free(names);
}

static void
parse_sign_mode(gwf_cfg *c, const json_t *root, ls_config *cfg)
{
    static const char *const keys[] = {"mode",
                                       "service",
                                       "region",
                                       "hostRewrite",
                                       "excludedHeaders",
                                       "unsignedPayload",
                                       "normalizePath",
                                       "contentSha256Header",
                                       "signSessionToken",
                                       "auth",
                                       NULL};
    gwf_cfg_known(c, "", root, keys);
    const char *service = NULL;
    gwf_cfg_string(c, "", root, "service", GWF_CFG_REQUIRED, &service);
    if (service &&
        (!*service || strlen(service) >= 64 || !all_chars(service, "-_."))) {
        gwf_cfg_fail(c, "service",
                     "invalid service \"%.40s\" (expected an AWS signing "
                     "name such as \"s3\", \"execute-api\", \"es\": letters, "
                     "digits, '-', '_', '.', at most 63)",
                     service);
        service = NULL;
    }
    cfg->service = dup_or_fail(c, "service", service);
    parse_region(c, root, cfg);
    const char *rewrite = NULL;
    gwf_cfg_string(c, "", root, "hostRewrite", 0, &rewrite);
    if (rewrite) {
        size_t len = strlen(rewrite);
        int ok = len > 0 && len < 256;
        for (size_t i = 0; ok && i < len; i++)
            ok = isalnum((unsigned char)rewrite[i]) ||
                 strchr("-.:[]_", rewrite[i]);
        if (!ok)
            gwf_cfg_fail(c, "hostRewrite",
                         "invalid host \"%.40s\" (expected host or "
                         "host:port)",
                         rewrite);
        else
            cfg->host = dup_or_fail(c, "hostRewrite", rewrite);
    }
    parse_excluded(c, root, cfg);
    int s3 = service && strcmp(service, "s3") == 0;
    cfg->unsigned_payload = 0;
    gwf_cfg_bool(c, "", root, "unsignedPayload", 0, &cfg->unsigned_payload);
    cfg->normalize_path = !s3;
    gwf_cfg_bool(c, "", root, "normalizePath", 0, &cfg->normalize_path);
    /* As botocore: S3SigV4Auth always sends the hash it signs, SigV4Auth
     * sends UNSIGNED-PAYLOAD whenever it signs that (else the service
     * hashes the body and the signature does not match). */
    cfg->content_sha256_header = s3 || cfg->unsigned_payload;
    gwf_cfg_bool(c, "", root, "contentSha256Header", 0,
                 &cfg->content_sha256_header);
    cfg->token_signed = 1;
    gwf_cfg_bool(c, "", root, "signSessionToken", 0, &cfg->token_signed);
}

gwf_status
ls_config_parse(gwf_cfg *c, gwf_view kind, gwf_view json, ls_config **out)
{
    static const char *const modes[] = {"lambda", "sign", NULL};
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json.ptr, json.len, 0, &jerr);
    if (!root)
        return gwf_cfg_fail(c, "", "invalid JSON: %s", jerr.text);
    if (gwf_cfg_check_object(c, "", root, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK) {
        json_decref(root);
        return gwf_cfg_status(c);
    }
    ls_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        json_decref(root);
        return gwf_cfg_no_memory(c, "");
    }
    cfg->instance = c->inst;

    int extension = !gwf_view_eq(kind, "Backend");
    cfg->mode = LS_MODE_LAMBDA;
    if (extension) {
        /* modes[] is in LS_MODE_* order. A mode that is no string at all
         * leaves nothing to check the rest against; an unknown one is
         * checked as lambda. */
        int mode = -1;
        gwf_cfg_enum(c, "", root, "mode", GWF_CFG_REQUIRED, modes, &mode);
        if (mode == LS_MODE_SIGN)
            cfg->mode = LS_MODE_SIGN;
        else if (mode < 0 && !json_is_string(json_object_get(root, "mode")))
            goto done;
    }
    if (cfg->mode == LS_MODE_SIGN)
        parse_sign_mode(c, root, cfg);
    else
        parse_lambda_mode(c, root, cfg, extension);

    const json_t *auth = NULL;
    gwf_cfg_object(c, "", root, "auth", 0, &auth);
    if (gwf_cfg_status(c) == GWF_OK)
        ls_credentials_resolve(c, auth, "auth", cfg);
done:
    json_decref(root);
    if (gwf_cfg_status(c) != GWF_OK) {
        ls_config_free(cfg);
        return gwf_cfg_status(c);
    }
    *out = cfg;
    return GWF_OK;
}

/* Credentials hold no NUL byte (gwf_cfg_secret_ref, getenv, the file's
 * lines): strlen is their length. */
static void
free_credential(char *s)
{
    if (s)
        gwf_secret_free(s, strlen(s));
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
    free(cfg->endpoint_path);
    ls_source_free(&cfg->base);
    free(cfg->role_arn);
    free(cfg->sts_url);
    free(cfg->sts_host);
    for (size_t i = 0; i < cfg->excluded_count; i++)
        free(cfg->excluded[i]);
    free_credential(cfg->access_key);
    free_credential(cfg->secret_key);
    free_credential(cfg->session_token);
    free(cfg);
}
