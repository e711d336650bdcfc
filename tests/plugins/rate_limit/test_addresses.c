/*
 * test_addresses.c - reaching Redis through a host name with several
 * addresses. A stock Debian 12 resolves localhost to ::1 and then
 * 127.0.0.1, and Redis often listens on only one of them: the plugin
 * tries every address in the resolver's order until one accepts, without
 * failing the requests waiting for the connection, and resolves the name
 * again after it loses a connection.
 *
 * The tests look at what localhost resolves to on this machine and skip
 * when it cannot show the case (a localhost with a single address).
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
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include "support.h"

#define MS INT64_C(1000000)
#define FOO                                                                    \
    "[{entries: [{type: Generic, generic: {key: generic_key, value: foo}}]}]"
#define KEY "shop_generic_key_foo_1767225600"

/* What localhost resolves to here, in order. */
static char localhost_addrs[8][INET6_ADDRSTRLEN];
static size_t localhost_count;

static int
resolve_localhost(void **state)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;

    (void)state;
    if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
        return 0;
    for (ai = res; ai && localhost_count < 8; ai = ai->ai_next) {
        const void *a =
            ai->ai_family == AF_INET6
                ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        char ip[INET6_ADDRSTRLEN];
        size_t i;
        inet_ntop(ai->ai_family, a, ip, sizeof(ip));
        for (i = 0; i < localhost_count; i++)
            if (strcmp(localhost_addrs[i], ip) == 0)
                break;
        if (i == localhost_count)
            snprintf(localhost_addrs[localhost_count++], INET6_ADDRSTRLEN, "%s",
                     ip);
    }
    freeaddrinfo(res);
    return 0;
}

static int
localhost_has(const char *ip)
{
    for (size_t i = 0; i < localhost_count; i++)
        if (strcmp(localhost_addrs[i], ip) == 0)
            return 1;
    return 0;
}

/* spec.rateLimit: Redis at "`host`:`port`", 2 a minute. */
static const char *
spec_at(const char *host, int port, const char *rest)
{
    static char text[1024];
    snprintf(text, sizeof(text),
             "{redis: {address: \"%s:%d\"}, domain: shop, descriptors: "
             "[{key: generic_key, value: foo, rate_limit: {unit: minute, "
             "requests_per_unit: 2}}]%s%s}",
             host, port, *rest ? ", " : "", rest);
    return text;
}

/* Two pass, the third is over the limit: Redis counted all three. */
static void
assert_limit_holds(gwf_test_host *h, const redis_peer *p)
{
    redisContext *c;

    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_int_equal(status_of(h, "/", NULL), 429);
    c = redis_peer_client(p, NULL, NULL);
    assert_int_equal(redis_int(c, "GET %s", KEY), 3);
    redisFree(c);
}

static void
test_redis_on_ipv4_loopback_only_is_reached_through_localhost(void **state)
{
    (void)state;
    redis_peer p = {.bind = "127.0.0.1"};
    gwf_test_host *h;

    if (!localhost_has("127.0.0.1"))
        skip();
    redis_peer_start(&p);
    h = host_with(global_manifests(spec_at("localhost", p.port, ""), FOO));
    assert_limit_holds(h, &p);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_redis_on_ipv6_loopback_only_is_reached_through_localhost(void **state)
{
    (void)state;
    redis_peer p = {.bind = "::1"};
    gwf_test_host *h;

    if (!localhost_has("::1"))
        skip();
    redis_peer_start(&p);
    h = host_with(global_manifests(spec_at("localhost", p.port, ""), FOO));
    assert_limit_holds(h, &p);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

static void
test_ipv6_literal_address_reaches_redis(void **state)
{
    (void)state;
    redis_peer p = {.bind = "::1"};
    gwf_test_host *h;

    redis_peer_start(&p);
    h = host_with(global_manifests(spec_at("[::1]", p.port, ""), FOO));
    assert_limit_holds(h, &p);
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* Redis on localhost's last address only: every address before it
 * refuses, and the first request still gets its answer from Redis. */
static void
test_first_address_refusing_costs_no_request(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;
    char refused[96];

    if (localhost_count < 2)
        skip();
    p.bind = localhost_addrs[localhost_count - 1];
    redis_peer_start(&p);
    h = host_with(global_manifests(spec_at("localhost", p.port, ""), FOO));
    assert_limit_holds(h, &p);
    snprintf(refused, sizeof(refused), "at %s: ", localhost_addrs[0]);
    assert_true(gwf_test_log_contains(h, refused));
    assert_false(gwf_test_log_contains(h, "rate_limit_error"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

/* A listener on [::1]:`port` with a full accept queue (backlog 0 and one
 * connection never accepted): the kernel drops any further SYN, so a
 * connect there neither completes nor fails. -1 when this kernel does
 * not behave so; else the listener, and the queued client in *filler. */
static int
black_hole(int port, int *filler)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_port = htons((uint16_t)port),
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int one = 1, fd = socket(AF_INET6, SOCK_STREAM, 0), probe;
    struct pollfd pfd;

    assert_true(fd >= 0);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 0) != 0)
        goto fail;
    *filler = socket(AF_INET6, SOCK_STREAM, 0);
    assert_int_equal(connect(*filler, (struct sockaddr *)&a, sizeof(a)), 0);
    probe = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(probe, (struct sockaddr *)&a, sizeof(a));
    pfd = (struct pollfd){.fd = probe, .events = POLLOUT};
    if (poll(&pfd, 1, 200) != 0) { /* it connected or failed: no hole */
        close(probe);
        close(*filler);
        goto fail;
    }
    close(probe);
    return fd;
fail:
    close(fd);
    return -1;
}

/* localhost's first address (::1) swallows the connect: the decision
 * waiting on it times out (failure mode), and the connection moves on to
 * the next address at once instead of waiting for the kernel to give up
 * on the first; the next request is answered by Redis. */
static void
test_black_holed_first_address_is_left_after_one_timeout(void **state)
{
    (void)state;
    redis_peer p = {.bind = "127.0.0.1"};
    gwf_test_host *h;
    gwf_test_result *res;
    int hole, filler = -1;
    redisContext *c;

    if (localhost_count < 2 || strcmp(localhost_addrs[0], "::1") != 0 ||
        !localhost_has("127.0.0.1"))
        skip();
    redis_peer_start(&p);
    hole = black_hole(p.port, &filler);
    if (hole < 0) {
        redis_peer_kill(&p);
        skip();
    }
    h = host_with(global_manifests(spec_at("localhost", p.port, ""), FOO));
    res = start_api(h, "/", NULL, 100);
    assert_int_equal(gwf_test_outcome(res), GWF_TEST_RUNNING);
    gwf_test_advance(h, 100 * MS); /* the default timeout */
    gwf_test_wait(h, res, 1000);
    assert_int_equal(gwf_test_status(res), 500);
    gwf_test_result_free(res);
    assert_true(gwf_test_log_contains(h, "at ::1: no answer to the connect"));
    assert_int_equal(status_of(h, "/", NULL), 200);
    /* The timed-out request's command went out once connected, too. */
    c = redis_peer_client(&p, NULL, NULL);
    assert_int_equal(redis_int(c, "GET %s", KEY), 2);
    redisFree(c);
    gwf_test_host_free(h);
    close(filler);
    close(hole);
    redis_peer_kill(&p);
}

static void
test_no_address_accepting_fails_closed(void **state)
{
    (void)state;
    redis_peer p = {0};
    gwf_test_host *h;
    gwf_test_result *res;

    redis_peer_start(&p);
    redis_peer_kill(&p); /* nothing listens on p.port any more */
    h = host_with(global_manifests(spec_at("localhost", p.port, ""), FOO));
    res = run_api(h, "/", NULL);
    assert_int_equal(gwf_test_status(res), 500);
    assert_string_equal(gwf_test_reply_details(res), "rate_limit_error");
    assert_true(gwf_test_log_contains(h, "no address accepted"));
    gwf_test_result_free(res);
    gwf_test_host_free(h);
}

static void
test_name_is_resolved_again_after_a_lost_connection(void **state)
{
    (void)state;
    redis_peer p = {.bind = "127.0.0.1"};
    struct timespec settle = {0, 500 * 1000000};
    gwf_test_host *h;

    if (!localhost_has("127.0.0.1"))
        skip();
    redis_peer_start(&p);
    h = host_with(global_manifests(spec_at("localhost", p.port, ""), FOO));
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_false(gwf_test_log_contains(h, "resolved again"));
    redis_peer_kill(&p);
    assert_int_equal(status_of(h, "/", NULL), 500); /* connection lost */
    redis_peer_start(&p);                           /* same port */
    nanosleep(&settle, NULL);      /* the resolution runs in the background */
    gwf_test_advance(h, 200 * MS); /* past the backoff */
    assert_int_equal(status_of(h, "/", NULL), 200);
    assert_true(gwf_test_log_contains(h, "rate_limit: Redis localhost "
                                         "resolved again"));
    gwf_test_host_free(h);
    redis_peer_kill(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_redis_on_ipv4_loopback_only_is_reached_through_localhost),
        cmocka_unit_test(
            test_redis_on_ipv6_loopback_only_is_reached_through_localhost),
        cmocka_unit_test(test_ipv6_literal_address_reaches_redis),
        cmocka_unit_test(test_first_address_refusing_costs_no_request),
        cmocka_unit_test(
            test_black_holed_first_address_is_left_after_one_timeout),
        cmocka_unit_test(test_no_address_accepting_fails_closed),
        cmocka_unit_test(test_name_is_resolved_again_after_a_lost_connection),
    };
    return cmocka_run_group_tests(tests, resolve_localhost, NULL);
}
