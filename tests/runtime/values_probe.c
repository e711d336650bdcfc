/*
 * values_probe.c - a test plugin for the storage of shared per-stream
 * values (value_set / value_get), driven by test_value_storage.c through
 * the in-process test host.
 *
 * Config: {"scenario": NAME}. request_headers plays that scenario of
 * sets and gets on its stream and answers 200 with what value_get gave
 * back, so the test asserts exact outcomes:
 *
 *   grow    a key set again with far more bytes (and another type)
 *   shrink  a key set again with fewer bytes, then with as many as first
 *   many    500 keys of 0..299 bytes, every one read back
 *   self    a key set from a view of its own bytes, another from it
 *   fresh   a key read before it is set (a reused stream must not have
 *           it), then set with 2,000 bytes and 300 more keys
 *   huge    a 200,000-byte value beside a small one
 *   empty   a key set with no bytes, then with some
 *   provide   a prefix provided (value_provide), read beside keys set
 *             before and after it
 *   reprovide the same prefix provided twice: the first provider goes
 *   released  how many providers were released since the last request
 *             (a static count; value_provide's release at stream end)
 *   badshape  a provider that answers an INT of 4 bytes
 *   badargs   value_provide with an empty, a 257-byte prefix, no get
 *   late      what value_provide answered from the last stream's
 *             stream_complete hook
 *
 * Bytes follow pattern(seed, i), so a value that lost or mixed bytes
 * does not read back "same".
 */
#include <gwf/abi.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct probe_config {
    char scenario[16];
} probe_config;

static char
pattern(size_t seed, size_t i)
{
    return (char)('a' + (seed * 31 + i) % 26);
}

static char *
patterned(size_t seed, size_t len)
{
    char *p = malloc(len ? len : 1);
    if (p)
        for (size_t i = 0; i < len; i++)
            p[i] = pattern(seed, i);
    return p;
}

static gwf_status
set_text(gwf_stream *s, const char *key, gwf_value_type type, const char *data,
         size_t len)
{
    return s->host->value_set(s, key, strlen(key), type, data, len);
}

static gwf_status
get(gwf_stream *s, const char *key, gwf_value_type *type, gwf_view *v)
{
    v->ptr = NULL;
    v->len = 0;
    return s->host->value_get(s, key, strlen(key), type, v);
}

/* Does `key` hold `len` bytes of pattern(seed, .)? */
static int
holds(gwf_stream *s, const char *key, size_t seed, size_t len)
{
    gwf_view v;
    if (get(s, key, NULL, &v) != GWF_OK || v.len != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (v.ptr[i] != pattern(seed, i))
            return 0;
    return 1;
}

static int
scenario_grow(gwf_stream *s, char *out, size_t size)
{
    char *big = patterned(1, 3000);
    gwf_value_type type = -1;
    gwf_view v;
    if (!big)
        return snprintf(out, size, "no memory");
    set_text(s, "probe.k", GWF_VALUE_STRING, "ab", 2);
    gwf_status st = set_text(s, "probe.k", GWF_VALUE_BYTES, big, 3000);
    free(big);
    get(s, "probe.k", &type, &v);
    return snprintf(out, size, "set=%d type=%d len=%zu same=%d", (int)st,
                    (int)type, v.len, holds(s, "probe.k", 1, 3000));
}

static int
scenario_shrink(gwf_stream *s, char *out, size_t size)
{
    char *first = patterned(2, 100), *again = patterned(3, 100);
    gwf_view v;
    int n;
    if (!first || !again) {
        n = snprintf(out, size, "no memory");
    } else {
        set_text(s, "probe.k", GWF_VALUE_STRING, first, 100);
        set_text(s, "probe.k", GWF_VALUE_STRING, "b", 1);
        get(s, "probe.k", NULL, &v);
        n = snprintf(out, size, "small=%.*s", (int)v.len, v.ptr);
        set_text(s, "probe.k", GWF_VALUE_STRING, again, 100);
        n += snprintf(out + n, size - (size_t)n, " again=%d",
                      holds(s, "probe.k", 3, 100));
    }
    free(first);
    free(again);
    return n;
}

static int
scenario_many(gwf_stream *s, char *out, size_t size)
{
    size_t set = 0, same = 0;
    char key[32];
    for (size_t i = 0; i < 500; i++) {
        size_t len = i * 7 % 300;
        char *data = patterned(i, len);
        snprintf(key, sizeof key, "probe.many.%zu", i);
        if (data && set_text(s, key, GWF_VALUE_BYTES, data, len) == GWF_OK)
            set++;
        free(data);
    }
    for (size_t i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "probe.many.%zu", i);
        same += (size_t)holds(s, key, i, i * 7 % 300);
    }
    return snprintf(out, size, "set=%zu same=%zu", set, same);
}

static int
scenario_self(gwf_stream *s, char *out, size_t size)
{
    gwf_view v, k, k2;
    set_text(s, "probe.k", GWF_VALUE_STRING, "hello world", 11);
    get(s, "probe.k", NULL, &v);
    set_text(s, "probe.k", GWF_VALUE_STRING, v.ptr + 6, 5);
    get(s, "probe.k", NULL, &k);
    set_text(s, "probe.k2", GWF_VALUE_STRING, k.ptr, k.len);
    get(s, "probe.k", NULL, &k);
    get(s, "probe.k2", NULL, &k2);
    return snprintf(out, size, "k=%.*s k2=%.*s", (int)k.len, k.ptr, (int)k2.len,
                    k2.ptr);
}

static int
scenario_fresh(gwf_stream *s, char *out, size_t size)
{
    gwf_view v;
    gwf_status before = get(s, "probe.k", NULL, &v);
    gwf_status other = get(s, "probe.more.7", NULL, &v);
    char *data = patterned(4, 2000);
    char key[32];
    size_t more = 0;
    if (!data)
        return snprintf(out, size, "no memory");
    set_text(s, "probe.k", GWF_VALUE_BYTES, data, 2000);
    free(data);
    for (size_t i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "probe.more.%zu", i);
        more += set_text(s, key, GWF_VALUE_STRING, key, strlen(key)) == GWF_OK;
    }
    return snprintf(out, size, "before=%d,%d after=%d more=%zu", (int)before,
                    (int)other, holds(s, "probe.k", 4, 2000), more);
}

static int
scenario_huge(gwf_stream *s, char *out, size_t size)
{
    char *big = patterned(5, 200000);
    gwf_view v;
    if (!big)
        return snprintf(out, size, "no memory");
    set_text(s, "probe.small", GWF_VALUE_STRING, "s", 1);
    gwf_status st = set_text(s, "probe.big", GWF_VALUE_BYTES, big, 200000);
    free(big);
    set_text(s, "probe.after", GWF_VALUE_STRING, "t", 1);
    get(s, "probe.small", NULL, &v);
    int n = snprintf(out, size, "set=%d big=%d small=%.*s", (int)st,
                     holds(s, "probe.big", 5, 200000), (int)v.len, v.ptr);
    get(s, "probe.after", NULL, &v);
    return n + snprintf(out + n, size - (size_t)n, " after=%.*s", (int)v.len,
                        v.ptr);
}

static int
scenario_empty(gwf_stream *s, char *out, size_t size)
{
    gwf_view v;
    gwf_status set = set_text(s, "probe.k", GWF_VALUE_STRING, NULL, 0);
    gwf_status got = get(s, "probe.k", NULL, &v);
    size_t len = v.len;
    set_text(s, "probe.k", GWF_VALUE_STRING, "abc", 3);
    get(s, "probe.k", NULL, &v);
    return snprintf(out, size, "set=%d get=%d len=%zu then=%.*s", (int)set,
                    (int)got, len, (int)v.len, v.ptr);
}

/* -- value_provide ------------------------------------------------------ */

static unsigned released;      /* providers released, ever */
static unsigned released_seen; /* `released` at the last report */
static int late_status = -100; /* value_provide from stream_complete */

typedef struct provided {
    const char *tag; /* what "probe.p.a" answers */
    int64_t number;
} provided;

static gwf_status
provided_get(void *ctx, const char *key, size_t key_len, gwf_value_type *type,
             gwf_view *data)
{
    const provided *p = ctx;
    if (key_len == 9 && memcmp(key, "probe.p.a", 9) == 0) {
        *type = GWF_VALUE_STRING;
        data->ptr = p->tag;
        data->len = strlen(p->tag);
        return GWF_OK;
    }
    if (key_len == 9 && memcmp(key, "probe.p.b", 9) == 0) {
        *type = GWF_VALUE_STRING;
        data->ptr = "provided";
        data->len = 8;
        return GWF_OK;
    }
    if (key_len == 11 && memcmp(key, "probe.p.int", 11) == 0) {
        *type = GWF_VALUE_INT;
        data->ptr = (const char *)&p->number;
        data->len = strcmp(p->tag, "short") == 0 ? 4 : 8;
        return GWF_OK;
    }
    return GWF_ERR_NOT_FOUND;
}

static void
provided_release(void *ctx)
{
    released++;
    free(ctx);
}

static provided *
provided_new(const char *tag)
{
    provided *p = calloc(1, sizeof *p);
    if (p) {
        p->tag = tag;
        p->number = 42;
    }
    return p;
}

static gwf_status
provide(gwf_stream *s, const char *tag)
{
    provided *p = provided_new(tag);
    if (!p)
        return GWF_ERR_NO_MEMORY;
    gwf_status st = s->host->value_provide(s, "probe.p.", 8, provided_get,
                                           provided_release, p);
    if (st != GWF_OK)
        free(p);
    return st;
}

/* "<status>" or the text of a string value. */
static int
show(gwf_stream *s, const char *key, char *out, size_t size)
{
    gwf_view v;
    gwf_status st = get(s, key, NULL, &v);
    if (st != GWF_OK)
        return snprintf(out, size, "%d", (int)st);
    return snprintf(out, size, "%.*s", (int)v.len, v.ptr);
}

static int
scenario_provide(gwf_stream *s, char *out, size_t size)
{
    char a[32], zz[32], old[32], b[32], after[32], b2[32], q[32];
    gwf_value_type type = -1;
    gwf_view v;
    int64_t number = 0;
    set_text(s, "probe.p.old", GWF_VALUE_STRING, "old", 3);
    set_text(s, "probe.p.b", GWF_VALUE_STRING, "before", 6);
    gwf_status st = provide(s, "A");
    show(s, "probe.p.a", a, sizeof a);
    show(s, "probe.p.zz", zz, sizeof zz);
    show(s, "probe.p.old", old, sizeof old);
    show(s, "probe.p.b", b, sizeof b);
    if (get(s, "probe.p.int", &type, &v) == GWF_OK && v.len == 8)
        memcpy(&number, v.ptr, 8);
    set_text(s, "probe.p.a", GWF_VALUE_STRING, "set", 3);
    set_text(s, "probe.p.a", GWF_VALUE_STRING, "again", 5);
    show(s, "probe.p.a", after, sizeof after);
    /* A key set before the provider, set again after it: a new record,
     * not the old one rewritten under the provider. */
    set_text(s, "probe.p.b", GWF_VALUE_STRING, "b2", 2);
    show(s, "probe.p.b", b2, sizeof b2);
    show(s, "probe.q", q, sizeof q);
    return snprintf(out, size,
                    "provide=%d a=%s zz=%s old=%s b=%s int=%d:%lld after=%s "
                    "b2=%s q=%s",
                    (int)st, a, zz, old, b, (int)type, (long long)number, after,
                    b2, q);
}

static int
scenario_reprovide(gwf_stream *s, char *out, size_t size)
{
    char a[32];
    unsigned before = released;
    gwf_status first = provide(s, "first");
    gwf_status second = provide(s, "second");
    show(s, "probe.p.a", a, sizeof a);
    return snprintf(out, size, "provide=%d,%d released_now=%u a=%s", (int)first,
                    (int)second, released - before, a);
}

static int
scenario_released(gwf_stream *s, char *out, size_t size)
{
    unsigned since = released - released_seen;
    released_seen = released;
    return snprintf(out, size, "provide=%d released=%u", (int)provide(s, "r"),
                    since);
}

static int
scenario_badshape(gwf_stream *s, char *out, size_t size)
{
    char a[32], n[32];
    gwf_status st = provide(s, "short");
    show(s, "probe.p.a", a, sizeof a);
    show(s, "probe.p.int", n, sizeof n);
    return snprintf(out, size, "provide=%d a=%s int=%s", (int)st, a, n);
}

static int
scenario_badargs(gwf_stream *s, char *out, size_t size)
{
    char long_prefix[257];
    memset(long_prefix, 'p', sizeof long_prefix);
    gwf_status empty = s->host->value_provide(s, "probe.p.", 0, provided_get,
                                              provided_release, NULL);
    gwf_status too_long =
        s->host->value_provide(s, long_prefix, sizeof long_prefix, provided_get,
                               provided_release, NULL);
    gwf_status no_get =
        s->host->value_provide(s, "probe.p.", 8, NULL, provided_release, NULL);
    unsigned before = released;
    provided *p = provided_new("m");
    gwf_status most = s->host->value_provide(s, long_prefix, 256, provided_get,
                                             provided_release, p);
    if (most != GWF_OK)
        free(p);
    return snprintf(out, size, "empty=%d long=%d noget=%d max=%d released=%u",
                    (int)empty, (int)too_long, (int)no_get, (int)most,
                    released - before);
}

static int
scenario_late(gwf_stream *s, char *out, size_t size)
{
    (void)s;
    return snprintf(out, size, "late=%d", late_status);
}

static const struct {
    const char *name;
    int (*run)(gwf_stream *s, char *out, size_t size);
} scenarios[] = {
    {"grow", scenario_grow},           {"shrink", scenario_shrink},
    {"many", scenario_many},           {"self", scenario_self},
    {"fresh", scenario_fresh},         {"huge", scenario_huge},
    {"empty", scenario_empty},         {"provide", scenario_provide},
    {"reprovide", scenario_reprovide}, {"released", scenario_released},
    {"badshape", scenario_badshape},   {"badargs", scenario_badargs},
    {"late", scenario_late},
};

static gwf_status
probe_config_create(const gwf_config_init *init, void **config)
{
    json_t *root =
        json_loadb(init->config_json.ptr, init->config_json.len, 0, NULL);
    const char *name = json_string_value(json_object_get(root, "scenario"));
    probe_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !name || strlen(name) >= sizeof cfg->scenario) {
        json_decref(root);
        free(cfg);
        return GWF_ERR_BAD_ARGUMENT;
    }
    snprintf(cfg->scenario, sizeof cfg->scenario, "%s", name);
    json_decref(root);
    *config = cfg;
    return GWF_OK;
}

static void
probe_config_destroy(void *config)
{
    free(config);
}

static gwf_action
probe_request_headers(gwf_stream *s, void *ctx, int32_t end_of_stream)
{
    (void)end_of_stream;
    const probe_config *cfg = ctx;
    char body[256] = "unknown scenario";
    int n = (int)strlen(body);
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(cfg->scenario, scenarios[i].name) == 0)
            n = scenarios[i].run(s, body, sizeof body);
    if (n < 0 || (size_t)n >= sizeof body)
        n = (int)strlen(body);
    s->host->send_local_reply(s, 200, NULL, 0, body, (size_t)n, "values_probe");
    return GWF_PAUSE;
}

/* A provider offered once the stream completed: refused, and nothing to
 * release. */
static void
probe_stream_complete(gwf_stream *s, void *stream_ctx)
{
    (void)stream_ctx;
    provided *p = provided_new("late");
    late_status = s->host->value_provide(s, "probe.p.", 8, provided_get,
                                         provided_release, p);
    if (late_status != GWF_OK)
        free(p);
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "values_probe",
    .version = "0.1.0",
    .description = "Test plugin: shared per-stream value storage",
    .config_create = probe_config_create,
    .config_destroy = probe_config_destroy,
    .request_headers = probe_request_headers,
    .stream_complete = probe_stream_complete,
};
