/*
 * bench_decisions.c - rate-limit decisions per second through the plugin,
 * against one Redis or a Redis Cluster, with many requests in flight (so
 * each connection pipelines their INCRBY + EXPIRE pairs).
 *
 * Runs on the in-process test host (the real runtime and plugin, one
 * worker): keeps CONCURRENCY requests in flight, starting a new one as
 * soon as one is decided, until TOTAL have been decided. Every decision is
 * one INCRBY + EXPIRE (the limit is never reached). With KEYS 1 (run.sh)
 * they all go to one key, like `redis-benchmark -P CONCURRENCY INCRBY` /
 * `EXPIRE`; with more, request i carries x-user: u<i mod KEYS>, one
 * counter per value, so that on a cluster the keys spread over every
 * primary's slots (cluster.sh runs one Redis and a cluster with the same
 * KEYS: only where the keys live differs).
 *
 * Usage: bench_decisions REDIS [TOTAL [CONCURRENCY [KEYS]]]
 *        (GWF_PLUGIN_PATH must find rate_limit.so)
 *   REDIS  PORT: a Redis on 127.0.0.1:PORT (redis.type Single);
 *          cluster:PORT[,PORT...]: a Redis Cluster with those seed nodes
 *          on 127.0.0.1 (redis.type Cluster);
 *          0: no Redis, the same loop through a local token bucket that
 *          never runs out: the test host's own cost per request, which
 *          bounds what the Redis runs can reach.
 * Prints: "decisions/s N (TOTAL in S s, CONCURRENCY in flight, ...)
 * cpu_ns/decision C", C this process's CPU time per decision.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gwf/testing.h>

static double
clock_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* The redis block for REDIS (see the usage above) in out: 0, or -1. */
static int
redis_block(const char *arg, char *out, size_t size)
{
    const char *prefix = "cluster:";
    size_t used;
    char *end;

    if (strncmp(arg, prefix, strlen(prefix)) != 0) {
        errno = 0;
        long port = strtol(arg, &end, 10);
        if (errno || *end || port < 1 || port > 65535)
            return -1;
        snprintf(out, size, "{address: \"127.0.0.1:%ld\"}", port);
        return 0;
    }
    used = (size_t)snprintf(out, size, "{type: Cluster, addresses: [");
    for (const char *p = arg + strlen(prefix);;) {
        errno = 0;
        long port = strtol(p, &end, 10);
        if (errno || end == p || port < 1 || port > 65535 ||
            (*end && *end != ','))
            return -1;
        used += (size_t)snprintf(out + used, size - used, "%s\"127.0.0.1:%ld\"",
                                 p == arg + strlen(prefix) ? "" : ", ", port);
        if (used >= size)
            return -1;
        if (!*end)
            break;
        p = end + 1;
    }
    used += (size_t)snprintf(out + used, size - used, "]}");
    return used < size ? 0 : -1;
}

int
main(int argc, char **argv)
{
    const char *where = argc > 1 ? argv[1] : "0";
    long total = argc > 2 ? atol(argv[2]) : 200000;
    long concurrency = argc > 3 ? atol(argv[3]) : 64;
    long keys = argc > 4 ? atol(argv[4]) : 1;
    const gwf_test_route route = {.policy = "default/api"};
    char manifests[4096], redis[2048];
    gwf_test_result **inflight;
    gwf_test_request **reqs;
    gwf_test_host *h;
    long started = 0, done = 0, failed = 0;
    double t0, t1, cpu0, cpu1;
    int local = strcmp(where, "0") == 0;

    if ((!local && redis_block(where, redis, sizeof(redis)) != 0) ||
        total <= 0 || concurrency <= 0 || keys <= 0 || keys > 1000000) {
        fprintf(stderr,
                "usage: %s REDIS [TOTAL [CONCURRENCY [KEYS]]]\n"
                "  REDIS: PORT, cluster:PORT[,PORT...] or 0\n",
                argv[0]);
        return 2;
    }
    /* One key: generic_key b, as run.sh has always measured it. More:
     * one counter per x-user value. */
    snprintf(manifests, sizeof(manifests),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: rl}\n"
             "spec:\n"
             "  rateLimit: {domain: bench, timeout: 10s, redis: %s, "
             "descriptors: [{key: %s, rate_limit: {unit: hour, "
             "requests_per_unit: 4294967295}}]}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api}\n"
             "spec:\n"
             "  rateLimit:\n"
             "    global:\n"
             "      extensionRef: {name: rl}\n"
             "      descriptors: [{entries: [%s]}]\n",
             redis, keys == 1 ? "generic_key, value: b" : "x-user",
             keys == 1 ? "{type: Generic, generic: {key: generic_key, "
                         "value: b}}"
                       : "{type: Header, header: x-user}");
    if (local)
        snprintf(manifests, sizeof(manifests),
                 "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                 "kind: TrafficPolicy\n"
                 "metadata: {name: api}\n"
                 "spec:\n"
                 "  rateLimit:\n"
                 "    local:\n"
                 "      tokenBucket: {maxTokens: 1000000000, fillInterval: "
                 "1h}\n");
    h = gwf_test_host_new();
    reqs = calloc((size_t)keys, sizeof(*reqs));
    inflight = calloc((size_t)concurrency, sizeof(*inflight));
    if (!h || !reqs || !inflight)
        goto setup_failed;
    for (long k = 0; k < keys; k++) {
        char user[24];
        if (!(reqs[k] = gwf_test_request_new("GET", "/")))
            goto setup_failed;
        snprintf(user, sizeof(user), "u%ld", k);
        gwf_test_request_header(reqs[k], "x-user", user);
    }
    if (gwf_test_load_text(h, manifests) != 0 || gwf_test_validate(h) != 0)
        goto setup_failed;
    /* Warm-up: connect (and, on a cluster, learn the slot map). */
    gwf_test_result_free(gwf_test_run(h, &route, reqs[0]));
    t0 = now_s();
    cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    /* Keep the window full: wait for the oldest request, then collect
     * every one that finished meanwhile and start one in its place at
     * once, so that the plugin's work overlaps Redis's as it does in a
     * worker serving many clients (not waves of CONCURRENCY). */
    for (long i = 0; i < concurrency && started < total; i++, started++)
        if (!(inflight[i] = gwf_test_start(h, &route, reqs[started % keys], 0)))
            goto no_start;
    for (long oldest = 0; done < total; oldest = (oldest + 1) % concurrency) {
        if (!inflight[oldest])
            continue;
        gwf_test_wait(h, inflight[oldest], 1000);
        for (long i = 0; i < concurrency; i++) {
            if (!inflight[i] ||
                gwf_test_outcome(inflight[i]) == GWF_TEST_RUNNING)
                continue;
            if (gwf_test_outcome(inflight[i]) != GWF_TEST_FORWARDED)
                failed++;
            gwf_test_result_free(inflight[i]);
            inflight[i] = NULL;
            done++;
            if (started < total) {
                if (!(inflight[i] =
                          gwf_test_start(h, &route, reqs[started % keys], 0)))
                    goto no_start;
                started++;
            }
        }
    }
    t1 = now_s();
    cpu1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    /* The CPU time of this process (the plugin, the host's loop, the
     * client side of the sockets) moves far less with the load of other
     * processes than the rate does. */
    printf("decisions/s %.0f (%ld in %.2f s, %ld in flight, %ld keys, %ld "
           "not forwarded) cpu_ns/decision %.0f\n",
           (double)total / (t1 - t0), total, t1 - t0, concurrency, keys, failed,
           (cpu1 - cpu0) * 1e9 / (double)total);
    free(inflight);
    for (long k = 0; k < keys; k++)
        gwf_test_request_free(reqs[k]);
    free(reqs);
    gwf_test_host_free(h);
    return failed ? 1 : 0;
setup_failed:
    fprintf(stderr, "setup failed: %s\n", h ? gwf_test_error(h) : "");
    return 1;
no_start:
    fprintf(stderr, "request did not start: %s\n", gwf_test_error(h));
    return 1;
}
