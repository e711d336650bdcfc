/*
 * credentials.c - find the AWS credentials a config signs with.
 *
 * In order, the first that applies:
 *   1. `auth: {type: Secret, secretRef: {name, namespace}}`: a Secret
 *      document (looked up through the host), whose `stringData` (plain)
 *      or `data` (base64) holds accessKey, secretKey and, optionally,
 *      sessionToken; stringData wins over data for the same key, as in
 *      Kubernetes;
 *   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      optional AWS_SESSION_TOKEN;
 *   3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 *      $HOME/.aws/credentials), profile AWS_PROFILE or "default".
 *
 * This runs at config time, on the main thread, so reading a file here
 * blocks no worker; the file is read with gwf_file_read, so a FIFO or a
 * device named there is refused instead of blocking the master.
 * Credentials are resolved once: a change takes a reload. No message
 * here ever contains a credential, only the names of keys, variables,
 * files and profiles.
 */
#include "lambda_signer.h"

#include <ctype.h>
#include <errno.h>
#include <gwf/sdk_file.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gwf_status
fail(gwf_instance *inst, const char *field, const char *msg)
{
    inst->host->config_error(inst, field, msg, strlen(msg));
    return GWF_ERR_BAD_ARGUMENT;
}

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
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

/* One key of the Secret: stringData first, then data (base64). 1 when
 * found (*out malloc'd), 0 when absent, -1 when invalid (reported). */
static int
secret_value(gwf_instance *inst, const json_t *doc, const char *key,
             const char *field, char **out)
{
    char path[256];
    json_t *sd = json_object_get(doc, "stringData");
    json_t *v = json_is_object(sd) ? json_object_get(sd, key) : NULL;
    if (v) {
        if (!json_is_string(v) ||
            !credential_ok(json_string_value(v), json_string_length(v))) {
            snprintf(path, sizeof path,
                     "Secret stringData.%s must be a non-empty string of "
                     "printable characters without spaces",
                     key);
            fail(inst, field, path);
            return -1;
        }
        *out = strdup(json_string_value(v));
        return *out ? 1 : -1;
    }
    json_t *d = json_object_get(doc, "data");
    v = json_is_object(d) ? json_object_get(d, key) : NULL;
    if (!v)
        return 0;
    char *decoded = NULL;
    size_t len = 0;
    if (!json_is_string(v) ||
        gwf_base64_decode(json_string_value(v), json_string_length(v),
                         &decoded, &len) != 0 ||
        !credential_ok(decoded, len) || strlen(decoded) != len) {
        if (decoded) {
            OPENSSL_cleanse(decoded, len);
            free(decoded);
        }
        snprintf(path, sizeof path,
                 "Secret data.%s must be standard base64 of a non-empty "
                 "string of printable characters without spaces",
                 key);
        fail(inst, field, path);
        return -1;
    }
    *out = decoded;
    return 1;
}

static gwf_status
from_secret(gwf_instance *inst, const json_t *auth, const char *field,
            ls_config *cfg)
{
    char sub[128];
    const char *keys[] = {"type", "secretRef"};
    const char *k;
    json_t *v;
    int bad = 0;
    json_object_foreach((json_t *)auth, k, v) {
        if (strcmp(k, keys[0]) != 0 && strcmp(k, keys[1]) != 0) {
            char msg[128];
            snprintf(sub, sizeof sub, "%s.%s", field, k);
            snprintf(msg, sizeof msg,
                     "unknown field \"%.40s\" (expected one of: type, "
                     "secretRef)",
                     k);
            fail(inst, sub, msg);
            bad = 1;
        }
    }
    json_t *type = json_object_get(auth, "type");
    snprintf(sub, sizeof sub, "%s.type", field);
    if (type && !json_is_null(type) &&
        (!json_is_string(type) ||
         strcmp(json_string_value(type), "Secret") != 0)) {
        fail(inst, sub, "unsupported auth type (expected \"Secret\")");
        bad = 1;
    }
    json_t *ref = json_object_get(auth, "secretRef");
    snprintf(sub, sizeof sub, "%s.secretRef", field);
    if (!json_is_object(ref)) {
        fail(inst, sub,
             ref ? "expected an object {name, namespace}"
                 : "required field is missing (expected {name: SECRET})");
        return GWF_ERR_BAD_ARGUMENT;
    }
    json_t *name = json_object_get(ref, "name");
    json_t *ns = json_object_get(ref, "namespace");
    snprintf(sub, sizeof sub, "%s.secretRef.name", field);
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > 253) {
        fail(inst, sub, "expected the name of a Secret (a non-empty string)");
        return GWF_ERR_BAD_ARGUMENT;
    }
    if (ns && !json_is_null(ns) &&
        (!json_is_string(ns) || json_string_length(ns) == 0 ||
         json_string_length(ns) > 63)) {
        snprintf(sub, sizeof sub, "%s.secretRef.namespace", field);
        fail(inst, sub, "expected a namespace (a non-empty string)");
        return GWF_ERR_BAD_ARGUMENT;
    }
    if (bad)
        return GWF_ERR_BAD_ARGUMENT;

    char refname[320];
    if (json_is_string(ns))
        snprintf(refname, sizeof refname, "%s/%s", json_string_value(ns),
                 json_string_value(name));
    else
        snprintf(refname, sizeof refname, "%s", json_string_value(name));
    gwf_view doc_text = {0};
    snprintf(sub, sizeof sub, "%s.secretRef.name", field);
    gwf_status st =
        inst->host->lookup_document(inst, "Secret", refname, &doc_text);
    if (st != GWF_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "Secret %.320s not found", refname);
        return fail(inst, sub, msg);
    }
    json_error_t jerr;
    json_t *doc = json_loadb(doc_text.ptr, doc_text.len, 0, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return fail(inst, sub, "the Secret is not a JSON object");
    }
    int a = secret_value(inst, doc, "accessKey", sub, &cfg->access_key);
    int s = secret_value(inst, doc, "secretKey", sub, &cfg->secret_key);
    int t = secret_value(inst, doc, "sessionToken", sub, &cfg->session_token);
    json_decref(doc);
    if (a < 0 || s < 0 || t < 0)
        return GWF_ERR_BAD_ARGUMENT;
    if (a == 0 || s == 0) {
        char msg[600];
        snprintf(msg, sizeof msg,
                 "Secret %.320s has no %s (expected accessKey and secretKey "
                 "in data or stringData)",
                 refname,
                 a == 0 && s == 0 ? "accessKey nor secretKey"
                 : a == 0         ? "accessKey"
                                  : "secretKey");
        return fail(inst, sub, msg);
    }
    cfg->credential_source = "Secret";
    return GWF_OK;
}

/* 1 when found, 0 when none, -1 when set but invalid (reported). */
static int
from_environment(gwf_instance *inst, const char *field, ls_config *cfg)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if ((!id || !*id) && (!secret || !*secret))
        return 0;
    if (!id || !*id || !secret || !*secret) {
        fail(inst, field,
             "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set "
             "in the environment (expected both, or auth.secretRef)");
        return -1;
    }
    if (!credential_ok(id, strlen(id)) ||
        !credential_ok(secret, strlen(secret)) ||
        (token && *token && !credential_ok(token, strlen(token)))) {
        fail(inst, field,
             "the AWS_* credentials in the environment must be printable "
             "characters without spaces");
        return -1;
    }
    cfg->access_key = strdup(id);
    cfg->secret_key = strdup(secret);
    if (token && *token)
        cfg->session_token = strdup(token);
    if (!cfg->access_key || !cfg->secret_key ||
        (token && *token && !cfg->session_token)) {
        fail(inst, field, "out of memory");
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

/* 1 when found, 0 when there is no file, -1 when invalid (reported). */
static int
from_file(gwf_instance *inst, const char *field, ls_config *cfg)
{
    char path[1024];
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *home = getenv("HOME");
    if (file && *file)
        snprintf(path, sizeof path, "%s", file);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.aws/credentials", home);
    else
        return 0;
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
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
        if ((file && *file) || errno == EINVAL || errno == EFBIG ||
            errno == ENOMEM) {
            char msg[1400];
            snprintf(msg, sizeof msg, "cannot read the credentials file%s: %s",
                     file && *file ? " named by AWS_SHARED_CREDENTIALS_FILE"
                                   : "",
                     why);
            fail(inst, field, msg);
            return -1;
        }
        return 0;
    }
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
                in_profile = strcmp(trim(l + 1), profile) == 0;
                found |= in_profile;
            }
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in_profile || !eq)
            continue;
        *eq = '\0';
        char *key = trim(l), *value = trim(eq + 1);
        char **slot = strcmp(key, "aws_access_key_id") == 0 ? &id
                      : strcmp(key, "aws_secret_access_key") == 0 ? &secret
                      : strcmp(key, "aws_session_token") == 0   ? &token
                                                                : NULL;
        if (slot) {
            wipe(slot);
            *slot = strdup(value);
        }
    }
    OPENSSL_cleanse(data, len);
    free(data);
    char msg[1400];
    if (!found || !id || !secret) {
        snprintf(msg, sizeof msg,
                 "%s %.200s in the credentials file %.1024s (expected "
                 "aws_access_key_id and aws_secret_access_key)",
                 found ? "incomplete profile" : "no profile", profile, path);
        goto bad;
    }
    if (!credential_ok(id, strlen(id)) ||
        !credential_ok(secret, strlen(secret)) ||
        (token && !credential_ok(token, strlen(token)))) {
        snprintf(msg, sizeof msg,
                 "profile %.200s in the credentials file %.1024s: "
                 "credentials must be printable characters without spaces",
                 profile, path);
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
    fail(inst, field, msg);
    return -1;
}

gwf_status
ls_credentials_resolve(gwf_instance *inst, const json_t *auth,
                       const char *field, ls_config *cfg)
{
    if (auth)
        return from_secret(inst, auth, field, cfg);
    int r = from_environment(inst, field, cfg);
    if (r == 0)
        r = from_file(inst, field, cfg);
    if (r > 0)
        return GWF_OK;
    if (r == 0)
        fail(inst, field,
             "no AWS credentials: set auth.secretRef to a Secret, or "
             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
             "environment, or a profile in the shared credentials file");
    return GWF_ERR_BAD_ARGUMENT;
}
