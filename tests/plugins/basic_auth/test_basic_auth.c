/*
 * test_basic_auth.c - the basic_auth plugin on the in-process test host:
 * its config (users inline, a Secret's htpasswd, disable, every refusal),
 * the 401 replies as Envoy's basic_auth filter gives them, the attack
 * paths (forged, malformed, duplicate and huge credentials), the shared
 * stream value, the metrics, and the cache of slow hashes.
 *
 * The plugin is configured through a GatewayExtension
 * `plugin: {name: basic_auth, config: <the basicAuth object>}`, which is
 * what the runtime hands the plugin for a TrafficPolicy's basicAuth too.
 * A probe after it reports the stream value "basic_auth.username".
 * Hashes come from vectors.htpasswd (made by openssl and python's crypt;
 * the file says how).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <gwf/testing.h>

#define SHA_LINE "sha:{SHA}xO2etOilyqtV8o1RvvnmkeBx7QI="
#define APR_LINE "apr:$apr1$Xy7.aB/c$M7JmJDix1zEJZJAYX/t8b."
#define BCRYPT10_LINE                                                          \
    "rasmus:$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"

static char *vectors_text; /* vectors.htpasswd, whole */

static int
read_vectors(void **state)
{
    const char *path = getenv("BA_VECTORS");
    FILE *f;
    long n;

    (void)state;
    if (!path || !(f = fopen(path, "rb")))
        return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    vectors_text = calloc(1, (size_t)n + 1);
    if (!vectors_text || fread(vectors_text, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static int
free_vectors(void **state)
{
    (void)state;
    free(vectors_text);
    return 0;
}

/* -- Helpers ------------------------------------------------------------------
 */

static char *
base64(const char *in, size_t len)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;
    size_t i;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = ((uint32_t)(unsigned char)in[i] << 16) |
                     ((uint32_t)(unsigned char)in[i + 1] << 8) |
                     (unsigned char)in[i + 2];
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = t[(v >> 6) & 63];
        *o++ = t[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = i + 1 < len ? t[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* "Basic base64(user:password)", in a static buffer. */
static const char *
basic(const char *user, const char *password)
{
    static char out[1024];
    char plain[512];
    char *b;

    snprintf(plain, sizeof(plain), "%s:%s", user, password);
    b = base64(plain, strlen(plain));
    snprintf(out, sizeof(out), "Basic %s", b);
    free(b);
    return out;
}

static void
load(gwf_test_host *h, const char *text)
{
    if (gwf_test_load_text(h, text) != 0)
        fail_msg("load: %s", gwf_test_error(h));
}

/* A host with GatewayExtension default/ba (basic_auth, `config` as JSON)
 * and the probe default/probe reading the user name. */
static gwf_test_host *
host_with(const char *config)
{
    gwf_test_host *h = gwf_test_host_new();
    char *doc = malloc(strlen(config) + 512);

    assert_non_null(h);
    sprintf(doc,
            "{\"apiVersion\": \"gateway.kgateway.dev/v1alpha1\", \"kind\": "
            "\"GatewayExtension\", \"metadata\": {\"name\": \"ba\", "
            "\"namespace\": \"default\"}, \"spec\": {\"plugin\": {\"name\": "
            "\"basic_auth\", \"config\": %s}}}",
            config);
    load(h, doc);
    free(doc);
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: GatewayExtension\n"
            "metadata: {name: probe, namespace: default}\n"
            "spec:\n"
            "  plugin:\n"
            "    name: probe\n"
            "    config: {tag: P, value_get: [basic_auth.username]}\n");
    return h;
}

/* Secret default/<name> with key `key` holding `text` (in data,
 * base64). */
static void
add_secret(gwf_test_host *h, const char *name, const char *key,
           const char *text)
{
    char *b = base64(text, strlen(text));
    char *doc = malloc(strlen(b) + 512);

    sprintf(doc,
            "{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": "
            "{\"name\": \"%s\", \"namespace\": \"default\"}, \"data\": "
            "{\"%s\": \"%s\"}}",
            name, key, b);
    load(h, doc);
    free(doc);
    free(b);
}

static const char *const chain[] = {"ba", "probe", NULL};
static const gwf_test_route route = {.extensions = chain};

/* One GET with these Authorization values (NULL-terminated; none for a
 * request without the header), of which the host fails to read those
 * from index `unread_from` on (SIZE_MAX: none). */
static gwf_test_result *
run_failing(gwf_test_host *h, const char *const *authorization,
            size_t unread_from)
{
    gwf_test_request *req = gwf_test_request_new("GET", "/api");
    gwf_test_result *res;

    for (size_t i = 0; authorization && authorization[i]; i++)
        gwf_test_request_header(req, "authorization", authorization[i]);
    if (unread_from != SIZE_MAX)
        gwf_test_request_header_fails_from(req, "authorization", unread_from);
    res = gwf_test_run(h, &route, req);
    gwf_test_request_free(req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    return res;
}

static gwf_test_result *
run_with(gwf_test_host *h, const char *const *authorization)
{
    return run_failing(h, authorization, SIZE_MAX);
}

static gwf_test_result *
run(gwf_test_host *h, const char *authorization)
{
    const char *one[] = {authorization, NULL};
    return run_with(h, authorization ? one : NULL);
}

static void
assert_forwarded(gwf_test_result *res)
{
    if (gwf_test_outcome(res) != GWF_TEST_FORWARDED)
        fail_msg("expected the request forwarded, got status %d (%s)",
                 gwf_test_status(res),
                 gwf_test_reply_details(res) ? gwf_test_reply_details(res)
                                             : "-");
}

/* 401 with Envoy's body and details, and the Basic challenge. */
static void
assert_denied(gwf_test_result *res, const char *body, const char *details)
{
    size_t len = 0;
    const char *b;

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 401);
    b = gwf_test_body(res, &len);
    assert_int_equal(len, strlen(body));
    assert_memory_equal(b, body, len);
    assert_string_equal(gwf_test_reply_details(res), details);
    assert_string_equal(gwf_test_header(res, "www-authenticate", 0),
                        "Basic realm=\"http://example.com/api\"");
    assert_null(gwf_test_upstream_path(res));
}

#define INVALID                                                                \
    "User authentication failed. Invalid username/password combination."
#define MALFORMED "User authentication failed. Invalid basic credential format."

static void
assert_config_error(const char *config, const char *field, const char *message)
{
    gwf_test_host *h = host_with(config);
    const char *err;

    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    if (!err || !strstr(err, field) || !strstr(err, message))
        fail_msg("want \"%s\" and \"%s\" in:\n%s", field, message,
                 err ? err : "(none)");
    gwf_test_host_free(h);
}

/* -- Allowed
 * -------------------------------------------------------------------- */

static void
test_valid_sha_credentials_reach_upstream_with_authorization_kept(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    gwf_test_result *res = run(h, basic("sha", "sha-pass"));

    (void)state;
    assert_forwarded(res);
    assert_int_equal(gwf_test_status(res), 200);
    /* Envoy's basic_auth leaves the header to the upstream. */
    assert_string_equal(gwf_test_upstream_header(res, "authorization", 0),
                        basic("sha", "sha-pass"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_user_name_is_left_as_a_shared_stream_value(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    gwf_test_result *res = run(h, basic("sha", "sha-pass"));

    (void)state;
    assert_forwarded(res);
    assert_true(
        gwf_test_log_contains(h, "value basic_auth.username type=0 =sha"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* Every vector, from a Secret's default key ".htpasswd" (data, base64). */
static void
test_every_hash_format_from_a_secret_is_accepted(void **state)
{
    static const char *const ok[][2] = {
        {"sha", "sha-pass"}, {"apr", "apr-pass"},
        {"md5", "md5-pass"}, {"bcb", "bcrypt-pass"},
        {"bca", "bcrypt-a"}, {"rasmus", "rasmuslerdorf"}};
    gwf_test_host *h = host_with("{\"secretRef\": {\"name\": \"users\"}}");

    (void)state;
    add_secret(h, "users", ".htpasswd", vectors_text);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        gwf_test_result *res = run(h, basic(ok[i][0], ok[i][1]));
        char want[128];
        assert_forwarded(res);
        snprintf(want, sizeof(want), "value basic_auth.username type=0 =%s",
                 ok[i][0]);
        assert_true(gwf_test_log_contains(h, want));
        gwf_test_result_free(res);
        res = run(h, basic(ok[i][0], "wrong"));
        assert_denied(res, INVALID, "invalid_credential_for_basic_auth");
        gwf_test_result_free(res);
    }
    gwf_test_host_free(h);
}

static void
test_secret_key_can_be_named(void **state)
{
    gwf_test_host *h = host_with(
        "{\"secretRef\": {\"name\": \"users\", \"namespace\": \"default\", "
        "\"key\": \"auth\"}}");
    gwf_test_result *res;

    (void)state;
    add_secret(h, "users", "auth", APR_LINE "\r\n\n# a comment\n");
    res = run(h, basic("apr", "apr-pass"));
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_disable_lets_every_request_through(void **state)
{
    gwf_test_host *h = host_with("{\"disable\": {}}");
    gwf_test_result *res = run(h, NULL);

    (void)state;
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Refused
 * --------------------------------------------------------------------- */

static void
test_missing_credentials_get_401_with_the_basic_challenge(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    gwf_test_result *res = run(h, NULL);

    (void)state;
    assert_denied(res,
                  "User authentication failed. Missing username and password.",
                  "no_credential_for_basic_auth");
    assert_string_equal(gwf_test_header(res, "content-type", 0), "text/plain");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_wrong_password_and_unknown_user_are_refused_alike(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    gwf_test_result *res = run(h, basic("sha", "sha-pasS"));

    (void)state;
    assert_denied(res, INVALID, "invalid_credential_for_basic_auth");
    gwf_test_result_free(res);
    res = run(h, basic("nobody", "sha-pass"));
    assert_denied(res, INVALID, "invalid_credential_for_basic_auth");
    gwf_test_result_free(res);
    /* A user name that differs only in case is another user. */
    res = run(h, basic("SHA", "sha-pass"));
    assert_denied(res, INVALID, "invalid_credential_for_basic_auth");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_other_scheme_is_refused(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    gwf_test_result *res = run(h, "Bearer c2hhOnNoYS1wYXNz");

    (void)state;
    assert_denied(res,
                  "User authentication failed. Expect 'Basic' auth scheme.",
                  "invalid_scheme_for_basic_auth");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_malformed_credentials_are_refused(void **state)
{
    static const char *const malformed[] = {
        "Basic !!!!",               /* not base64 */
        "Basic c2hhc2hhLXBhc3M=",   /* "shasha-pass": no colon */
        "Basic OnNoYS1wYXNz",       /* ":sha-pass": empty user */
        "Basic c2hhOnNoYS1wYXNz=",  /* bad padding */
        "Basic c2hhOnNoYS1wYXNzcw", /* unpadded */
    };
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    gwf_test_result *res;

    (void)state;
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        res = run(h, malformed[i]);
        assert_denied(res, MALFORMED, "invalid_format_for_basic_auth");
        gwf_test_result_free(res);
    }
    gwf_test_host_free(h);
}

/* Two Authorization headers, even both valid: refused, never half-read. */
static void
test_duplicate_authorization_headers_are_refused(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    char first[1024];
    const char *two[3];
    gwf_test_result *res;

    (void)state;
    snprintf(first, sizeof(first), "%s", basic("sha", "sha-pass"));
    two[0] = first;
    two[1] = first;
    two[2] = NULL;
    res = run_with(h, two);
    assert_denied(res, MALFORMED, "invalid_format_for_basic_auth");
    gwf_test_result_free(res);
    two[1] = "Basic Zm9vOmJhcg==";
    res = run_with(h, two);
    assert_denied(res, MALFORMED, "invalid_format_for_basic_auth");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

#define UNREAD "User authentication failed. The credential could not be read."
#define METRIC(result)                                                         \
    "gwf_basic_auth_requests_total{instance=\"default/ba\",result=\"" result   \
    "\"}"

/* An Authorization value the host could not read (out of memory) is not
 * an absent one: the first is no missing credential, and an unread
 * second one would hide a duplicate. Refused with a 401 of its own. */
static void
test_authorization_the_host_cannot_read_is_refused(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    char valid[1024];
    const char *values[3] = {valid, valid, NULL};
    gwf_test_result *res;

    (void)state;
    snprintf(valid, sizeof(valid), "%s", basic("sha", "sha-pass"));
    res = run_failing(h, values, 1);
    assert_denied(res, UNREAD, "unreadable_credential_for_basic_auth");
    gwf_test_result_free(res);
    values[1] = NULL;
    res = run_failing(h, values, 0);
    assert_denied(res, UNREAD, "unreadable_credential_for_basic_auth");
    gwf_test_result_free(res);
    assert_true(gwf_test_metric(h, METRIC("denied_unread")) == 2);
    assert_true(gwf_test_log_contains(h, "could not read the Authorization"));
    /* Read, the one value is let through. */
    res = run_with(h, values);
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_huge_authorization_header_is_refused(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    char *huge = malloc(16 * 1024 + 1);
    gwf_test_result *res;

    (void)state;
    memcpy(huge, "Basic ", 6);
    memset(huge + 6, 'A', 16 * 1024 - 6);
    huge[16 * 1024] = '\0';
    res = run(h, huge);
    assert_denied(res, MALFORMED, "invalid_format_for_basic_auth");
    gwf_test_result_free(res);
    free(huge);
    gwf_test_host_free(h);
}

/* A password of another user does not open this one. */
static void
test_password_of_another_user_is_refused(void **state)
{
    gwf_test_host *h =
        host_with("{\"users\": [\"" SHA_LINE "\", \"" APR_LINE "\"]}");
    gwf_test_result *res = run(h, basic("apr", "sha-pass"));

    (void)state;
    assert_denied(res, INVALID, "invalid_credential_for_basic_auth");
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

/* -- Metrics and cache
 * ----------------------------------------------------------- */

static void
test_every_result_is_counted(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" SHA_LINE "\"]}");
    const char *creds[] = {basic("sha", "sha-pass"), NULL};
    char ok[1024];

    (void)state;
    snprintf(ok, sizeof(ok), "%s", creds[0]);
    gwf_test_result_free(run(h, ok));
    gwf_test_result_free(run(h, ok));
    gwf_test_result_free(run(h, NULL));
    gwf_test_result_free(run(h, "Digest x"));
    gwf_test_result_free(run(h, "Basic !!!!"));
    gwf_test_result_free(run(h, basic("sha", "no")));
    assert_true(gwf_test_metric(h, "gwf_basic_auth_requests_total{instance="
                                   "\"default/ba\",result=\"allowed\"}") == 2);
    assert_true(
        gwf_test_metric(h, "gwf_basic_auth_requests_total{instance="
                           "\"default/ba\",result=\"denied_missing\"}") == 1);
    assert_true(
        gwf_test_metric(h, "gwf_basic_auth_requests_total{instance="
                           "\"default/ba\",result=\"denied_scheme\"}") == 1);
    assert_true(
        gwf_test_metric(h, "gwf_basic_auth_requests_total{instance="
                           "\"default/ba\",result=\"denied_malformed\"}") == 1);
    assert_true(
        gwf_test_metric(h, "gwf_basic_auth_requests_total{instance="
                           "\"default/ba\",result=\"denied_invalid\"}") == 1);
    gwf_test_host_free(h);
}

static double
seconds_of(gwf_test_host *h, const char *authorization, int want_forwarded)
{
    struct timespec a, b;
    gwf_test_result *res;

    clock_gettime(CLOCK_MONOTONIC, &a);
    res = run(h, authorization);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(gwf_test_outcome(res) == GWF_TEST_FORWARDED,
                     want_forwarded);
    gwf_test_result_free(res);
    return (double)(b.tv_sec - a.tv_sec) +
           (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

/* bcrypt cost 10: the first request pays the hash; the next ones with
 * the same credential hit the worker's cache (ten of them cost less than
 * the one), while a wrong password is never cached (each pays). */
static void
test_bcrypt_is_paid_once_per_credential_but_every_wrong_guess_pays(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"" BCRYPT10_LINE "\"]}");
    char ok[1024];
    double first, cached = 0, wrong;

    (void)state;
    snprintf(ok, sizeof(ok), "%s", basic("rasmus", "rasmuslerdorf"));
    first = seconds_of(h, ok, 1);
    for (int i = 0; i < 10; i++)
        cached += seconds_of(h, ok, 1);
    if (!(cached < first))
        fail_msg("10 cached requests took %.4fs, one bcrypt %.4fs", cached,
                 first);
    wrong = seconds_of(h, basic("rasmus", "rasmuslerdorF"), 0);
    wrong += seconds_of(h, basic("rasmus", "rasmuslerdorF"), 0);
    if (!(wrong > first))
        fail_msg("two wrong guesses took %.4fs, one bcrypt %.4fs", wrong,
                 first);
    gwf_test_host_free(h);
}

/* A name no user has costs the costliest user's hash, not nothing:
 * otherwise the 401's timing tells a client which names exist. The table
 * lists a SHA-1 user first ("aaa"), so the bcrypt user must be chosen. */
static void
test_unknown_user_costs_as_much_as_a_wrong_password(void **state)
{
    gwf_test_host *h = host_with("{\"users\": [\"aaa:{SHA}"
                                 "wbjuMu9VqnEacb3R43GCZk/O7pw=\", "
                                 "\"" BCRYPT10_LINE "\"]}");
    double wrong, again, unknown;

    (void)state;
    /* The faster of two wrong guesses: a stall of a loaded machine must
     * not make the bar higher. Without the decoy an unknown name takes
     * microseconds, a cost-10 bcrypt tens of milliseconds. */
    wrong = seconds_of(h, basic("rasmus", "rasmuslerdorF"), 0);
    again = seconds_of(h, basic("rasmus", "rasmuslerdorF"), 0);
    if (again < wrong)
        wrong = again;
    unknown = seconds_of(h, basic("nobody", "rasmuslerdorF"), 0);
    if (!(unknown * 4 > wrong))
        fail_msg("unknown user answered in %.4fs, wrong password in %.4fs",
                 unknown, wrong);
    /* The SHA-1 user still verifies. */
    seconds_of(h, basic("aaa", "aaa-pass"), 1);
    gwf_test_host_free(h);
}

/* -- Config errors
 * --------------------------------------------------------------- */

static void
test_exactly_one_of_users_secret_ref_disable(void **state)
{
    (void)state;
    assert_config_error("{}", "ba",
                        "expected exactly one of users, secretRef, disable; "
                        "found 0");
    assert_config_error("{\"users\": [\"" SHA_LINE "\"], \"disable\": {}}",
                        "ba",
                        "expected exactly one of users, secretRef, disable; "
                        "found 2");
}

static void
test_plain_text_user_line_is_refused_naming_the_line(void **state)
{
    (void)state;
    assert_config_error("{\"users\": [\"" SHA_LINE "\", \"eve:secret\"]}",
                        "users[1]",
                        "user \"eve\": unsupported password hash (plain text");
}

static void
test_secret_line_errors_name_the_line_number(void **state)
{
    gwf_test_host *h = host_with("{\"secretRef\": {\"name\": \"users\"}}");
    const char *err;

    (void)state;
    add_secret(h, "users", ".htpasswd", SHA_LINE "\nbob:rl.3StKT.4T8M\n");
    assert_int_equal(gwf_test_validate(h), -1);
    err = gwf_test_error(h);
    if (!strstr(err, "secretRef") ||
        !strstr(err, "line 2: user \"bob\": unsupported password hash crypt(3) "
                     "DES"))
        fail_msg("got:\n%s", err);
    gwf_test_host_free(h);
}

static void
test_missing_secret_or_key_is_refused(void **state)
{
    gwf_test_host *h;

    (void)state;
    assert_config_error("{\"secretRef\": {\"name\": \"nope\"}}", "secretRef",
                        "not found");
    h = host_with("{\"secretRef\": {\"name\": \"users\", \"key\": \"other\"}}");
    add_secret(h, "users", ".htpasswd", SHA_LINE "\n");
    assert_int_equal(gwf_test_validate(h), -1);
    assert_non_null(strstr(gwf_test_error(h), "secretRef"));
    gwf_test_host_free(h);
}

static void
test_duplicate_user_and_unknown_field_are_refused(void **state)
{
    (void)state;
    assert_config_error("{\"users\": [\"" SHA_LINE "\", \"" SHA_LINE "\"]}",
                        "users", "user \"sha\" is listed twice");
    assert_config_error("{\"users\": [\"" SHA_LINE "\"], \"realm\": \"x\"}",
                        "realm", "unknown field");
    assert_config_error("{\"users\": []}", "users", "");
    assert_config_error("{\"users\": [42]}", "users[0]",
                        "expected a string, found an integer");
}

/* Through a TrafficPolicy's basicAuth, as the runtime plans it: the
 * field's object is the plugin's config. */
static void
test_traffic_policy_basic_auth_is_enforced(void **state)
{
    gwf_test_host *h = gwf_test_host_new();
    const gwf_test_route policy_route = {.policy = "api"};
    gwf_test_request *req;
    gwf_test_result *res;

    (void)state;
    load(h, "apiVersion: gateway.kgateway.dev/v1alpha1\n"
            "kind: TrafficPolicy\n"
            "metadata: {name: api, namespace: default}\n"
            "spec:\n"
            "  basicAuth:\n"
            "    users: [\"" SHA_LINE "\"]\n");
    req = gwf_test_request_new("GET", "/api");
    res = gwf_test_run(h, &policy_route, req);
    if (!res)
        fail_msg("run: %s", gwf_test_error(h));
    assert_denied(res,
                  "User authentication failed. Missing username and password.",
                  "no_credential_for_basic_auth");
    gwf_test_result_free(res);
    gwf_test_request_header(req, "authorization", basic("sha", "sha-pass"));
    res = gwf_test_run(h, &policy_route, req);
    assert_non_null(res);
    assert_forwarded(res);
    gwf_test_result_free(res);
    gwf_test_request_free(req);
    gwf_test_host_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_valid_sha_credentials_reach_upstream_with_authorization_kept),
        cmocka_unit_test(test_user_name_is_left_as_a_shared_stream_value),
        cmocka_unit_test(test_every_hash_format_from_a_secret_is_accepted),
        cmocka_unit_test(test_secret_key_can_be_named),
        cmocka_unit_test(test_disable_lets_every_request_through),
        cmocka_unit_test(
            test_missing_credentials_get_401_with_the_basic_challenge),
        cmocka_unit_test(
            test_wrong_password_and_unknown_user_are_refused_alike),
        cmocka_unit_test(test_other_scheme_is_refused),
        cmocka_unit_test(test_malformed_credentials_are_refused),
        cmocka_unit_test(test_duplicate_authorization_headers_are_refused),
        cmocka_unit_test(test_authorization_the_host_cannot_read_is_refused),
        cmocka_unit_test(test_huge_authorization_header_is_refused),
        cmocka_unit_test(test_password_of_another_user_is_refused),
        cmocka_unit_test(test_every_result_is_counted),
        cmocka_unit_test(
            test_bcrypt_is_paid_once_per_credential_but_every_wrong_guess_pays),
        cmocka_unit_test(test_unknown_user_costs_as_much_as_a_wrong_password),
        cmocka_unit_test(test_exactly_one_of_users_secret_ref_disable),
        cmocka_unit_test(test_plain_text_user_line_is_refused_naming_the_line),
        cmocka_unit_test(test_secret_line_errors_name_the_line_number),
        cmocka_unit_test(test_missing_secret_or_key_is_refused),
        cmocka_unit_test(test_duplicate_user_and_unknown_field_are_refused),
        cmocka_unit_test(test_traffic_policy_basic_auth_is_enforced),
    };
    return cmocka_run_group_tests(tests, read_vectors, free_vectors);
}
