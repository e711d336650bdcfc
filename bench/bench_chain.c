/*
 * bench_chain.c - what a chain of K no-op plugins costs per request and
 * per hook call, driven in-process with no I/O.
 *
 * Each request is a full stream life: create, request headers through K
 * plugins, response headers back through K plugins, complete, destroy.
 * The baseline, measured in the same run, is the same life through an
 * empty chain; the cost of one hook call is the slope between chain
 * lengths, (t(K) - t(0)) / (2K), which is what a plugin author pays per
 * hook on top of the stream itself.
 *
 * Usage: bench_chain [iterations]   (GWF_PLUGIN_PATH must find noop.so)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gwf/exchange.h>
#include <gwf/loop.h>

#define TARGET_NS_PER_HOOK 30.0

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void
ignore_wake(void *dp, gwf_rt_state state)
{
    (void)dp;
    (void)state;
}

static const gwf_stream_ops bench_ops = {.wake = ignore_wake};

/* Median of five timed runs of `iterations` requests, in ns/request. */
static double
measure(gwf_worker *w, gwf_chain *chain, gwf_memmsg *req, gwf_memmsg *resp,
        long iterations)
{
    double runs[5];
    for (int r = 0; r < 5; r++) {
        double t0 = now_ns();
        for (long i = 0; i < iterations; i++) {
            gwf_rt_stream *st = gwf_stream_new(w, chain, &bench_ops, NULL,
                                               &gwf_memmsg_ops, req, resp);
            if (gwf_stream_headers(st, GWF_REQUEST, 1) != GWF_RT_CONTINUE ||
                gwf_stream_headers(st, GWF_RESPONSE, 1) != GWF_RT_CONTINUE) {
                fprintf(stderr, "bench: the chain did not continue\n");
                exit(1);
            }
            gwf_stream_free(st);
        }
        runs[r] = (now_ns() - t0) / (double)iterations;
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (runs[j] < runs[i]) {
                double t = runs[i];
                runs[i] = runs[j];
                runs[j] = t;
            }
    return runs[2];
}

int
main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 200000;
    static const int lengths[] = {0, 1, 5, 10};
    gwf_runtime_options opts = {.log_level = GWF_LOG_WARN};
    gwf_runtime *rt = gwf_runtime_new(&opts);
    gwf_errors e = {0};
    char doc[256];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(doc, sizeof doc,
                         "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                         "kind: GatewayExtension\n"
                         "metadata: {name: noop-%d}\n"
                         "spec: {plugin: {name: noop}}\n",
                         i);
        if (gwf_runtime_load_text(rt, "bench", doc, (size_t)n, &e) != 0)
            goto fail;
    }
    gwf_loop *loop = gwf_loop_new();
    gwf_event_ops ev;
    gwf_loop_event_ops(loop, &ev);

    gwf_memmsg req = {0}, resp = {0};
    req.method = strdup("GET");
    req.path = strdup("/bench");
    req.scheme = strdup("http");
    gwf_memmsg_ops.add(&req, "host", 4, "example.com", 11);
    gwf_memmsg_ops.add(&req, "user-agent", 10, "bench", 5);
    resp.status = 200;

    const char *names[10];
    char name_buf[10][16];
    for (int i = 0; i < 10; i++) {
        snprintf(name_buf[i], sizeof name_buf[i], "noop-%d", i);
        names[i] = name_buf[i];
    }
    double per_request[4];
    gwf_worker *w = NULL;
    for (size_t k = 0; k < 4; k++) {
        gwf_route_refs refs = {.extensions = names,
                               .extension_count = (size_t)lengths[k]};
        gwf_chain *chain = gwf_runtime_chain(rt, &refs, &e);
        if (!chain)
            goto fail;
        if (!w && !(w = gwf_worker_start(rt, 0, 1, &ev, &e)))
            goto fail;
        measure(w, chain, &req, &resp, iterations / 10); /* warm up */
        per_request[k] = measure(w, chain, &req, &resp, iterations);
    }
    printf("chain of K no-op plugins, %ld requests x 5 runs (median)\n",
           iterations);
    printf("baseline K=0: %.1f ns/request\n", per_request[0]);
    for (size_t k = 1; k < 4; k++) {
        double per_hook =
            (per_request[k] - per_request[0]) / (2.0 * lengths[k]);
        printf("K=%-2d %8.1f ns/request  %6.1f ns/hook call  "
               "(%.2fx the %.0f ns target)\n",
               lengths[k], per_request[k], per_hook,
               per_hook / TARGET_NS_PER_HOOK, TARGET_NS_PER_HOOK);
    }
    gwf_worker_stop(w);
    gwf_memmsg_clear(&req);
    gwf_memmsg_clear(&resp);
    gwf_runtime_free(rt);
    gwf_loop_free(loop);
    return 0;
fail:
    for (size_t i = 0; i < e.count; i++)
        fprintf(stderr, "%s\n", e.lines[i]);
    gwf_errors_free(&e);
    return 1;
}
