/*
 * provider.c - AWS credentials that must be fetched, on each worker.
 *
 * Web identity (STS AssumeRoleWithWebIdentity), the container endpoint
 * (ECS, EKS Pod Identity), IMDSv2 and STS AssumeRole give temporary
 * credentials with an expiry. Each worker has one ls_fetcher: it keeps
 * the credentials it got, hands them out while they are valid, and
 * refreshes them LS_REFRESH_BEFORE_S before they expire, as the AWS SDKs
 * do. A refresh is a short chain of HTTP calls made with libcurl's multi
 * interface on the host loop (gwf/sdk_curl.h), never blocking the worker:
 *
 *   IMDSv2      PUT /latest/api/token, GET .../security-credentials/
 *               (the role name), GET .../security-credentials/ROLE
 *   container   GET the URL, with the Authorization token when set
 *   web id.     POST Action=AssumeRoleWithWebIdentity to STS, unsigned
 *   AssumeRole  (after the base credentials, static or fetched, are
 *               fresh) POST Action=AssumeRole to STS, SigV4-signed with
 *               them
 *
 * One refresh is in flight per worker at a time; the streams that have
 * no valid credentials wait for it (filter.c). Credentials still valid
 * but due for refresh keep signing while the refresh runs. A refresh that
 * fails (peer down, slow, an answer that is not whole, not 200, or does
 * not parse) ends with done(arg, 0), keeps whatever is still valid, and
 * the next request starts another.
 *
 * Answers are parsed strictly: the JSON of IMDS and the container
 * endpoint must have AccessKeyId, SecretAccessKey, Token and an
 * Expiration in the future; STS's XML must be the Response of the action
 * asked with exactly one Credentials holding each of the four elements
 * once, with no markup declarations, entities or CDATA anywhere (AWS
 * sends none; a parser that takes them is attack surface). No credential
 * or answer body ever reaches a log line.
 */
#include "lambda_signer.h"

#include <ctype.h>
#include <curl/curl.h>
#include <gwf/sdk_curl.h>
#include <gwf/sdk_file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_IDLE = 0,
    ST_IMDS_TOKEN,
    ST_IMDS_ROLE,
    ST_IMDS_CREDS,
    ST_CONTAINER,
    ST_WEB_IDENTITY,
    ST_ASSUME_ROLE
};

/* Any answer we read is small: credentials, a token, a role name. */
#define LS_ANSWER_MAX (64 * 1024)
#define LS_TOKEN_FILE_MAX (64 * 1024)

struct ls_fetcher {
    const ls_config *cfg;
    gwf_instance *inst;
    ls_fetch_done_cb done;
    void *done_arg;
    CURLM *multi;
    gwf_curl_loop *loop;
    /* The call in flight (stage != ST_IDLE). */
    int stage;
    CURL *easy;
    struct curl_slist *headers;
    char *post; /* the form body of an STS call */
    gwf_strbuf body;
    gwf_curl_answer answer;
    int too_large;
    /* IMDS's session token and role name, for the next steps. */
    char *imds_token;
    char *imds_role;
    ls_creds base; /* fetched base credentials (dynamic sources) */
    ls_creds role; /* AssumeRole's */
    /* When the last refresh failed (monotonic ns; `failed`): a new one starts
     * no sooner than LS_RETRY_AFTER_FAILURE_NS later, so a peer that
     * refuses at once is not called again for every request. */
    int64_t failed_at;
    int failed;
};

#define LS_RETRY_AFTER_FAILURE_NS (1000000000LL)

static int64_t
now_s(const ls_fetcher *f)
{
    return f->inst->host->now(f->inst, GWF_CLOCK_REALTIME) / 1000000000;
}

static void
free_secret(char **s)
{
    if (*s) {
        gwf_secret_free(*s, strlen(*s));
        *s = NULL;
    }
}

void
ls_creds_clear(ls_creds *c)
{
    free_secret(&c->access_key);
    free_secret(&c->secret_key);
    free_secret(&c->session_token);
    c->expires_s = 0;
}

/* Usable: there, and not expired. Fresh: and not due for refresh. Both
 * subtractions are of non-negative values (expires_s >= 0, now >= 0 on
 * any sane host; INT64_MAX never expires), so neither overflows. */
static int
usable(const ls_creds *c, int64_t now)
{
    return c->access_key && now < c->expires_s;
}

static int
fresh(const ls_creds *c, int64_t now)
{
    if (!usable(c, now))
        return 0;
    return c->expires_s == INT64_MAX || now < 0 ||
           c->expires_s - now > LS_REFRESH_BEFORE_S;
}

static ls_creds *
current(ls_fetcher *f)
{
    return f->cfg->role_arn ? &f->role : &f->base;
}

/* Printable ASCII without spaces, 1-4096 bytes: what may go into a header
 * value and the HMAC input. */
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

/* -- Times ----------------------------------------------------------------- */

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int64_t
ls_parse_time(const char *s, size_t len)
{
    int y, mo, d, h, mi, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T') ||
        s[13] != ':' || s[16] != ':' || digits(s, 4, &y) ||
        digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &sec))
        return -1;
    size_t i = 19;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == start || i - start > 9)
            return -1;
    }
    if (!((len - i == 1 && s[i] == 'Z') ||
          (len - i == 6 && memcmp(s + i, "+00:00", 6) == 0)))
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
}

/* -- STS's XML ------------------------------------------------------------- */

/* The text of the one element `name` inside [p, p+len): exactly one
 * opening tag "<name>" or "<name attrs>" (a self-closing "<name/>"
 * counts as one, and is refused) and one "</name>" after it.
 * 0 with *in and *in_len set, -1 when absent or repeated. */
static int
element(const char *p, size_t len, const char *name, const char **in,
        size_t *in_len)
{
    size_t n = strlen(name);
    const char *open = NULL, *close = NULL;
    for (size_t i = 0; i + n + 2 <= len; i++) {
        if (p[i] != '<')
            continue;
        if (p[i + 1] == '/' && i + n + 3 <= len &&
            memcmp(p + i + 2, name, n) == 0 && p[i + 2 + n] == '>') {
            if (close)
                return -1;
            close = p + i;
        } else if (memcmp(p + i + 1, name, n) == 0 &&
                   (p[i + 1 + n] == '>' || p[i + 1 + n] == '/' ||
                    p[i + 1 + n] == ' ' || p[i + 1 + n] == '\t' ||
                    p[i + 1 + n] == '\r' || p[i + 1 + n] == '\n')) {
            if (open)
                return -1;
            open = p + i;
        }
    }
    if (!open || !close || close < open)
        return -1;
    const char *gt = memchr(open, '>', (size_t)(close - open));
    if (!gt || gt[-1] == '/')
        return -1;
    *in = gt + 1;
    *in_len = (size_t)(close - (gt + 1));
    return 0;
}

static int
take_text(const char *p, size_t len, const char *name, char **out)
{
    const char *t;
    size_t n;
    if (element(p, len, name, &t, &n) != 0)
        return -1;
    while (n > 0 && isspace((unsigned char)*t)) {
        t++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)t[n - 1]))
        n--;
    if (!credential_ok(t, n) || memchr(t, '<', n) || memchr(t, '&', n))
        return -1;
    *out = strndup(t, n);
    return *out ? 0 : -1;
}

int
ls_sts_parse(const char *xml, size_t len, const char *action, ls_creds *out,
             const char **why)
{
    char name[64];
    const char *resp, *result, *creds;
    size_t resp_len, result_len, creds_len;
    char *expiration = NULL;

    memset(out, 0, sizeof *out);
    *why = "not an STS answer";
    if (!xml || len == 0 || memchr(xml, '\0', len))
        return -1;
    /* No DOCTYPE, comment, CDATA or entity: AWS sends none. */
    for (size_t i = 0; i + 1 < len; i++)
        if (xml[i] == '<' && xml[i + 1] == '!') {
            *why = "markup declarations in the STS answer";
            return -1;
        }
    snprintf(name, sizeof name, "%sResponse", action);
    if (element(xml, len, name, &resp, &resp_len) != 0)
        return -1;
    snprintf(name, sizeof name, "%sResult", action);
    if (element(resp, resp_len, name, &result, &result_len) != 0 ||
        element(result, result_len, "Credentials", &creds, &creds_len) != 0) {
        *why = "no Credentials in the STS answer";
        return -1;
    }
    *why = "invalid Credentials in the STS answer";
    if (take_text(creds, creds_len, "AccessKeyId", &out->access_key) != 0 ||
        take_text(creds, creds_len, "SecretAccessKey", &out->secret_key) != 0 ||
        take_text(creds, creds_len, "SessionToken", &out->session_token) != 0 ||
        take_text(creds, creds_len, "Expiration", &expiration) != 0)
        goto fail;
    out->expires_s = ls_parse_time(expiration, strlen(expiration));
    free(expiration);
    if (out->expires_s < 0) {
        *why = "invalid Expiration in the STS answer";
        goto fail;
    }
    return 0;
fail:
    ls_creds_clear(out);
    return -1;
}

/* The <Code> of an STS error answer, token characters only, for the
 * log; "" when none. */
static void
sts_error_code(const char *xml, size_t len, char *out, size_t cap)
{
    const char *t;
    size_t n, o = 0;
    out[0] = '\0';
    if (!xml || element(xml, len, "Code", &t, &n) != 0)
        return;
    for (size_t i = 0; i < n && o + 1 < cap && o < 64; i++)
        if (isalnum((unsigned char)t[i]) || t[i] == '.' || t[i] == '_')
            out[o++] = t[i];
    out[o] = '\0';
}

/* -- JSON credentials (IMDS, container) ------------------------------------ */

static int
json_creds(const char *body, size_t len, int imds, ls_creds *out,
           const char **why)
{
    memset(out, 0, sizeof *out);
    json_t *root =
        json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
    const char *id, *secret, *token, *exp, *code;
    *why = "the credentials answer is not a JSON object";
    if (!json_is_object(root))
        goto fail;
    code = json_string_value(json_object_get(root, "Code"));
    if (imds && code && strcmp(code, "Success") != 0) {
        *why = "IMDS answered a Code other than Success";
        goto fail;
    }
    id = json_string_value(json_object_get(root, "AccessKeyId"));
    secret = json_string_value(json_object_get(root, "SecretAccessKey"));
    token = json_string_value(json_object_get(root, "Token"));
    exp = json_string_value(json_object_get(root, "Expiration"));
    *why = "the credentials answer lacks AccessKeyId, SecretAccessKey, "
           "Token or Expiration, or has an invalid one";
    if (!id || !secret || !token || !exp || !credential_ok(id, strlen(id)) ||
        !credential_ok(secret, strlen(secret)) ||
        !credential_ok(token, strlen(token)))
        goto fail;
    out->expires_s = ls_parse_time(exp, strlen(exp));
    if (out->expires_s < 0)
        goto fail;
    out->access_key = strdup(id);
    out->secret_key = strdup(secret);
    out->session_token = strdup(token);
    if (!out->access_key || !out->secret_key || !out->session_token) {
        *why = "out of memory";
        goto fail;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    ls_creds_clear(out);
    return -1;
}

/* -- Calls ----------------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t count, void *arg)
{
    ls_fetcher *f = arg;
    size_t n = size * count;
    if (f->body.len + n > LS_ANSWER_MAX) {
        f->too_large = 1;
        return 0;
    }
    gwf_strbuf_append(&f->body, data, n);
    return f->body.failed ? 0 : n;
}

static void
call_end(ls_fetcher *f)
{
    if (f->easy) {
        curl_multi_remove_handle(f->multi, f->easy);
        curl_easy_cleanup(f->easy);
        f->easy = NULL;
    }
    curl_slist_free_all(f->headers);
    f->headers = NULL;
    if (f->post) {
        gwf_secret_free(f->post, strlen(f->post));
        f->post = NULL;
    }
    if (f->body.data)
        gwf_secret_free(f->body.data, f->body.cap);
    memset(&f->body, 0, sizeof f->body);
    f->too_large = 0;
}

static const char *
source_name(const ls_fetcher *f, int stage)
{
    switch (stage) {
    case ST_IMDS_TOKEN:
    case ST_IMDS_ROLE:
    case ST_IMDS_CREDS:
        return "IMDSv2";
    case ST_CONTAINER:
        return "the container credentials endpoint";
    case ST_WEB_IDENTITY:
        return "STS AssumeRoleWithWebIdentity";
    default:
        (void)f;
        return "STS AssumeRole";
    }
}

static void
refresh_end(ls_fetcher *f, int ok, const char *why)
{
    int stage = f->stage;
    call_end(f);
    f->stage = ST_IDLE;
    free_secret(&f->imds_token);
    free(f->imds_role);
    f->imds_role = NULL;
    f->failed = !ok;
    f->failed_at = ok ? 0 : f->inst->host->now(f->inst, GWF_CLOCK_MONOTONIC);
    if (!ok)
        gwf_logf(f->inst, GWF_LOG_WARN,
                 "cannot refresh the AWS credentials from %s: %s (the next "
                 "try is at least 1 s later)",
                 source_name(f, stage), why);
    else
        gwf_logf(f->inst, GWF_LOG_INFO,
                 "AWS credentials from %s, valid until %lld (unix)",
                 source_name(f, stage), (long long)current(f)->expires_s);
    f->done(f->done_arg, ok);
}

/* Start one call: `post` (taken, may be NULL) is the body of a POST;
 * `method` "PUT" for IMDS's token. Headers (taken) may be NULL. */
static int
call_start(ls_fetcher *f, int stage, const char *url, const char *method,
           struct curl_slist *headers, char *post, long timeout_ms)
{
    f->stage = stage;
    f->headers = headers;
    f->post = post;
    f->easy = curl_easy_init();
    if (!f->easy)
        return -1;
    curl_easy_setopt(f->easy, CURLOPT_URL, url);
    curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "gwf-lambda_signer");
    gwf_curl_answer_track(&f->answer, f->easy, NULL, NULL);
    /* Link-local metadata endpoints are never reached through a proxy
     * (http_proxy in the environment): the credentials would pass
     * through it. STS, like the SDKs, follows the proxy settings. */
    if (stage != ST_WEB_IDENTITY && stage != ST_ASSUME_ROLE)
        curl_easy_setopt(f->easy, CURLOPT_PROXY, "");
    if (post) {
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
    } else if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(f->easy, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (headers)
        curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, headers);
    if (curl_multi_add_handle(f->multi, f->easy) != CURLM_OK)
        return -1;
    return 0;
}

/* A header line "Name: value" appended to *list; -1 on no memory. */
static int
add_header(struct curl_slist **list, const char *name, const char *value)
{
    gwf_strbuf b = {0};
    gwf_strbuf_appendf(&b, "%s: %s", name, value);
    struct curl_slist *n = b.failed ? NULL : curl_slist_append(*list, b.data);
    if (b.data)
        gwf_secret_free(b.data, b.cap);
    if (!n)
        return -1;
    *list = n;
    return 0;
}

/* "Expect:" (no value) makes libcurl send no Expect: 100-continue. */
static int
no_expect(struct curl_slist **list)
{
    struct curl_slist *n = curl_slist_append(*list, "Expect:");
    if (!n)
        return -1;
    *list = n;
    return 0;
}

static void
form_param(gwf_strbuf *b, const char *name, const char *value)
{
    if (b->len)
        gwf_strbuf_append(b, "&", 1);
    gwf_strbuf_appendf(b, "%s=", name);
    sigv4_uri_encode(b, value, strlen(value));
}

/* A token from a file, surrounding blanks dropped; NULL with *why. */
static char *
read_token(const char *path, const char **why)
{
    size_t len = 0;
    char err[256];
    char *data = gwf_file_read(path, LS_TOKEN_FILE_MAX, &len, err, sizeof err);
    if (!data) {
        *why = "cannot read the token file";
        return NULL;
    }
    size_t start = 0, end = len;
    while (start < end && isspace((unsigned char)data[start]))
        start++;
    while (end > start && isspace((unsigned char)data[end - 1]))
        end--;
    char *t = NULL;
    if (end > start && end - start <= 16384) {
        t = strndup(data + start, end - start);
        for (char *p = t; p && *p; p++)
            if (*p <= ' ' || *p > '~') {
                gwf_secret_free(t, strlen(t));
                t = NULL;
                break;
            }
    }
    gwf_secret_free(data, len);
    if (!t)
        *why = "the token file is empty or not printable";
    return t;
}

static int
start_imds_token(ls_fetcher *f)
{
    char url[2200];
    struct curl_slist *h = NULL;
    snprintf(url, sizeof url, "%s/latest/api/token", f->cfg->base.url);
    if (add_header(&h, "X-aws-ec2-metadata-token-ttl-seconds", "21600") != 0)
        return -1;
    return call_start(f, ST_IMDS_TOKEN, url, "PUT", h, NULL,
                      LS_METADATA_TIMEOUT_MS);
}

static int
start_imds_get(ls_fetcher *f, int stage)
{
    char url[2400];
    struct curl_slist *h = NULL;
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s",
             f->cfg->base.url, stage == ST_IMDS_CREDS ? f->imds_role : "");
    if (add_header(&h, "X-aws-ec2-metadata-token", f->imds_token) != 0)
        return -1;
    return call_start(f, stage, url, "GET", h, NULL, LS_METADATA_TIMEOUT_MS);
}

static int
start_container(ls_fetcher *f, const char **why)
{
    const ls_source *src = &f->cfg->base;
    struct curl_slist *h = NULL;
    char *token = NULL;
    if (src->token_file) {
        token = read_token(src->token_file, why);
        if (!token)
            return -1;
    }
    const char *auth = token ? token : src->auth_token;
    int rc = auth ? add_header(&h, "Authorization", auth) : 0;
    if (token)
        gwf_secret_free(token, strlen(token));
    if (rc == 0)
        rc = add_header(&h, "Accept", "application/json");
    if (rc != 0) {
        curl_slist_free_all(h);
        *why = "out of memory";
        return -1;
    }
    return call_start(f, ST_CONTAINER, src->url, "GET", h, NULL,
                      LS_METADATA_TIMEOUT_MS);
}

static int
start_web_identity(ls_fetcher *f, const char **why)
{
    const ls_source *src = &f->cfg->base;
    char *token = read_token(src->token_file, why);
    if (!token)
        return -1;
    gwf_strbuf b = {0};
    form_param(&b, "Action", "AssumeRoleWithWebIdentity");
    form_param(&b, "RoleArn", src->role_arn);
    form_param(&b, "RoleSessionName", src->session_name);
    form_param(&b, "Version", "2011-06-15");
    form_param(&b, "WebIdentityToken", token);
    gwf_secret_free(token, strlen(token));
    struct curl_slist *h = NULL;
    if (b.failed ||
        add_header(&h, "Content-Type",
                   "application/x-www-form-urlencoded; charset=utf-8") != 0 ||
        no_expect(&h) != 0) {
        curl_slist_free_all(h);
        if (b.data)
            gwf_secret_free(b.data, b.cap);
        *why = "out of memory";
        return -1;
    }
    return call_start(f, ST_WEB_IDENTITY, src->url, "POST", h, b.data,
                      LS_STS_TIMEOUT_MS);
}

/* STS AssumeRole, signed with `with` for service sts in the config's
 * region. */
static int
start_assume_role(ls_fetcher *f, const sigv4_credentials *with,
                  const char **why)
{
    const ls_config *cfg = f->cfg;
    gwf_strbuf b = {0};
    form_param(&b, "Action", "AssumeRole");
    form_param(&b, "RoleArn", cfg->role_arn);
    form_param(&b, "RoleSessionName", "gwf-lambda_signer");
    form_param(&b, "Version", "2011-06-15");
    if (b.failed) {
        gwf_strbuf_free(&b);
        *why = "out of memory";
        return -1;
    }
    static const char ctype[] =
        "application/x-www-form-urlencoded; charset=utf-8";
    const char *after_host = strstr(cfg->sts_url, "://") + 3;
    const char *path = strchr(after_host, '/');
    gwf_header headers[] = {{gwf_cstr("content-type"), gwf_cstr(ctype)}};
    sigv4_request req = {
        .method = gwf_cstr("POST"),
        .target = gwf_cstr(path ? path : "/"),
        .headers = headers,
        .header_count = 1,
        .host = gwf_cstr(cfg->sts_host),
        .payload = {b.data, b.len},
    };
    sigv4_params params = {
        .region = cfg->region,
        .service = "sts",
        .unix_seconds = now_s(f),
        .normalize_path = 1,
        .token_mode = SIGV4_TOKEN_SIGNED,
    };
    sigv4_result res;
    if (sigv4_sign(&req, &params, with, NULL, &res, why) != 0) {
        gwf_secret_free(b.data, b.cap);
        return -1;
    }
    struct curl_slist *h = NULL;
    int rc = add_header(&h, "Host", cfg->sts_host) |
             add_header(&h, "Content-Type", ctype) |
             add_header(&h, "X-Amz-Date", res.amz_date) |
             add_header(&h, "Authorization", res.authorization.data) |
             no_expect(&h);
    if (with->session_token)
        rc |= add_header(&h, "X-Amz-Security-Token", with->session_token);
    sigv4_result_free(&res);
    if (rc != 0) {
        curl_slist_free_all(h);
        gwf_secret_free(b.data, b.cap);
        *why = "out of memory";
        return -1;
    }
    return call_start(f, ST_ASSUME_ROLE, cfg->sts_url, "POST", h, b.data,
                      LS_STS_TIMEOUT_MS);
}

/* The base credentials are there (static or just fetched): AssumeRole
 * with them, or done. */
static void
after_base(ls_fetcher *f)
{
    const ls_config *cfg = f->cfg;
    const char *why = "cannot start the call";
    call_end(f);
    if (!cfg->role_arn) {
        refresh_end(f, 1, NULL);
        return;
    }
    sigv4_credentials with =
        cfg->base.kind == LS_SOURCE_STATIC
            ? (sigv4_credentials){cfg->access_key, cfg->secret_key,
                                  cfg->session_token}
            : (sigv4_credentials){f->base.access_key, f->base.secret_key,
                                  f->base.session_token};
    f->stage = ST_ASSUME_ROLE;
    if (start_assume_role(f, &with, &why) != 0)
        refresh_end(f, 0, why);
}

static void
start_base(ls_fetcher *f)
{
    const char *why = "cannot start the call";
    int rc = -1;
    switch (f->cfg->base.kind) {
    case LS_SOURCE_IMDS:
        f->stage = ST_IMDS_TOKEN;
        rc = start_imds_token(f);
        break;
    case LS_SOURCE_CONTAINER:
        f->stage = ST_CONTAINER;
        rc = start_container(f, &why);
        break;
    case LS_SOURCE_WEB_IDENTITY:
        f->stage = ST_WEB_IDENTITY;
        rc = start_web_identity(f, &why);
        break;
    }
    if (rc != 0)
        refresh_end(f, 0, why);
}

/* Keep `got` as *slot, unless it is already expired. */
static int
keep(ls_fetcher *f, ls_creds *slot, ls_creds *got, const char **why)
{
    if (got->expires_s <= now_s(f)) {
        ls_creds_clear(got);
        *why = "the credentials answered are already expired";
        return -1;
    }
    ls_creds_clear(slot);
    *slot = *got;
    return 0;
}

/* A call ended: go on to the next one, or end the refresh. */
static void
call_done(ls_fetcher *f, CURLcode code)
{
    long status = 0;
    const char *why = NULL;
    char msg[160];
    ls_creds got;
    int stage = f->stage;
    CURLcode result = gwf_curl_answer_result(&f->answer, code);

    if (f->too_large)
        why = "the answer is larger than 64 KiB";
    else if (result != CURLE_OK)
        why = curl_easy_strerror(result);
    else if (f->body.failed)
        why = "out of memory";
    if (why) {
        refresh_end(f, 0, why);
        return;
    }
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        char code_text[80] = "";
        if (stage == ST_WEB_IDENTITY || stage == ST_ASSUME_ROLE)
            sts_error_code(f->body.data, f->body.len, code_text,
                           sizeof code_text);
        snprintf(msg, sizeof msg, "HTTP status %ld%s%s", status,
                 code_text[0] ? " " : "", code_text);
        refresh_end(f, 0, msg);
        return;
    }
    const char *body = f->body.data ? f->body.data : "";
    size_t len = f->body.len;
    switch (stage) {
    case ST_IMDS_TOKEN:
        if (!credential_ok(body, len)) {
            refresh_end(f, 0, "invalid IMDS session token");
            return;
        }
        free_secret(&f->imds_token);
        f->imds_token = strndup(body, len);
        call_end(f);
        if (!f->imds_token || start_imds_get(f, ST_IMDS_ROLE) != 0)
            refresh_end(f, 0, "cannot start the call");
        return;
    case ST_IMDS_ROLE: {
        size_t n = strcspn(body, "\r\n");
        n = n < len ? n : len;
        int ok = n > 0 && n <= 128;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)body[i]) || strchr("+=,.@_-", body[i]);
        if (!ok) {
            refresh_end(f, 0, "invalid IMDS role name");
            return;
        }
        free(f->imds_role);
        f->imds_role = strndup(body, n);
        call_end(f);
        if (!f->imds_role || start_imds_get(f, ST_IMDS_CREDS) != 0)
            refresh_end(f, 0, "cannot start the call");
        return;
    }
    case ST_IMDS_CREDS:
    case ST_CONTAINER:
        if (json_creds(body, len, stage == ST_IMDS_CREDS, &got, &why) != 0 ||
            keep(f, &f->base, &got, &why) != 0) {
            refresh_end(f, 0, why);
            return;
        }
        after_base(f);
        return;
    case ST_WEB_IDENTITY:
        if (ls_sts_parse(body, len, "AssumeRoleWithWebIdentity", &got, &why) !=
                0 ||
            keep(f, &f->base, &got, &why) != 0) {
            refresh_end(f, 0, why);
            return;
        }
        after_base(f);
        return;
    case ST_ASSUME_ROLE:
        if (ls_sts_parse(body, len, "AssumeRole", &got, &why) != 0 ||
            keep(f, &f->role, &got, &why) != 0) {
            refresh_end(f, 0, why);
            return;
        }
        refresh_end(f, 1, NULL);
        return;
    }
}

/* gwf_curl_loop's progress callback. */
static void
on_progress(void *arg)
{
    ls_fetcher *f = arg;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(f->multi, &left))) {
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == f->easy) {
            call_done(f, msg->data.result);
            /* call_done may have started the next call on the multi:
             * its messages come in a later progress. */
            return;
        }
    }
}

/* -- Public ---------------------------------------------------------------- */

ls_fetcher *
ls_fetcher_new(const ls_config *cfg, gwf_instance *inst, ls_fetch_done_cb done,
               void *arg)
{
    ls_fetcher *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->cfg = cfg;
    f->inst = inst;
    f->done = done;
    f->done_arg = arg;
    f->multi = curl_multi_init();
    if (f->multi)
        f->loop = gwf_curl_loop_new(inst, f->multi, on_progress, f);
    if (!f->multi || !f->loop) {
        curl_multi_cleanup(f->multi);
        gwf_curl_loop_free(f->loop);
        free(f);
        return NULL;
    }
    return f;
}

void
ls_fetcher_free(ls_fetcher *f)
{
    if (!f)
        return;
    call_end(f);
    curl_multi_cleanup(f->multi);
    gwf_curl_loop_free(f->loop);
    free_secret(&f->imds_token);
    free(f->imds_role);
    ls_creds_clear(&f->base);
    ls_creds_clear(&f->role);
    free(f);
}

int
ls_fetcher_busy(const ls_fetcher *f)
{
    return f->stage != ST_IDLE;
}

void
ls_fetcher_refresh(ls_fetcher *f)
{
    if (f->stage != ST_IDLE)
        return;
    if (f->failed) {
        int64_t now = f->inst->host->now(f->inst, GWF_CLOCK_MONOTONIC);
        if (now >= f->failed_at &&
            now - f->failed_at < LS_RETRY_AFTER_FAILURE_NS)
            return; /* too soon after a failure: no call */
    }
    if (f->cfg->base.kind != LS_SOURCE_STATIC && !fresh(&f->base, now_s(f)))
        start_base(f);
    else
        after_base(f);
}

const ls_creds *
ls_fetcher_get(ls_fetcher *f)
{
    ls_creds *c = current(f);
    int64_t now = now_s(f);
    if (fresh(c, now))
        return c;
    ls_fetcher_refresh(f);
    /* The refresh may have ended at once (it could not start): look
     * again. Credentials still valid sign while it runs. */
    c = current(f);
    return usable(c, now) ? c : NULL;
}
