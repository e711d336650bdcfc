/*
 * conformance.c - the fixture behind conformance.h: manifests for the
 * probe, chains as tag strings, and the log parsing that turns the
 * probe's lines into a trace.
 */
#include "conformance.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *name;
    unsigned mask;
} conf_events[] = {
    {"request_headers", CONF_HOOKS},    {"request_body", CONF_HOOKS},
    {"response_headers", CONF_HOOKS},   {"response_body", CONF_HOOKS},
    {"stream_create", CONF_LIFECYCLE},  {"stream_complete", CONF_LIFECYCLE},
    {"stream_destroy", CONF_LIFECYCLE}, {"timer_fired", CONF_WAKES},
    {"fd_ready", CONF_WAKES},           {"post_run", CONF_WAKES},
    {"wake_done", CONF_WAKES},
};

int
conf_setup(void **state)
{
    conf *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->h = gwf_test_host_new();
    if (!c->h) {
        free(c);
        return -1;
    }
    *state = c;
    return 0;
}

int
conf_teardown(void **state)
{
    conf *c = *state;
    for (size_t i = 0; i < c->result_count; i++)
        gwf_test_result_free(c->results[i]);
    for (size_t i = 0; i < c->request_count; i++)
        gwf_test_request_free(c->requests[i]);
    gwf_test_host_free(c->h);
    free(c->trace);
    free(c->scratch);
    free(c);
    return 0;
}

void
conf_fail_with_log(conf *c, const char *what, const char *file, int line)
{
    print_error("%s:%d: assertion failed: %s\n--- host log ---\n%s"
                "--- host error ---\n%s\n",
                file, line, what, gwf_test_logs(c->h), gwf_test_error(c->h));
    _fail(file, line);
}

void
conf_load(conf *c, const char *yaml)
{
    if (gwf_test_load_text(c->h, yaml) != 0)
        fail_msg("manifest did not load: %s\n%s", gwf_test_error(c->h), yaml);
}

void
conf_extension(conf *c, const char *name, const char *plugin,
               const char *config_yaml)
{
    char doc[4096];
    int n = snprintf(doc, sizeof(doc),
                     "apiVersion: gateway.kgateway.dev/v1alpha1\n"
                     "kind: GatewayExtension\n"
                     "metadata:\n"
                     "  name: %s\n"
                     "  namespace: default\n"
                     "spec:\n"
                     "  plugin:\n"
                     "    name: %s\n"
                     "    config: %s\n",
                     name, plugin, config_yaml);
    if (n < 0 || (size_t)n >= sizeof(doc))
        fail_msg("manifest for %s is too long", name);
    conf_load(c, doc);
}

void
conf_probe(conf *c, char tag, const char *fields)
{
    char name[16];
    char config[3072];
    snprintf(name, sizeof(name), "ext-%c", tolower((unsigned char)tag));
    int n;
    if (fields && *fields)
        n = snprintf(config, sizeof(config), "{tag: %c, %s}", tag, fields);
    else
        n = snprintf(config, sizeof(config), "{tag: %c}", tag);
    if (n < 0 || (size_t)n >= sizeof(config))
        fail_msg("probe config for %c is too long", tag);
    conf_extension(c, name, "probe", config);
}

gwf_test_request *
conf_request(conf *c, const char *method, const char *path, const char *body)
{
    if (c->request_count == sizeof(c->requests) / sizeof(c->requests[0]))
        fail_msg("%s", "too many requests in one test");
    gwf_test_request *req = gwf_test_request_new(method, path);
    assert_non_null(req);
    c->requests[c->request_count++] = req;
    gwf_test_request_header(req, "host", "example.test");
    if (body)
        gwf_test_request_body(req, body, strlen(body));
    return req;
}

gwf_test_result *
conf_start(conf *c, const char *chain, const gwf_test_request *req,
           long timeout_ms)
{
    char names[16][16];
    const char *refs[17];
    size_t count = strlen(chain);
    if (count > 16)
        fail_msg("chain %s is too long", chain);
    for (size_t i = 0; i < count; i++) {
        snprintf(names[i], sizeof(names[i]), "ext-%c",
                 tolower((unsigned char)chain[i]));
        refs[i] = names[i];
    }
    refs[count] = NULL;
    gwf_test_route route = {NULL, refs, NULL, NULL};

    if (c->result_count == sizeof(c->results) / sizeof(c->results[0]))
        fail_msg("%s", "too many requests in one test");
    gwf_test_result *res = gwf_test_start(c->h, &route, req, timeout_ms);
    if (!res)
        fail_msg("route %s did not build: %s", chain, gwf_test_error(c->h));
    c->results[c->result_count++] = res;
    return res;
}

static double
conf_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
conf_finish(conf *c, gwf_test_result *res)
{
    double deadline = conf_seconds() + 5.0;
    while (gwf_test_outcome(res) == GWF_TEST_RUNNING) {
        if (gwf_test_wait(c->h, res, 50) == 1)
            break;
        if (conf_seconds() > deadline)
            return 0;
    }
    return gwf_test_outcome(res) != GWF_TEST_RUNNING;
}

gwf_test_result *
conf_run(conf *c, const char *chain, const gwf_test_request *req)
{
    gwf_test_result *res = conf_start(c, chain, req, 5000);
    conf_assert(c, conf_finish(c, res));
    return res;
}

/* The event named on one log line, as "T:event", or 0. */
static int
conf_parse_event(const char *line, size_t len, unsigned mask, char *out,
                 size_t out_size)
{
    const char *end = line + len;
    for (const char *p = line; p + 9 < end; p++) {
        if (memcmp(p, "probe ", 6) != 0 || p[7] != ' ' ||
            !isupper((unsigned char)p[6]))
            continue;
        const char *word = p + 8;
        size_t word_len = 0;
        while (word + word_len < end && word[word_len] != ' ')
            word_len++;
        for (size_t i = 0; i < sizeof(conf_events) / sizeof(conf_events[0]);
             i++) {
            if (strlen(conf_events[i].name) != word_len ||
                memcmp(conf_events[i].name, word, word_len) != 0)
                continue;
            if (!(conf_events[i].mask & mask))
                return 0;
            snprintf(out, out_size, "%c:%s", p[6], conf_events[i].name);
            return 1;
        }
        return 0;
    }
    return 0;
}

const char *
conf_trace(conf *c, unsigned mask)
{
    const char *logs = gwf_test_logs(c->h);
    size_t cap = strlen(logs) + 1;
    free(c->trace);
    c->trace = calloc(1, cap);
    assert_non_null(c->trace);
    size_t used = 0;
    for (const char *line = logs; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char event[64];
        if (conf_parse_event(line, len, mask, event, sizeof(event))) {
            size_t elen = strlen(event);
            if (used + elen + 2 > cap)
                break;
            if (used)
                c->trace[used++] = ' ';
            memcpy(c->trace + used, event, elen + 1);
            used += elen;
        }
        line += len + (nl ? 1 : 0);
    }
    return c->trace;
}

/* Calls `visit` on each word of a trace with its index; stops when it
 * returns nonzero and gives that index, else -1. */
static int
conf_trace_walk(const char *trace, int (*visit)(const char *, size_t, void *),
                void *arg)
{
    int index = 0;
    for (const char *p = trace; *p; index++) {
        const char *end = strchr(p, ' ');
        size_t word = end ? (size_t)(end - p) : strlen(p);
        if (visit(p, word, arg))
            return index;
        p += word + (end ? 1 : 0);
    }
    return -1;
}

static int
conf_word_is(const char *word, size_t len, void *arg)
{
    const char *event = arg;
    return strlen(event) == len && memcmp(word, event, len) == 0;
}

int
conf_trace_index(const char *trace, const char *event)
{
    return conf_trace_walk(trace, conf_word_is, (void *)event);
}

struct conf_tally {
    const char *event;
    size_t count;
};

static int
conf_tally_word(const char *word, size_t len, void *arg)
{
    struct conf_tally *tally = arg;
    if (conf_word_is(word, len, (void *)tally->event))
        tally->count++;
    return 0;
}

size_t
conf_trace_count(const char *trace, const char *event)
{
    struct conf_tally tally = {event, 0};
    conf_trace_walk(trace, conf_tally_word, &tally);
    return tally.count;
}

void
conf_check_ended(conf *c, const char *tags)
{
    const char *trace = conf_trace(c, CONF_LIFECYCLE);
    int previous_complete = -1;
    for (const char *t = tags; *t; t++) {
        char create[32], complete[32], destroy[32];
        snprintf(create, sizeof(create), "%c:stream_create", *t);
        snprintf(complete, sizeof(complete), "%c:stream_complete", *t);
        snprintf(destroy, sizeof(destroy), "%c:stream_destroy", *t);
        if (conf_trace_count(trace, create) != 1 ||
            conf_trace_count(trace, complete) != 1 ||
            conf_trace_count(trace, destroy) != 1)
            fail_msg("stream %c not created, completed and destroyed "
                     "exactly once: %s",
                     *t, trace);
        int at_complete = conf_trace_index(trace, complete);
        if (at_complete < previous_complete)
            fail_msg("stream_complete not in chain order %s: %s", tags, trace);
        if (conf_trace_index(trace, destroy) < at_complete)
            fail_msg("stream %c destroyed before complete: %s", *t, trace);
        previous_complete = at_complete;
    }
}

/* Calls `fn` on every log line; stops when it returns nonzero. */
static const char *
conf_each_line(conf *c, int (*fn)(const char *, size_t, const void *),
               const void *arg, size_t *count)
{
    const char *logs = gwf_test_logs(c->h);
    for (const char *line = logs; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (fn(line, len, arg)) {
            if (!count) {
                free(c->scratch);
                c->scratch = strndup(line, len);
                return c->scratch;
            }
            (*count)++;
        }
        line += len + (nl ? 1 : 0);
    }
    return NULL;
}

static int
conf_line_has(const char *line, size_t len, const char *needle)
{
    size_t nlen = strlen(needle);
    for (size_t i = 0; i + nlen <= len; i++)
        if (memcmp(line + i, needle, nlen) == 0)
            return 1;
    return 0;
}

static int
conf_match_needle(const char *line, size_t len, const void *arg)
{
    return conf_line_has(line, len, arg);
}

size_t
conf_count(conf *c, const char *needle)
{
    size_t count = 0;
    conf_each_line(c, conf_match_needle, needle, &count);
    return count;
}

int
conf_logged(conf *c, const char *needle)
{
    return gwf_test_log_contains(c->h, needle);
}

const char *
conf_line(conf *c, const char *needle)
{
    return conf_each_line(c, conf_match_needle, needle, NULL);
}

static int
conf_match_host_line(const char *line, size_t len, const void *arg)
{
    const char *const *needles = arg;
    for (size_t i = 0; i + 8 < len; i++)
        if (memcmp(line + i, "probe ", 6) == 0 &&
            isupper((unsigned char)line[i + 6]) && line[i + 7] == ' ')
            return 0;
    for (; *needles; needles++)
        if (!conf_line_has(line, len, *needles))
            return 0;
    return 1;
}

const char *
conf_host_line(conf *c, const char *const *needles)
{
    return conf_each_line(c, conf_match_host_line, needles, NULL);
}

int
conf_body_is(const gwf_test_result *res, const char *text)
{
    size_t len = 0;
    const char *body = gwf_test_body(res, &len);
    size_t want = strlen(text);
    return len == want && (want == 0 || (body && memcmp(body, text, len) == 0));
}

int
conf_upstream_body_is(const gwf_test_result *res, const char *text)
{
    size_t len = 0;
    const char *body = gwf_test_upstream_body(res, &len);
    size_t want = strlen(text);
    return body && len == want && memcmp(body, text, len) == 0;
}
