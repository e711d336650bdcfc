/*
 * test_redis_failures.c - what happens when Redis is not there, goes
 * away, stops answering or refuses us: the fail mode is honoured (500,
 * the configured status, or failOpen), nothing hangs past the timeout,
 * and the plugin recovers once Redis is back, without a restart. Also the
 * connection settings: ACL user and password (inline or from a Secret),
 * db, and a Backend reference.
 *
 * Each test starts its own redis-server when it needs one, and kills it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define MS INT64_C(1000000)
#define FOO                                                                    \
    "[{entries: [{type: Generic, generic: {key: generic_key, value: foo}}]}]"
#define LIMITS                                                                 \
    "descriptors: [{key: generic_key, value: foo, rate_limit: {unit: minute, " \
    "requests_per_unit: 2}}]"

static const char *
spec_at(int port, const char *rest)
{
    static char text[4096];
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\"}, domain: shop, %s%s" LIMITS
             "}",
             port, rest, *rest ? ", " : "");
    return text;
}

static void
test_unreachable_redis_gives_500(void **state)
{
    (void)state;
    gwf_test_host *h =
        host_with(global_manifests(spec_at(dead_port(), ""), FOO));
    gwf_test_result *res = run_api(h, "/", NULL);

    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), "rate_limit_error");
    gwf_test_result_free(res);
    assert_true(
        gwf_test_metric(h, "gwf_rate_limit_decisions_total{instance=\"default/"
                           "rl\",descriptor=\"generic_key_foo\",outcome=\"error"
                           "\"}") == 1);
    gwf_test_host_free(h);
}

static void
test_unreachable_redis_with_fail_open_forwards(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        global_manifests(spec_at(dead_port(), "failOpen: true"), FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
}

static void
test_failure_status_is_configurable(void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        global_manifests(spec_at(dead_port(), "failureStatus: 503"), FOO));

    assert_int_equal(status_of(h, "/", NULL), 503);
    gwf_test_host_free(h);
}

static void
test_redis_killed_then_restarted_recovers(void **state)
{
    (void)state;
    redis_peer p = {0};
    redis_peer_start(&p);
    gwf_test_host *h = host_with(global_manifests(spec_at(p.port, ""), FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    redis_peer_kill(&p);
    assert_int_equal(status_of(h, "/", NULL), 500); /* connection lost */
    assert_int_equal(status_of(h, "/", NULL), 500); /* in backoff */
    redis_peer_start(&p);                           /* same port */
    assert_int_equal(status_of(h, "/", NULL), 500); /* still in backoff */
    gwf_test_advance(h, 200 * MS);
    /* A fresh Redis: the count starts again. */
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_true(gwf_test_log_contains(h, "connection"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_redis_killed_with_requests_in_flight(void **state)
{
    (void)state;
    redis_peer p = {0};
    redis_peer_start(&p);
    gwf_test_host *h = host_with(global_manifests(spec_at(p.port, ""), FOO));
    gwf_test_result *res[8];

    assert_int_equal(status_of(h, "/", NULL), 200); /* connected */
    /* Eight requests queue their commands on the connection... */
    for (int i = 0; i < 8; i++)
        res[i] = start_api(h, "/", NULL, 0);
    /* ...and Redis dies before answering any. */
    redis_peer_kill(&p);
    for (int i = 0; i < 8; i++) {
        assert_true(gwf_test_wait(h, res[i], 2000));
        assert_int_equal(gwf_test_status(res[i]), 500);
        gwf_test_result_free(res[i]);
    }
    gwf_test_host_free(h);
}

static void
test_redis_killed_with_fail_open_keeps_serving(void **state)
{
    (void)state;
    redis_peer p = {0};
    redis_peer_start(&p);
    gwf_test_host *h =
        host_with(global_manifests(spec_at(p.port, "failOpen: true"), FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    redis_peer_kill(&p);
    for (int i = 0; i < 5; i++)
        assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
}

static void
test_stopped_redis_times_out_with_500(void **state)
{
    (void)state;
    redis_peer p = {0};
    redis_peer_start(&p);
    gwf_test_host *h = host_with(global_manifests(spec_at(p.port, ""), FOO));
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200); /* connected */
    redis_peer_pause(&p);
    res = start_api(h, "/", NULL, 100);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 99 * MS);
    gwf_test_wait(h, res, 20);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 1 * MS); /* the default timeout: 100 ms */
    gwf_test_wait(h, res, 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    gwf_test_result_free(res);
    assert_true(gwf_test_log_contains(h, "did not answer"));
    redis_peer_continue(&p);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_stopped_redis_with_fail_open_forwards_after_timeout(void **state)
{
    (void)state;
    redis_peer p = {0};
    redis_peer_start(&p);
    gwf_test_host *h = host_with(global_manifests(
        spec_at(p.port, "failOpen: true, timeout: 250ms"), FOO));
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200);
    redis_peer_pause(&p);
    res = start_api(h, "/", NULL, 100);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 249 * MS);
    gwf_test_wait(h, res, 20);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 1 * MS);
    gwf_test_wait(h, res, 1000);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_FORWARDED);
    gwf_test_result_free(res);
    redis_peer_continue(&p);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_redis_answering_again_after_a_stop_recovers(void **state)
{
    (void)state;
    redis_peer p = {0};
    redis_peer_start(&p);
    gwf_test_host *h = host_with(global_manifests(spec_at(p.port, ""), FOO));
    gwf_test_result *res;

    redis_peer_pause(&p);
    /* No reply across three decision timeouts of time: the first
     * timeout starts the count, the fourth drops the connection and
     * makes it again. */
    for (int i = 0; i < 4; i++) {
        res = start_api(h, "/", NULL, 50);
        gwf_test_advance(h, 100 * MS);
        gwf_test_wait(h, res, 1000);
        assert_int_equal(gwf_test_status(res), 500);
        gwf_test_result_free(res);
        assert_int_equal(gwf_test_log_contains(h, "reconnecting"), i == 3);
    }
    redis_peer_continue(&p);
    /* Redis still counts what it had received: start from zero. */
    redis_flush(&p);
    gwf_test_advance(h, 200 * MS); /* past the backoff */
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* One stall a little longer than the timeout, with many decisions in
 * flight: they all time out together, and that is one timeout of
 * silence, not many. The connection stays; the request after the stall
 * goes to Redis at once (no reconnect, no backoff failing it): Redis
 * counted the sixteen, so it is over the limit of 2. */
static void
test_decisions_timing_out_together_keep_the_connection(void **state)
{
    (void)state;
    redis_peer p = {0};
    redis_peer_start(&p);
    gwf_test_host *h = host_with(global_manifests(spec_at(p.port, ""), FOO));
    gwf_test_result *res[16];

    assert_int_equal(status_of(h, "/", NULL), 200); /* connected */
    redis_peer_pause(&p);
    for (int i = 0; i < 16; i++)
        res[i] = start_api(h, "/", NULL, 0);
    gwf_test_advance(h, 100 * MS);
    for (int i = 0; i < 16; i++) {
        assert_true(gwf_test_wait(h, res[i], 1000));
        assert_int_equal(gwf_test_status(res[i]), 500);
        gwf_test_result_free(res[i]);
    }
    redis_peer_continue(&p);
    assert_int_equal(status_of(h, "/", NULL), 429);
    assert_false(gwf_test_log_contains(h, "reconnecting"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_client_gone_while_waiting_for_redis(void **state)
{
    (void)state;
    redis_peer p = {0};
    redis_peer_start(&p);
    gwf_test_host *h = host_with(global_manifests(spec_at(p.port, ""), FOO));
    gwf_test_result *res;

    assert_int_equal(status_of(h, "/", NULL), 200);
    redis_peer_pause(&p);
    res = start_api(h, "/", NULL, 50);
    gwf_test_abort(h, res);
    gwf_test_result_free(res);
    /* The reply arrives after the stream ended: nothing to answer. */
    redis_peer_continue(&p);
    assert_int_equal(status_of(h, "/", NULL), 429); /* 3rd hit counted */
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* -- Connection settings --------------------------------------------------- */

static void
test_acl_user_and_password_authenticate(void **state)
{
    (void)state;
    redis_peer p = {0};
    char text[512];

    /* redis-server --user takes the whole ACL rule as one argument. */
    p.extra[0] = "--user";
    p.extra[1] = "limiter";
    p.extra[2] = "on";
    p.extra[3] = ">s3cret";
    p.extra[4] = "~*";
    p.extra[5] = "+@all";
    p.extra[6] = "--requirepass";
    p.extra[7] = "other-default-pass";
    redis_peer_start(&p);
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\", username: limiter, "
             "password: s3cret}, domain: shop, " LIMITS "}",
             p.port);
    gwf_test_host *h = host_with(global_manifests(text, FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    redisContext *c = redis_peer_client(&p, "limiter", "s3cret");
    assert_int_equal(redis_int(c, "GET shop_generic_key_foo_1767225600"), 1);
    redisFree(c);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_wrong_password_fails_closed_and_is_logged(void **state)
{
    (void)state;
    redis_peer p = {0};
    char text[512];

    p.extra[0] = "--requirepass";
    p.extra[1] = "right";
    redis_peer_start(&p);
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\", password: wrong}, "
             "domain: shop, " LIMITS "}",
             p.port);
    gwf_test_host *h = host_with(global_manifests(text, FOO));

    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "AUTH failed"));
    assert_false(gwf_test_log_contains(h, "wrong"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_password_from_secret(void **state)
{
    (void)state;
    redis_peer p = {0};
    char text[8192];

    p.extra[0] = "--requirepass";
    p.extra[1] = "hunter2";
    redis_peer_start(&p);
    snprintf(text, sizeof(text),
             "%s---\napiVersion: v1\nkind: Secret\n"
             "metadata: {name: redis-pass}\n"
             "data: {password: aHVudGVyMg==}\n",
             global_manifests(spec_at(p.port, ""), FOO));
    /* spec_at has no password: add passwordSecretRef to the redis block. */
    char *addr = strstr(text, "\"}, domain");
    assert_non_null(addr);
    char rest[8192];
    snprintf(rest, sizeof(rest), "%s", addr + 2);
    snprintf(addr, sizeof(text) - (size_t)(addr - text),
             "\", passwordSecretRef: {name: redis-pass}}%s", rest);
    gwf_test_host *h = host_with(text);

    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_db_selects_the_database(void **state)
{
    (void)state;
    redis_peer p = {0};
    char text[512];

    redis_peer_start(&p);
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\", db: 3}, domain: shop, " LIMITS
             "}",
             p.port);
    gwf_test_host *h = host_with(global_manifests(text, FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    redisContext *c = redis_peer_client(&p, NULL, NULL);
    assert_int_equal(redis_int(c, "EXISTS shop_generic_key_foo_1767225600"), 0);
    redis_int(c, "SELECT 3");
    assert_int_equal(redis_int(c, "GET shop_generic_key_foo_1767225600"), 1);
    redisFree(c);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* -- A Redis that breaks the protocol ------------------------------------ */

/* A fake Redis on 127.0.0.1 (a child process): every read it gets is
 * answered with `script`, whatever the commands were. */
typedef struct fake_redis {
    pid_t pid;
    int port;
} fake_redis;

static void
fake_redis_start(fake_redis *f, const char *script)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            char buf[4096];
            while (c >= 0 && read(c, buf, sizeof(buf)) > 0)
                if (write(c, script, strlen(script)) < 0)
                    break;
            if (c >= 0)
                close(c);
        }
    }
    close(fd);
}

static void
fake_redis_stop(fake_redis *f)
{
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
}

/* hiredis alone asserts on a reply no command waits for: the worker
 * would abort. The reply to the request's own INCRBY stands; the extra
 * one ends that connection, and the next request reconnects. */
static void
test_reply_to_no_command_ends_the_connection_not_the_worker(void **state)
{
    (void)state;
    fake_redis f;
    gwf_test_host *h;

    /* INCRBY's reply, EXPIRE's, and one nobody asked for. */
    fake_redis_start(&f, ":1\r\n:1\r\n:7\r\n");
    h = host_with(global_manifests(spec_at(f.port, ""), FOO));
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_true(gwf_test_log_contains(h, "a reply to no command"));
    gwf_test_advance(h, 200 * MS); /* past the backoff */
    assert_int_equal(status_of(h, "/", NULL), 200);
    gwf_test_host_free(h);
    fake_redis_stop(&f);
}

/* An array header announcing 2^31-1 elements is refused as it is read:
 * never allocated, never walked. */
static void
test_huge_array_reply_fails_closed_at_once(void **state)
{
    (void)state;
    fake_redis f;
    gwf_test_host *h;
    gwf_test_result *res;

    fake_redis_start(&f, "*2147483647\r\n:1\r\n");
    h = host_with(global_manifests(spec_at(f.port, ""), FOO));
    res = start_api(h, "/", NULL, 2000);
    /* Answered by the reply, not by the decision timer. */
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_LOCAL_REPLY);
    assert_int_equal(gwf_test_status(res), 500);
    assert_true(gwf_test_log_contains(h, "malformed reply"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    fake_redis_stop(&f);
}

/* Keys in db `db` of `p`. */
static long long
keys_in_db(const redis_peer *p, int db)
{
    redisContext *c = redis_peer_client(p, NULL, NULL);
    long long n;

    redis_int(c, "SELECT %d", db);
    n = redis_int(c, "DBSIZE");
    redisFree(c);
    return n;
}

static void
test_select_refused_fails_closed_and_counts_nowhere(void **state)
{
    (void)state;
    redis_peer p = {.extra = {"--databases", "2"}};
    char text[512];

    redis_peer_start(&p);
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\", db: 5}, domain: shop, " LIMITS
             "}",
             p.port);
    gwf_test_host *h = host_with(global_manifests(text, FOO));
    gwf_test_result *res = run_api(h, "/", NULL);

    /* Without db 5 the commands would count in db 0 and pass. */
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), "rate_limit_error");
    assert_true(gwf_test_log_contains(h, "SELECT failed"));
    assert_int_equal(keys_in_db(&p, 0), 0);
    assert_int_equal(keys_in_db(&p, 1), 0);
    gwf_test_result_free(res);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_auth_refused_by_a_redis_without_password_fails_closed(void **state)
{
    (void)state;
    redis_peer p = {0};
    char text[512];

    redis_peer_start(&p); /* no requirepass: AUTH is an error */
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\", password: s3cret}, "
             "domain: shop, " LIMITS "}",
             p.port);
    gwf_test_host *h = host_with(global_manifests(text, FOO));

    assert_int_equal(status_of(h, "/", NULL), 500);
    assert_true(gwf_test_log_contains(h, "AUTH failed"));
    assert_int_equal(keys_in_db(&p, 0), 0);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_select_refused_with_fail_open_forwards(void **state)
{
    (void)state;
    redis_peer p = {.extra = {"--databases", "2"}};
    char text[512];

    redis_peer_start(&p);
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\", db: 5}, domain: shop, "
             "failOpen: true, " LIMITS "}",
             p.port);
    gwf_test_host *h = host_with(global_manifests(text, FOO));

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(keys_in_db(&p, 0), 0);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_backend_ref_resolves_a_static_backend(void **state)
{
    (void)state;
    redis_peer p = {0};
    char spec[512], text[8192];

    redis_peer_start(&p);
    snprintf(spec, sizeof(spec),
             "{redis: {backendRef: {name: redis}}, domain: shop, " LIMITS "}");
    snprintf(text, sizeof(text),
             "%s---\napiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: Backend\nmetadata: {name: redis}\n"
             "spec: {static: {hosts: [{host: 127.0.0.1, port: %d}]}}\n",
             global_manifests(spec, FOO), p.port);
    gwf_test_host *h = host_with(text);

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_true(redis_exists(&p, "shop_generic_key_foo_1767225600"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_redis_gives_500),
        cmocka_unit_test(test_unreachable_redis_with_fail_open_forwards),
        cmocka_unit_test(test_failure_status_is_configurable),
        cmocka_unit_test(test_redis_killed_then_restarted_recovers),
        cmocka_unit_test(test_redis_killed_with_requests_in_flight),
        cmocka_unit_test(test_redis_killed_with_fail_open_keeps_serving),
        cmocka_unit_test(test_stopped_redis_times_out_with_500),
        cmocka_unit_test(
            test_stopped_redis_with_fail_open_forwards_after_timeout),
        cmocka_unit_test(test_redis_answering_again_after_a_stop_recovers),
        cmocka_unit_test(
            test_decisions_timing_out_together_keep_the_connection),
        cmocka_unit_test(test_client_gone_while_waiting_for_redis),
        cmocka_unit_test(test_acl_user_and_password_authenticate),
        cmocka_unit_test(test_wrong_password_fails_closed_and_is_logged),
        cmocka_unit_test(test_password_from_secret),
        cmocka_unit_test(test_db_selects_the_database),
        cmocka_unit_test(test_backend_ref_resolves_a_static_backend),
        cmocka_unit_test(test_select_refused_fails_closed_and_counts_nowhere),
        cmocka_unit_test(
            test_auth_refused_by_a_redis_without_password_fails_closed),
        cmocka_unit_test(test_select_refused_with_fail_open_forwards),
        cmocka_unit_test(
            test_reply_to_no_command_ends_the_connection_not_the_worker),
        cmocka_unit_test(test_huge_array_reply_fails_closed_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
