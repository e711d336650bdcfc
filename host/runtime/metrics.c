/*
 * metrics.c - the registry behind the ABI's metric_* calls, and its
 * Prometheus text exposition.
 *
 * Plugins define metrics at config time and record on workers. A series
 * is one metric plus one set of label values; the host adds the label
 * `instance` ("namespace/name" of the plugin instance) in front of the
 * plugin's own labels, so two instances of one plugin share a metric
 * name. Series are found through a hash of their label values and kept in
 * creation order for a stable exposition.
 *
 * One mutex guards the registry: recording is a hash lookup and an add,
 * short enough that workers in one process rarely contend. (Hosts made of
 * several processes aggregate per process or in shared memory; that is
 * their concern, not the registry's.)
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_LABELS 8
#define MAX_BUCKETS 64

typedef struct series {
    uint64_t hash;
    char **values;           /* instance first, then the plugin's labels */
    _Atomic uint64_t value;  /* counter, gauge: a double's bits, so that
                                rt_series_add needs no lock */
    bool one_writer;         /* the registry's: see value_add */
    uint64_t *bucket_counts; /* per bucket, not cumulative: see observe */
    const double *buckets;   /* the metric's bounds (they never move) */
    size_t bucket_count;
    double sum;
    uint64_t count;
    struct series *next_in_bucket;
    struct series *next_in_order;
} series;

/* Doubles kept as their bits in an atomic word: C11 has no portable
 * lock-free atomic add on a double, a compare-and-swap loop does it.
 * A value orders nothing else, so loads and stores are relaxed. */
static double
value_get(_Atomic uint64_t *p)
{
    uint64_t bits = atomic_load_explicit(p, memory_order_relaxed);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void
value_set(_Atomic uint64_t *p, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    atomic_store_explicit(p, bits, memory_order_relaxed);
}

/* With one writer thread per process (a data plane whose workers are
 * processes, as nginx's), a load and a store do the add: no locked
 * read-modify-write on the request path. Readers (the exposition) still
 * see whole values. Otherwise workers may be threads of one process,
 * and the compare-and-swap loop keeps every add. */
static void
value_add(series *s, double v)
{
    _Atomic uint64_t *p = &s->value;
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed), new;
    double d;
    if (s->one_writer) {
        memcpy(&d, &old, sizeof d);
        d += v;
        memcpy(&new, &d, sizeof new);
        atomic_store_explicit(p, new, memory_order_relaxed);
        return;
    }
    do {
        memcpy(&d, &old, sizeof d);
        d += v;
        memcpy(&new, &d, sizeof new);
    } while (!atomic_compare_exchange_weak_explicit(
        p, &old, new, memory_order_relaxed, memory_order_relaxed));
}

typedef struct metric {
    gwf_metric_kind kind;
    char *name;
    char *help;
    char *labels[MAX_LABELS];
    size_t label_count;
    double *buckets;
    size_t bucket_count;
    series *first;
    series *last;
} metric;

/* A series resolved to a handle (rt_metrics_handle): recording through
 * it is an index into pages that never move, an owner check and an add,
 * with no hash and no lock. Slots are appended under the lock and
 * published by `handle_count`; an owner whose config is gone is cleared
 * (rt_metrics_forget), after which its handles are refused. */
#define HANDLE_PAGE 256
#define HANDLE_PAGES 256 /* at most 65536 handles per registry */

typedef struct handle_slot {
    struct series *s;
    _Atomic(const void *) owner;
    gwf_metric_kind kind;
} handle_slot;

/* Each thread remembers the series it recorded to last, by hash: a
 * worker counts the same few series over and over, and a hit costs a
 * hash and a compare instead of the registry's lock (a histogram's
 * fields still change under it, unless the registry has one writer). A
 * registry of one writer keeps the cache itself: no thread-local lookup
 * (a module's TLS costs a call to __tls_get_addr) on the request path. */
typedef struct cached_series {
    uint64_t generation;
    uint64_t hash;
    const char *instance;
    uint32_t id;
    gwf_metric_kind kind;
    struct series *s;
} cached_series;

struct rt_metrics {
    uint64_t generation; /* tells registries apart in the thread caches */
    pthread_mutex_t lock;
    metric *metrics;
    size_t count;
    series **table;
    size_t table_cap;
    size_t series_count;
    handle_slot *handle_pages[HANDLE_PAGES];
    _Atomic uint32_t handle_count;
    bool one_writer;         /* rt_metrics_new */
    cached_series cache[64]; /* the one writer's */
};

static atomic_uint_fast64_t registry_generations;
static _Thread_local cached_series thread_cache[64];

rt_metrics *
rt_metrics_new(bool one_writer)
{
    rt_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->one_writer = one_writer;
    m->generation = atomic_fetch_add(&registry_generations, 1) + 1;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void
series_free(series *s, size_t value_count)
{
    for (size_t i = 0; i < value_count; i++)
        free(s->values[i]);
    free(s->values);
    free(s->bucket_counts);
    free(s);
}

void
rt_metrics_free(rt_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++) {
        metric *mt = &m->metrics[i];
        series *s = mt->first;
        while (s) {
            series *next = s->next_in_order;
            series_free(s, mt->label_count + 1);
            s = next;
        }
        free(mt->name);
        free(mt->help);
        for (size_t j = 0; j < mt->label_count; j++)
            free(mt->labels[j]);
        free(mt->buckets);
    }
    free(m->metrics);
    free(m->table);
    for (size_t i = 0; i < HANDLE_PAGES; i++)
        free(m->handle_pages[i]);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static bool
valid_name(const char *s, bool colon_ok)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || (colon_ok && c == ':') ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool
same_shape(const metric *mt, gwf_metric_kind kind, const char *const *labels,
           size_t label_count, const double *buckets, size_t bucket_count)
{
    if (mt->kind != kind || mt->label_count != label_count ||
        mt->bucket_count != bucket_count)
        return false;
    for (size_t i = 0; i < label_count; i++)
        if (strcmp(mt->labels[i], labels[i]) != 0)
            return false;
    for (size_t i = 0; i < bucket_count; i++)
        if (mt->buckets[i] != buckets[i])
            return false;
    return true;
}

static gwf_status
check_definition(gwf_metric_kind kind, const char *name,
                 const char *const *labels, size_t label_count,
                 const double *buckets, size_t bucket_count)
{
    if (kind < GWF_METRIC_COUNTER || kind > GWF_METRIC_HISTOGRAM)
        return GWF_ERR_BAD_ARGUMENT;
    if (!valid_name(name, true) || label_count > MAX_LABELS ||
        (label_count && !labels))
        return GWF_ERR_BAD_ARGUMENT;
    for (size_t i = 0; i < label_count; i++)
        if (!valid_name(labels[i], false) ||
            strcmp(labels[i], "instance") == 0 || strcmp(labels[i], "le") == 0)
            return GWF_ERR_BAD_ARGUMENT;
    if (kind == GWF_METRIC_HISTOGRAM) {
        if (!buckets || bucket_count == 0 || bucket_count > MAX_BUCKETS)
            return GWF_ERR_BAD_ARGUMENT;
        for (size_t i = 0; i < bucket_count; i++)
            if (isnan(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
                return GWF_ERR_BAD_ARGUMENT;
    } else if (bucket_count) {
        return GWF_ERR_BAD_ARGUMENT;
    }
    return GWF_OK;
}

gwf_status
rt_metrics_define(rt_metrics *m, gwf_metric_kind kind, const char *name,
                  const char *help, const char *const *labels,
                  size_t label_count, const double *buckets,
                  size_t bucket_count, uint32_t *id)
{
    if (!id)
        return GWF_ERR_BAD_ARGUMENT;
    gwf_status st = check_definition(kind, name, labels, label_count, buckets,
                                     bucket_count);
    if (st != GWF_OK)
        return st;
    char full[256];
    int n = snprintf(full, sizeof full, "gwf_%s", name);
    if (n < 0 || (size_t)n >= sizeof full)
        return GWF_ERR_BAD_ARGUMENT;

    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->count; i++) {
        if (strcmp(m->metrics[i].name, full) != 0)
            continue;
        st = same_shape(&m->metrics[i], kind, labels, label_count, buckets,
                        bucket_count)
                 ? GWF_OK
                 : GWF_ERR_BAD_ARGUMENT;
        *id = (uint32_t)i;
        pthread_mutex_unlock(&m->lock);
        return st;
    }
    metric *grown = realloc(m->metrics, (m->count + 1) * sizeof *grown);
    if (!grown)
        goto oom;
    m->metrics = grown;
    metric *mt = &m->metrics[m->count];
    memset(mt, 0, sizeof *mt);
    mt->kind = kind;
    mt->name = rt_strdup(full);
    mt->help = rt_strdup(help ? help : "");
    bool ok = mt->name && mt->help;
    for (size_t i = 0; ok && i < label_count; i++) {
        mt->labels[i] = rt_strdup(labels[i]);
        ok = mt->labels[i] != NULL;
        mt->label_count = i + 1;
    }
    if (ok && bucket_count) {
        mt->buckets = malloc(bucket_count * sizeof *mt->buckets);
        ok = mt->buckets != NULL;
        if (ok) {
            memcpy(mt->buckets, buckets, bucket_count * sizeof *buckets);
            mt->bucket_count = bucket_count;
        }
    }
    if (!ok) {
        free(mt->name);
        free(mt->help);
        for (size_t i = 0; i < mt->label_count; i++)
            free(mt->labels[i]);
        free(mt->buckets);
        goto oom;
    }
    *id = (uint32_t)m->count++;
    pthread_mutex_unlock(&m->lock);
    return GWF_OK;
oom:
    pthread_mutex_unlock(&m->lock);
    return GWF_ERR_NO_MEMORY;
}

/* FNV-1a over the metric id and every label value, each value ended by a
 * byte that cannot start a UTF-8 sequence, so ("ab","c") != ("a","bc"). */
static uint64_t
series_hash(uint32_t id, const char *instance, const gwf_view *values,
            size_t count)
{
    uint64_t h = 1469598103934665603ull ^ id;
    for (const char *p = instance; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < values[i].len; j++)
            h = (h ^ (unsigned char)values[i].ptr[j]) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    return h;
}

static bool
series_matches(const series *s, const char *instance, const gwf_view *values,
               size_t count)
{
    if (strcmp(s->values[0], instance) != 0)
        return false;
    for (size_t i = 0; i < count; i++) {
        const char *v = s->values[i + 1];
        if (strlen(v) != values[i].len ||
            (values[i].len && memcmp(v, values[i].ptr, values[i].len) != 0))
            return false;
    }
    return true;
}

static int
table_grow(rt_metrics *m)
{
    size_t cap = m->table_cap ? m->table_cap * 2 : 64;
    series **table = calloc(cap, sizeof *table);
    if (!table)
        return -1;
    for (size_t i = 0; i < m->table_cap; i++) {
        series *s = m->table[i];
        while (s) {
            series *next = s->next_in_bucket;
            s->next_in_bucket = table[s->hash & (cap - 1)];
            table[s->hash & (cap - 1)] = s;
            s = next;
        }
    }
    free(m->table);
    m->table = table;
    m->table_cap = cap;
    return 0;
}

static series *series_get(rt_metrics *m, uint32_t id, const char *instance,
                          const gwf_view *values, size_t count);

/* A histogram's fields change together: the caller holds the lock, or
 * is the registry's one writer. Each observation goes in the first bucket
 * that holds it, one increment (a latency falls in the first buckets, so
 * the search stops early); the exposition adds them up into Prometheus's
 * cumulative `le` counts. Above the last bound: only count and sum. */
static void
observe_unlocked(series *s, double v)
{
    for (size_t i = 0; i < s->bucket_count; i++)
        if (v <= s->buckets[i]) {
            s->bucket_counts[i]++;
            break;
        }
    s->sum += v;
    s->count++;
}

static void
observe(rt_metrics *m, series *s, double v)
{
    if (s->one_writer) {
        observe_unlocked(s, v);
        return;
    }
    pthread_mutex_lock(&m->lock);
    observe_unlocked(s, v);
    pthread_mutex_unlock(&m->lock);
}

/* A series resolved once (under the lock) for a hot path that then
 * records to it without looking it up: the runtime's per-route and
 * per-instance series. */
rt_series *
rt_metrics_series(rt_metrics *m, uint32_t id, const char *instance,
                  const gwf_view *values, size_t count)
{
    pthread_mutex_lock(&m->lock);
    series *s = NULL;
    if (id < m->count && m->metrics[id].label_count == count)
        s = series_get(m, id, instance, values, count);
    pthread_mutex_unlock(&m->lock);
    return (rt_series *)s;
}

void
rt_series_add(rt_series *s, double v)
{
    if (s)
        value_add((series *)s, v);
}

void
rt_series_observe(rt_metrics *m, rt_series *s, double v)
{
    if (s && !isnan(v))
        observe(m, (series *)s, v);
}

static series *
series_get(rt_metrics *m, uint32_t id, const char *instance,
           const gwf_view *values, size_t count)
{
    uint64_t h = series_hash(id, instance, values, count);
    if (m->table_cap) {
        for (series *s = m->table[h & (m->table_cap - 1)]; s;
             s = s->next_in_bucket)
            if (s->hash == h && series_matches(s, instance, values, count))
                return s;
    }
    if ((m->series_count + 1) * 4 > m->table_cap * 3 && table_grow(m) < 0)
        return NULL;
    metric *mt = &m->metrics[id];
    series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->hash = h;
    s->one_writer = m->one_writer;
    s->values = calloc(count + 1, sizeof *s->values);
    if (!s->values)
        goto fail;
    s->values[0] = rt_strdup(instance);
    if (!s->values[0])
        goto fail;
    for (size_t i = 0; i < count; i++) {
        s->values[i + 1] = rt_strndup(values[i].ptr, values[i].len);
        if (!s->values[i + 1])
            goto fail;
    }
    if (mt->bucket_count) {
        s->bucket_counts = calloc(mt->bucket_count, sizeof *s->bucket_counts);
        if (!s->bucket_counts)
            goto fail;
        s->buckets = mt->buckets;
        s->bucket_count = mt->bucket_count;
    }
    s->next_in_bucket = m->table[h & (m->table_cap - 1)];
    m->table[h & (m->table_cap - 1)] = s;
    if (mt->last)
        mt->last->next_in_order = s;
    else
        mt->first = s;
    mt->last = s;
    m->series_count++;
    return s;
fail:
    series_free(s, count + 1);
    return NULL;
}

static bool
op_allowed(gwf_metric_kind kind, int op, double v)
{
    return (op == RT_METRIC_ADD && kind == GWF_METRIC_COUNTER && v >= 0) ||
           (op == RT_METRIC_ADD && kind == GWF_METRIC_GAUGE) ||
           (op == RT_METRIC_SET && kind == GWF_METRIC_GAUGE) ||
           (op == RT_METRIC_OBSERVE && kind == GWF_METRIC_HISTOGRAM);
}

gwf_status
rt_metrics_record(rt_metrics *m, int op, uint32_t id, const char *instance,
                  const gwf_view *values, size_t count, double v)
{
    if (count && !values)
        return GWF_ERR_BAD_ARGUMENT;
    if (isnan(v))
        return GWF_ERR_BAD_ARGUMENT;
    uint64_t h = series_hash(id, instance, values, count);
    cached_series *c =
        m->one_writer ? &m->cache[h & 63] : &thread_cache[h & 63];
    if (c->generation == m->generation && c->hash == h && c->id == id &&
        c->instance == instance &&
        series_matches(c->s, instance, values, count)) {
        if (!op_allowed(c->kind, op, v))
            return GWF_ERR_BAD_ARGUMENT;
        if (op == RT_METRIC_ADD)
            value_add(c->s, v);
        else if (op == RT_METRIC_SET)
            value_set(&c->s->value, v);
        else
            observe(m, c->s, v);
        return GWF_OK;
    }
    c->generation = 0; /* refilled below once the lock found it */
    c->hash = h;
    pthread_mutex_lock(&m->lock);
    gwf_status st = GWF_OK;
    if (id >= m->count || m->metrics[id].label_count != count) {
        st = GWF_ERR_BAD_ARGUMENT;
        goto out;
    }
    metric *mt = &m->metrics[id];
    if (!op_allowed(mt->kind, op, v)) {
        st = GWF_ERR_BAD_ARGUMENT;
        goto out;
    }
    series *s = series_get(m, id, instance, values, count);
    if (!s) {
        st = GWF_ERR_NO_MEMORY;
        goto out;
    }
    c->instance = instance;
    c->id = id;
    c->kind = mt->kind;
    c->s = s;
    c->generation = m->generation;
    switch (op) {
    case RT_METRIC_ADD:
        value_add(s, v);
        break;
    case RT_METRIC_SET:
        value_set(&s->value, v);
        break;
    default:
        observe_unlocked(s, v);
        break;
    }
out:
    pthread_mutex_unlock(&m->lock);
    return st;
}

/* -- Handles ---------------------------------------------------------------
 *
 * Handle values: the registry's generation in the high 32 bits (a handle
 * of another registry is refused, not followed), slot index + 1 in the
 * low ones (0 is never a handle). */

static uint64_t
handle_encode(const rt_metrics *m, uint32_t index)
{
    return (m->generation & 0xffffffffu) << 32 | ((uint64_t)index + 1);
}

static handle_slot *
handle_slot_at(rt_metrics *m, uint64_t handle)
{
    if ((handle >> 32) != (m->generation & 0xffffffffu))
        return NULL;
    uint32_t low = (uint32_t)handle;
    uint32_t published =
        atomic_load_explicit(&m->handle_count, memory_order_acquire);
    if (low == 0 || low > published)
        return NULL;
    uint32_t index = low - 1;
    return &m->handle_pages[index / HANDLE_PAGE][index % HANDLE_PAGE];
}

gwf_status
rt_metrics_handle(rt_metrics *m, uint32_t id, const void *owner,
                  const char *instance, const gwf_view *values, size_t count,
                  uint64_t *handle)
{
    if (!handle || !owner || (count && !values))
        return GWF_ERR_BAD_ARGUMENT;
    pthread_mutex_lock(&m->lock);
    gwf_status st = GWF_OK;
    if (id >= m->count || m->metrics[id].label_count != count) {
        st = GWF_ERR_BAD_ARGUMENT;
        goto out;
    }
    series *s = series_get(m, id, instance, values, count);
    if (!s) {
        st = GWF_ERR_NO_MEMORY;
        goto out;
    }
    /* The same series for the same owner is the same handle: a plugin
     * that resolves again (each worker_start, say) does not use up
     * slots. Config time only, so a scan is fine. */
    uint32_t n = atomic_load_explicit(&m->handle_count, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        handle_slot *h = &m->handle_pages[i / HANDLE_PAGE][i % HANDLE_PAGE];
        if (h->s == s && atomic_load(&h->owner) == owner) {
            *handle = handle_encode(m, i);
            goto out;
        }
    }
    if (n >= (uint32_t)HANDLE_PAGE * HANDLE_PAGES) {
        st = GWF_ERR_NO_MEMORY;
        goto out;
    }
    handle_slot **page = &m->handle_pages[n / HANDLE_PAGE];
    if (!*page && !(*page = calloc(HANDLE_PAGE, sizeof **page))) {
        st = GWF_ERR_NO_MEMORY;
        goto out;
    }
    handle_slot *h = &(*page)[n % HANDLE_PAGE];
    h->s = s;
    h->kind = m->metrics[id].kind;
    atomic_store(&h->owner, owner);
    atomic_store_explicit(&m->handle_count, n + 1, memory_order_release);
    *handle = handle_encode(m, n);
out:
    pthread_mutex_unlock(&m->lock);
    return st;
}

gwf_status
rt_metrics_handle_record(rt_metrics *m, int op, const void *owner,
                         uint64_t handle, double v)
{
    handle_slot *h = handle_slot_at(m, handle);
    if (!h || !owner ||
        atomic_load_explicit(&h->owner, memory_order_acquire) != owner ||
        isnan(v) || !op_allowed(h->kind, op, v))
        return GWF_ERR_BAD_ARGUMENT;
    if (op == RT_METRIC_ADD)
        value_add(h->s, v);
    else if (op == RT_METRIC_SET)
        value_set(&h->s->value, v);
    else
        observe(m, h->s, v);
    return GWF_OK;
}

bool
rt_metrics_handle_valid(rt_metrics *m, const void *owner, uint64_t handle)
{
    handle_slot *h = handle_slot_at(m, handle);
    return h && owner && h->kind != GWF_METRIC_HISTOGRAM &&
           atomic_load_explicit(&h->owner, memory_order_acquire) == owner;
}

void
rt_metrics_forget(rt_metrics *m, const void *owner)
{
    pthread_mutex_lock(&m->lock);
    uint32_t n = atomic_load_explicit(&m->handle_count, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        handle_slot *h = &m->handle_pages[i / HANDLE_PAGE][i % HANDLE_PAGE];
        if (atomic_load(&h->owner) == owner)
            atomic_store(&h->owner, NULL);
    }
    pthread_mutex_unlock(&m->lock);
}

/* Label values are escaped as the exposition format requires. */
static void
append_label_value(gwf_buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            gwf_buf_append(out, "\\\\", 2);
        else if (*v == '"')
            gwf_buf_append(out, "\\\"", 2);
        else if (*v == '\n')
            gwf_buf_append(out, "\\n", 2);
        else
            gwf_buf_append(out, v, 1);
    }
}

static void appendf(gwf_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
appendf(gwf_buf *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        gwf_buf_append(out, line,
                       (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void
append_labels(gwf_buf *out, const metric *mt, const series *s, const char *le)
{
    gwf_buf_append(out, "{instance=\"", 11);
    append_label_value(out, s->values[0]);
    gwf_buf_append(out, "\"", 1);
    for (size_t i = 0; i < mt->label_count; i++) {
        appendf(out, ",%s=\"", mt->labels[i]);
        append_label_value(out, s->values[i + 1]);
        gwf_buf_append(out, "\"", 1);
    }
    if (le)
        appendf(out, ",le=\"%s\"", le);
    gwf_buf_append(out, "}", 1);
}

/* Help text: backslash and newline escaped. */
static void
append_help(gwf_buf *out, const char *help)
{
    for (; *help; help++) {
        if (*help == '\\')
            gwf_buf_append(out, "\\\\", 2);
        else if (*help == '\n')
            gwf_buf_append(out, "\\n", 2);
        else
            gwf_buf_append(out, help, 1);
    }
}

char *
rt_metrics_text(rt_metrics *m)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    gwf_buf out = {0};
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->count; i++) {
        metric *mt = &m->metrics[i];
        appendf(&out, "# HELP %s ", mt->name);
        append_help(&out, mt->help);
        appendf(&out, "\n# TYPE %s %s\n", mt->name, kinds[mt->kind]);
        for (series *s = mt->first; s; s = s->next_in_order) {
            if (mt->kind != GWF_METRIC_HISTOGRAM) {
                gwf_buf_append(&out, mt->name, strlen(mt->name));
                append_labels(&out, mt, s, NULL);
                appendf(&out, " %.15g\n", value_get(&s->value));
                continue;
            }
            uint64_t below = 0; /* observations <= this bucket's bound */
            for (size_t b = 0; b < mt->bucket_count; b++) {
                char le[64];
                below += s->bucket_counts[b];
                snprintf(le, sizeof le, "%.15g", mt->buckets[b]);
                appendf(&out, "%s_bucket", mt->name);
                append_labels(&out, mt, s, le);
                appendf(&out, " %llu\n", (unsigned long long)below);
            }
            appendf(&out, "%s_bucket", mt->name);
            append_labels(&out, mt, s, "+Inf");
            appendf(&out, " %llu\n%s_sum", (unsigned long long)s->count,
                    mt->name);
            append_labels(&out, mt, s, NULL);
            appendf(&out, " %.15g\n%s_count", s->sum, mt->name);
            append_labels(&out, mt, s, NULL);
            appendf(&out, " %llu\n", (unsigned long long)s->count);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (gwf_buf_append(&out, "", 1) < 0 || !out.data) {
        /* An empty registry still yields "" rather than NULL. */
        gwf_buf_free(&out);
        return rt_strdup("");
    }
    /* gwf_buf_append of "" with len 1 wrote the terminating NUL. */
    return out.data;
}
