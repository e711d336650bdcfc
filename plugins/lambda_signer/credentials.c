/*
 * credentials.c - find the AWS credentials a config signs with.
 *
 * `auth.type: Secret`: a Secret document, read with gwf_cfg_secret_ref
 * (stringData, else data in base64, as Kubernetes merges them), holding
 * accessKey, secretKey and, optionally, sessionToken (an empty one means
 * none).
 *
 * No `auth`: the AWS default chain, in the order the AWS SDKs walk it,
 * the first source that is configured wins:
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      optional AWS_SESSION_TOKEN;
 *   2. the shared files: the credentials file (AWS_SHARED_CREDENTIALS_FILE,
 *      else $HOME/.aws/credentials), then the config file
 *      (AWS_CONFIG_FILE, else $HOME/.aws/config, section
 *      "[profile NAME]" or "[default]"), profile AWS_PROFILE or
 *      "default";
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (STS
 *      AssumeRoleWithWebIdentity, AWS_ROLE_SESSION_NAME);
 *   4. the container endpoint: AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS
 *      Pod Identity, with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN) or
 *      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS, on 169.254.170.2);
 *   5. IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT, else
 *      http://169.254.169.254), unless AWS_EC2_METADATA_DISABLED=true.
 * Sources 1 and 2 are read here, once; 3 to 5 are fetched on the workers
 * (provider.c) and refreshed before they expire.
 *
 * `auth.type: AssumeRole`: the default chain gives the base credentials,
 * and STS AssumeRole of assumeRole.roleArn, signed with them, gives the
 * ones that sign (provider.c).
 *
 * STS is at AWS_ENDPOINT_URL_STS (else AWS_ENDPOINT_URL, else
 * https://sts.REGION.amazonaws.com), as the SDKs' endpoint overrides.
 *
 * This runs at config time, on the main thread (the nginx master: its
 * `env` directive must pass these variables through), so reading a file
 * here blocks no worker; files are read with gwf_file_read, so a FIFO or
 * a device named there is refused instead of blocking the master. No
 * message here ever contains a credential, only the names of keys,
 * variables, files and profiles. Every credential is wiped when freed
 * (gwf_secret_free), wherever it came from.
 */
#include "lambda_signer.h"

#include <ctype.h>
#include <errno.h>
#include <gwf/sdk_file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A credential must be printable ASCII without spaces: it goes into
 * header values and HMAC input as is. */
static int
credential_ok(const char *s, size_t len)
{
    if (len == 0 || len > 4096)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return 0;
    return 1;
}

static void
wipe(char **s)
{
    if (*s) {
        gwf_secret_free(*s, strlen(*s));
        *s = NULL;
    }
}

/* 1 when the Secret that `ref` ({name, namespace?}) names has an empty
 * sessionToken (stringData wins over data, as Kubernetes merges them; an
 * empty data value is empty in base64 too): that means no token. The
 * SDK's reader takes an empty value for a mistake, so this looks first.
 * Anything else (no such Secret, no such key) is left to the SDK, which
 * words it. */
static int
secret_token_is_empty(gwf_cfg *c, const json_t *ref)
{
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *ns = json_string_value(json_object_get(ref, "namespace"));
    char full[GWF_CFG_PATH_MAX];
    gwf_view text;
    if (!name)
        return 0;
    int n = ns ? snprintf(full, sizeof full, "%s/%s", ns, name)
               : snprintf(full, sizeof full, "%s", name);
    if (n < 0 || (size_t)n >= sizeof full ||
        c->inst->host->lookup_document(c->inst, "Secret", full, &text) !=
            GWF_OK)
        return 0;
    json_t *doc = json_loadb(text.ptr, text.len, 0, NULL);
    if (!doc)
        return 0;
    const json_t *v =
        json_object_get(json_object_get(doc, "stringData"), "sessionToken");
    if (!v || json_is_null(v))
        v = json_object_get(json_object_get(doc, "data"), "sessionToken");
    int empty = json_is_string(v) && json_string_length(v) == 0;
    json_decref(doc);
    return empty;
}

/* auth: {type?: Secret, secretRef: {name, namespace?}}: accessKey and
 * secretKey, and sessionToken when the Secret has one. */
static gwf_status
from_secret(gwf_cfg *c, const json_t *auth, const char *field, ls_config *cfg)
{
    static const char *const keys[] = {"accessKey", "secretKey",
                                       "sessionToken"};
    char **slots[] = {&cfg->access_key, &cfg->secret_key, &cfg->session_token};
    char ref_field[GWF_CFG_PATH_MAX];

    gwf_cfg_member(ref_field, field, "secretRef");
    int no_token = secret_token_is_empty(c, json_object_get(auth, "secretRef"));
    for (size_t i = 0; i < (no_token ? 2u : 3u); i++) {
        size_t len = 0;
        /* Stop at the first mistake: the next key would report the same
         * missing Secret again. sessionToken may be left out. */
        gwf_status st =
            i < 2
                ? gwf_cfg_secret_ref(c, field, auth, "secretRef",
                                     GWF_CFG_REQUIRED, keys[i], slots[i], &len)
                : gwf_cfg_secret_optional_key(c, field, auth, "secretRef",
                                              GWF_CFG_REQUIRED, keys[i],
                                              slots[i], &len);
        if (st != GWF_OK)
            return st;
        if (*slots[i] && !credential_ok(*slots[i], len))
            return gwf_cfg_fail(c, ref_field,
                                "the Secret's %s must be printable "
                                "characters without spaces (at most 4096)",
                                keys[i]);
    }
    cfg->credential_source = "Secret";
    return GWF_OK;
}

/* 1 when found, 0 when none, -1 when set but invalid (reported). */
static int
from_environment(gwf_cfg *c, const char *field, ls_config *cfg)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if ((!id || !*id) && (!secret || !*secret))
        return 0;
    if (!id || !*id || !secret || !*secret) {
        gwf_cfg_fail(c, field,
                     "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                     "is set in the environment (expected both, or "
                     "auth.secretRef)");
        return -1;
    }
    if (!credential_ok(id, strlen(id)) ||
        !credential_ok(secret, strlen(secret)) ||
        (token && *token && !credential_ok(token, strlen(token)))) {
        gwf_cfg_fail(c, field,
                     "the AWS_* credentials in the environment must be "
                     "printable characters without spaces");
        return -1;
    }
    cfg->access_key = strdup(id);
    cfg->secret_key = strdup(secret);
    if (token && *token)
        cfg->session_token = strdup(token);
    if (!cfg->access_key || !cfg->secret_key ||
        (token && *token && !cfg->session_token)) {
        gwf_cfg_no_memory(c, field);
        return -1;
    }
    cfg->credential_source = "environment";
    return 1;
}

static char *
trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* A credentials file is a few profiles of three short lines. */
#define LS_CREDENTIALS_FILE_MAX (1024 * 1024)

static const char *
env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The static keys of `profile` in the shared file `path` (the config
 * file names its sections "profile NAME", except "default"). 1 when the
 * profile has both keys, 0 when there is no file or no such profile, -1
 * when invalid (reported). `named`: the path came from `variable`, so
 * the file must be there. */
static int
profile_keys(gwf_cfg *c, const char *field, const char *path,
             const char *variable, int config_file, const char *profile,
             ls_config *cfg)
{
    size_t len = 0;
    char why[1200];
    char *data =
        gwf_file_read(path, LS_CREDENTIALS_FILE_MAX, &len, why, sizeof why);
    if (!data) {
        /* The default file may well not be there (or be unreadable to
         * us): that is "no file". A file named by the variable must be
         * read; and one that is not a regular file or is too large is an
         * error wherever it is, never read (a FIFO would block the
         * master, gwf/sdk_file.h). */
        if (variable || errno == EINVAL || errno == EFBIG || errno == ENOMEM) {
            char msg[1400];
            snprintf(msg, sizeof msg, "cannot read the %s file%s%s: %s",
                     config_file ? "config" : "credentials",
                     variable ? " named by " : "", variable ? variable : "",
                     why);
            gwf_cfg_fail(c, field, "%s", msg);
            return -1;
        }
        return 0;
    }
    char section[256];
    if (config_file && strcmp(profile, "default") != 0)
        snprintf(section, sizeof section, "profile %s", profile);
    else
        snprintf(section, sizeof section, "%s", profile);
    int in_profile = 0, found = 0;
    char *id = NULL, *secret = NULL, *token = NULL;
    for (char *next = data; next < data + len;) {
        char *nl = memchr(next, '\n', (size_t)(data + len - next));
        char *l = next;
        if (nl)
            *nl = '\0';
        next = nl ? nl + 1 : data + len;
        l = trim(l);
        if (*l == '#' || *l == ';' || *l == '\0')
            continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (end) {
                *end = '\0';
                in_profile = strcmp(trim(l + 1), section) == 0;
                found |= in_profile;
            }
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in_profile || !eq)
            continue;
        *eq = '\0';
        char *key = trim(l), *value = trim(eq + 1);
        char **slot = strcmp(key, "aws_access_key_id") == 0       ? &id
                      : strcmp(key, "aws_secret_access_key") == 0 ? &secret
                      : strcmp(key, "aws_session_token") == 0     ? &token
                                                                  : NULL;
        if (slot) {
            wipe(slot);
            *slot = strdup(value);
        }
    }
    gwf_secret_free(data, len);
    char msg[1400];
    if (!found || (!id && !secret && config_file)) {
        /* Not here (or a config-file profile with other settings only):
         * the caller looks further. */
        wipe(&id);
        wipe(&secret);
        wipe(&token);
        return 0;
    }
    if (!id || !secret) {
        snprintf(msg, sizeof msg,
                 "incomplete profile %.200s in the %s file %.1024s (expected "
                 "aws_access_key_id and aws_secret_access_key)",
                 profile, config_file ? "config" : "credentials", path);
        goto bad;
    }
    if (token && !*token)
        wipe(&token); /* an empty token is none */
    if (!credential_ok(id, strlen(id)) ||
        !credential_ok(secret, strlen(secret)) ||
        (token && !credential_ok(token, strlen(token)))) {
        snprintf(msg, sizeof msg,
                 "profile %.200s in the %s file %.1024s: "
                 "credentials must be printable characters without spaces",
                 profile, config_file ? "config" : "credentials", path);
        goto bad;
    }
    cfg->access_key = id;
    cfg->secret_key = secret;
    cfg->session_token = token;
    cfg->credential_source = "file";
    return 1;
bad:
    wipe(&id);
    wipe(&secret);
    wipe(&token);
    gwf_cfg_fail(c, field, "%s", msg);
    return -1;
}

/* The shared files: credentials, then config. 1 found, 0 none, -1
 * invalid (reported). A profile named by AWS_PROFILE that neither file
 * has is an error (the SDKs' ProfileNotFound); a missing "default" only
 * means the chain goes on. */
static int
from_files(gwf_cfg *c, const char *field, ls_config *cfg)
{
    const char *home = env("HOME");
    const char *profile = env("AWS_PROFILE");
    char path[1024];
    int r = 0;
    const char *cred_file = env("AWS_SHARED_CREDENTIALS_FILE");
    const char *config_file = env("AWS_CONFIG_FILE");
    if (cred_file || home) {
        if (cred_file)
            snprintf(path, sizeof path, "%s", cred_file);
        else
            snprintf(path, sizeof path, "%s/.aws/credentials", home);
        r = profile_keys(c, field, path,
                         cred_file ? "AWS_SHARED_CREDENTIALS_FILE" : NULL, 0,
                         profile ? profile : "default", cfg);
        if (r != 0)
            return r;
    }
    if (config_file || home) {
        if (config_file)
            snprintf(path, sizeof path, "%s", config_file);
        else
            snprintf(path, sizeof path, "%s/.aws/config", home);
        r = profile_keys(c, field, path, config_file ? "AWS_CONFIG_FILE" : NULL,
                         1, profile ? profile : "default", cfg);
        if (r != 0)
            return r;
    }
    if (profile && (cred_file || home)) {
        if (cred_file)
            snprintf(path, sizeof path, "%s", cred_file);
        else
            snprintf(path, sizeof path, "%s/.aws/credentials", home);
        gwf_cfg_fail(c, field,
                     "no profile %.200s in the credentials file %.1024s nor "
                     "in the config file (AWS_PROFILE names it)",
                     profile, path);
        return -1;
    }
    return 0;
}

static char *
dup_env(gwf_cfg *c, const char *field, const char *value)
{
    char *d = value ? strdup(value) : NULL;
    if (value && !d)
        gwf_cfg_no_memory(c, field);
    return d;
}

/* An http(s) URL with a host and no blank or control byte. */
static int
url_ok(const char *url)
{
    const char *host = strncmp(url, "https://", 8) == 0  ? url + 8
                       : strncmp(url, "http://", 7) == 0 ? url + 7
                                                         : NULL;
    if (!host || !*host || *host == '/' || strlen(url) > 2048)
        return 0;
    for (const char *p = url; *p; p++)
        if (*p <= ' ' || *p > '~')
            return 0;
    return 1;
}

/* A full container-credentials URI over plain http must stay on this
 * machine or on the container agents' link-local addresses (ECS
 * 169.254.170.2, EKS Pod Identity 169.254.170.23 and fd00:ec2::23), as
 * the AWS SDKs require: the Authorization token must not cross a
 * network in the clear. https may go anywhere. */
static int
container_url_allowed(const char *url)
{
    if (strncmp(url, "https://", 8) == 0)
        return 1;
    const char *host = url + 7;
    size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/");
    static const char *const allowed[] = {"localhost",      "[::1]",
                                          "169.254.170.2",  "169.254.170.23",
                                          "[fd00:ec2::23]", NULL};
    for (size_t i = 0; allowed[i]; i++)
        if (n == strlen(allowed[i]) && strncmp(host, allowed[i], n) == 0)
            return 1;
    return strncmp(host, "127.", 4) == 0 && n <= 15;
}

/* Where STS is: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, else the
 * regional endpoint. `*url` and `*host` (what is signed as Host)
 * malloc'd; -1 reported. */
static int
sts_endpoint(gwf_cfg *c, const char *field, const ls_config *cfg, char **url,
             char **host)
{
    const char *var = env("AWS_ENDPOINT_URL_STS") ? "AWS_ENDPOINT_URL_STS"
                      : env("AWS_ENDPOINT_URL")   ? "AWS_ENDPOINT_URL"
                                                  : NULL;
    gwf_strbuf b = {0};
    if (var) {
        const char *v = env(var);
        if (!url_ok(v)) {
            gwf_cfg_fail(c, field,
                         "%s is not an http(s) URL with a host "
                         "(the STS endpoint)",
                         var);
            return -1;
        }
        size_t n = strlen(v);
        while (n > 0 && v[n - 1] == '/')
            n--;
        gwf_strbuf_append(&b, v, n);
    } else {
        gwf_strbuf_appendf(&b, "https://sts.%s.amazonaws.com",
                           cfg->region ? cfg->region : LS_DEFAULT_REGION);
    }
    if (b.failed) {
        gwf_strbuf_free(&b);
        gwf_cfg_no_memory(c, field);
        return -1;
    }
    const char *h = strstr(b.data, "://") + 3;
    *url = b.data;
    *host = strndup(h, strcspn(h, "/"));
    if (!*host) {
        gwf_cfg_no_memory(c, field);
        return -1;
    }
    return 0;
}

/* Web identity, container or IMDS: 1 chosen, 0 none applies, -1
 * invalid (reported). */
static int
from_providers(gwf_cfg *c, const char *field, ls_config *cfg)
{
    ls_source *src = &cfg->base;
    const char *token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role = env("AWS_ROLE_ARN");
    if (token_file && role) {
        src->kind = LS_SOURCE_WEB_IDENTITY;
        src->name = "web identity";
        src->token_file = dup_env(c, field, token_file);
        src->role_arn = dup_env(c, field, role);
        src->session_name =
            dup_env(c, field,
                    env("AWS_ROLE_SESSION_NAME") ? env("AWS_ROLE_SESSION_NAME")
                                                 : "gwf-lambda_signer");
        if (sts_endpoint(c, field, cfg, &src->url, &src->host) != 0)
            return -1;
        return gwf_cfg_status(c) == GWF_OK ? 1 : -1;
    }
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    if (full || relative) {
        src->kind = LS_SOURCE_CONTAINER;
        src->name = "container endpoint";
        gwf_strbuf b = {0};
        if (relative) {
            /* ECS: always 169.254.170.2 (GWF_AWS_ECS_ENDPOINT is the
             * tests' stand-in). Relative takes precedence, as in the
             * SDKs. */
            const char *base = env("GWF_AWS_ECS_ENDPOINT");
            gwf_strbuf_appendf(&b, "%s%s%s",
                               base ? base : "http://169.254.170.2",
                               relative[0] == '/' ? "" : "/", relative);
        } else {
            gwf_strbuf_appendf(&b, "%s", full);
        }
        if (b.failed || !url_ok(b.data)) {
            gwf_strbuf_free(&b);
            gwf_cfg_fail(c, field,
                         "%s does not make an http(s) URL (the container "
                         "credentials endpoint)",
                         relative ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
                                  : "AWS_CONTAINER_CREDENTIALS_FULL_URI");
            return -1;
        }
        src->url = b.data;
        if (!relative && !container_url_allowed(src->url)) {
            gwf_cfg_fail(c, field,
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI over http must "
                         "name a loopback address or 169.254.170.2, "
                         "169.254.170.23, fd00:ec2::23 (else https)");
            return -1;
        }
        src->token_file =
            dup_env(c, field, env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
        if (!src->token_file) {
            const char *t = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
            if (t && !credential_ok(t, strlen(t))) {
                gwf_cfg_fail(c, field,
                             "AWS_CONTAINER_AUTHORIZATION_TOKEN must be "
                             "printable characters without spaces");
                return -1;
            }
            src->auth_token = dup_env(c, field, t);
        }
        return gwf_cfg_status(c) == GWF_OK ? 1 : -1;
    }
    const char *disabled = env("AWS_EC2_METADATA_DISABLED");
    if (disabled && strcasecmp(disabled, "true") == 0)
        return 0;
    const char *imds = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (imds && !url_ok(imds)) {
        gwf_cfg_fail(c, field,
                     "AWS_EC2_METADATA_SERVICE_ENDPOINT is not an http(s) "
                     "URL with a host");
        return -1;
    }
    src->kind = LS_SOURCE_IMDS;
    src->name = "IMDSv2";
    gwf_strbuf b = {0};
    const char *u = imds ? imds : "http://169.254.169.254";
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        n--;
    gwf_strbuf_append(&b, u, n);
    if (b.failed) {
        gwf_strbuf_free(&b);
        gwf_cfg_no_memory(c, field);
        return -1;
    }
    src->url = b.data;
    return 1;
}

/* The default chain (see the top of the file). */
static gwf_status
default_chain(gwf_cfg *c, const char *field, ls_config *cfg)
{
    int r = from_environment(c, field, cfg);
    if (r == 0)
        r = from_files(c, field, cfg);
    if (r == 0) {
        r = from_providers(c, field, cfg);
        if (r > 0) {
            cfg->dynamic = 1;
            cfg->credential_source = cfg->base.name;
        }
    }
    if (r > 0)
        return GWF_OK;
    if (r == 0)
        gwf_cfg_fail(c, field,
                     "no AWS credentials: set auth.secretRef to a Secret, or "
                     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                     "environment, or a profile in the shared credentials "
                     "file, or web identity, container or instance "
                     "credentials (AWS_EC2_METADATA_DISABLED is true)");
    return gwf_cfg_status(c);
}

/* auth.assumeRole: {roleArn}, kgateway's pattern
 * ^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$, at most 2048. */
static gwf_status
assume_role(gwf_cfg *c, const json_t *auth, const char *field, ls_config *cfg)
{
    static const char *const known[] = {"roleArn", NULL};
    char path[GWF_CFG_PATH_MAX], arn_field[GWF_CFG_PATH_MAX];
    const json_t *ar = NULL;
    const char *arn = NULL;
    gwf_cfg_member(path, field, "assumeRole");
    gwf_cfg_member(arn_field, path, "roleArn");
    gwf_cfg_object(c, field, auth, "assumeRole", GWF_CFG_REQUIRED, &ar);
    if (!ar)
        return gwf_cfg_status(c);
    gwf_cfg_known(c, path, ar, known);
    gwf_cfg_string(c, path, ar, "roleArn", GWF_CFG_REQUIRED, &arn);
    if (!arn)
        return gwf_cfg_status(c);
    const char *p = arn;
    int ok = strlen(arn) <= 2048 && strncmp(p, "arn:aws", 7) == 0;
    if (ok) {
        p += 7;
        while (islower((unsigned char)*p) || *p == '-')
            p++;
        ok = strncmp(p, ":iam::", 6) == 0;
        p += ok ? 6 : 0;
    }
    if (ok) {
        ok = strspn(p, "0123456789") == 12 && strncmp(p + 12, ":role/", 6) == 0;
        p += ok ? 18 : 0;
    }
    ok = ok && *p;
    for (const char *q = arn; ok && *q; q++)
        ok = *q > ' ' && *q <= '~';
    if (!ok)
        return gwf_cfg_fail(c, arn_field,
                            "invalid role ARN \"%.40s\" (expected "
                            "arn:aws:iam::<12 digits>:role/<name>)",
                            arn);
    cfg->role_arn = strdup(arn);
    if (!cfg->role_arn)
        return gwf_cfg_no_memory(c, arn_field);
    if (sts_endpoint(c, field, cfg, &cfg->sts_url, &cfg->sts_host) != 0)
        return gwf_cfg_status(c);
    if (default_chain(c, field, cfg) != GWF_OK)
        return gwf_cfg_status(c);
    cfg->dynamic = 1;
    return GWF_OK;
}

gwf_status
ls_credentials_resolve(gwf_cfg *c, const json_t *auth, const char *field,
                       ls_config *cfg)
{
    static const char *const known[] = {"type", "secretRef", "assumeRole",
                                        NULL};
    static const char *const types[] = {"Secret", "AssumeRole", NULL};
    if (!auth)
        return default_chain(c, field, cfg);
    int type = 0; /* Secret when left out, as gwf has always read it */
    gwf_cfg_known(c, field, auth, known);
    gwf_cfg_enum(c, field, auth, "type", 0, types, &type);
    if (gwf_cfg_status(c) != GWF_OK)
        return gwf_cfg_status(c);
    char other[GWF_CFG_PATH_MAX];
    if (type == 0 && json_object_get(auth, "assumeRole")) {
        gwf_cfg_member(other, field, "assumeRole");
        return gwf_cfg_fail(c, other,
                            "assumeRole must be nil if the type is not "
                            "'AssumeRole'");
    }
    if (type == 1 && json_object_get(auth, "secretRef")) {
        gwf_cfg_member(other, field, "secretRef");
        return gwf_cfg_fail(c, other,
                            "secretRef must be nil if the type is not "
                            "'Secret'");
    }
    if (type == 0)
        return from_secret(c, auth, field, cfg);
    if (assume_role(c, auth, field, cfg) != GWF_OK)
        return gwf_cfg_status(c);
    cfg->credential_source = "AssumeRole";
    return GWF_OK;
}

void
ls_source_free(ls_source *src)
{
    free(src->url);
    free(src->host);
    free(src->role_arn);
    free(src->session_name);
    free(src->token_file);
    if (src->auth_token)
        gwf_secret_free(src->auth_token, strlen(src->auth_token));
    memset(src, 0, sizeof *src);
}
