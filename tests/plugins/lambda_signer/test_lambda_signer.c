/*
 * test_lambda_signer.c - the lambda_signer plugin on the in-process test
 * host: the Lambda invocation (request rewrite, signature, Envoy payload
 * both ways, function errors, invalid replies), the sign mode
 * (GatewayExtension), where credentials come from, that they never leak,
 * and every config error with the message an operator reads.
 *
 * Signatures are checked by signing the request the upstream received
 * again with the signer library (itself checked against AWS's suite and
 * botocore), at the host's fixed clock, 2026-01-01T00:00:00Z.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <gwf/testing.h>

#include "sigv4.h"

#define ACCESS_KEY "AKIDLAMBDATEST0001"
#define SECRET_KEY "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY"
#define SESSION_TOKEN "IQoJb3JpZ2luX2VjEXAMPLETOKEN/abc+def=="
/* base64 of the three above */
#define ACCESS_KEY_B64 "QUtJRExBTUJEQVRFU1QwMDAx"
#define SECRET_KEY_B64 "d0phbHJYVXRuRkVNSS9LN01ERU5HK2JQeFJmaUNZU0VDUkVUS0VZ"
#define SESSION_TOKEN_B64 "SVFvSmIzSnBaMmx1WDJWakVYQU1QTEVUT0tFTi9hYmMrZGVmPT0="

#define NOW_UNIX 1767225600 /* 2026-01-01T00:00:00Z: the test host's clock */

static const char *secret_string_data =
    "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": "
    "\"aws\"}, \"stringData\": {\"accessKey\": \"" ACCESS_KEY
    "\", \"secretKey\": \"" SECRET_KEY "\"}}";

/* A Backend default/fn with `aws` as its spec.aws, plus `extra`
 * documents (JSON objects, comma-separated, may be ""). */
static const char *
backend(const char *aws, const char *extra)
{
    static char text[16384];
    int n = snprintf(text, sizeof text,
                     "[{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", "
                     "\"kind\": \"Backend\", \"metadata\": {\"name\": "
                     "\"fn\"}, \"spec\": {\"aws\": %s}}%s%s]",
                     aws, *extra ? ", " : "", extra);
    assert_true(n > 0 && (size_t)n < sizeof text);
    return text;
}

/* A GatewayExtension default/signer with plugin config `config`. */
static const char *
extension(const char *config, const char *extra)
{
    static char text[16384];
    int n = snprintf(text, sizeof text,
                     "[{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", "
                     "\"kind\": \"GatewayExtension\", \"metadata\": "
                     "{\"name\": \"signer\"}, \"spec\": {\"plugin\": "
                     "{\"name\": \"lambda_signer\", \"config\": %s}}}%s%s]",
                     config, *extra ? ", " : "", extra);
    assert_true(n > 0 && (size_t)n < sizeof text);
    return text;
}

#define FN_SECRET                                                              \
    "{\"accountId\": \"123456789012\", \"auth\": {\"type\": \"Secret\", "      \
    "\"secretRef\": {\"name\": \"aws\"}}, \"lambda\": {\"functionName\": "     \
    "\"hello\"%s}}"

static const char *
fn_spec(const char *lambda_extra)
{
    static char spec[2048];
    snprintf(spec, sizeof spec, FN_SECRET, lambda_extra);
    return spec;
}

/* A host with `text` loaded (and a body limit, 0 for the default),
 * whose stub upstream answers as a Lambda function would in the Envoy
 * format (tests that need another answer set their own). */
static gwf_test_host *
host_with_max_body(const char *text, size_t max_body)
{
    gwf_test_host *h = gwf_test_host_new();
    assert_non_null(h);
    /* Host limits are fixed before the first manifest loads. */
    if (max_body)
        gwf_test_set_max_body(h, max_body);
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
    static const char ok[] = "{\"body\": \"ok\"}";
    gwf_test_set_upstream(h, 200, "content-type: application/json\r\n", ok,
                          sizeof ok - 1);
    return h;
}

static gwf_test_host *
host_with(const char *text)
{
    return host_with_max_body(text, 0);
}

static gwf_test_result *
run(gwf_test_host *h, const gwf_test_route *route, gwf_test_request *req)
{
    gwf_test_result *res = gwf_test_run(h, route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

static gwf_test_result *
run_backend(gwf_test_host *h, gwf_test_request *req)
{
    const gwf_test_route route = {.backend = "fn"};
    return run(h, &route, req);
}

static gwf_test_result *
run_extension(gwf_test_host *h, gwf_test_request *req)
{
    static const char *const exts[] = {"signer", NULL};
    const gwf_test_route route = {.extensions = exts};
    return run(h, &route, req);
}

static void
assert_body(gwf_test_result *res, const char *want)
{
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);
    if (len != strlen(want) || memcmp(body ? body : "", want, len) != 0)
        fail_msg("body: want \"%s\", got \"%.*s\"", want, (int)len,
                 body ? body : "");
}

static void
assert_contains(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle))
        fail_msg("\"%s\" not found in:\n%s", needle, hay ? hay : "(null)");
}

/* Sign what the upstream got (method, path, host, the given signed
 * headers, body or UNSIGNED-PAYLOAD) again and compare with its
 * Authorization header. */
static void
assert_signed_payload(gwf_test_result *res, const char *service,
                      const char *region, const gwf_header *headers,
                      size_t count, const char *token, int normalize,
                      int content_sha256, int unsigned_payload)
{
    size_t body_len = 0;
    const char *body = gwf_test_upstream_body(res, &body_len);
    const char *host = gwf_test_upstream_header(res, "host", 0);
    assert_non_null(host);
    sigv4_request req = {
        .method = gwf_cstr(gwf_test_upstream_method(res)),
        .target = gwf_cstr(gwf_test_upstream_path(res)),
        .headers = headers,
        .header_count = count,
        .host = gwf_cstr(host),
        .payload = {body, body_len},
    };
    sigv4_params params = {
        .region = region,
        .service = service,
        .unix_seconds = NOW_UNIX,
        .normalize_path = normalize,
        .content_sha256_header = content_sha256,
        .unsigned_payload = unsigned_payload,
    };
    sigv4_credentials creds = {ACCESS_KEY, SECRET_KEY, token};
    sigv4_result out;
    const char *why;
    assert_int_equal(sigv4_sign(&req, &params, &creds, NULL, &out, &why), 0);
    const char *got = gwf_test_upstream_header(res, "authorization", 0);
    assert_non_null(got);
    assert_string_equal(got, out.authorization.data);
    assert_string_equal(gwf_test_upstream_header(res, "x-amz-date", 0),
                        "20260101T000000Z");
    sigv4_result_free(&out);
}

/* The same, for a signature over the body's SHA-256. */
static void
assert_signed(gwf_test_result *res, const char *service, const char *region,
              const gwf_header *headers, size_t count, const char *token,
              int normalize, int content_sha256)
{
    assert_signed_payload(res, service, region, headers, count, token,
                          normalize, content_sha256, 0);
}

/* -- Lambda: the request ------------------------------------------------- */

static void
test_lambda_request_becomes_signed_invocation(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_request *req = gwf_test_request_new("GET", "/hello?name=w%20x");
    gwf_test_request_header(req, "x-custom", "one");
    gwf_test_result *res = run_backend(h, req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(gwf_test_upstream_method(res), "POST");
    assert_string_equal(gwf_test_upstream_path(res),
                        "/2015-03-31/functions/hello/invocations");
    assert_string_equal(gwf_test_upstream_header(res, "host", 0),
                        "lambda.us-east-1.amazonaws.com");
    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-invocation-type", 0),
        "RequestResponse");
    assert_string_equal(gwf_test_upstream_header(res, "content-type", 0),
                        "application/json");
    assert_contains(gwf_test_upstream_header(res, "authorization", 0),
                    "Credential=" ACCESS_KEY
                    "/20260101/us-east-1/lambda/aws4_request, "
                    "SignedHeaders=host;x-amz-date;x-amz-invocation-type, ");
    gwf_header signed_headers[] = {
        {gwf_cstr("x-amz-invocation-type"), gwf_cstr("RequestResponse")}};
    assert_signed(res, "lambda", "us-east-1", signed_headers, 1, NULL, 1, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* The Invoke call signs its payload's hash without the header: a
 * client's X-Amz-Content-Sha256 is not sent on. */
static void
test_lambda_client_content_sha256_is_not_sent(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_request *req = gwf_test_request_new("POST", "/hello");
    gwf_test_request_header(req, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    gwf_test_request_body(req, "x", 1);
    gwf_test_result *res = run_backend(h, req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(gwf_test_upstream_header(res, "x-amz-content-sha256", 0));
    gwf_header signed_headers[] = {
        {gwf_cstr("x-amz-invocation-type"), gwf_cstr("RequestResponse")}};
    assert_signed(res, "lambda", "us-east-1", signed_headers, 1, NULL, 1, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_envoy_payload_describes_request(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_request *req =
        gwf_test_request_new("POST", "/p/a?q=1&name=w%20x&q=2");
    gwf_test_request_header(req, "content-type", "application/json");
    gwf_test_request_header(req, "x-twice", "a");
    gwf_test_request_header(req, "x-twice", "b");
    gwf_test_request_body(req, "{\"k\": 1}", 8);
    gwf_test_result *res = run_backend(h, req);

    size_t len = 0;
    const char *body = gwf_test_upstream_body(res, &len);
    assert_non_null(body);
    assert_contains(body, "\"raw_path\":\"/p/a?q=1&name=w%20x&q=2\"");
    assert_contains(body, "\"method\":\"POST\"");
    assert_contains(body, "\"x-twice\":\"a,b\"");
    assert_contains(body, "\"query_string_parameters\":{\"q\":\"2\","
                          "\"name\":\"w x\"}");
    assert_contains(body, "\"body\":\"{\\\"k\\\": 1}\"");
    assert_contains(body, "\"is_base64_encoded\":false");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Refused with 500 `details`, the upstream never reached, counted as
 * sign_error (our side) for `instance`; frees both. */
static void
assert_refused_500(gwf_test_host *h, gwf_test_result *res, const char *details,
                   const char *instance)
{
    char series[160];

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), details);
    assert_null(gwf_test_upstream_path(res));
    snprintf(series, sizeof series,
             "gwf_lambda_signer_requests_total{instance=\"%s\","
             "result=\"sign_error\"}",
             instance);
    if (gwf_test_metric(h, series) != 1)
        fail_msg("want %s 1 in:\n%s", series, gwf_test_metrics(h));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A method, target or Content-Type the host could not read (out of
 * memory) is not an absent one: the function would judge another
 * request than the client sent. No invocation: 500. */
static void
test_lambda_request_the_host_cannot_read_is_not_invoked(void **state)
{
    /* x-custom: a header the payload lists (read by position). */
    static const char *const unread[] = {":method", ":path", "content-type",
                                         "x-custom"};

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
        gwf_test_request *req = gwf_test_request_new("POST", "/up?a=1");
        gwf_test_request_header(req, "content-type", "text/plain");
        gwf_test_request_header(req, "x-custom", "v");
        gwf_test_request_body(req, "hi", 2);
        gwf_test_request_header_fails(req, unread[i]);
        assert_refused_500(h, run_backend(h, req), "lambda_payload_error",
                           "default/fn");
    }
}

static void
test_lambda_binary_body_travels_in_base64(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_request *req = gwf_test_request_new("POST", "/up");
    gwf_test_request_header(req, "content-type", "application/octet-stream");
    gwf_test_request_body(req, "hi\0\xff", 4);
    gwf_test_result *res = run_backend(h, req);

    const char *body = gwf_test_upstream_body(res, NULL);
    assert_contains(body, "\"body\":\"aGkA/w==\"");
    assert_contains(body, "\"is_base64_encoded\":true");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_text_body_that_is_not_utf8_travels_in_base64(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_request *req = gwf_test_request_new("POST", "/up");
    gwf_test_request_header(req, "content-type", "text/plain");
    gwf_test_request_body(req, "\xff\xfe", 2);
    gwf_test_result *res = run_backend(h, req);

    assert_contains(gwf_test_upstream_body(res, NULL),
                    "\"body\":\"//4=\",\"is_base64_encoded\":true");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_qualifier_is_in_path(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        backend(fn_spec(", \"qualifier\": \"prod\""), secret_string_data));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));

    assert_string_equal(gwf_test_upstream_path(res),
                        "/2015-03-31/functions/hello:prod/invocations");
    gwf_header signed_headers[] = {
        {gwf_cstr("x-amz-invocation-type"), gwf_cstr("RequestResponse")}};
    assert_signed(res, "lambda", "us-east-1", signed_headers, 1, NULL, 1, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_region_and_endpoint_set_host_and_scope(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        backend("{\"accountId\": \"123456789012\", \"region\": \"eu-west-3\", "
                "\"auth\": {\"type\": \"Secret\", \"secretRef\": {\"name\": "
                "\"aws\"}}, \"lambda\": {\"functionName\": \"hello\", "
                "\"endpointURL\": \"https://127.0.0.1:9443\"}}",
                secret_string_data));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));

    assert_string_equal(gwf_test_upstream_header(res, "host", 0),
                        "127.0.0.1:9443");
    assert_contains(gwf_test_upstream_header(res, "authorization", 0),
                    "/20260101/eu-west-3/lambda/aws4_request");
    gwf_header signed_headers[] = {
        {gwf_cstr("x-amz-invocation-type"), gwf_cstr("RequestResponse")}};
    assert_signed(res, "lambda", "eu-west-3", signed_headers, 1, NULL, 1, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_async_invocation_is_event_and_passes_202(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(
        fn_spec(", \"invocationMode\": \"Async\""), secret_string_data));
    gwf_test_set_upstream(h, 202, NULL, "", 0);
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));

    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-invocation-type", 0), "Event");
    assert_int_equal(gwf_test_status(res), 202);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_none_transform_sends_body_as_is(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(
        fn_spec(", \"payloadTransformMode\": \"None\""), secret_string_data));
    gwf_test_set_upstream(h, 200, "content-type: application/json\r\n",
                          "{\"raw\": true}", 13);
    gwf_test_request *req = gwf_test_request_new("POST", "/x");
    gwf_test_request_body(req, "plain", 5);
    gwf_test_result *res = run_backend(h, req);

    size_t len;
    const char *body = gwf_test_upstream_body(res, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(body, "plain", 5);
    assert_int_equal(gwf_test_status(res), 200);
    assert_body(res, "{\"raw\": true}");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_session_token_is_sent_and_signed(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(
        fn_spec(""),
        "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
        "{\"name\": \"aws\"}, \"data\": {\"accessKey\": \"" ACCESS_KEY_B64
        "\", \"secretKey\": \"" SECRET_KEY_B64
        "\", \"sessionToken\": \"" SESSION_TOKEN_B64 "\"}}"));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));

    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-security-token", 0),
        SESSION_TOKEN);
    assert_contains(gwf_test_upstream_header(res, "authorization", 0),
                    "SignedHeaders=host;x-amz-date;x-amz-invocation-type;"
                    "x-amz-security-token");
    gwf_header signed_headers[] = {
        {gwf_cstr("x-amz-invocation-type"), gwf_cstr("RequestResponse")}};
    assert_signed(res, "lambda", "us-east-1", signed_headers, 1, SESSION_TOKEN,
                  1, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Lambda: the reply ---------------------------------------------------- */

static void
test_lambda_envoy_reply_becomes_response(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    const char *reply =
        "{\"status_code\": 201, \"headers\": {\"x-a\": \"b\", "
        "\"content-type\": \"text/plain\"}, \"cookies\": [\"c=d\", "
        "\"e=f\"], \"body\": \"aGk=\", \"is_base64_encoded\": true}";
    gwf_test_set_upstream(h, 200,
                          "content-type: application/json\r\n"
                          "x-amzn-requestid: abc\r\n",
                          reply, strlen(reply));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));

    assert_int_equal(gwf_test_status(res), 201);
    assert_string_equal(gwf_test_header(res, "x-a", 0), "b");
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
    assert_string_equal(gwf_test_header(res, "set-cookie", 0), "c=d");
    assert_string_equal(gwf_test_header(res, "set-cookie", 1), "e=f");
    assert_null(gwf_test_header(res, "x-amzn-requestid", 0));
    assert_body(res, "hi");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_envoy_reply_without_status_is_200(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    const char *reply = "{\"body\": \"plain text\"}";
    gwf_test_set_upstream(h, 200, NULL, reply, strlen(reply));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));

    assert_int_equal(gwf_test_status(res), 200);
    assert_body(res, "plain text");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
assert_reply_502(const char *upstream_headers, int upstream_status,
                 const char *upstream_body, const char *details,
                 const char *message)
{
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_set_upstream(h, upstream_status, upstream_headers, upstream_body,
                          strlen(upstream_body));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 502);
    assert_string_equal(gwf_test_reply_details(res), details);
    size_t len;
    const char *body = gwf_test_body(res, &len);
    assert_contains(body, message);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_function_error_gives_502(void **state)
{
    (void)state;
    assert_reply_502("x-amz-function-error: Unhandled\r\n", 200,
                     "{\"errorMessage\": \"boom\", \"errorType\": \"E\"}",
                     "lambda_function_error",
                     "the Lambda function failed (Unhandled)");
}

/* A function error or status the host could not read (out of memory) is
 * not "none": the function may have failed, and its reply must not pass
 * for a success. 502, an invalid reply. */
static void
test_lambda_reply_the_host_cannot_read_gives_502(void **state)
{
    static const char *const unread[] = {"x-amz-function-error", ":status"};
    static const char ok[] = "{\"body\": \"ok\"}";

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
        gwf_test_set_upstream(h, 200, "x-amz-function-error: Unhandled\r\n", ok,
                              sizeof ok - 1);
        gwf_test_response_header_fails(h, unread[i]);
        gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));
        assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
        assert_int_equal(gwf_test_status(res), 502);
        assert_string_equal(gwf_test_reply_details(res),
                            "lambda_invalid_reply");
        assert_body(res, "invalid reply from the Lambda function: it could "
                         "not be read\n");
        assert_true(gwf_test_metric(
                        h, "gwf_lambda_signer_requests_total{instance="
                           "\"default/fn\",result=\"invalid_reply\"}") == 1);
        gwf_test_result_free(res);
        gwf_test_host_free(h);
    }
}

static void
test_lambda_function_error_body_is_not_passed_through(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    const char *body = "{\"errorMessage\": \"internal secret detail\"}";
    gwf_test_set_upstream(h, 200, "x-amz-function-error: Handled\r\n", body,
                          strlen(body));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));
    size_t len;
    const char *got = gwf_test_body(res, &len);
    assert_null(strstr(got, "internal secret detail"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_reply_that_is_not_json_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "<html>oops</html>", "lambda_invalid_reply",
                     "the function's reply is not a JSON object");
}

static void
test_lambda_reply_with_bad_status_code_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "{\"status_code\": \"200\"}",
                     "lambda_invalid_reply",
                     "status_code is not an integer 200-599");
}

static void
test_lambda_reply_with_bad_headers_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "{\"headers\": {\"x\": \"a\\r\\nb: c\"}}",
                     "lambda_invalid_reply", "invalid header");
}

static void
test_lambda_reply_with_bad_base64_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200,
                     "{\"body\": \"***\", \"is_base64_encoded\": true}",
                     "lambda_invalid_reply", "not valid base64");
}

static void
test_lambda_api_error_gives_502_with_error_type(void **state)
{
    (void)state;
    assert_reply_502("x-amzn-errortype: AccessDeniedException\r\n", 403,
                     "{\"Message\": \"denied\"}", "lambda_upstream_error",
                     "AWS answered 403 AccessDeniedException");
}

/* -- Lambda: what the function's answer may not pass on ------------------ */

/* The function answers `reply` (an Envoy JSON reply); the result. */
static gwf_test_result *
run_reply(gwf_test_host **hp, const char *reply)
{
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_set_upstream(h, 200, "content-type: application/json\r\n", reply,
                          strlen(reply));
    *hp = h;
    return run_backend(h, gwf_test_request_new("GET", "/"));
}

static void
test_lambda_reply_hop_by_hop_headers_are_dropped(void **state)
{
    (void)state;
    gwf_test_host *h;
    gwf_test_result *res = run_reply(
        &h, "{\"headers\": {\"connection\": \"keep-alive\", \"keep-alive\": "
            "\"timeout=5\", \"proxy-connection\": \"keep-alive\", "
            "\"upgrade\": \"websocket\", \"te\": \"trailers\", \"trailer\": "
            "\"x-sum\", \"transfer-encoding\": \"chunked\", \"x-kept\": "
            "\"yes\"}, \"body\": \"hi\"}");

    assert_int_equal(gwf_test_status(res), 200);
    static const char *const dropped[] = {
        "connection", "keep-alive", "proxy-connection", "upgrade",
        "te",         "trailer",    "transfer-encoding"};
    for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++)
        if (gwf_test_header(res, dropped[i], 0))
            fail_msg("%s was passed on", dropped[i]);
    assert_string_equal(gwf_test_header(res, "x-kept", 0), "yes");
    assert_body(res, "hi");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_reply_headers_named_by_connection_are_dropped(void **state)
{
    (void)state;
    gwf_test_host *h;
    /* Any case, any white space around the comma-separated names. */
    gwf_test_result *res = run_reply(
        &h, "{\"headers\": {\"Connection\": \"close , X-Hop,x-other\", "
            "\"x-hop\": \"1\", \"X-Other\": \"2\", \"x-kept\": \"yes\"}}");

    assert_int_equal(gwf_test_status(res), 200);
    assert_null(gwf_test_header(res, "connection", 0));
    assert_null(gwf_test_header(res, "x-hop", 0));
    assert_null(gwf_test_header(res, "x-other", 0));
    assert_string_equal(gwf_test_header(res, "x-kept", 0), "yes");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_reply_content_length_follows_the_body_sent(void **state)
{
    (void)state;
    gwf_test_host *h;
    gwf_test_result *res = run_reply(
        &h, "{\"headers\": {\"content-length\": \"999\"}, \"body\": \"hi\"}");

    assert_int_equal(gwf_test_status(res), 200);
    assert_body(res, "hi");
    const char *length = gwf_test_header(res, "content-length", 0);
    if (length)
        assert_string_equal(length, "2");
    assert_null(gwf_test_header(res, "content-length", 1));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_reply_header_with_soh_0x01_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "{\"headers\": {\"x\": \"a\\u0001b\"}}",
                     "lambda_invalid_reply", "invalid header");
}

static void
test_lambda_reply_header_with_del_0x7f_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "{\"headers\": {\"x\": \"a\\u007f\"}}",
                     "lambda_invalid_reply", "invalid header");
}

static void
test_lambda_reply_header_name_that_is_not_a_token_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "{\"headers\": {\"x y\": \"1\"}}",
                     "lambda_invalid_reply", "invalid header");
}

static void
test_lambda_reply_cookie_with_a_control_byte_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "{\"cookies\": [\"a=b\\u001f\"]}",
                     "lambda_invalid_reply", "cookies hold an invalid value");
}

/* README: at most 100 header lines and 32 KiB of them in an answer. */
#define MAX_REPLY_HEADERS 100
#define MAX_REPLY_HEADER_BYTES 32768

static void
test_lambda_reply_with_too_many_headers_gives_502(void **state)
{
    (void)state;
    static char reply[(MAX_REPLY_HEADERS + 1) * 16 + 32];
    size_t n = (size_t)snprintf(reply, sizeof reply, "{\"headers\": {");
    for (int i = 0; i <= MAX_REPLY_HEADERS; i++)
        n += (size_t)snprintf(reply + n, sizeof reply - n, "%s\"x-%d\": \"1\"",
                              i ? "," : "", i);
    snprintf(reply + n, sizeof reply - n, "}}");
    assert_reply_502(NULL, 200, reply, "lambda_invalid_reply",
                     "the function's headers are too large");
}

static void
test_lambda_reply_with_a_huge_header_gives_502(void **state)
{
    (void)state;
    static char reply[MAX_REPLY_HEADER_BYTES + 64];
    size_t n =
        (size_t)snprintf(reply, sizeof reply, "{\"headers\": {\"x\": \"");
    memset(reply + n, 'a', MAX_REPLY_HEADER_BYTES);
    snprintf(reply + n + MAX_REPLY_HEADER_BYTES,
             sizeof reply - n - MAX_REPLY_HEADER_BYTES, "\"}}");
    assert_reply_502(NULL, 200, reply, "lambda_invalid_reply",
                     "the function's headers are too large");
}

static void
test_lambda_reply_with_status_code_out_of_range_gives_502(void **state)
{
    (void)state;
    static const char *const replies[] = {
        "{\"status_code\": 100}", "{\"status_code\": 199}",
        "{\"status_code\": 600}", "{\"status_code\": -1}",
        "{\"status_code\": 200.5}"};
    for (size_t i = 0; i < sizeof replies / sizeof *replies; i++)
        assert_reply_502(NULL, 200, replies[i], "lambda_invalid_reply",
                         "status_code is not an integer 200-599");
}

static void
test_lambda_reply_that_is_truncated_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "{\"status_code\": 200, \"body\": \"ab",
                     "lambda_invalid_reply",
                     "the function's reply is not a JSON object");
}

static void
test_lambda_reply_204_with_a_body_gives_502(void **state)
{
    (void)state;
    assert_reply_502(NULL, 200, "{\"status_code\": 204, \"body\": \"x\"}",
                     "lambda_invalid_reply", "204 or 304 reply has a body");
}

/* -- Lambda: the client's request is the client's fault ------------------- */

static void
test_lambda_payload_over_the_body_limit_gives_413(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with_max_body(backend(fn_spec(""), secret_string_data), 1000);
    /* 900 bytes fit the limit, their base64 in the payload does not. */
    char body[900];
    memset(body, 0xff, sizeof body);
    gwf_test_request *req = gwf_test_request_new("POST", "/up");
    gwf_test_request_header(req, "content-type", "application/octet-stream");
    gwf_test_request_body(req, body, sizeof body);
    gwf_test_result *res = run_backend(h, req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 413);
    assert_string_equal(gwf_test_reply_details(res),
                        "lambda_payload_too_large");
    assert_null(gwf_test_upstream_method(res));
    double bad = gwf_test_metric(
        h, "gwf_lambda_signer_requests_total{instance=\"default/fn\","
           "result=\"bad_request\"}");
    if (bad != 1)
        fail_msg("metrics:\n%s", gwf_test_metrics(h));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_request_body_over_the_limit_gives_413(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with_max_body(backend(fn_spec(""), secret_string_data), 1000);
    char body[1500];
    memset(body, 'a', sizeof body);
    gwf_test_request *req = gwf_test_request_new("POST", "/up");
    gwf_test_request_body(req, body, sizeof body);
    gwf_test_result *res = run_backend(h, req);

    assert_int_equal(gwf_test_status(res), 413);
    assert_null(gwf_test_upstream_method(res));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_request_header_with_control_bytes_travels_in_the_payload(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_request_header(req, "x-odd",
                            "a\x01"
                            "b\x7f\xe9");
    gwf_test_result *res = run_backend(h, req);

    assert_int_equal(gwf_test_status(res), 200);
    /* JSON escapes the controls; 0xe9 is obs-text, read as Latin-1. */
    assert_contains(gwf_test_upstream_body(res, NULL),
                    "\"x-odd\":\"a\\u0001b\x7f\xc3\xa9\"");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_request_header_name_that_is_not_a_token_gives_400(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_request_header(req, "x\xff", "1");
    gwf_test_result *res = run_backend(h, req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 400);
    assert_string_equal(gwf_test_reply_details(res), "lambda_bad_request");
    assert_contains(gwf_test_body(res, NULL), "not an HTTP token");
    assert_null(gwf_test_upstream_method(res));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_request_header_with_a_long_name_travels_in_the_payload(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    char name[301];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_request_header(req, name, "long");
    gwf_test_result *res = run_backend(h, req);

    assert_int_equal(gwf_test_status(res), 200);
    char want[320];
    snprintf(want, sizeof want, "\"%s\":\"long\"", name);
    assert_contains(gwf_test_upstream_body(res, NULL), want);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_lambda_metrics_count_results(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(fn_spec(""), secret_string_data));
    gwf_test_set_upstream(h, 200, "x-amz-function-error: Unhandled\r\n", "{}",
                          2);
    gwf_test_result_free(run_backend(h, gwf_test_request_new("GET", "/")));
    double signed_count = gwf_test_metric(
        h, "gwf_lambda_signer_requests_total{instance=\"default/fn\","
           "result=\"signed\"}");
    double errors = gwf_test_metric(
        h, "gwf_lambda_signer_requests_total{instance=\"default/fn\","
           "result=\"function_error\"}");
    if (signed_count != 1 || errors != 1)
        fail_msg("metrics:\n%s", gwf_test_metrics(h));
    gwf_test_host_free(h);
}

/* -- Credentials --------------------------------------------------------------
 */

static void
clear_aws_env(void)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_ENDPOINT_URL_STS");
    unsetenv("AWS_ENDPOINT_URL");
    /* No instance metadata to fall back on in the tests. */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("HOME", "/nonexistent-gwf-test-home", 1);
}

#define FN_NO_AUTH                                                             \
    "{\"accountId\": \"123456789012\", \"lambda\": {\"functionName\": "        \
    "\"hello\"}}"

static void
test_credentials_from_environment(void **state)
{
    (void)state;
    clear_aws_env();
    setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY, 1);
    setenv("AWS_SESSION_TOKEN", SESSION_TOKEN, 1);
    gwf_test_host *h = host_with(backend(FN_NO_AUTH, ""));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));
    gwf_header signed_headers[] = {
        {gwf_cstr("x-amz-invocation-type"), gwf_cstr("RequestResponse")}};
    assert_signed(res, "lambda", "us-east-1", signed_headers, 1, SESSION_TOKEN,
                  1, 0);
    assert_true(gwf_test_log_contains(h, "credentials from environment"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    clear_aws_env();
}

static void
test_credentials_from_shared_file_profile(void **state)
{
    (void)state;
    clear_aws_env();
    char path[] = "/tmp/gwf-lambda-creds-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[default]\naws_access_key_id = AKIDWRONG\n"
               "aws_secret_access_key = wrong\n\n"
               "# the one we use\n[ci]\naws_access_key_id = " ACCESS_KEY
               "\naws_secret_access_key=" SECRET_KEY "\n");
    fclose(f);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "ci", 1);
    gwf_test_host *h = host_with(backend(FN_NO_AUTH, ""));
    gwf_test_result *res = run_backend(h, gwf_test_request_new("GET", "/"));
    gwf_header signed_headers[] = {
        {gwf_cstr("x-amz-invocation-type"), gwf_cstr("RequestResponse")}};
    assert_signed(res, "lambda", "us-east-1", signed_headers, 1, NULL, 1, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    unlink(path);
    clear_aws_env();
}

static void
test_credentials_never_leak_into_logs_replies_or_metrics(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(backend(
        fn_spec(""),
        "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
        "{\"name\": \"aws\"}, \"stringData\": {\"accessKey\": \"" ACCESS_KEY
        "\", \"secretKey\": \"" SECRET_KEY
        "\", \"sessionToken\": \"" SESSION_TOKEN "\"}}"));
    /* Every path that logs or answers: success, function error, API
     * error, invalid reply. */
    const char *cases[][2] = {
        {"", "{\"body\": \"ok\"}"},
        {"x-amz-function-error: Unhandled\r\n", "{}"},
        {"x-amzn-errortype: InvalidSignatureException\r\n", "{}"},
        {"", "not json"},
    };
    int statuses[] = {200, 200, 403, 200};
    for (size_t i = 0; i < 4; i++) {
        gwf_test_set_upstream(h, statuses[i], *cases[i][0] ? cases[i][0] : NULL,
                              cases[i][1], strlen(cases[i][1]));
        gwf_test_request *req = gwf_test_request_new("POST", "/x");
        gwf_test_request_body(req, "b", 1);
        gwf_test_result *res = run_backend(h, req);
        size_t len;
        const char *body = gwf_test_body(res, &len);
        assert_null(strstr(body ? body : "", SECRET_KEY));
        assert_null(strstr(body ? body : "", SESSION_TOKEN));
        assert_null(strstr(body ? body : "", ACCESS_KEY));
        gwf_test_result_free(res);
    }
    const char *logs = gwf_test_logs(h);
    const char *metrics = gwf_test_metrics(h);
    assert_non_null(logs);
    assert_non_null(metrics);
    for (const char *const *secret =
             (const char *const[]){SECRET_KEY, SESSION_TOKEN, ACCESS_KEY, NULL};
         *secret; secret++) {
        if (strstr(logs, *secret) || strstr(metrics, *secret))
            fail_msg("a credential leaked:\n%s\n%s", logs, metrics);
    }
    gwf_test_host_free(h);
}

/* -- Sign mode (GatewayExtension) -------------------------------------------
 */

#define SIGN_AUTH                                                              \
    "\"auth\": {\"type\": \"Secret\", \"secretRef\": {\"name\": \"aws\"}}"

static void
test_sign_mode_signs_request_headers_and_body(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(extension(
        "{\"mode\": \"sign\", \"service\": \"execute-api\", \"region\": "
        "\"eu-west-3\", " SIGN_AUTH "}",
        secret_string_data));
    gwf_test_request *req = gwf_test_request_new("PUT", "/a/./b?z=1&a=2");
    gwf_test_request_header(req, "x-custom", "  v  1 ");
    gwf_test_request_header(req, "x-forwarded-for", "192.0.2.1");
    gwf_test_request_header(req, "x-amzn-trace-id", "Root=1");
    gwf_test_request_body(req, "payload", 7);
    gwf_test_result *res = run_extension(h, req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(gwf_test_upstream_path(res), "/a/./b?z=1&a=2");
    assert_contains(gwf_test_upstream_header(res, "authorization", 0),
                    "SignedHeaders=host;x-amz-date;x-custom,");
    gwf_header signed_headers[] = {{gwf_cstr("x-custom"), gwf_cstr("  v  1 ")}};
    assert_signed(res, "execute-api", "eu-west-3", signed_headers, 1, NULL, 1,
                  0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Sign mode: a method, target or Host the host could not read (out of
 * memory) is not an absent one; a signature over another request than
 * the one sent is not made. 500. */
static void
test_sign_mode_request_the_host_cannot_read_is_not_signed(void **state)
{
    /* x-custom: a header the signature covers (read by position). */
    static const char *const unread[] = {":method", ":path", "host",
                                         "x-custom"};

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        gwf_test_host *h = host_with(extension(
            "{\"mode\": \"sign\", \"service\": \"execute-api\", \"region\": "
            "\"eu-west-3\", " SIGN_AUTH "}",
            secret_string_data));
        gwf_test_request *req = gwf_test_request_new("PUT", "/a?z=1");
        gwf_test_request_header(req, "x-custom", "v");
        gwf_test_request_body(req, "payload", 7);
        gwf_test_request_header_fails(req, unread[i]);
        assert_refused_500(h, run_extension(h, req), "aws_sign_error",
                           "default/signer");
    }
}

static void
test_sign_mode_excludes_configured_headers(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(extension(
        "{\"mode\": \"sign\", \"service\": \"es\", \"excludedHeaders\": "
        "[\"X-Custom\"], " SIGN_AUTH "}",
        secret_string_data));
    gwf_test_request *req = gwf_test_request_new("GET", "/");
    gwf_test_request_header(req, "x-custom", "v");
    gwf_test_request_header(req, "x-kept", "k");
    gwf_test_result *res = run_extension(h, req);

    assert_contains(gwf_test_upstream_header(res, "authorization", 0),
                    "SignedHeaders=host;x-amz-date;x-kept,");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_sign_mode_host_rewrite_is_sent_and_signed(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        extension("{\"mode\": \"sign\", \"service\": \"es\", \"hostRewrite\": "
                  "\"search.eu-west-3.es.amazonaws.com\", " SIGN_AUTH "}",
                  secret_string_data));
    gwf_test_result *res = run_extension(h, gwf_test_request_new("GET", "/"));

    assert_string_equal(gwf_test_upstream_header(res, "host", 0),
                        "search.eu-west-3.es.amazonaws.com");
    assert_signed(res, "es", "us-east-1", NULL, 0, NULL, 1, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_sign_mode_s3_keeps_path_and_sends_content_hash(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        extension("{\"mode\": \"sign\", \"service\": \"s3\", " SIGN_AUTH "}",
                  secret_string_data));
    gwf_test_request *req = gwf_test_request_new("GET", "/bucket//a/../key");
    gwf_test_result *res = run_extension(h, req);

    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-content-sha256", 0),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_signed(res, "s3", "us-east-1", NULL, 0, NULL, 0, 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_sign_mode_unsigned_payload(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(extension(
        "{\"mode\": \"sign\", \"service\": \"s3\", \"unsignedPayload\": "
        "true, " SIGN_AUTH "}",
        secret_string_data));
    gwf_test_request *req = gwf_test_request_new("PUT", "/bucket/key");
    gwf_test_request_body(req, "data", 4);
    gwf_test_result *res = run_extension(h, req);

    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-content-sha256", 0),
        "UNSIGNED-PAYLOAD");
    size_t len;
    assert_memory_equal(gwf_test_upstream_body(res, &len), "data", 4);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* botocore's SigV4Auth, with payload signing off, sends and signs
 * X-Amz-Content-SHA256: UNSIGNED-PAYLOAD for every service: without it a
 * verifier hashes the body and the signature does not match. */
static void
test_sign_mode_unsigned_payload_sends_and_signs_content_sha256(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        extension("{\"mode\": \"sign\", \"service\": \"execute-api\", "
                  "\"unsignedPayload\": true, " SIGN_AUTH "}",
                  secret_string_data));
    gwf_test_request *req = gwf_test_request_new("PUT", "/items/1");
    gwf_test_request_body(req, "data", 4);
    gwf_test_result *res = run_extension(h, req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-content-sha256", 0),
        "UNSIGNED-PAYLOAD");
    assert_null(gwf_test_upstream_header(res, "x-amz-content-sha256", 1));
    assert_contains(gwf_test_upstream_header(res, "authorization", 0),
                    "SignedHeaders=host;x-amz-content-sha256;x-amz-date,");
    assert_signed_payload(res, "execute-api", "us-east-1", NULL, 0, NULL, 1, 1,
                          1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* An operator who turns the header off explicitly gets no header (a
 * verifier that takes UNSIGNED-PAYLOAD without it). */
static void
test_sign_mode_unsigned_payload_without_content_sha256_when_turned_off(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(extension(
        "{\"mode\": \"sign\", \"service\": \"execute-api\", "
        "\"unsignedPayload\": true, \"contentSha256Header\": false, " SIGN_AUTH
        "}",
        secret_string_data));
    gwf_test_request *req = gwf_test_request_new("PUT", "/items/1");
    gwf_test_request_header(req, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    gwf_test_request_body(req, "data", 4);
    gwf_test_result *res = run_extension(h, req);

    assert_null(gwf_test_upstream_header(res, "x-amz-content-sha256", 0));
    assert_contains(gwf_test_upstream_header(res, "authorization", 0),
                    "SignedHeaders=host;x-amz-date,");
    assert_signed_payload(res, "execute-api", "us-east-1", NULL, 0, NULL, 1, 0,
                          1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* A client's X-Amz-Content-Sha256 would reach the service unsigned and
 * claim a hash the signature does not cover: when the body's hash is
 * signed without the header (every service but S3), it is removed, every
 * value of it. */
static void
test_sign_mode_client_content_sha256_is_removed_when_not_sent(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(extension(
        "{\"mode\": \"sign\", \"service\": \"execute-api\", " SIGN_AUTH "}",
        secret_string_data));
    gwf_test_request *req = gwf_test_request_new("PUT", "/items/1");
    gwf_test_request_header(req, "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD");
    gwf_test_request_header(req, "x-amz-content-sha256", "second");
    gwf_test_request_body(req, "data", 4);
    gwf_test_result *res = run_extension(h, req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    assert_null(gwf_test_upstream_header(res, "x-amz-content-sha256", 0));
    assert_signed(res, "execute-api", "us-east-1", NULL, 0, NULL, 1, 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* With an unsigned payload the client's value gives way to the signed
 * UNSIGNED-PAYLOAD, once. */
static void
test_sign_mode_client_content_sha256_is_replaced_by_unsigned_payload(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        extension("{\"mode\": \"sign\", \"service\": \"execute-api\", "
                  "\"unsignedPayload\": true, " SIGN_AUTH "}",
                  secret_string_data));
    gwf_test_request *req = gwf_test_request_new("PUT", "/items/1");
    gwf_test_request_header(
        req, "x-amz-content-sha256",
        "0000000000000000000000000000000000000000000000000000000000000000");
    gwf_test_request_header(req, "X-AMZ-CONTENT-SHA256", "second");
    gwf_test_request_body(req, "data", 4);
    gwf_test_result *res = run_extension(h, req);

    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-content-sha256", 0),
        "UNSIGNED-PAYLOAD");
    assert_null(gwf_test_upstream_header(res, "x-amz-content-sha256", 1));
    assert_signed_payload(res, "execute-api", "us-east-1", NULL, 0, NULL, 1, 1,
                          1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* S3 (S3SigV4Auth) always sends the hash it signed: the client's value
 * gives way to the body's SHA-256. */
static void
test_sign_mode_s3_client_content_sha256_is_replaced_by_body_hash(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        extension("{\"mode\": \"sign\", \"service\": \"s3\", " SIGN_AUTH "}",
                  secret_string_data));
    gwf_test_request *req = gwf_test_request_new("PUT", "/bucket/key");
    gwf_test_request_header(req, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    gwf_test_request_body(req, "data", 4);
    gwf_test_result *res = run_extension(h, req);

    /* sha256("data") */
    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-content-sha256", 0),
        "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7");
    assert_null(gwf_test_upstream_header(res, "x-amz-content-sha256", 1));
    assert_signed(res, "s3", "us-east-1", NULL, 0, NULL, 0, 1);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_sign_mode_session_token_added_after_signing(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(extension(
        "{\"mode\": \"sign\", \"service\": \"es\", \"signSessionToken\": "
        "false, " SIGN_AUTH "}",
        "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
        "{\"name\": \"aws\"}, \"stringData\": {\"accessKey\": \"" ACCESS_KEY
        "\", \"secretKey\": \"" SECRET_KEY
        "\", \"sessionToken\": \"" SESSION_TOKEN "\"}}"));
    gwf_test_result *res = run_extension(h, gwf_test_request_new("GET", "/"));

    assert_string_equal(
        gwf_test_upstream_header(res, "x-amz-security-token", 0),
        SESSION_TOKEN);
    assert_contains(gwf_test_upstream_header(res, "authorization", 0),
                    "SignedHeaders=host;x-amz-date,");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_sign_mode_request_without_host_gives_400(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        extension("{\"mode\": \"sign\", \"service\": \"es\", " SIGN_AUTH "}",
                  secret_string_data));
    static const char raw[] = "GET /x HTTP/1.1\r\n\r\n";
    gwf_test_request *req = gwf_test_request_parse(h, raw, sizeof raw - 1);
    assert_non_null(req);
    gwf_test_result *res = run_extension(h, req);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    /* The client's doing: 400, and the request never goes on. */
    assert_int_equal(gwf_test_status(res), 400);
    assert_string_equal(gwf_test_reply_details(res), "aws_bad_request");
    assert_null(gwf_test_upstream_method(res));
    assert_true(gwf_test_log_contains(h, "the request has no Host header"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Config errors ------------------------------------------------------------
 */

static void
assert_config_error(const char *text, const char *field, const char *message)
{
    gwf_test_host *h = host_with(text);
    assert_int_equal(gwf_test_validate(h), -1);
    const char *err = gwf_test_error(h);
    if (!err || !strstr(err, field) || !strstr(err, message))
        fail_msg("want field \"%s\" and \"%s\" in:\n%s", field, message,
                 err ? err : "(null)");
    /* No credential in any error either. */
    assert_null(strstr(err, SECRET_KEY));
    gwf_test_host_free(h);
}

#define AWS_OK_AUTH                                                            \
    "\"auth\": {\"type\": \"Secret\", \"secretRef\": {\"name\": \"aws\"}}"

static void
test_config_error_account_id_missing(void **state)
{
    (void)state;
    assert_config_error(backend("{" AWS_OK_AUTH
                                ", \"lambda\": {\"functionName\": \"f\"}}",
                                secret_string_data),
                        "lambda.accountId",
                        "missing (accountId must be specified on aws or "
                        "aws.lambda for lambda backends)");
}

static void
test_config_error_account_id_not_12_digits(void **state)
{
    (void)state;
    assert_config_error(backend("{\"accountId\": \"12ab\", " AWS_OK_AUTH
                                ", \"lambda\": {\"functionName\": \"f\"}}",
                                secret_string_data),
                        "accountId",
                        "invalid account id \"12ab\" (expected 12 digits)");
}

static void
test_config_error_region_invalid(void **state)
{
    (void)state;
    assert_config_error(backend("{\"accountId\": \"123456789012\", \"region\": "
                                "\"US East\", " AWS_OK_AUTH
                                ", \"lambda\": {\"functionName\": \"f\"}}",
                                secret_string_data),
                        "region", "invalid region \"US East\"");
}

static void
test_config_error_lambda_missing(void **state)
{
    (void)state;
    assert_config_error(backend("{\"accountId\": \"123456789012\", " AWS_OK_AUTH
                                "}",
                                secret_string_data),
                        "lambda", "is required: expected an object");
}

#define FN_WITH(lambda_fields)                                                 \
    "{\"accountId\": \"123456789012\", " AWS_OK_AUTH                           \
    ", \"lambda\": {" lambda_fields "}}"

static void
test_config_error_function_name_missing(void **state)
{
    (void)state;
    assert_config_error(
        backend(FN_WITH("\"qualifier\": \"1\""), secret_string_data),
        "lambda.functionName", "is required: expected a string");
}

static void
test_config_error_function_name_invalid(void **state)
{
    (void)state;
    assert_config_error(
        backend(FN_WITH("\"functionName\": \"a/b\""), secret_string_data),
        "lambda.functionName", "invalid function name \"a/b\"");
}

static void
test_config_error_qualifier_invalid(void **state)
{
    (void)state;
    assert_config_error(
        backend(FN_WITH("\"functionName\": \"f\", \"qualifier\": \"$X\""),
                secret_string_data),
        "lambda.qualifier", "invalid qualifier \"$X\"");
}

static void
test_config_error_invocation_mode_invalid(void **state)
{
    (void)state;
    assert_config_error(
        backend(FN_WITH("\"functionName\": \"f\", \"invocationMode\": "
                        "\"sync\""),
                secret_string_data),
        "lambda.invocationMode",
        "expected one of: Sync, Async, found \"sync\"");
}

static void
test_config_error_payload_transform_invalid(void **state)
{
    (void)state;
    assert_config_error(
        backend(FN_WITH("\"functionName\": \"f\", \"payloadTransformMode\": "
                        "\"Raw\""),
                secret_string_data),
        "lambda.payloadTransformMode",
        "expected one of: Envoy, None, found \"Raw\"");
}

static void
test_config_error_endpoint_url_invalid(void **state)
{
    (void)state;
    assert_config_error(
        backend(FN_WITH("\"functionName\": \"f\", \"endpointURL\": "
                        "\"ftp://x/y\""),
                secret_string_data),
        "lambda.endpointURL", "expected \"https://host[:port][/path]\"");
}

static void
test_config_error_unknown_lambda_field(void **state)
{
    (void)state;
    assert_config_error(
        backend(FN_WITH("\"functionName\": \"f\", \"arn\": \"x\""),
                secret_string_data),
        "lambda.arn",
        "unknown field; expected one of: accountId, functionName");
}

static void
test_config_error_unknown_top_field(void **state)
{
    (void)state;
    assert_config_error(
        backend(
            "{\"accountId\": \"123456789012\", \"role\": \"x\", " AWS_OK_AUTH
            ", \"lambda\": {\"functionName\": \"f\"}}",
            secret_string_data),
        "role",
        "unknown field; expected one of: accountId, region, auth, lambda");
}

static void
test_config_error_wrong_types_are_named(void **state)
{
    (void)state;
    assert_config_error(backend("{\"accountId\": 123456789012, " AWS_OK_AUTH
                                ", \"lambda\": {\"functionName\": \"f\"}}",
                                secret_string_data),
                        "accountId", "expected a string, found an integer");
}

static void
test_config_error_auth_type_unsupported(void **state)
{
    (void)state;
    assert_config_error(
        backend("{\"accountId\": \"123456789012\", \"auth\": {\"type\": "
                "\"IRSA\", \"secretRef\": {\"name\": \"aws\"}}, \"lambda\": "
                "{\"functionName\": \"f\"}}",
                secret_string_data),
        "auth.type", "expected one of: Secret, AssumeRole, found \"IRSA\"");
}

static void
test_config_error_secret_ref_missing(void **state)
{
    (void)state;
    assert_config_error(
        backend("{\"accountId\": \"123456789012\", \"auth\": {\"type\": "
                "\"Secret\"}, \"lambda\": {\"functionName\": \"f\"}}",
                secret_string_data),
        "auth.secretRef",
        "is required: expected a reference {name, namespace?} to a Secret");
}

static void
test_config_error_secret_not_found(void **state)
{
    (void)state;
    assert_config_error(
        backend("{\"accountId\": \"123456789012\", \"auth\": {\"type\": "
                "\"Secret\", \"secretRef\": {\"name\": \"nope\"}}, "
                "\"lambda\": {\"functionName\": \"f\"}}",
                secret_string_data),
        "auth.secretRef", "Secret nope not found");
}

static void
test_config_error_secret_without_secret_key(void **state)
{
    (void)state;
    assert_config_error(
        backend(fn_spec(""),
                "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
                "{\"name\": \"aws\"}, \"stringData\": {\"accessKey\": "
                "\"" ACCESS_KEY "\"}}"),
        "auth.secretRef",
        "Secret aws: expected a non-empty value without NUL bytes in "
        "stringData.secretKey or data.secretKey");
}

static void
test_config_error_secret_with_bad_base64(void **state)
{
    (void)state;
    assert_config_error(
        backend(
            fn_spec(""),
            "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"aws\"}, \"data\": {\"accessKey\": \"" ACCESS_KEY_B64
            "\", \"secretKey\": \"" SECRET_KEY_B64 "\", \"sessionToken\": "
            "\"SGVsbG8gd29ybGQ=\"}}"),
        "auth.secretRef",
        "the Secret's sessionToken must be printable characters without "
        "spaces");
}

static void
test_config_error_half_of_environment_credentials(void **state)
{
    (void)state;
    clear_aws_env();
    setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY, 1);
    assert_config_error(backend(FN_NO_AUTH, ""), "auth",
                        "only one of AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY is set");
    clear_aws_env();
}

static void
test_config_error_no_credentials_anywhere(void **state)
{
    (void)state;
    clear_aws_env();
    assert_config_error(backend(FN_NO_AUTH, ""), "auth", "no AWS credentials");
}

static void
test_config_error_profile_missing_from_file(void **state)
{
    (void)state;
    clear_aws_env();
    char path[] = "/tmp/gwf-lambda-creds-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[default]\naws_access_key_id = A\naws_secret_access_key = "
               "B\n");
    fclose(f);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "prod", 1);
    assert_config_error(backend(FN_NO_AUTH, ""), "auth",
                        "no profile prod in the credentials file");
    unlink(path);
    clear_aws_env();
}

/* The credentials file is read by the nginx master at config time: a
 * FIFO there blocked it in fopen (alarm() turns that hang into a
 * failure here); a directory was "no profile". Both are refused at
 * once, naming the variable, the path and what it is. */
static void
assert_credentials_file_refused(const char *make, const char *what)
{
    char dir[] = "/tmp/gwf-lambda-creds-XXXXXX", path[64], want[256];

    clear_aws_env();
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/credentials", dir);
    if (strcmp(make, "fifo") == 0)
        assert_int_equal(mkfifo(path, 0600), 0);
    else
        assert_int_equal(mkdir(path, 0700), 0);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    snprintf(want, sizeof(want),
             "cannot read the credentials file named by "
             "AWS_SHARED_CREDENTIALS_FILE: \"%s\": %s, not a regular file",
             path, what);
    alarm(10);
    assert_config_error(backend(FN_NO_AUTH, ""), "auth", want);
    alarm(0);
    if (strcmp(make, "fifo") == 0)
        unlink(path);
    else
        rmdir(path);
    rmdir(dir);
    clear_aws_env();
}

static void
test_config_error_credentials_file_that_is_a_fifo(void **state)
{
    (void)state;
    assert_credentials_file_refused("fifo", "a FIFO");
}

static void
test_config_error_credentials_file_that_is_a_directory(void **state)
{
    (void)state;
    assert_credentials_file_refused("dir", "a directory");
}

/* $HOME/.aws/credentials that is a FIFO is refused too (not skipped as
 * "no file", and never opened for reading). */
static void
test_config_error_default_credentials_file_that_is_a_fifo(void **state)
{
    char home[] = "/tmp/gwf-lambda-home-XXXXXX", aws[64], path[96];
    char want[256];

    (void)state;
    clear_aws_env(); /* and HOME again at the end */
    assert_non_null(mkdtemp(home));
    snprintf(aws, sizeof(aws), "%s/.aws", home);
    assert_int_equal(mkdir(aws, 0700), 0);
    snprintf(path, sizeof(path), "%s/credentials", aws);
    assert_int_equal(mkfifo(path, 0600), 0);
    setenv("HOME", home, 1);
    snprintf(want, sizeof(want),
             "cannot read the credentials file: \"%s\": a FIFO, not a "
             "regular file",
             path);
    alarm(10);
    assert_config_error(backend(FN_NO_AUTH, ""), "auth", want);
    alarm(0);
    unlink(path);
    rmdir(aws);
    rmdir(home);
    clear_aws_env();
}

static void
test_config_error_mode_missing_on_extension(void **state)
{
    (void)state;
    assert_config_error(extension("{\"service\": \"s3\"}", ""), "mode",
                        "is required: expected one of: lambda, sign");
}

static void
test_config_error_mode_invalid(void **state)
{
    (void)state;
    assert_config_error(extension("{\"mode\": \"proxy\"}", ""), "mode",
                        "expected one of: lambda, sign, found \"proxy\"");
}

static void
test_config_error_sign_service_missing(void **state)
{
    (void)state;
    assert_config_error(
        extension("{\"mode\": \"sign\", " SIGN_AUTH "}", secret_string_data),
        "service", "is required: expected a string");
}

static void
test_config_error_sign_excluded_header_invalid(void **state)
{
    (void)state;
    assert_config_error(
        extension("{\"mode\": \"sign\", \"service\": \"s3\", "
                  "\"excludedHeaders\": [\"ok\", \"bad header\"], " SIGN_AUTH
                  "}",
                  secret_string_data),
        "excludedHeaders[1]", "invalid header name \"bad header\"");
}

static void
test_config_error_sign_bool_field_wrong_type(void **state)
{
    (void)state;
    assert_config_error(
        extension("{\"mode\": \"sign\", \"service\": \"s3\", "
                  "\"unsignedPayload\": \"yes\", " SIGN_AUTH "}",
                  secret_string_data),
        "unsignedPayload", "expected true or false, found a string");
}

static void
test_config_error_sign_host_rewrite_invalid(void **state)
{
    (void)state;
    assert_config_error(extension("{\"mode\": \"sign\", \"service\": \"s3\", "
                                  "\"hostRewrite\": \"a b/c\", " SIGN_AUTH "}",
                                  secret_string_data),
                        "hostRewrite", "invalid host \"a b/c\"");
}

static void
test_config_error_every_problem_is_reported(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        backend("{\"accountId\": \"1\", \"region\": \"X\", \"lambda\": "
                "{\"functionName\": \"\", \"invocationMode\": \"x\"}}",
                secret_string_data));
    assert_int_equal(gwf_test_validate(h), -1);
    const char *err = gwf_test_error(h);
    assert_contains(err, "accountId");
    assert_contains(err, "region");
    assert_contains(err, "lambda.functionName");
    assert_contains(err, "lambda.invocationMode");
    gwf_test_host_free(h);
}

int
main(void)
{
    clear_aws_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lambda_request_becomes_signed_invocation),
        cmocka_unit_test(test_lambda_client_content_sha256_is_not_sent),
        cmocka_unit_test(test_lambda_envoy_payload_describes_request),
        cmocka_unit_test(
            test_lambda_request_the_host_cannot_read_is_not_invoked),
        cmocka_unit_test(test_lambda_binary_body_travels_in_base64),
        cmocka_unit_test(
            test_lambda_text_body_that_is_not_utf8_travels_in_base64),
        cmocka_unit_test(test_lambda_qualifier_is_in_path),
        cmocka_unit_test(test_lambda_region_and_endpoint_set_host_and_scope),
        cmocka_unit_test(test_lambda_async_invocation_is_event_and_passes_202),
        cmocka_unit_test(test_lambda_none_transform_sends_body_as_is),
        cmocka_unit_test(test_lambda_session_token_is_sent_and_signed),
        cmocka_unit_test(test_lambda_envoy_reply_becomes_response),
        cmocka_unit_test(test_lambda_envoy_reply_without_status_is_200),
        cmocka_unit_test(test_lambda_function_error_gives_502),
        cmocka_unit_test(test_lambda_reply_the_host_cannot_read_gives_502),
        cmocka_unit_test(test_lambda_function_error_body_is_not_passed_through),
        cmocka_unit_test(test_lambda_reply_that_is_not_json_gives_502),
        cmocka_unit_test(test_lambda_reply_with_bad_status_code_gives_502),
        cmocka_unit_test(test_lambda_reply_with_bad_headers_gives_502),
        cmocka_unit_test(test_lambda_reply_with_bad_base64_gives_502),
        cmocka_unit_test(test_lambda_api_error_gives_502_with_error_type),
        cmocka_unit_test(test_lambda_reply_hop_by_hop_headers_are_dropped),
        cmocka_unit_test(
            test_lambda_reply_headers_named_by_connection_are_dropped),
        cmocka_unit_test(
            test_lambda_reply_content_length_follows_the_body_sent),
        cmocka_unit_test(test_lambda_reply_header_with_soh_0x01_gives_502),
        cmocka_unit_test(test_lambda_reply_header_with_del_0x7f_gives_502),
        cmocka_unit_test(
            test_lambda_reply_header_name_that_is_not_a_token_gives_502),
        cmocka_unit_test(
            test_lambda_reply_cookie_with_a_control_byte_gives_502),
        cmocka_unit_test(test_lambda_reply_with_too_many_headers_gives_502),
        cmocka_unit_test(test_lambda_reply_with_a_huge_header_gives_502),
        cmocka_unit_test(
            test_lambda_reply_with_status_code_out_of_range_gives_502),
        cmocka_unit_test(test_lambda_reply_that_is_truncated_gives_502),
        cmocka_unit_test(test_lambda_reply_204_with_a_body_gives_502),
        cmocka_unit_test(test_lambda_payload_over_the_body_limit_gives_413),
        cmocka_unit_test(test_lambda_request_body_over_the_limit_gives_413),
        cmocka_unit_test(
            test_lambda_request_header_with_control_bytes_travels_in_the_payload),
        cmocka_unit_test(
            test_lambda_request_header_name_that_is_not_a_token_gives_400),
        cmocka_unit_test(
            test_lambda_request_header_with_a_long_name_travels_in_the_payload),
        cmocka_unit_test(test_lambda_metrics_count_results),
        cmocka_unit_test(test_credentials_from_environment),
        cmocka_unit_test(test_credentials_from_shared_file_profile),
        cmocka_unit_test(
            test_credentials_never_leak_into_logs_replies_or_metrics),
        cmocka_unit_test(test_sign_mode_signs_request_headers_and_body),
        cmocka_unit_test(
            test_sign_mode_request_the_host_cannot_read_is_not_signed),
        cmocka_unit_test(test_sign_mode_excludes_configured_headers),
        cmocka_unit_test(test_sign_mode_host_rewrite_is_sent_and_signed),
        cmocka_unit_test(test_sign_mode_s3_keeps_path_and_sends_content_hash),
        cmocka_unit_test(test_sign_mode_unsigned_payload),
        cmocka_unit_test(
            test_sign_mode_unsigned_payload_sends_and_signs_content_sha256),
        cmocka_unit_test(
            test_sign_mode_unsigned_payload_without_content_sha256_when_turned_off),
        cmocka_unit_test(
            test_sign_mode_client_content_sha256_is_removed_when_not_sent),
        cmocka_unit_test(
            test_sign_mode_client_content_sha256_is_replaced_by_unsigned_payload),
        cmocka_unit_test(
            test_sign_mode_s3_client_content_sha256_is_replaced_by_body_hash),
        cmocka_unit_test(test_sign_mode_session_token_added_after_signing),
        cmocka_unit_test(test_sign_mode_request_without_host_gives_400),
        cmocka_unit_test(test_config_error_account_id_missing),
        cmocka_unit_test(test_config_error_account_id_not_12_digits),
        cmocka_unit_test(test_config_error_region_invalid),
        cmocka_unit_test(test_config_error_lambda_missing),
        cmocka_unit_test(test_config_error_function_name_missing),
        cmocka_unit_test(test_config_error_function_name_invalid),
        cmocka_unit_test(test_config_error_qualifier_invalid),
        cmocka_unit_test(test_config_error_invocation_mode_invalid),
        cmocka_unit_test(test_config_error_payload_transform_invalid),
        cmocka_unit_test(test_config_error_endpoint_url_invalid),
        cmocka_unit_test(test_config_error_unknown_lambda_field),
        cmocka_unit_test(test_config_error_unknown_top_field),
        cmocka_unit_test(test_config_error_wrong_types_are_named),
        cmocka_unit_test(test_config_error_auth_type_unsupported),
        cmocka_unit_test(test_config_error_secret_ref_missing),
        cmocka_unit_test(test_config_error_secret_not_found),
        cmocka_unit_test(test_config_error_secret_without_secret_key),
        cmocka_unit_test(test_config_error_secret_with_bad_base64),
        cmocka_unit_test(test_config_error_half_of_environment_credentials),
        cmocka_unit_test(test_config_error_no_credentials_anywhere),
        cmocka_unit_test(test_config_error_profile_missing_from_file),
        cmocka_unit_test(
            test_config_error_credentials_file_that_is_a_directory),
        cmocka_unit_test(test_config_error_credentials_file_that_is_a_fifo),
        cmocka_unit_test(
            test_config_error_default_credentials_file_that_is_a_fifo),
        cmocka_unit_test(test_config_error_mode_missing_on_extension),
        cmocka_unit_test(test_config_error_mode_invalid),
        cmocka_unit_test(test_config_error_sign_service_missing),
        cmocka_unit_test(test_config_error_sign_excluded_header_invalid),
        cmocka_unit_test(test_config_error_sign_bool_field_wrong_type),
        cmocka_unit_test(test_config_error_sign_host_rewrite_invalid),
        cmocka_unit_test(test_config_error_every_problem_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
