/*
 * bench_decisions.c - rate-limit decisions per second through the plugin,
 * against one Redis, with many requests in flight (so the worker's one
 * connection pipelines their INCRBY + EXPIRE pairs).
 *
 * Runs on the in-process test host (the real runtime and plugin, one
 * worker): keeps CONCURRENCY requests in flight, starting a new one as
 * soon as one is decided, until TOTAL have been decided. Every decision is one
 * INCRBY + EXPIRE on the same key (the limit is never reached), like
 * `redis-benchmark -P CONCURRENCY INCRBY` / `EXPIRE` in run.sh.
 *
 * Usage: bench_decisions REDIS_PORT [TOTAL [CONCURRENCY]]
 *        (GWF_PLUGIN_PATH must find rate_limit.so)
 * Prints: "decisions/s N (TOTAL in S s, CONCURRENCY in flight)".
 * REDIS_PORT 0 runs the same loop through a local token bucket that never
 * runs out: the test host's own cost per request, without Redis, which
 * bounds what the Redis runs can reach.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <gwf/testing.h>

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    long total = argc > 2 ? atol(argv[2]) : 200000;
    long concurrency = argc > 3 ? atol(argv[3]) : 64;
    const gwf_test_route route = {.policy = "default/api"};
    char manifests[2048];
    gwf_test_result **inflight;
    gwf_test_request *req;
    gwf_test_host *h;
    long started = 0, done = 0, failed = 0;
    double t0, t1;

    if (port < 0 || total <= 0 || concurrency <= 0) {
        fprintf(stderr, "usage: %s REDIS_PORT [TOTAL [CONCURRENCY]]\n",
                argv[0]);
        return 2;
    }
    snprintf(manifests, sizeof(manifests),
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: GatewayExtension\n"
             "metadata: {name: rl}\n"
             "spec:\n"
             "  rateLimit: {domain: bench, timeout: 10s, redis: {address: "
             "\"127.0.0.1:%d\"}, descriptors: [{key: generic_key, value: b, "
             "rate_limit: {unit: hour, requests_per_unit: 4294967295}}]}\n"
             "---\n"
             "apiVersion: gateway.kgateway.dev/v1alpha1\n"
             "kind: TrafficPolicy\n"
             "metadata: {name: api}\n"
             "spec:\n"
             "  rateLimit:\n"
             "    global:\n"
             "      extensionRef: {name: rl}\n"
             "      descriptors: [{entries: [{type: Generic, generic: "
             "{key: generic_key, value: b}}]}]\n",
             port);
    if (port == 0)
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
    req = gwf_test_request_new("GET", "/");
    inflight = calloc((size_t)concurrency, sizeof(*inflight));
    if (!h || !req || !inflight || gwf_test_load_text(h, manifests) != 0 ||
        gwf_test_validate(h) != 0) {
        fprintf(stderr, "setup failed: %s\n", h ? gwf_test_error(h) : "");
        return 1;
    }
    /* Warm-up: connect. */
    gwf_test_result_free(gwf_test_run(h, &route, req));
    t0 = now_s();
    /* Keep the window full: wait for the oldest request, then collect
     * every one that finished meanwhile and start one in its place at
     * once, so that the plugin's work overlaps Redis's as it does in a
     * worker serving many clients (not waves of CONCURRENCY). */
    for (long i = 0; i < concurrency && started < total; i++, started++)
        if (!(inflight[i] = gwf_test_start(h, &route, req, 0)))
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
                if (!(inflight[i] = gwf_test_start(h, &route, req, 0)))
                    goto no_start;
                started++;
            }
        }
    }
    t1 = now_s();
    printf("decisions/s %.0f (%ld in %.2f s, %ld in flight, %ld not "
           "forwarded)\n",
           (double)total / (t1 - t0), total, t1 - t0, concurrency, failed);
    free(inflight);
    gwf_test_request_free(req);
    gwf_test_host_free(h);
    return failed ? 1 : 0;
no_start:
    fprintf(stderr, "request did not start: %s\n", gwf_test_error(h));
    return 1;
}
