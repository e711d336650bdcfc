/*
 * test_pipelining.c - many decisions in flight on the worker's one Redis
 * connection: their commands are pipelined, their replies matched in
 * order, and every request gets exactly one answer - also when Redis
 * closes the connection with commands in flight, or the reply stream is
 * cut in the middle of a reply. Nothing is counted twice: the decisions
 * metric has one outcome per request.
 *
 * A real redis-server for the counts; a scripted peer (fake_peer) for
 * the failures: it reads until it has received `want` INCRBY (or EVALSHA)
 * commands, writes its script, and then closes the connection or keeps
 * it open.
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

#define FOO                                                                    \
    "[{entries: [{type: Generic, generic: {key: generic_key, value: foo}}]}]"
#define FIXED_KEY "shop_generic_key_foo_1767225600"
#define METRIC(outcome)                                                        \
    "gwf_rate_limit_decisions_total{instance=\"default/rl\",descriptor="       \
    "\"generic_key_foo\",outcome=\"" outcome "\"}"

static redis_peer redis;

/* spec.rateLimit on `port`: `limit` a minute, and `rest`. */
static const char *
spec(int port, unsigned long limit, const char *rest)
{
    static char text[1024];
    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\"}, domain: shop, timeout: "
             "5s, descriptors: [{key: generic_key, value: foo, rate_limit: "
             "{unit: minute, requests_per_unit: %lu}}]%s%s}",
             port, limit, *rest ? ", " : "", rest);
    return text;
}

/* Exact count of one outcome (absent: 0). */
static long
outcome_count(gwf_test_host *h, const char *series)
{
    double v = gwf_test_metric(h, series);
    return v != v ? 0 : (long)v;
}

/* Start `n` requests at once (each paused on Redis), then finish them:
 * how many got each status, in `ok`, `over` and `other` (and the first
 * other status in `other_status`). */
typedef struct tally {
    long ok, over, other;
    int other_status;
} tally;

static tally
run_concurrently(gwf_test_host *h, long n)
{
    gwf_test_result **res = calloc((size_t)n, sizeof(*res));
    tally t = {0};

    assert_non_null(res);
    for (long i = 0; i < n; i++) {
        res[i] = start_api(h, "/", NULL, 0);
        assert_int_equal(gwf_test_outcome(res[i]), GWF_TEST_RUNNING);
    }
    for (long i = 0; i < n; i++) {
        int status;
        if (gwf_test_outcome(res[i]) == GWF_TEST_RUNNING)
            gwf_test_wait(h, res[i], 5000);
        assert_int_not_equal(gwf_test_outcome(res[i]), GWF_TEST_RUNNING);
        status = gwf_test_status(res[i]);
        if (status == 200)
            t.ok++;
        else if (status == 429)
            t.over++;
        else if (!t.other++)
            t.other_status = status;
        gwf_test_result_free(res[i]);
    }
    free(res);
    return t;
}

/* -- Against a real Redis ------------------------------------------------ */

static int
setup_redis(void **state)
{
    (void)state;
    redis_peer_start(&redis);
    return 0;
}

static int
teardown_redis(void **state)
{
    (void)state;
    redis_peer_kill(&redis);
    return 0;
}

static int
flush(void **state)
{
    (void)state;
    redis_flush(&redis);
    return 0;
}

/* Clients Redis has, ours (one) and the one asking. */
static long long
redis_clients(void)
{
    redisContext *c = redis_peer_client(&redis, NULL, NULL);
    redisReply *r = redisCommand(c, "CLIENT LIST");
    long long n = 0;

    assert_non_null(r);
    for (const char *p = r->str; p && (p = strstr(p, "id=")); p += 3)
        n++;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void
test_a_thousand_concurrent_decisions_on_one_connection_count_exactly(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        spec(redis.port, 100000, "overLimitCache: false"), FOO));
    tally t;

    t = run_concurrently(h, 1000);
    assert_int_equal(t.ok, 1000);
    assert_int_equal(t.other, 0);
    {
        redisContext *c = redis_peer_client(&redis, NULL, NULL);
        assert_int_equal(redis_int(c, "GET %s", FIXED_KEY), 1000);
        assert_true(redis_int(c, "TTL %s", FIXED_KEY) > 0);
        redisFree(c);
    }
    assert_int_equal(redis_clients(), 2); /* the worker's one, and ours */
    assert_int_equal(outcome_count(h, METRIC("allowed")), 1000);
    assert_int_equal(outcome_count(h, METRIC("error")), 0);
    gwf_test_host_free(h);
}

/* redis.poolSize 3: the worker keeps three connections and decisions
 * take them in turn; 300 at once still count exactly. */
static void
test_pool_size_spreads_decisions_over_that_many_connections(void **state)
{
    (void)state;
    char text[1024];
    gwf_test_host *h;
    tally t;

    snprintf(text, sizeof(text),
             "{redis: {address: \"127.0.0.1:%d\", poolSize: 3}, domain: "
             "shop, timeout: 5s, overLimitCache: false, descriptors: [{key: "
             "generic_key, value: foo, rate_limit: {unit: minute, "
             "requests_per_unit: 100000}}]}",
             redis.port);
    h = host_with(global_manifests(text, FOO));
    t = run_concurrently(h, 300);
    assert_int_equal(t.ok, 300);
    assert_int_equal(t.other, 0);
    redisContext *c = redis_peer_client(&redis, NULL, NULL);
    assert_int_equal(redis_int(c, "GET %s", FIXED_KEY), 300);
    redisFree(c);
    assert_int_equal(redis_clients(), 4); /* the worker's three, and ours */
    gwf_test_host_free(h);
}

/* 1000 at once against a limit of 300: exactly 300 pass, and every
 * reply went to its own request (the counts 1..1000 each once). */
static void
test_a_thousand_concurrent_decisions_over_a_limit_pass_exactly_the_limit(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(
        global_manifests(spec(redis.port, 300, "overLimitCache: false"), FOO));
    tally t;

    t = run_concurrently(h, 1000);
    assert_int_equal(t.ok, 300);
    assert_int_equal(t.over, 700);
    assert_int_equal(t.other, 0);
    assert_int_equal(outcome_count(h, METRIC("allowed")) +
                         outcome_count(h, METRIC("near_limit")),
                     300);
    assert_int_equal(outcome_count(h, METRIC("over_limit")), 700);
    gwf_test_host_free(h);
}

/* Rolling: one script call per request, pipelined the same way. */
static void
test_a_thousand_concurrent_rolling_decisions_pass_exactly_the_limit(
    void **state)
{
    (void)state;
    gwf_test_host *h = host_with(global_manifests(
        spec(redis.port, 250, "algorithm: Rolling, overLimitCache: false"),
        FOO));
    tally t;

    t = run_concurrently(h, 1000);
    assert_int_equal(t.ok, 250);
    assert_int_equal(t.over, 750);
    assert_int_equal(t.other, 0);
    gwf_test_host_free(h);
}

/* -- Against a scripted peer ------------------------------------------- */

typedef struct fake_peer {
    pid_t pid;
    int port;
} fake_peer;

/* Occurrences of `needle` in buf[0..len). */
static long
count_in(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    long count = 0;

    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(buf + i, needle, n) == 0)
            count++;
    return count;
}

/* On every connection: read until `want` commands named `command` came,
 * write `script` (`script_len` bytes), then close if `close_after`, else
 * keep reading (and answering nothing more). */
static void
fake_peer_start(fake_peer *f, const char *command, long want,
                const char *script, size_t script_len, int close_after)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char needle[64];

    snprintf(needle, sizeof(needle), "$%zu\r\n%s\r\n", strlen(command),
             command);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        static char buf[1 << 20];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            size_t have = 0;
            ssize_t got;
            int answered = 0;
            if (c < 0)
                continue;
            while ((got = read(c, buf + have, sizeof(buf) - have)) > 0) {
                have += (size_t)got;
                if (have == sizeof(buf))
                    have = 0; /* only the count matters past here */
                if (answered || count_in(buf, have, needle) < want)
                    continue;
                answered = 1;
                if (write(c, script, script_len) < 0 || close_after)
                    break;
            }
            close(c);
        }
    }
    close(fd);
}

static void
fake_peer_stop(fake_peer *f)
{
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
}

/* Redis closes the connection once 50 INCRBY are in: each of the 50
 * requests gets the fail mode (500) exactly once. */
static void
test_connection_closed_with_fifty_in_flight_fails_each_once(void **state)
{
    (void)state;
    fake_peer f;
    gwf_test_host *h;
    tally t;

    fake_peer_start(&f, "INCRBY", 50, "", 0, 1);
    h = host_with(global_manifests(spec(f.port, 10, ""), FOO));
    t = run_concurrently(h, 50);
    assert_int_equal(t.other, 50);
    assert_int_equal(t.other_status, 500);
    assert_int_equal(outcome_count(h, METRIC("error")), 50);
    assert_int_equal(outcome_count(h, METRIC("allowed")), 0);
    assert_true(gwf_test_log_contains(h, "no reply (connection lost)"));
    gwf_test_host_free(h);
    fake_peer_stop(&f);
}

static void
test_connection_closed_with_fifty_in_flight_and_fail_open_forwards_each_once(
    void **state)
{
    (void)state;
    fake_peer f;
    gwf_test_host *h;
    tally t;

    fake_peer_start(&f, "INCRBY", 50, "", 0, 1);
    h = host_with(global_manifests(spec(f.port, 10, "failOpen: true"), FOO));
    t = run_concurrently(h, 50);
    assert_int_equal(t.ok, 50);
    assert_int_equal(outcome_count(h, METRIC("error")), 50);
    gwf_test_host_free(h);
    fake_peer_stop(&f);
}

/* Three in flight: the first two answered in full (INCRBY and EXPIRE),
 * the third's INCRBY reply cut after ":3" and the connection closed. The
 * first two stand; the third gets the fail mode, once. */
static void
test_reply_stream_cut_mid_reply_fails_only_the_cut_one(void **state)
{
    (void)state;
    static const char script[] = ":1\r\n:1\r\n:2\r\n:1\r\n:3";
    fake_peer f;
    gwf_test_host *h;
    tally t;

    fake_peer_start(&f, "INCRBY", 3, script, sizeof(script) - 1, 1);
    h = host_with(global_manifests(spec(f.port, 10, ""), FOO));
    t = run_concurrently(h, 3);
    assert_int_equal(t.ok, 2);
    assert_int_equal(t.other, 1);
    assert_int_equal(t.other_status, 500);
    assert_int_equal(outcome_count(h, METRIC("allowed")), 2);
    assert_int_equal(outcome_count(h, METRIC("error")), 1);
    gwf_test_host_free(h);
    fake_peer_stop(&f);
}

/* A rolling script's reply cut inside its array: the fail mode. */
static void
test_rolling_reply_cut_inside_its_array_fails_closed(void **state)
{
    (void)state;
    static const char script[] = "*4\r\n:1\r\n:5\r\n:0";
    fake_peer f;
    gwf_test_host *h;
    tally t;

    fake_peer_start(&f, "EVALSHA", 1, script, sizeof(script) - 1, 1);
    h = host_with(
        global_manifests(spec(f.port, 10, "algorithm: Rolling"), FOO));
    t = run_concurrently(h, 1);
    assert_int_equal(t.other, 1);
    assert_int_equal(t.other_status, 500);
    assert_int_equal(outcome_count(h, METRIC("error")), 1);
    gwf_test_host_free(h);
    fake_peer_stop(&f);
}

/* The connection closes after INCRBY's reply, with EXPIRE's still owed:
 * the request was answered by INCRBY's reply and is not answered again
 * (one outcome, allowed). */
static void
test_close_with_only_expire_owed_answers_nothing_twice(void **state)
{
    (void)state;
    static const char script[] = ":1\r\n";
    fake_peer f;
    gwf_test_host *h;
    tally t;

    fake_peer_start(&f, "INCRBY", 1, script, sizeof(script) - 1, 1);
    h = host_with(global_manifests(spec(f.port, 10, ""), FOO));
    t = run_concurrently(h, 1);
    assert_int_equal(t.ok, 1);
    assert_int_equal(t.other, 0);
    assert_int_equal(outcome_count(h, METRIC("allowed")), 1);
    assert_int_equal(outcome_count(h, METRIC("error")), 0);
    gwf_test_host_free(h);
    fake_peer_stop(&f);
}

/* Replies matched in order: a peer answering 1, 2, ... 20 to twenty
 * requests in flight against a limit of 10 lets exactly the first ten
 * through (an error reply in the middle fails only its own request). */
static void
test_replies_are_matched_to_requests_in_order(void **state)
{
    (void)state;
    char script[2048];
    size_t len = 0;
    fake_peer f;
    gwf_test_host *h;
    gwf_test_result *res[20];

    for (int i = 1; i <= 20; i++)
        len += (size_t)snprintf(
            script + len, sizeof(script) - len,
            i == 5 ? "-ERR nope\r\n:1\r\n" : ":%d\r\n:1\r\n", i);
    fake_peer_start(&f, "INCRBY", 20, script, len, 0);
    h = host_with(
        global_manifests(spec(f.port, 10, "overLimitCache: false"), FOO));
    for (int i = 0; i < 20; i++)
        res[i] = start_api(h, "/", NULL, 0);
    for (int i = 0; i < 20; i++) {
        if (gwf_test_outcome(res[i]) == GWF_TEST_RUNNING)
            gwf_test_wait(h, res[i], 5000);
        assert_int_equal(gwf_test_status(res[i]),
                         i == 4 ? 500 : (i < 10 ? 200 : 429));
        gwf_test_result_free(res[i]);
    }
    assert_int_equal(outcome_count(h, METRIC("error")), 1);
    assert_int_equal(outcome_count(h, METRIC("over_limit")), 10);
    gwf_test_host_free(h);
    fake_peer_stop(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup(f, flush)
        T(test_a_thousand_concurrent_decisions_on_one_connection_count_exactly),
        T(test_a_thousand_concurrent_decisions_over_a_limit_pass_exactly_the_limit),
        T(test_a_thousand_concurrent_rolling_decisions_pass_exactly_the_limit),
        T(test_connection_closed_with_fifty_in_flight_fails_each_once),
        T(test_connection_closed_with_fifty_in_flight_and_fail_open_forwards_each_once),
        T(test_reply_stream_cut_mid_reply_fails_only_the_cut_one),
        T(test_rolling_reply_cut_inside_its_array_fails_closed),
        T(test_close_with_only_expire_owed_answers_nothing_twice),
        T(test_replies_are_matched_to_requests_in_order),
        T(test_pool_size_spreads_decisions_over_that_many_connections),
#undef T
    };
    return cmocka_run_group_tests(tests, setup_redis, teardown_redis);
}
