/*
 * bench_cel.c - what the rbac plugin's CEL costs per evaluation, in
 * process: the five expressions of bench/policies' rbac pair
 * (bench/policies/run.sh), compiled once and evaluated against the
 * request that pair sends (GET /rbac with x-team: web and x-role: bench,
 * from 127.0.0.1), each alone and all five as the plugin runs them
 * (rbac_match: in order until one is true; here only the last is).
 *
 * The activation is a table, so the figures are the evaluator's own
 * cost plus a header scan of a short table: a real stream adds the
 * host's header lookups. Each figure is the median of RUNS runs of
 * ITERS evaluations.
 *
 * Usage: bench_cel [iterations-per-run]   (default 200000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cel.h"
#include "rbac.h"

#define RUNS 7

static const char *const exprs[] = {
    "request.headers['x-team'] == 'payments'",
    "request.method == 'POST' && request.path.startsWith('/admin')",
    "request.path.matches('^/internal/.*$')",
    "source.address == '10.0.0.1'",
    /* the one the pair's request matches */
    ("request.headers['x-role'] in ['bench', 'admin'] && "
     "request.path == '/rbac'"),
};
#define NEXPR (sizeof(exprs) / sizeof(exprs[0]))

/* The request wrk sends in the pair, as nginx hands it over. */
static const char *const headers[][2] = {
    {"host", "127.0.0.1:8080"}, {"user-agent", "wrk"}, {"accept", "*/*"},
    {"x-team", "web"},          {"x-role", "bench"},
};

static int
t_header(void *ctx, const char *name, size_t len, gwf_view *out, char *sc,
         size_t size, size_t *used)
{
    (void)ctx, (void)sc, (void)size;
    *used = 0;
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        if (strlen(headers[i][0]) == len &&
            memcmp(headers[i][0], name, len) == 0) {
            out->ptr = headers[i][1];
            out->len = strlen(headers[i][1]);
            return 1;
        }
    return 0;
}

static int
set(const char *s, gwf_view *out)
{
    out->ptr = s;
    out->len = strlen(s);
    return 1;
}

static int
t_attr(void *ctx, cel_attr a, gwf_view *out)
{
    (void)ctx;
    switch (a) {
    case CEL_ATTR_PATH:
    case CEL_ATTR_URL_PATH:
        return set("/rbac", out);
    case CEL_ATTR_METHOD:
        return set("GET", out);
    case CEL_ATTR_HOST:
        return set("127.0.0.1:8080", out);
    case CEL_ATTR_SOURCE_ADDRESS:
        return set("127.0.0.1", out);
    default:
        return 0;
    }
}

static int
t_claim(void *ctx, const char *name, size_t len, gwf_value_type *type,
        gwf_view *out)
{
    (void)ctx, (void)name, (void)len, (void)type, (void)out;
    return 0;
}

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ns per evaluation of programs [from, to) as rbac_match runs them; the
 * median of RUNS runs. *result: the last run's answer. */
static double
measure(const cel_program *p, size_t from, size_t to, const cel_activation *act,
        cel_scratch *sc, long iters, cel_result *result)
{
    double runs[RUNS];
    rbac_config cfg;
    cel_result r = CEL_RESULT_FALSE;

    memset(&cfg, 0, sizeof(cfg));
    cfg.progs = (cel_program *)(p + from);
    cfg.prog_count = to - from;
    for (int k = 0; k < RUNS; k++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++)
            r = rbac_match(&cfg, act, sc);
        runs[k] = (now_ns() - t0) / (double)iters;
    }
    qsort(runs, RUNS, sizeof(runs[0]), cmp_double);
    *result = r;
    return runs[RUNS / 2];
}

int
main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    cel_program progs[NEXPR];
    cel_activation act = {t_header, t_attr, t_claim, NULL, NULL};
    cel_scratch sc;
    cel_result r;
    int bad = 0;

    if (iters <= 0)
        iters = 200000;
    for (size_t i = 0; i < NEXPR; i++) {
        cel_error err;
        if (cel_compile(exprs[i], strlen(exprs[i]), &progs[i], &err) != 0) {
            fprintf(stderr, "expression %zu: %s\n", i, err.msg);
            return 2;
        }
    }
    if (cel_scratch_init(&sc, CEL_SCRATCH_SIZE) != 0)
        return 2;
    printf("rbac CEL, ns per evaluation (median of %d runs of %ld):\n", RUNS,
           iters);
    for (size_t i = 0; i < NEXPR; i++) {
        double ns = measure(progs, i, i + 1, &act, &sc, iters, &r);
        printf("  expr %zu  %7.1f ns  %-5s  %s\n", i + 1, ns,
               r == CEL_RESULT_TRUE ? "true" : "false", exprs[i]);
        if ((r == CEL_RESULT_TRUE) != (i == NEXPR - 1))
            bad = 1;
    }
    double all = measure(progs, 0, NEXPR, &act, &sc, iters, &r);
    printf("  all five %7.1f ns  %s (the policy's answer)\n", all,
           r == CEL_RESULT_TRUE ? "true" : "false");
    if (r != CEL_RESULT_TRUE)
        bad = 1;
    for (size_t i = 0; i < NEXPR; i++)
        cel_program_free(&progs[i]);
    cel_scratch_free(&sc);
    if (bad)
        fprintf(stderr, "unexpected answers: only the last expression "
                        "should match\n");
    return bad;
}
