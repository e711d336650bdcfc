/*
 * lambda_signer.h - what the plugin's files share: the config every
 * worker reads, the per-worker signing-key cache, the per-stream state,
 * and the functions each file offers the others.
 *
 *   config.c       parse and validate the JSON (Backend spec.aws, or a
 *                  GatewayExtension plugin config with mode lambda/sign)
 *   credentials.c  where the AWS credentials come from: a Secret
 *                  document, the AWS_* environment, a shared credentials
 *                  file and profile
 *   lambda.c       the Lambda invocation: the Envoy JSON payload both
 *                  ways, and what a Lambda reply means
 *   filter.c       the hooks and the plugin entry
 *   sigv4.c        the signer itself (no host calls)
 */
#ifndef LAMBDA_SIGNER_H
#define LAMBDA_SIGNER_H

#include <gwf/sdk.h>
#include <gwf/sdk_config.h>
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
    char *invoke_path; /* /2015-03-31/functions/NAME[:Q]/invocations */
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

    int has_metric;
    uint32_t requests_metric;
} ls_config;

/* Per worker: the signing key, derived once per day/region/service. */
typedef struct ls_worker {
    sigv4_key_cache cache;
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
