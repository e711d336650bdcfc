/*
 * credentials.c - find the AWS credentials a config signs with.
 *
 * In order, the first that applies:
 *   1. `auth: {type: Secret, secretRef: {name, namespace}}`: a Secret
 *      document, read with gwf_cfg_secret_ref (stringData, else data in
 *      base64, as Kubernetes merges them), holding accessKey, secretKey
 *      and, optionally, sessionToken;
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
 * files and profiles. Every credential is wiped when freed
 * (gwf_secret_free), wherever it came from.
 */
#include "lambda_signer.h"

#include <ctype.h>
#include <errno.h>
#include <gwf/sdk_file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* auth: {type?: Secret, secretRef: {name, namespace?}}: accessKey and
 * secretKey, and sessionToken when the Secret has one. */
static gwf_status
from_secret(gwf_cfg *c, const json_t *auth, const char *field, ls_config *cfg)
{
    static const char *const known[] = {"type", "secretRef", NULL};
    static const char *const types[] = {"Secret", NULL};
    static const char *const keys[] = {"accessKey", "secretKey",
                                       "sessionToken"};
    char **slots[] = {&cfg->access_key, &cfg->secret_key, &cfg->session_token};
    char ref_field[GWF_CFG_PATH_MAX];
    int type = 0;

    gwf_cfg_known(c, field, auth, known);
    gwf_cfg_enum(c, field, auth, "type", 0, types, &type);
    if (gwf_cfg_status(c) != GWF_OK)
        return gwf_cfg_status(c);
    gwf_cfg_member(ref_field, field, "secretRef");
    for (size_t i = 0; i < 3; i++) {
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

/* 1 when found, 0 when there is no file, -1 when invalid (reported). */
static int
from_file(gwf_cfg *c, const char *field, ls_config *cfg)
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
            gwf_cfg_fail(c, field, "%s", msg);
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
    gwf_cfg_fail(c, field, "%s", msg);
    return -1;
}

gwf_status
ls_credentials_resolve(gwf_cfg *c, const json_t *auth, const char *field,
                       ls_config *cfg)
{
    if (auth)
        return from_secret(c, auth, field, cfg);
    int r = from_environment(c, field, cfg);
    if (r == 0)
        r = from_file(c, field, cfg);
    if (r > 0)
        return GWF_OK;
    if (r == 0)
        gwf_cfg_fail(c, field,
                     "no AWS credentials: set auth.secretRef to a Secret, or "
                     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                     "environment, or a profile in the shared credentials "
                     "file");
    return gwf_cfg_status(c);
}
