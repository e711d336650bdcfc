/*
 * test_observability.c - logs, metrics, the clock and worker identity.
 *
 * abi.h: the host adds the instance name to plugin log lines; metrics are
 * defined at config time (names prefixed "gwf_", the same name and shape
 * twice giving the same id, instances told apart by an `instance`
 * label), recorded on workers and exported as Prometheus text; the host
 * supplies the clock, which tests fix; worker_start learns its index and
 * the worker count.
 */
#include "conformance.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of the first sample of `name` whose label set contains every
 * string in `labels` (NULL-terminated), or NAN. */
static double
sample_value(const char *text, const char *name, const char *const *labels)
{
    size_t name_len = strlen(name);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (line[0] != '#' && len > name_len &&
            strncmp(line, name, name_len) == 0 &&
            (line[name_len] == '{' || line[name_len] == ' ')) {
            const char *label_end = line + name_len;
            if (*label_end == '{') {
                label_end = memchr(line, '}', len);
                if (!label_end)
                    goto next;
            }
            int all = 1;
            for (const char *const *l = labels; l && *l; l++) {
                size_t llen = strlen(*l);
                int found = 0;
                for (const char *p = line + name_len; p + llen <= label_end + 1;
                     p++)
                    if (memcmp(p, *l, llen) == 0)
                        found = 1;
                all = all && found;
            }
            if (all)
                return strtod(label_end + 1, NULL);
        }
    next:
        line = nl ? nl + 1 : NULL;
    }
    return NAN;
}

/* Bucket bounds are printed "16" or "16.0" by different exporters. */
static double
bucket_value(const char *text, const char *name, const char *instance,
             const char *bound)
{
    char le[64], le_float[64];
    snprintf(le, sizeof(le), "le=\"%s\"", bound);
    snprintf(le_float, sizeof(le_float), "le=\"%s.0\"", bound);
    const char *labels[] = {instance, le, NULL};
    double value = sample_value(text, name, labels);
    if (isnan(value)) {
        labels[1] = le_float;
        value = sample_value(text, name, labels);
    }
    return value;
}

static size_t
count_in(const char *text, const char *needle)
{
    size_t count = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        count++;
    return count;
}

static void
test_hook_lines_are_logged_at_info_with_the_instance_name(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/log", NULL);

    conf_run(c, "A", req);

    const char *line = conf_line(c, "probe A request_headers eos=1");
    assert_non_null(line);
    conf_assert(c, strncmp(line, "INFO ", 5) == 0);
    conf_assert(c, strstr(line, "ext-a") != NULL);
}

static void
test_metrics_are_exported_in_prometheus_text(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "metric: true");
    gwf_test_set_upstream(c->h, 200, NULL, "world", 5);
    gwf_test_request *req = conf_request(c, "POST", "/m", "hello");

    conf_run(c, "A", req);

    conf_assert(c, !conf_logged(c, "probe A note: metric"));
    const char *text = gwf_test_metrics(c->h);
    assert_non_null(text);
    conf_assert(c, strstr(text, "# TYPE gwf_probe_hooks_total counter\n"));
    conf_assert(c, strstr(text, "# HELP gwf_probe_hooks_total "));
    conf_assert(c, strstr(text, "# TYPE gwf_probe_streams_active gauge\n"));
    conf_assert(c, strstr(text, "# TYPE gwf_probe_body_bytes histogram\n"));

    const char *inst = "instance=\"default/ext-a\"";
    static const char *const hooks[] = {"request_headers", "request_body",
                                        "response_headers", "response_body"};
    for (size_t i = 0; i < 4; i++) {
        char hook[64];
        snprintf(hook, sizeof(hook), "hook=\"%s\"", hooks[i]);
        const char *labels[] = {inst, hook, NULL};
        assert_float_equal(sample_value(text, "gwf_probe_hooks_total", labels),
                           1, 0);
    }
    const char *only_inst[] = {inst, NULL};
    assert_float_equal(
        sample_value(text, "gwf_probe_streams_active", only_inst), 0, 0);
    assert_float_equal(
        sample_value(text, "gwf_probe_body_bytes_count", only_inst), 2, 0);
    assert_float_equal(
        sample_value(text, "gwf_probe_body_bytes_sum", only_inst), 10, 0);
    assert_float_equal(
        bucket_value(text, "gwf_probe_body_bytes_bucket", inst, "16"), 2, 0);
    assert_float_equal(
        bucket_value(text, "gwf_probe_body_bytes_bucket", inst, "4096"), 2, 0);
    const char *inf[] = {inst, "le=\"+Inf\"", NULL};
    assert_float_equal(sample_value(text, "gwf_probe_body_bytes_bucket", inf),
                       2, 0);
}

static void
test_metric_series_can_be_read_by_name(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "metric: true");
    gwf_test_request *req = conf_request(c, "GET", "/m", NULL);

    conf_run(c, "A", req);

    /* The gauge went +1 at stream_create and -1 at stream_destroy. */
    assert_float_equal(
        gwf_test_metric(c->h,
                        "gwf_probe_streams_active{instance=\"default/ext-a\"}"),
        0, 0);
    conf_assert(c, isnan(gwf_test_metric(c->h, "gwf_no_such_metric")));
}

static void
test_metric_defined_by_two_instances_is_one_family(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "metric: true");
    conf_probe(c, 'B', "metric: true");
    gwf_test_request *req = conf_request(c, "GET", "/m", NULL);

    conf_run(c, "AB", req);
    conf_run(c, "AB", req);

    const char *text = gwf_test_metrics(c->h);
    assert_int_equal(count_in(text, "# TYPE gwf_probe_hooks_total "), 1);
    const char *a[] = {"instance=\"default/ext-a\"", "hook=\"request_headers\"",
                       NULL};
    const char *b[] = {"instance=\"default/ext-b\"", "hook=\"request_headers\"",
                       NULL};
    assert_float_equal(sample_value(text, "gwf_probe_hooks_total", a), 2, 0);
    assert_float_equal(sample_value(text, "gwf_probe_hooks_total", b), 2, 0);
}

static int64_t
logged_realtime(conf *c, size_t nth)
{
    const char *logs = gwf_test_logs(c->h);
    const char *p = logs;
    for (size_t i = 0; i <= nth; i++) {
        p = strstr(p, "now realtime=");
        if (!p)
            return -1;
        p += strlen("now realtime=");
    }
    return strtoll(p, NULL, 10);
}

static int64_t
logged_monotonic(conf *c, size_t nth)
{
    const char *p = gwf_test_logs(c->h);
    for (size_t i = 0; i <= nth; i++) {
        p = strstr(p, "monotonic=");
        if (!p)
            return -1;
        p += strlen("monotonic=");
    }
    return strtoll(p, NULL, 10);
}

static void
test_realtime_clock_is_the_hosts_fixed_clock(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_now: true");
    gwf_test_request *req = conf_request(c, "GET", "/now", NULL);

    conf_run(c, "A", req);

    assert_int_equal(logged_realtime(c, 0), CONF_EPOCH_NS);
}

static void
test_realtime_clock_moves_only_with_advance(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_now: true");
    gwf_test_request *req = conf_request(c, "GET", "/now", NULL);

    conf_run(c, "A", req);
    conf_run(c, "A", req);
    gwf_test_advance(c->h, 1500 * CONF_MS);
    conf_run(c, "A", req);

    assert_int_equal(logged_realtime(c, 1), CONF_EPOCH_NS);
    assert_int_equal(logged_realtime(c, 2),
                     CONF_EPOCH_NS + INT64_C(1500000000));
    /* The monotonic clock may be real or stepped, but it never goes
     * back and an advance moves it at least that far. */
    assert_true(logged_monotonic(c, 1) >= logged_monotonic(c, 0));
    assert_true(logged_monotonic(c, 2) - logged_monotonic(c, 1) >=
                INT64_C(1500000000));
}

static void
test_set_now_fixes_the_realtime_clock(void **state)
{
    conf *c = *state;
    conf_probe(c, 'A', "log_now: true");
    gwf_test_set_now(c->h, INT64_C(1000000000000000000));
    gwf_test_request *req = conf_request(c, "GET", "/now", NULL);

    conf_run(c, "A", req);

    assert_int_equal(logged_realtime(c, 0), INT64_C(1000000000000000000));
    assert_int_equal(gwf_test_now(c->h), INT64_C(1000000000000000000));
}

static void
test_worker_start_learns_index_and_count(void **state)
{
    conf *c = *state;
    /* Before the first run, as testing.h asks. */
    gwf_test_set_worker(c->h, 2, 4);
    conf_probe(c, 'A', NULL);
    gwf_test_request *req = conf_request(c, "GET", "/worker", NULL);

    conf_run(c, "A", req);

    assert_int_equal(conf_count(c, "probe A worker_start"), 1);
    conf_assert(c, conf_logged(c, "probe A worker_start index=2 count=4"));
    /* Before the first stream. */
    const char *logs = gwf_test_logs(c->h);
    conf_assert(c, strstr(logs, "probe A worker_start") <
                       strstr(logs, "probe A stream_create"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_hook_lines_are_logged_at_info_with_the_instance_name,
            conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_metrics_are_exported_in_prometheus_text, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_metric_series_can_be_read_by_name,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_metric_defined_by_two_instances_is_one_family, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_realtime_clock_is_the_hosts_fixed_clock, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_realtime_clock_moves_only_with_advance, conf_setup,
            conf_teardown),
        cmocka_unit_test_setup_teardown(test_set_now_fixes_the_realtime_clock,
                                        conf_setup, conf_teardown),
        cmocka_unit_test_setup_teardown(
            test_worker_start_learns_index_and_count, conf_setup,
            conf_teardown),
    };
    return cmocka_run_group_tests_name("observability", tests, NULL, NULL);
}
