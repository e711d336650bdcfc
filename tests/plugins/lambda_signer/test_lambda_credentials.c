/*
 * test_lambda_credentials.c - where a Lambda Backend's credentials come
 * from when they are fetched, on the in-process test host against
 * aws_standin.py (STS, the container endpoint and IMDSv2 on loopback):
 * auth.type AssumeRole, and the AWS default chain with no auth
 * (environment, shared files, web identity, container, IMDSv2, in that
 * order). Each source works, is cached, is refreshed before it expires,
 * and fails closed (500, nothing sent upstream) when its peer is down,
 * slow, answers garbage, a cut answer or expired credentials. Also the
 * kgateway fields of this wave: lambda.accountId beside the deprecated
 * aws.accountId, aws.ec2 refused, endpointURL with a path, an empty
 * sessionToken, a request without a body in both payload modes.
 *
 * Signatures are checked by signing what the upstream received again
 * with the signer library, with the credentials the stand-in gave out;
 * the stand-in itself checks AssumeRole's signature with botocore.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <gwf/testing.h>

#include "sigv4.h"

#define PYTHON "/usr/bin/python3"
#define NOW_UNIX 1767225600 /* 2026-01-01T00:00:00Z: the test host's clock */
#define BASE_KEY "AKIDBASEKEY0001"
#define BASE_SECRET "base-secret-key/0001"
#define ROLE_ARN "arn:aws:iam::123456789012:role/gwf-invoke"
#define SEC 1000000000ull

static const char *standin_script; /* argv[1] */

/* -- The stand-in ---------------------------------------------------------- */

typedef struct standin {
    pid_t pid;
    int stdin_fd; /* closing it makes the stand-in exit */
    int port;
    char log[64];
    char url[64]; /* http://127.0.0.1:PORT */
} standin;

/* Start aws_standin.py with `mode` and extra arguments (NULL-ended). */
static void
standin_start(standin *p, const char *mode, const char *const *extra)
{
    int in[2], out[2];
    const char *argv[24];
    size_t n = 0;
    char line[64];
    size_t len = 0;

    memset(p, 0, sizeof *p);
    snprintf(p->log, sizeof p->log, "/tmp/gwf-aws-standin-XXXXXX");
    int fd = mkstemp(p->log);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    argv[n++] = PYTHON;
    argv[n++] = standin_script;
    argv[n++] = "--log";
    argv[n++] = p->log;
    argv[n++] = "--mode";
    argv[n++] = mode;
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    p->pid = fork();
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execv(PYTHON, (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->stdin_fd = in[1];
    assert_true(p->pid > 0);
    while (len < sizeof line - 1) {
        struct pollfd pfd = {.fd = out[0], .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0 || read(out[0], line + len, 1) != 1)
            break;
        if (line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "PORT %d", &p->port) != 1)
        fail_msg("aws_standin.py did not start: \"%s\"", line);
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%d", p->port);
}

static void
standin_stop(standin *p)
{
    close(p->stdin_fd);
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    unlink(p->log);
}

/* How many requests the stand-in logged whose JSON line contains
 * `needle`. */
static int
standin_count(const standin *p, const char *needle)
{
    FILE *f = fopen(p->log, "r");
    char line[65536];
    int n = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* A loopback port with nothing listening on it. */
static int
unused_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/* -- Environment and manifests ----------------------------------------------
 */

static void
clear_aws_env(void)
{
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "GWF_AWS_ECS_ENDPOINT",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_EC2_METADATA_DISABLED",
    };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    setenv("HOME", "/nonexistent-gwf-test-home", 1);
}

/* Base credentials in the environment, STS at the stand-in. */
static void
env_base_and_sts(const standin *p)
{
    clear_aws_env();
    setenv("AWS_ACCESS_KEY_ID", BASE_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", BASE_SECRET, 1);
    setenv("AWS_ENDPOINT_URL_STS", p->url, 1);
}

static const char *
backend(const char *aws)
{
    static char text[16384];
    int n = snprintf(text, sizeof text,
                     "[{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", "
                     "\"kind\": \"Backend\", \"metadata\": {\"name\": "
                     "\"fn\"}, \"spec\": {\"aws\": %s}}]",
                     aws);
    assert_true(n > 0 && (size_t)n < sizeof text);
    return text;
}

#define ASSUME_ROLE                                                            \
    "{\"auth\": {\"type\": \"AssumeRole\", \"assumeRole\": {\"roleArn\": "     \
    "\"" ROLE_ARN "\"}}, \"lambda\": {\"accountId\": \"123456789012\", "       \
    "\"functionName\": \"hello\"}}"
#define NO_AUTH                                                                \
    "{\"lambda\": {\"accountId\": \"123456789012\", \"functionName\": "        \
    "\"hello\"}}"

static gwf_test_host *
host_with(const char *text)
{
    gwf_test_host *h = gwf_test_host_new();
    assert_non_null(h);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    static const char ok[] = "{\"body\": \"ok\"}";
    gwf_test_set_upstream(h, 200, "content-type: application/json\r\n", ok,
                          sizeof ok - 1);
    return h;
}

static const gwf_test_route fn_route = {.backend = "fn"};

static gwf_test_result *
run_get(gwf_test_host *h)
{
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_run(h, &fn_route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

/* The upstream got an Invoke signed by `key`/`secret`, with `token` as
 * X-Amz-Security-Token (NULL: none sent). */
static void
assert_signed_by(gwf_test_result *res, const char *key, const char *secret,
                 const char *token)
{
    if (gwf_test_outcome(res) != GWF_TEST_FORWARDED)
        fail_msg("not forwarded: status %d, details %s", gwf_test_status(res),
                 gwf_test_reply_details(res) ? gwf_test_reply_details(res)
                                             : "(none)");
    size_t body_len = 0;
    const char *body = gwf_test_upstream_body(res, &body_len);
    const char *host = gwf_test_upstream_header(res, "host", 0);
    assert_non_null(host);
    gwf_header headers[] = {
        {gwf_cstr("x-amz-invocation-type"), gwf_cstr("RequestResponse")}};
    sigv4_request req = {
        .method = gwf_cstr(gwf_test_upstream_method(res)),
        .target = gwf_cstr(gwf_test_upstream_path(res)),
        .headers = headers,
        .header_count = 1,
        .host = gwf_cstr(host),
        .payload = {body, body_len},
    };
    sigv4_params params = {
        .region = "us-east-1",
        .service = "lambda",
        .normalize_path = 1,
    };
    const char *date = gwf_test_upstream_header(res, "x-amz-date", 0);
    assert_non_null(date);
    struct tm tm = {0};
    assert_non_null(strptime(date, "%Y%m%dT%H%M%SZ", &tm));
    params.unix_seconds = timegm(&tm);
    sigv4_credentials creds = {key, secret, token};
    sigv4_result out;
    const char *why;
    assert_int_equal(sigv4_sign(&req, &params, &creds, NULL, &out, &why), 0);
    const char *got = gwf_test_upstream_header(res, "authorization", 0);
    assert_non_null(got);
    assert_string_equal(got, out.authorization.data);
    sigv4_result_free(&out);
    const char *sent_token =
        gwf_test_upstream_header(res, "x-amz-security-token", 0);
    if (token)
        assert_string_equal(sent_token, token);
    else
        assert_null(sent_token);
}

static void
assert_standin_creds(gwf_test_result *res, int n)
{
    char key[32], secret[32], token[32];
    snprintf(key, sizeof key, "ASIASTANDIN%d", n);
    snprintf(secret, sizeof secret, "standin-secret-%d", n);
    snprintf(token, sizeof token, "standin-token-%d", n);
    assert_signed_by(res, key, secret, token);
}

static void
assert_fails_closed(gwf_test_result *res)
{
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res),
                        "aws_credentials_unavailable");
    assert_null(gwf_test_upstream_method(res));
}

/* -- AssumeRole ------------------------------------------------------------ */

static void
test_assume_role_signs_with_the_role_credentials(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "ok", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1);
    /* One AssumeRole, signed with the base credentials (botocore checked
     * it), for the role. */
    assert_int_equal(standin_count(&p, "Action=AssumeRole&"), 1);
    assert_int_equal(standin_count(&p, "\"verified\": true"), 1);
    assert_int_equal(standin_count(&p, "RoleArn=arn%3Aaws%3Aiam%3A%3A"
                                       "123456789012%3Arole%2Fgwf-invoke"),
                     1);
    assert_true(gwf_test_log_contains(h, "credentials from AssumeRole"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_assume_role_credentials_are_cached(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "ok", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    for (int i = 0; i < 3; i++) {
        gwf_test_result *res = run_get(h);
        assert_standin_creds(res, 1);
        gwf_test_result_free(res);
        gwf_test_advance(h, 10 * 60 * SEC); /* 00:30 at the end */
    }
    assert_int_equal(standin_count(&p, "Action=AssumeRole&"), 1);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* Five minutes before they expire, the credentials are refreshed, and
 * still sign while the refresh runs (here it never ends). */
static void
test_assume_role_refreshed_five_minutes_before_expiry(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "hang-after-first", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1); /* expire at 01:00 */
    gwf_test_result_free(res);
    gwf_test_advance(h, 54 * 60 * SEC); /* 00:54: not yet due */
    res = run_get(h);
    assert_standin_creds(res, 1);
    gwf_test_result_free(res);
    assert_int_equal(standin_count(&p, "Action=AssumeRole&"), 1);
    gwf_test_advance(h, 2 * 60 * SEC); /* 00:56: due */
    res = run_get(h);
    assert_standin_creds(res, 1);
    gwf_test_result_free(res);
    /* The refresh started at 00:56 (its X-Amz-Date says so) goes out
     * as soon as the loop runs: here while a request at 01:01, with the
     * credentials expired, waits on it (and starts no other). It never
     * ends: the wait does, 500. */
    gwf_test_advance(h, 5 * 60 * SEC);
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    res = gwf_test_start(h, &fn_route, req, 500);
    gwf_test_request_free(req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    for (int i = 0; i < 100 && standin_count(&p, "Action=AssumeRole&") < 2; i++)
        gwf_test_wait(h, res, 20);
    assert_int_equal(standin_count(&p, "Action=AssumeRole&"), 2);
    assert_int_equal(standin_count(&p, "\"x-amz-date\": \"20260101T005600Z"),
                     1);
    gwf_test_advance(h, 10 * SEC);
    assert_int_equal(gwf_test_wait(h, res, 1000), 1);
    assert_fails_closed(res);
    gwf_test_result_free(res);
    assert_int_equal(standin_count(&p, "Action=AssumeRole&"), 2);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_expired_credentials_are_refreshed_before_signing(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "ok", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1);
    gwf_test_result_free(res);
    gwf_test_advance(h, 61 * 60 * SEC); /* 01:01: expired */
    res = run_get(h);
    assert_standin_creds(res, 2);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* Requests that find no credentials wait on the one refresh in flight. */
static void
test_concurrent_requests_share_one_refresh(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "ok", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *a = gwf_test_start(h, &fn_route, req, 0);
    gwf_test_result *b = gwf_test_start(h, &fn_route, req, 0);
    gwf_test_result *c = gwf_test_start(h, &fn_route, req, 0);
    gwf_test_request_free(req);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(gwf_test_wait(h, a, 5000), 1);
    assert_int_equal(gwf_test_wait(h, b, 5000), 1);
    assert_int_equal(gwf_test_wait(h, c, 5000), 1);
    assert_standin_creds(a, 1);
    assert_standin_creds(b, 1);
    assert_standin_creds(c, 1);
    assert_int_equal(standin_count(&p, "Action=AssumeRole&"), 1);
    gwf_test_result_free(a);
    gwf_test_result_free(b);
    gwf_test_result_free(c);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_assume_role_sts_down_fails_closed_with_500(void **state)
{
    (void)state;
    char url[64];
    clear_aws_env();
    setenv("AWS_ACCESS_KEY_ID", BASE_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", BASE_SECRET, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", unused_port());
    setenv("AWS_ENDPOINT_URL_STS", url, 1);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(
        h, "cannot refresh the AWS credentials from STS AssumeRole"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    clear_aws_env();
}

/* STS refuses (the base secret is not one it knows): its error code is
 * logged, the request fails closed. */
static void
test_assume_role_refused_by_sts_fails_closed_with_its_code_logged(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":another-secret",
                                 NULL};
    standin_start(&p, "ok", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(h, "HTTP status 403 "
                                         "SignatureDoesNotMatch"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
assume_role_misbehaving(const char *mode, const char *logged)
{
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, mode, extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    if (!gwf_test_log_contains(h, logged))
        fail_msg("\"%s\" not in the logs:\n%s", logged, gwf_test_logs(h));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_assume_role_garbage_answer_fails_closed(void **state)
{
    (void)state;
    assume_role_misbehaving("garbage", "not an STS answer");
}

static void
test_assume_role_status_500_fails_closed(void **state)
{
    (void)state;
    assume_role_misbehaving("status500", "HTTP status 500 InternalFailure");
}

static void
test_assume_role_truncated_answer_fails_closed(void **state)
{
    (void)state;
    assume_role_misbehaving("truncated", "cannot refresh the AWS credentials");
}

static void
test_assume_role_expired_answer_fails_closed(void **state)
{
    (void)state;
    assume_role_misbehaving("expired", "already expired");
}

static void
test_assume_role_answer_with_doctype_fails_closed(void **state)
{
    (void)state;
    assume_role_misbehaving("doctype", "markup declarations in the STS answer");
}

static void
test_assume_role_answer_with_two_access_keys_fails_closed(void **state)
{
    (void)state;
    assume_role_misbehaving("duplicate",
                            "invalid Credentials in the STS answer");
}

/* STS never answers: the request's wait (LS_WAIT_TIMEOUT_MS, 10 s)
 * ends it with 500, by the host's clock. */
static void
test_assume_role_sts_hang_times_out_with_500(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "hang", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_start(h, &fn_route, req, 300);
    gwf_test_request_free(req);
    assert_non_null(res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 9 * SEC);
    gwf_test_wait(h, res, 50);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 1 * SEC);
    assert_int_equal(gwf_test_wait(h, res, 1000), 1);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(h, "no AWS credentials after waiting"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* A client that goes away while its request waits for credentials:
 * its wait ends with it, and its timer never fires afterwards. */
static void
test_client_gone_while_waiting_leaves_no_timer(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "hang", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_start(h, &fn_route, req, 200);
    gwf_test_request_free(req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_abort(h, res);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_ABORTED);
    gwf_test_advance(h, 20 * SEC);
    assert_false(gwf_test_log_contains(h, "no AWS credentials after waiting"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* A refresh that fails keeps the credentials that are still valid;
 * once they expire, requests fail closed. */
static void
test_failed_refresh_keeps_valid_credentials_until_they_expire(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "down-after-first", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1);
    gwf_test_result_free(res);
    gwf_test_advance(h, 56 * 60 * SEC);
    res = run_get(h); /* due: a refresh starts, and fails */
    assert_standin_creds(res, 1);
    gwf_test_result_free(res);
    res = run_get(h);
    assert_standin_creds(res, 1);
    gwf_test_result_free(res);
    gwf_test_advance(h, 5 * 60 * SEC); /* 01:01 */
    res = run_get(h);
    assert_fails_closed(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* After a refresh failed, the next one starts no sooner than 1 s later:
 * requests in between fail closed at once, and a peer that refuses is
 * not called once per request. */
static void
test_failed_refresh_is_not_retried_within_a_second(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--base-key", BASE_KEY ":" BASE_SECRET, NULL};
    standin_start(&p, "status500", extra);
    env_base_and_sts(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    gwf_test_result_free(res);
    int calls = standin_count(&p, "Action=AssumeRole&");
    assert_true(calls >= 1);
    res = run_get(h);
    assert_fails_closed(res);
    gwf_test_result_free(res);
    assert_int_equal(standin_count(&p, "Action=AssumeRole&"), calls);
    gwf_test_advance(h, 2 * SEC);
    res = run_get(h);
    assert_fails_closed(res);
    gwf_test_result_free(res);
    for (int i = 0;
         i < 100 && standin_count(&p, "Action=AssumeRole&") < calls + 1; i++)
        usleep(10000);
    assert_int_equal(standin_count(&p, "Action=AssumeRole&"), calls + 1);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* -- The default chain ----------------------------------------------------- */

static char web_token_path[64];

static void
write_file(char *path, size_t cap, const char *content)
{
    snprintf(path, cap, "/tmp/gwf-lambda-file-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)),
                     (ssize_t)strlen(content));
    close(fd);
}

static void
env_web_identity(const standin *p)
{
    clear_aws_env();
    write_file(web_token_path, sizeof web_token_path,
               "standin-web-identity-token\n");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", web_token_path, 1);
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_ENDPOINT_URL_STS", p->url, 1);
}

static void
test_web_identity_token_is_exchanged_unsigned(void **state)
{
    (void)state;
    standin p;
    standin_start(&p, "ok", NULL);
    env_web_identity(&p);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1);
    assert_int_equal(standin_count(&p, "Action=AssumeRoleWithWebIdentity&"), 1);
    assert_int_equal(standin_count(&p, "WebIdentityToken=standin-web-"
                                       "identity-token"),
                     1);
    assert_int_equal(standin_count(&p, "\"authorization\""), 0);
    assert_true(gwf_test_log_contains(h, "credentials from web identity"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    unlink(web_token_path);
    clear_aws_env();
}

/* AssumeRole chains off a fetched base: web identity first, then
 * AssumeRole signed with what it gave. */
static void
test_assume_role_chains_off_web_identity(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {
        "--base-key", "ASIASTANDIN1:standin-secret-1:standin-token-1", NULL};
    standin_start(&p, "ok", extra);
    env_web_identity(&p);
    gwf_test_host *h = host_with(backend(ASSUME_ROLE));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 2);
    assert_int_equal(standin_count(&p, "\"verified\": true"), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    unlink(web_token_path);
    clear_aws_env();
}

static void
test_web_identity_token_file_missing_fails_closed(void **state)
{
    (void)state;
    standin p;
    standin_start(&p, "ok", NULL);
    env_web_identity(&p);
    unlink(web_token_path);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(h, "cannot read the token file"));
    assert_int_equal(standin_count(&p, "\"method\""), 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_environment_comes_before_web_identity(void **state)
{
    (void)state;
    standin p;
    standin_start(&p, "ok", NULL);
    env_web_identity(&p);
    setenv("AWS_ACCESS_KEY_ID", BASE_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", BASE_SECRET, 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    assert_int_equal(standin_count(&p, "\"method\""), 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    unlink(web_token_path);
    clear_aws_env();
}

static void
test_shared_file_comes_before_the_container_endpoint(void **state)
{
    (void)state;
    char path[64];
    clear_aws_env();
    write_file(path, sizeof path,
               "[default]\naws_access_key_id = " BASE_KEY
               "\naws_secret_access_key = " BASE_SECRET "\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds", 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    unlink(path);
    clear_aws_env();
}

static void
test_config_file_profile_gives_credentials(void **state)
{
    (void)state;
    char path[64];
    clear_aws_env();
    write_file(path, sizeof path,
               "[default]\nregion = eu-west-1\n[profile ci]\n"
               "aws_access_key_id = " BASE_KEY
               "\naws_secret_access_key = " BASE_SECRET "\n");
    setenv("AWS_CONFIG_FILE", path, 1);
    setenv("AWS_PROFILE", "ci", 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    unlink(path);
    clear_aws_env();
}

/* EKS Pod Identity: the full URI, the token read from its file on each
 * fetch and sent as Authorization. */
static void
test_container_endpoint_with_token_file(void **state)
{
    (void)state;
    standin p;
    char token_path[64], url[96];
    const char *const extra[] = {"--auth", "pod-identity-token", NULL};
    standin_start(&p, "ok", extra);
    clear_aws_env();
    write_file(token_path, sizeof token_path, "pod-identity-token\n");
    snprintf(url, sizeof url, "%s/v1/credentials", p.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_path, 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1);
    assert_int_equal(standin_count(&p, "\"path\": \"/v1/credentials\""), 1);
    assert_true(gwf_test_log_contains(h, "credentials from container"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    unlink(token_path);
    clear_aws_env();
}

static void
test_container_endpoint_wrong_token_fails_closed(void **state)
{
    (void)state;
    standin p;
    char url[96];
    const char *const extra[] = {"--auth", "pod-identity-token", NULL};
    standin_start(&p, "ok", extra);
    clear_aws_env();
    snprintf(url, sizeof url, "%s/v1/credentials", p.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "another-token", 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(h, "HTTP status 403"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* ECS: the relative URI on 169.254.170.2 (here the stand-in). */
static void
test_container_relative_uri_as_ecs(void **state)
{
    (void)state;
    standin p;
    standin_start(&p, "ok", NULL);
    clear_aws_env();
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc", 1);
    setenv("GWF_AWS_ECS_ENDPOINT", p.url, 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1);
    assert_int_equal(standin_count(&p, "\"path\": \"/v2/credentials/abc\""), 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_container_answer_without_token_fails_closed(void **state)
{
    (void)state;
    standin p;
    char url[96];
    standin_start(&p, "no-token", NULL);
    clear_aws_env();
    snprintf(url, sizeof url, "%s/creds", p.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_container_endpoint_down_fails_closed(void **state)
{
    (void)state;
    char url[96];
    clear_aws_env();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/creds", unused_port());
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(
        h, "cannot refresh the AWS credentials from the container "
           "credentials endpoint"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    clear_aws_env();
}

static void
test_config_error_container_full_uri_over_http_to_a_remote_host(void **state)
{
    (void)state;
    clear_aws_env();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.7/creds", 1);
    gwf_test_host *h = gwf_test_host_new();
    assert_int_equal(gwf_test_load_text(h, backend(NO_AUTH)), 0);
    assert_int_equal(gwf_test_validate(h), -1);
    assert_non_null(strstr(gwf_test_error(h),
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI over http must "
                           "name a loopback address"));
    gwf_test_host_free(h);
    clear_aws_env();
}

static void
test_container_answer_expired_fails_closed(void **state)
{
    (void)state;
    standin p;
    char url[96];
    standin_start(&p, "expired", NULL);
    clear_aws_env();
    snprintf(url, sizeof url, "%s/creds", p.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(h, "already expired"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* STS refuses the web identity token: InvalidIdentityToken logged. */
static void
test_web_identity_refused_fails_closed_with_its_code_logged(void **state)
{
    (void)state;
    standin p;
    const char *const extra[] = {"--web-token", "another-token", NULL};
    standin_start(&p, "ok", extra);
    env_web_identity(&p);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(
        gwf_test_log_contains(h, "HTTP status 400 InvalidIdentityToken"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    unlink(web_token_path);
    clear_aws_env();
}

static void
env_imds(const char *url)
{
    clear_aws_env();
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
}

/* IMDSv2: a session token (PUT), the role name, its credentials. */
static void
test_imds_v2_token_role_and_credentials(void **state)
{
    (void)state;
    standin p;
    standin_start(&p, "ok", NULL);
    env_imds(p.url);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1);
    assert_int_equal(standin_count(&p, "\"method\": \"PUT\", \"path\": "
                                       "\"/latest/api/token\""),
                     1);
    assert_int_equal(standin_count(&p, "\"path\": \"/latest/meta-data/iam/"
                                       "security-credentials/\""),
                     1);
    assert_int_equal(standin_count(&p, "\"path\": \"/latest/meta-data/iam/"
                                       "security-credentials/gwf-standin-"
                                       "role\""),
                     1);
    assert_true(gwf_test_log_contains(h, "credentials from IMDSv2"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_imds_credentials_expired_are_refreshed(void **state)
{
    (void)state;
    standin p;
    standin_start(&p, "ok", NULL);
    env_imds(p.url);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_standin_creds(res, 1);
    gwf_test_result_free(res);
    gwf_test_advance(h, 90 * 60 * SEC); /* 01:30: the first expired */
    res = run_get(h);
    assert_standin_creds(res, 2);
    gwf_test_result_free(res);
    assert_int_equal(standin_count(&p, "/latest/api/token"), 2);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_imds_down_fails_closed(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", unused_port());
    env_imds(url);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(
        h, "cannot refresh the AWS credentials from IMDSv2"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    clear_aws_env();
}

static void
test_imds_garbage_fails_closed(void **state)
{
    (void)state;
    standin p;
    standin_start(&p, "garbage", NULL);
    env_imds(p.url);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_result *res = run_get(h);
    assert_fails_closed(res);
    assert_true(gwf_test_log_contains(h, "not a JSON object"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* IMDS never answers: the wait ends the request, 500. */
static void
test_imds_hang_times_out_with_500(void **state)
{
    (void)state;
    standin p;
    standin_start(&p, "hang", NULL);
    env_imds(p.url);
    gwf_test_host *h = host_with(backend(NO_AUTH));
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_result *res = gwf_test_start(h, &fn_route, req, 300);
    gwf_test_request_free(req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 10 * SEC);
    assert_int_equal(gwf_test_wait(h, res, 1000), 1);
    assert_fails_closed(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

/* The sign mode (a GatewayExtension) waits for fetched credentials too:
 * a request without a body (signed in its headers hook) and one with a
 * body (hashed in its body hook, signed when the credentials come). */
static const char *
signer_extension(void)
{
    return "[{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", "
           "\"kind\": \"GatewayExtension\", \"metadata\": {\"name\": "
           "\"signer\"}, \"spec\": {\"plugin\": {\"name\": "
           "\"lambda_signer\", \"config\": {\"mode\": \"sign\", "
           "\"service\": \"execute-api\"}}}}]";
}

static void
assert_sign_mode_with_fetched_credentials(const char *method, const char *body)
{
    standin p;
    standin_start(&p, "ok", NULL);
    env_imds(p.url);
    gwf_test_host *h = host_with(signer_extension());
    static const char *const exts[] = {"signer", NULL};
    const gwf_test_route route = {.extensions = exts};
    gwf_test_request *req = gwf_test_request_new(method, "/api/x");
    gwf_test_request_header(req, "host", "api.example.com");
    if (body)
        gwf_test_request_body(req, body, strlen(body));
    gwf_test_result *res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    const char *auth = gwf_test_upstream_header(res, "authorization", 0);
    assert_non_null(auth);
    assert_non_null(strstr(auth, "Credential=ASIASTANDIN1/20260101/"
                                 "us-east-1/execute-api/aws4_request"));
    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-security-token", 0),
        "standin-token-1");
    if (body) {
        size_t len = 0;
        const char *got = gwf_test_upstream_body(res, &len);
        assert_int_equal(len, strlen(body));
        assert_memory_equal(got, body, len);
    }
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    standin_stop(&p);
    clear_aws_env();
}

static void
test_sign_mode_without_body_waits_for_fetched_credentials(void **state)
{
    (void)state;
    assert_sign_mode_with_fetched_credentials("GET", NULL);
}

static void
test_sign_mode_with_body_waits_for_fetched_credentials(void **state)
{
    (void)state;
    assert_sign_mode_with_fetched_credentials("POST", "{\"q\": 1}");
}

static void
test_imds_disabled_leaves_no_credentials(void **state)
{
    (void)state;
    clear_aws_env();
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    gwf_test_host *h = gwf_test_host_new();
    assert_int_equal(gwf_test_load_text(h, backend(NO_AUTH)), 0);
    assert_int_equal(gwf_test_validate(h), -1);
    assert_non_null(strstr(gwf_test_error(h), "no AWS credentials"));
    gwf_test_host_free(h);
    clear_aws_env();
}

/* -- kgateway fields ------------------------------------------------------- */

static const char *secret_doc =
    "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
    "\"aws\"}, \"stringData\": {\"accessKey\": \"" BASE_KEY
    "\", \"secretKey\": \"" BASE_SECRET "\", \"sessionToken\": \"\"}}";

static const char *
backend_with_secret(const char *aws)
{
    static char text[16384];
    int n = snprintf(text, sizeof text,
                     "[{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", "
                     "\"kind\": \"Backend\", \"metadata\": {\"name\": "
                     "\"fn\"}, \"spec\": {\"aws\": %s}}, %s]",
                     aws, secret_doc);
    assert_true(n > 0 && (size_t)n < sizeof text);
    return text;
}

#define SECRET_AUTH                                                            \
    "\"auth\": {\"type\": \"Secret\", \"secretRef\": {\"name\": \"aws\"}}"

static void
test_empty_session_token_in_secret_sends_none(void **state)
{
    (void)state;
    clear_aws_env();
    gwf_test_host *h = host_with(backend_with_secret(
        "{" SECRET_AUTH ", \"lambda\": {\"accountId\": \"123456789012\", "
        "\"functionName\": \"hello\"}}"));
    gwf_test_result *res = run_get(h);
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_account_id_is_taken_and_logged(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend_with_secret(
        "{" SECRET_AUTH ", \"lambda\": {\"accountId\": \"123456789012\", "
        "\"functionName\": \"hello\"}}"));
    gwf_test_result *res = run_get(h);
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    assert_true(gwf_test_log_contains(h, "account 123456789012"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Both set and different: lambda.accountId takes precedence (kgateway's
 * rule), the deprecated one is logged as such. */
static void
test_lambda_account_id_takes_precedence_over_deprecated(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        backend_with_secret("{\"accountId\": \"999999999999\", " SECRET_AUTH
                            ", \"lambda\": {\"accountId\": \"123456789012\", "
                            "\"functionName\": \"hello\"}}"));
    gwf_test_result *res = run_get(h);
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    assert_true(gwf_test_log_contains(h, "account 123456789012"));
    assert_true(gwf_test_log_contains(
        h, "accountId: deprecated in kgateway, set lambda.accountId instead "
           "(lambda.accountId differs and takes precedence)"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_deprecated_account_id_alone_is_accepted_with_info(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        backend_with_secret("{\"accountId\": \"123456789012\", " SECRET_AUTH
                            ", \"lambda\": {\"functionName\": \"hello\"}}"));
    gwf_test_result *res = run_get(h);
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    assert_true(gwf_test_log_contains(h, "INFO"));
    assert_true(gwf_test_log_contains(
        h, "accountId: deprecated in kgateway, set lambda.accountId instead"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
assert_config_error(const char *text, const char *field, const char *message)
{
    gwf_test_host *h = gwf_test_host_new();
    assert_int_equal(gwf_test_load_text(h, text), 0);
    assert_int_equal(gwf_test_validate(h), -1);
    const char *err = gwf_test_error(h);
    if (!err || !strstr(err, field) || !strstr(err, message))
        fail_msg("want field \"%s\" and \"%s\" in:\n%s", field, message,
                 err ? err : "(null)");
    gwf_test_host_free(h);
}

static void
test_config_error_lambda_account_id_not_12_digits(void **state)
{
    (void)state;
    assert_config_error(
        backend_with_secret("{" SECRET_AUTH ", \"lambda\": {\"accountId\": "
                            "\"1234\", \"functionName\": \"f\"}}"),
        "lambda.accountId", "invalid account id \"1234\" (expected 12 digits)");
}

static void
test_config_error_ec2_is_refused_by_name(void **state)
{
    (void)state;
    assert_config_error(
        backend_with_secret("{" SECRET_AUTH ", \"ec2\": {\"port\": 80}}"),
        "aws.ec2", "EC2 instance discovery (aws.ec2) is not supported");
}

static void
test_config_error_role_arn_invalid(void **state)
{
    (void)state;
    assert_config_error(
        backend("{\"auth\": {\"type\": \"AssumeRole\", \"assumeRole\": "
                "{\"roleArn\": \"arn:aws:iam::12:role/x\"}}, \"lambda\": "
                "{\"accountId\": \"123456789012\", \"functionName\": "
                "\"f\"}}"),
        "auth.assumeRole.roleArn", "invalid role ARN");
}

static void
test_config_error_assume_role_missing(void **state)
{
    (void)state;
    assert_config_error(
        backend("{\"auth\": {\"type\": \"AssumeRole\"}, \"lambda\": "
                "{\"accountId\": \"123456789012\", \"functionName\": "
                "\"f\"}}"),
        "auth.assumeRole", "is required");
}

static void
test_config_error_assume_role_with_type_secret(void **state)
{
    (void)state;
    assert_config_error(
        backend_with_secret(
            "{\"auth\": {\"type\": \"Secret\", \"secretRef\": {\"name\": "
            "\"aws\"}, \"assumeRole\": {\"roleArn\": \"" ROLE_ARN "\"}}, "
            "\"lambda\": {\"accountId\": \"123456789012\", "
            "\"functionName\": \"f\"}}"),
        "auth.assumeRole",
        "assumeRole must be nil if the type is not 'AssumeRole'");
}

static void
test_config_error_secret_ref_with_type_assume_role(void **state)
{
    (void)state;
    assert_config_error(
        backend_with_secret(
            "{\"auth\": {\"type\": \"AssumeRole\", \"secretRef\": {\"name\": "
            "\"aws\"}, \"assumeRole\": {\"roleArn\": \"" ROLE_ARN "\"}}, "
            "\"lambda\": {\"accountId\": \"123456789012\", "
            "\"functionName\": \"f\"}}"),
        "auth.secretRef", "secretRef must be nil if the type is not 'Secret'");
}

/* endpointURL with a path: the Invoke path is appended to it, and that
 * whole path is what is signed. */
static void
test_endpoint_url_path_prefixes_the_invoke_path(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend_with_secret(
        "{" SECRET_AUTH ", \"lambda\": {\"accountId\": \"123456789012\", "
        "\"functionName\": \"hello\", \"endpointURL\": "
        "\"http://127.0.0.1:4566/lambda-proxy/\"}}"));
    gwf_test_result *res = run_get(h);
    assert_string_equal(gwf_test_upstream_path(res),
                        "/lambda-proxy/2015-03-31/functions/hello/"
                        "invocations");
    assert_string_equal(gwf_test_upstream_header(res, "host", 0),
                        "127.0.0.1:4566");
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_config_error_endpoint_url_with_query(void **state)
{
    (void)state;
    assert_config_error(
        backend_with_secret("{" SECRET_AUTH ", \"lambda\": {\"accountId\": "
                            "\"123456789012\", \"functionName\": \"f\", "
                            "\"endpointURL\": \"https://x/p?q=1\"}}"),
        "lambda.endpointURL", "no query or fragment");
}

/* A GET with no body is invoked in both payload modes. */
static void
test_request_without_body_is_invoked_with_no_transform(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend_with_secret(
        "{" SECRET_AUTH ", \"lambda\": {\"accountId\": \"123456789012\", "
        "\"functionName\": \"hello\", \"payloadTransformMode\": "
        "\"None\"}}"));
    gwf_test_set_upstream(h, 200, "content-type: text/plain\r\n", "raw", 3);
    gwf_test_result *res = run_get(h);
    assert_string_equal(gwf_test_upstream_method(res), "POST");
    assert_string_equal(gwf_test_upstream_path(res),
                        "/2015-03-31/functions/hello/invocations");
    size_t len = 99;
    gwf_test_upstream_body(res, &len);
    assert_int_equal(len, 0);
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    assert_int_equal(gwf_test_status(res), 200);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_request_without_body_is_invoked_with_envoy_transform(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend_with_secret(
        "{" SECRET_AUTH ", \"lambda\": {\"accountId\": \"123456789012\", "
        "\"functionName\": \"hello\", \"payloadTransformMode\": "
        "\"Envoy\"}}"));
    gwf_test_result *res = run_get(h);
    size_t len = 0;
    const char *body = gwf_test_upstream_body(res, &len);
    assert_non_null(body);
    assert_non_null(memmem(body, len, "\"GET\"", 5));
    assert_signed_by(res, BASE_KEY, BASE_SECRET, NULL);
    assert_int_equal(gwf_test_status(res), 200);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s aws_standin.py\n", argv[0]);
        return 2;
    }
    standin_script = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assume_role_signs_with_the_role_credentials),
        cmocka_unit_test(test_assume_role_credentials_are_cached),
        cmocka_unit_test(test_assume_role_refreshed_five_minutes_before_expiry),
        cmocka_unit_test(test_expired_credentials_are_refreshed_before_signing),
        cmocka_unit_test(test_concurrent_requests_share_one_refresh),
        cmocka_unit_test(test_assume_role_sts_down_fails_closed_with_500),
        cmocka_unit_test(
            test_assume_role_refused_by_sts_fails_closed_with_its_code_logged),
        cmocka_unit_test(test_assume_role_garbage_answer_fails_closed),
        cmocka_unit_test(test_assume_role_status_500_fails_closed),
        cmocka_unit_test(test_assume_role_truncated_answer_fails_closed),
        cmocka_unit_test(test_assume_role_expired_answer_fails_closed),
        cmocka_unit_test(test_assume_role_answer_with_doctype_fails_closed),
        cmocka_unit_test(
            test_assume_role_answer_with_two_access_keys_fails_closed),
        cmocka_unit_test(test_assume_role_sts_hang_times_out_with_500),
        cmocka_unit_test(test_client_gone_while_waiting_leaves_no_timer),
        cmocka_unit_test(
            test_failed_refresh_keeps_valid_credentials_until_they_expire),
        cmocka_unit_test(test_failed_refresh_is_not_retried_within_a_second),
        cmocka_unit_test(test_web_identity_token_is_exchanged_unsigned),
        cmocka_unit_test(test_assume_role_chains_off_web_identity),
        cmocka_unit_test(test_web_identity_token_file_missing_fails_closed),
        cmocka_unit_test(test_environment_comes_before_web_identity),
        cmocka_unit_test(test_shared_file_comes_before_the_container_endpoint),
        cmocka_unit_test(test_config_file_profile_gives_credentials),
        cmocka_unit_test(test_container_endpoint_with_token_file),
        cmocka_unit_test(test_container_endpoint_wrong_token_fails_closed),
        cmocka_unit_test(test_container_relative_uri_as_ecs),
        cmocka_unit_test(test_container_answer_without_token_fails_closed),
        cmocka_unit_test(test_container_endpoint_down_fails_closed),
        cmocka_unit_test(test_container_answer_expired_fails_closed),
        cmocka_unit_test(
            test_config_error_container_full_uri_over_http_to_a_remote_host),
        cmocka_unit_test(
            test_web_identity_refused_fails_closed_with_its_code_logged),
        cmocka_unit_test(test_imds_v2_token_role_and_credentials),
        cmocka_unit_test(test_imds_credentials_expired_are_refreshed),
        cmocka_unit_test(test_imds_down_fails_closed),
        cmocka_unit_test(test_imds_garbage_fails_closed),
        cmocka_unit_test(test_imds_hang_times_out_with_500),
        cmocka_unit_test(
            test_sign_mode_without_body_waits_for_fetched_credentials),
        cmocka_unit_test(
            test_sign_mode_with_body_waits_for_fetched_credentials),
        cmocka_unit_test(test_imds_disabled_leaves_no_credentials),
        cmocka_unit_test(test_empty_session_token_in_secret_sends_none),
        cmocka_unit_test(test_lambda_account_id_is_taken_and_logged),
        cmocka_unit_test(
            test_lambda_account_id_takes_precedence_over_deprecated),
        cmocka_unit_test(
            test_deprecated_account_id_alone_is_accepted_with_info),
        cmocka_unit_test(test_config_error_lambda_account_id_not_12_digits),
        cmocka_unit_test(test_config_error_ec2_is_refused_by_name),
        cmocka_unit_test(test_config_error_role_arn_invalid),
        cmocka_unit_test(test_config_error_assume_role_missing),
        cmocka_unit_test(test_config_error_assume_role_with_type_secret),
        cmocka_unit_test(test_config_error_secret_ref_with_type_assume_role),
        cmocka_unit_test(test_endpoint_url_path_prefixes_the_invoke_path),
        cmocka_unit_test(test_config_error_endpoint_url_with_query),
        cmocka_unit_test(
            test_request_without_body_is_invoked_with_no_transform),
        cmocka_unit_test(
            test_request_without_body_is_invoked_with_envoy_transform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
