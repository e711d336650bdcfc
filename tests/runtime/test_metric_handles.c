/*
 * test_metric_handles.c - metric series resolved to handles (abi.h
 * metric_series, metric_series_add, metric_series_set and, from 0.6,
 * metric_series_observe for histograms), on the registry
 * itself (host/runtime/metrics.c).
 *
 * A handle is a shortcut to a series, never a second series: what it
 * adds shows in the same exposition line as metric_add with the same
 * label values. It is refused, never followed, when it is not the
 * caller's, when its owner's config is gone, or when it comes from
 * another registry. Workers of one process share the registry, so
 * threads recording through one handle and through the label call while
 * the exposition is read must lose no count (and, under TSan, race on
 * nothing).
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static int owner_a, owner_b; /* stand-ins for two instances */

/* The value of the line starting with `series` ("name{labels}"), or NAN. */
static double
line_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return NAN;
}

static double
value_of(rt_metrics *m, const char *series)
{
    char *text = rt_metrics_text(m);
    assert_non_null(text);
    double v = line_value(text, series);
    free(text);
    return v;
}

static uint32_t
define(rt_metrics *m, gwf_metric_kind kind, const char *name)
{
    static const char *const labels[] = {"code"};
    uint32_t id = 0;
    assert_int_equal(
        rt_metrics_define(m, kind, name, "help", labels, 1, NULL, 0, &id),
        GWF_OK);
    return id;
}

static const gwf_view code_429 = {"429", 3};

static void
test_handle_counts_into_the_same_series_as_the_label_call(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_COUNTER, "replies_total");
    uint64_t h = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_true(h != 0);
    assert_int_equal(rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a, h, 2),
                     GWF_OK);
    assert_int_equal(
        rt_metrics_record(m, RT_METRIC_ADD, id, "ns/a", &code_429, 1, 3),
        GWF_OK);
    char *text = rt_metrics_text(m);
    assert_non_null(text);
    assert_true(line_value(text, "gwf_replies_total{instance=\"ns/a\","
                                 "code=\"429\"}") == 5);
    /* One series: one line of it in the exposition. */
    assert_null(strstr(strstr(text, "code=\"429\"") + 1, "code=\"429\""));
    free(text);
    rt_metrics_free(m);
}

static void
test_resolving_a_series_again_gives_the_same_handle(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_GAUGE, "active");
    uint64_t h1 = 0, h2 = 0, other = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h1), GWF_OK);
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h2), GWF_OK);
    assert_true(h1 == h2);
    /* Another owner of the same series gets a handle of its own. */
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_b, "ns/a", &code_429, 1, &other),
        GWF_OK);
    assert_true(other != h1);
    rt_metrics_free(m);
}

static void
test_gauge_handle_sets_and_adds(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_GAUGE, "active");
    uint64_t h = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_int_equal(rt_metrics_handle_record(m, RT_METRIC_SET, &owner_a, h, 7),
                     GWF_OK);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a, h, -2), GWF_OK);
    assert_true(value_of(m, "gwf_active{instance=\"ns/a\",code=\"429\"}") == 5);
    rt_metrics_free(m);
}

static void
test_counter_handle_refuses_set_negative_and_nan(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_COUNTER, "replies_total");
    uint64_t h = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_int_equal(rt_metrics_handle_record(m, RT_METRIC_SET, &owner_a, h, 1),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a, h, -1),
        GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a, h, NAN),
        GWF_ERR_BAD_ARGUMENT);
    assert_true(value_of(m, "gwf_replies_total{instance=\"ns/a\","
                            "code=\"429\"}") == 0);
    rt_metrics_free(m);
}

static void
test_resolving_refuses_wrong_label_counts_and_ids(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_COUNTER, "replies_total");
    uint64_t h = 0;
    assert_int_equal(rt_metrics_handle(m, id, &owner_a, "ns/a", NULL, 0, &h),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(
        rt_metrics_handle(m, id + 7, &owner_a, "ns/a", &code_429, 1, &h),
        GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, NULL),
        GWF_ERR_BAD_ARGUMENT);
    rt_metrics_free(m);
}

static uint32_t
define_histogram(rt_metrics *m)
{
    static const char *const labels[] = {"code"};
    static const double buckets[] = {1, 2};
    uint32_t id = 0;
    assert_int_equal(rt_metrics_define(m, GWF_METRIC_HISTOGRAM, "latency",
                                       "help", labels, 1, buckets, 2, &id),
                     GWF_OK);
    return id;
}

/* ABI 0.6: a histogram's handle observes into the same series as
 * metric_observe with the same label values. */
static void
test_histogram_handle_observes_into_the_same_series(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define_histogram(m);
    uint64_t h = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_OBSERVE, &owner_a, h, 0.5),
        GWF_OK);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_OBSERVE, &owner_a, h, 1.5),
        GWF_OK);
    assert_int_equal(
        rt_metrics_record(m, RT_METRIC_OBSERVE, id, "ns/a", &code_429, 1, 3),
        GWF_OK);
    char *text = rt_metrics_text(m);
    assert_non_null(text);
    assert_true(line_value(text, "gwf_latency_bucket{instance=\"ns/a\","
                                 "code=\"429\",le=\"1\"}") == 1);
    assert_true(line_value(text, "gwf_latency_bucket{instance=\"ns/a\","
                                 "code=\"429\",le=\"2\"}") == 2);
    assert_true(line_value(text, "gwf_latency_count{instance=\"ns/a\","
                                 "code=\"429\"}") == 3);
    assert_true(line_value(text, "gwf_latency_sum{instance=\"ns/a\","
                                 "code=\"429\"}") == 5);
    free(text);
    rt_metrics_free(m);
}

/* A histogram's handle only observes, and only a histogram's handle
 * observes; none of them counts as reply_always's counter. */
static void
test_histogram_handle_refuses_add_set_nan_and_counting(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t hist = define_histogram(m);
    uint32_t counter = define(m, GWF_METRIC_COUNTER, "replies_total");
    uint64_t h = 0, c = 0;
    assert_int_equal(
        rt_metrics_handle(m, hist, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_int_equal(
        rt_metrics_handle(m, counter, &owner_a, "ns/a", &code_429, 1, &c),
        GWF_OK);
    assert_int_equal(rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a, h, 1),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(rt_metrics_handle_record(m, RT_METRIC_SET, &owner_a, h, 1),
                     GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_OBSERVE, &owner_a, h, NAN),
        GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_OBSERVE, &owner_b, h, 1),
        GWF_ERR_BAD_ARGUMENT);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_OBSERVE, &owner_a, c, 1),
        GWF_ERR_BAD_ARGUMENT);
    assert_false(rt_metrics_handle_valid(m, &owner_a, h));
    assert_true(rt_metrics_handle_valid(m, &owner_a, c));
    assert_true(value_of(m, "gwf_latency_count{instance=\"ns/a\","
                            "code=\"429\"}") == 0);
    assert_true(value_of(m, "gwf_replies_total{instance=\"ns/a\","
                            "code=\"429\"}") == 0);
    rt_metrics_forget(m, &owner_a);
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_OBSERVE, &owner_a, h, 1),
        GWF_ERR_BAD_ARGUMENT);
    rt_metrics_free(m);
}

static void
test_handle_of_another_owner_is_refused(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_COUNTER, "replies_total");
    uint64_t h = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_int_equal(rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_b, h, 1),
                     GWF_ERR_BAD_ARGUMENT);
    assert_true(value_of(m, "gwf_replies_total{instance=\"ns/a\","
                            "code=\"429\"}") == 0);
    rt_metrics_free(m);
}

static void
test_handle_of_a_destroyed_config_is_refused(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_COUNTER, "replies_total");
    uint64_t h = 0, kept = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_b, "ns/b", &code_429, 1, &kept),
        GWF_OK);
    rt_metrics_forget(m, &owner_a);
    assert_int_equal(rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a, h, 1),
                     GWF_ERR_BAD_ARGUMENT);
    /* Other owners' handles are untouched. */
    assert_int_equal(
        rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_b, kept, 1), GWF_OK);
    assert_true(value_of(m, "gwf_replies_total{instance=\"ns/a\","
                            "code=\"429\"}") == 0);
    assert_true(value_of(m, "gwf_replies_total{instance=\"ns/b\","
                            "code=\"429\"}") == 1);
    rt_metrics_free(m);
}

static void
test_forged_handles_and_other_registries_are_refused(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    rt_metrics *other = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_COUNTER, "replies_total");
    define(other, GWF_METRIC_COUNTER, "replies_total");
    uint64_t h = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_int_equal(
        rt_metrics_handle_record(other, RT_METRIC_ADD, &owner_a, h, 1),
        GWF_ERR_BAD_ARGUMENT);
    const uint64_t forged[] = {0, h + 1, h + 1000000, UINT64_MAX,
                               h & ~UINT64_C(0xffffffff)};
    for (size_t i = 0; i < sizeof forged / sizeof *forged; i++)
        assert_int_equal(
            rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a, forged[i], 1),
            GWF_ERR_BAD_ARGUMENT);
    rt_metrics_free(other);
    rt_metrics_free(m);
}

/* -- Threads ------------------------------------------------------------ */

#define THREADS 4
#define ADDS 20000

typedef struct {
    rt_metrics *m;
    uint32_t id;
    uint64_t handle;
    int by_label; /* odd threads record through the label call */
    int op;       /* RT_METRIC_ADD, or RT_METRIC_OBSERVE for a histogram */
} adder;

static void *
adder_run(void *arg)
{
    adder *a = arg;
    for (int i = 0; i < ADDS; i++) {
        gwf_status st =
            a->by_label
                ? rt_metrics_record(a->m, a->op, a->id, "ns/a", &code_429, 1, 1)
                : rt_metrics_handle_record(a->m, a->op, &owner_a, a->handle, 1);
        if (st != GWF_OK)
            return (void *)1;
    }
    return NULL;
}

/* THREADS threads record `op` to metric `id`, the even ones through
 * handle `h` and the odd ones through the label call, while this thread
 * reads the exposition and resolves new series of `id`; every record
 * must succeed. */
static void
record_from_threads(rt_metrics *m, uint32_t id, uint64_t h, int op)
{
    adder adders[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        adders[i] = (adder){m, id, h, i % 2, op};
        assert_int_equal(
            pthread_create(&threads[i], NULL, adder_run, &adders[i]), 0);
    }
    for (int i = 0; i < 50; i++) {
        free(rt_metrics_text(m));
        char value[16];
        int n = snprintf(value, sizeof value, "%d", i);
        gwf_view v = {value, (size_t)n};
        uint64_t more = 0;
        assert_int_equal(
            rt_metrics_handle(m, id, &owner_b, "ns/b", &v, 1, &more), GWF_OK);
    }
    for (int i = 0; i < THREADS; i++) {
        void *failed = NULL;
        pthread_join(threads[i], &failed);
        assert_null(failed);
    }
}

static void
test_threads_lose_no_count_through_handles_and_labels(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define(m, GWF_METRIC_COUNTER, "replies_total");
    uint64_t h = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    record_from_threads(m, id, h, RT_METRIC_ADD);
    assert_true(value_of(m, "gwf_replies_total{instance=\"ns/a\","
                            "code=\"429\"}") == (double)THREADS * ADDS);
    rt_metrics_free(m);
}

/* A histogram's fields change together: observations through a handle
 * and through the label call, from threads at once, all land. */
static void
test_threads_lose_no_observation_through_histogram_handles(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(false);
    uint32_t id = define_histogram(m);
    uint64_t h = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    record_from_threads(m, id, h, RT_METRIC_OBSERVE);
    char *text = rt_metrics_text(m);
    assert_non_null(text);
    assert_true(line_value(text, "gwf_latency_count{instance=\"ns/a\","
                                 "code=\"429\"}") == (double)THREADS * ADDS);
    assert_true(line_value(text,
                           "gwf_latency_bucket{instance=\"ns/a\","
                           "code=\"429\",le=\"1\"}") == (double)THREADS * ADDS);
    free(text);
    rt_metrics_free(m);
}

/* A registry of one writer (a worker per process) adds with a plain load
 * and store: every handle, label and series add of its one thread is
 * kept, counters and gauges alike, and the exposition reads them. */
static void
test_one_writer_registry_keeps_every_add_of_its_thread(void **state)
{
    (void)state;
    rt_metrics *m = rt_metrics_new(true);
    uint32_t id = define(m, GWF_METRIC_COUNTER, "replies_total");
    uint32_t g = define(m, GWF_METRIC_GAUGE, "active");
    uint64_t h = 0, gh = 0;
    assert_int_equal(
        rt_metrics_handle(m, id, &owner_a, "ns/a", &code_429, 1, &h), GWF_OK);
    assert_int_equal(
        rt_metrics_handle(m, g, &owner_a, "ns/a", &code_429, 1, &gh), GWF_OK);
    for (int i = 0; i < ADDS; i++) {
        assert_int_equal(
            rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a, h, 1), GWF_OK);
        assert_int_equal(
            rt_metrics_record(m, RT_METRIC_ADD, id, "ns/a", &code_429, 1, 0.5),
            GWF_OK);
        assert_int_equal(rt_metrics_handle_record(m, RT_METRIC_ADD, &owner_a,
                                                  gh, i % 2 ? -1 : 2),
                         GWF_OK);
    }
    assert_true(value_of(m, "gwf_replies_total{instance=\"ns/a\","
                            "code=\"429\"}") == ADDS * 1.5);
    assert_true(value_of(m, "gwf_active{instance=\"ns/a\",code=\"429\"}") ==
                ADDS / 2);
    rt_metrics_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_handle_counts_into_the_same_series_as_the_label_call),
        cmocka_unit_test(test_resolving_a_series_again_gives_the_same_handle),
        cmocka_unit_test(test_gauge_handle_sets_and_adds),
        cmocka_unit_test(test_counter_handle_refuses_set_negative_and_nan),
        cmocka_unit_test(test_resolving_refuses_wrong_label_counts_and_ids),
        cmocka_unit_test(test_histogram_handle_observes_into_the_same_series),
        cmocka_unit_test(
            test_histogram_handle_refuses_add_set_nan_and_counting),
        cmocka_unit_test(test_handle_of_another_owner_is_refused),
        cmocka_unit_test(test_handle_of_a_destroyed_config_is_refused),
        cmocka_unit_test(test_forged_handles_and_other_registries_are_refused),
        cmocka_unit_test(test_threads_lose_no_count_through_handles_and_labels),
        cmocka_unit_test(
            test_threads_lose_no_observation_through_histogram_handles),
        cmocka_unit_test(
            test_one_writer_registry_keeps_every_add_of_its_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
