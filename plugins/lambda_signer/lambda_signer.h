/*
 * lambda_signer.h - what the plugin's files share: the config every
 * worker reads, the per-worker signing-key cache, the per-stream state,
 * and the functions each file offers the others.
 *
 *   config.c       parse and validate the JSON (Backend spec.aws, or a
 *                  GatewayExtension plugin config with mode lambda/sign)
 *   credentials.c  where the AWS credentials come from, read at config
 *                  time: a Secret document, AssumeRole, or the AWS
 *                  default chain (environment, shared files, web
 *                  identity, container endpoint, IMDSv2)
 *   provider.c     credentials that must be fetched (STS, container
 *                  endpoint, IMDS): one fetcher per worker, cached and
 *                  refreshed before they expire
 *   lambda.c       the Lambda invocation: the Envoy JSON payload both
 *                  ways, and what a Lambda reply means
 *   filter.c       the hooks and the plugin entry
 *   sigv4.c        the signer itself (no host calls)
 */
#ifndef LAMBDA_SIGNER_H
#define LAMBDA_SIGNER_H

#include <gwf/sdk.h>
#include <gwf/sdk_config.h>
#include <gwf/sdk_metrics.h>
#include <jansson.h>

#include "sigv4.h"

#define LS_DEFAULT_REGION "us-east-1"
#define LS_DEFAULT_QUALIFIER "$LATEST"
#define LS_MAX_EXCLUDED 64

enum { LS_MODE_LAMBDA = 0, LS_MODE_SIGN = 1 };

/* Which results the requests metric counts (label "result"). */
enum {
    LS_RESULT_SIGNED = 0,     /* signed and forwarded */
    LS_RESULT_SIGN_ERROR,     /* could not be signed: 500 */
    LS_RESULT_FUNCTION_ERROR, /* x-amz-function-error: 502 */
    LS_RESULT_INVALID_REPLY,  /* a Lambda reply we cannot use: 502 */
    LS_RESULT_UPSTREAM_ERROR, /* Lambda's API answered an error: 502 */
    LS_RESULT_BAD_REQUEST,    /* the client's request cannot be sent: 4xx */
    LS_RESULT_COUNT
};

/* Where the base credentials come from (credentials.c). STATIC ones are
 * in ls_config (Secret, environment, shared files); the others are
 * fetched on the workers (provider.c). */
enum {
    LS_SOURCE_STATIC = 0,
    LS_SOURCE_WEB_IDENTITY, /* STS AssumeRoleWithWebIdentity, unsigned */
    LS_SOURCE_CONTAINER,    /* ECS / EKS Pod Identity endpoint */
    LS_SOURCE_IMDS          /* EC2 instance metadata, IMDSv2 */
};

typedef struct ls_source {
    int kind;
    const char *name; /* for the log: "environment", "IMDSv2", ... */
    char *url;        /* STS endpoint; credentials URL; IMDS base URL */
    char *host;       /* web identity: STS Host */
    char *role_arn;   /* web identity: AWS_ROLE_ARN */
    char *session_name;
    char *token_file; /* web identity token; container token file */
    char *auth_token; /* container: AWS_CONTAINER_AUTHORIZATION_TOKEN */
} ls_source;
void ls_source_free(ls_source *src);

/* Built by config_create, read-only afterwards. */
typedef struct ls_config {
    gwf_instance *instance;
    int mode;
    char *region;
    char *service;
    /* The host to sign and send (Host / :authority): the Lambda
     * endpoint, or hostRewrite in sign mode; NULL keeps the request's. */
    char *host;

    /* Lambda mode. */
    char *function_name;
    char *qualifier;
    char *invoke_path;   /* [endpoint path]/2015-03-31/functions/NAME[:Q]/
                            invocations */
    char *endpoint_path; /* endpointURL's path, no trailing '/' ("" none) */
    char account_id[13]; /* lambda.accountId, else aws.accountId */
    int async;
    int envoy_transform;

    /* Signing options. */
    char *excluded[LS_MAX_EXCLUDED];
    size_t excluded_count;
    int unsigned_payload;
    int normalize_path;
    int content_sha256_header;
    int token_signed;

    /* Credentials (never logged, never in a reply or a metric). */
    char *access_key;
    char *secret_key;
    char *session_token;
    const char *credential_source; /* "Secret", "environment", "file" */
    ls_source base;                /* where the (base) credentials come from */
    /* auth.type AssumeRole: STS AssumeRole of role_arn, signed with the
     * base credentials; sts_url / sts_host where STS is. */
    char *role_arn;
    char *sts_url;
    char *sts_host;
    int dynamic; /* credentials are fetched on the workers */

    /* lambda_signer_requests_total{result}, counted by LS_RESULT_* */
    gwf_outcome_counter requests;
} ls_config;

/* provider.c: fetched credentials on one worker. */
typedef struct ls_creds {
    char *access_key;
    char *secret_key;
    char *session_token; /* NULL: none */
    int64_t expires_s;   /* unix seconds; INT64_MAX: never */
} ls_creds;

typedef struct ls_fetcher ls_fetcher;
/* Called on the worker when a refresh ends: ok 1 with new credentials,
 * 0 when it failed (logged). */
typedef void (*ls_fetch_done_cb)(void *arg, int ok);

/* How long before expiry credentials are refreshed, as the AWS SDKs. */
#define LS_REFRESH_BEFORE_S 300
/* Bounds on one credentials request (each IMDS step, the container
 * endpoint, one STS call), and on how long a request waits for a
 * refresh. */
#define LS_METADATA_TIMEOUT_MS 2000
#define LS_STS_TIMEOUT_MS 5000
#define LS_WAIT_TIMEOUT_MS 10000

/* NULL on allocation failure. [worker] */
ls_fetcher *ls_fetcher_new(const ls_config *cfg, gwf_instance *inst,
                           ls_fetch_done_cb done, void *arg);
/* Cancels a refresh in flight (done is not called). NULL ignored. */
void ls_fetcher_free(ls_fetcher *f);
/* The credentials to sign with now, or NULL when there are none that
 * are still valid: then the caller waits for ls_fetcher_refresh's done.
 * Valid ones within LS_REFRESH_BEFORE_S of expiry are returned and a
 * refresh is started beside. Borrowed until the next refresh ends. */
const ls_creds *ls_fetcher_get(ls_fetcher *f);
/* Start a refresh unless one is in flight (one per worker). When it
 * cannot start, done(arg, 0) runs before this returns. */
void ls_fetcher_refresh(ls_fetcher *f);
/* 1 while a refresh is in flight. */
int ls_fetcher_busy(const ls_fetcher *f);
void ls_creds_clear(ls_creds *c);

/* provider.c, exposed for the tests: the Credentials of an STS answer
 * (`action` "AssumeRole" or "AssumeRoleWithWebIdentity"), strictly: 0
 * with *out filled, or -1 with `*why` static. */
int ls_sts_parse(const char *xml, size_t len, const char *action, ls_creds *out,
                 const char **why);
/* "2026-01-01T00:00:00Z" (fractions and "+00:00" accepted) to unix
 * seconds; -1 when it is not such a time. */
int64_t ls_parse_time(const char *s, size_t len);

/* Per worker: the signing key, derived once per day/region/service, and
 * the credentials fetcher (when the config's credentials are fetched). */
typedef struct ls_waiter ls_waiter;
typedef struct ls_worker {
    sigv4_key_cache cache;
    ls_fetcher *fetcher;
    ls_waiter *waiters; /* streams paused for a refresh */
} ls_worker;

/* config.c: read config `json` (of document `kind`) into a new *out,
 * every mistake reported through `c` (gwf/sdk_config.h); returns
 * gwf_cfg_status(c), *out NULL unless GWF_OK. Free with ls_config_free,
 * which wipes the credentials. */
gwf_status ls_config_parse(gwf_cfg *c, gwf_view kind, gwf_view json,
                           ls_config **out);
void ls_config_free(ls_config *cfg);

/* credentials.c: fill cfg->access_key/secret_key/session_token from the
 * `auth` object (may be NULL), the environment or the shared file.
 * Mistakes through `c` under `field` (never quoting a secret). */
gwf_status ls_credentials_resolve(gwf_cfg *c, const json_t *auth,
                                  const char *field, ls_config *cfg);

/* lambda.c */
/* What ls_envoy_request returns when it fails. */
enum {
    LS_PAYLOAD_NO_MEMORY = -1,   /* ours: 500 */
    LS_PAYLOAD_BAD_REQUEST = -2, /* the client's request cannot be sent: 400 */
};
/* The Envoy JSON payload for the request (headers from the stream, the
 * given body): 0 with `*payload` malloc'd (the caller frees it) and
 * `*len` its length, or one of LS_PAYLOAD_* with `*why` a static reason
 * that may be shown to the client. */
int ls_envoy_request(gwf_stream *s, gwf_view body, char **payload, size_t *len,
                     const char **why);
/* Bounds on a function's answer headers (headers and cookies together):
 * more is an invalid reply. */
#define LS_MAX_REPLY_HEADERS 100
#define LS_MAX_REPLY_HEADER_BYTES 32768
/* Apply an Envoy JSON reply to the response (status, headers, cookies,
 * body), dropping its hop-by-hop and framing headers. 0, or -1 with
 * `*why` a static reason. */
int ls_envoy_response(gwf_stream *s, gwf_view body, const char **why);
/* Text-like content types travel as text, everything else in base64. */
int ls_content_type_is_text(gwf_view content_type);

#endif
