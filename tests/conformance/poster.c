/*
 * poster.c - a test plugin that posts to its streams from other threads
 * while they end, for the rule of gwf_host.post (abi.h): a post after the
 * stream ended is a harmless no-op, its callback never runs, its release
 * runs instead, and every post is settled exactly once.
 *
 * Config: {"threads": N, "posts": M} (both default 0). On request
 * headers a stream posts one ticket at once from the worker, so that a
 * post is queued before anything else happens, then starts N threads
 * that each post up to M tickets as fast as they can (stopping at the
 * first GWF_ERR_STREAM_GONE), and pauses. The first ticket that runs
 * resumes the stream; the test aborts the others.
 *
 * Every ticket is counted once, by the callback that ran it ("ran") or
 * by its release ("released"). A callback for a stream that already
 * completed counts as "late", which must never happen; to check that
 * without reading freed memory, the plugin's stream state lives until
 * its last ticket is settled.
 *
 * A request for /report joins every poster thread (so no post is still
 * being made) and then, without letting the loop run, logs
 * "poster totals: tickets=T ran=R released=L late=V failed=F" and
 * answers 204. A host that settles every post by the time its stream
 * ends gives T == R + L there; one that leaves posts queued in the loop
 * for ended streams does not.
 */
#include <gwf/sdk.h>

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct poster_config {
    gwf_instance *inst;
    int threads; /* per stream */
    int posts;   /* per thread */
    atomic_long tickets;
    atomic_long ran;
    atomic_long released;
    atomic_long late;
    atomic_long failed;
    /* Poster threads not joined yet; `done` ones are reaped as new
     * streams start, the rest at /report and config_destroy. */
    pthread_mutex_t lock;
    struct poster_thread *threads_head;
};

/* Stream state, shared with its tickets: freed by the last of the
 * stream (stream_destroy) and its unsettled tickets. */
struct poster_stream {
    struct poster_config *cfg;
    gwf_stream *s;  /* valid until completed */
    bool completed; /* set by stream_complete, read on the worker */
    bool resumed;
    atomic_int holders;
};

struct poster_ticket {
    struct poster_stream *ps;
};

struct poster_thread {
    struct poster_thread *next;
    pthread_t id;
    atomic_bool done;
    struct poster_stream *ps;
    const gwf_host *host;
    gwf_stream_ref *ref;
    int posts;
};

static void
poster_stream_put(struct poster_stream *ps)
{
    if (atomic_fetch_sub(&ps->holders, 1) == 1)
        free(ps);
}

/* -- Tickets ----------------------------------------------------------- */

static void
poster_on_run(void *arg)
{
    struct poster_ticket *t = arg;
    struct poster_stream *ps = t->ps;
    free(t);
    atomic_fetch_add(&ps->cfg->ran, 1);
    if (ps->completed) {
        atomic_fetch_add(&ps->cfg->late, 1);
    } else if (!ps->resumed) {
        ps->resumed = true;
        ps->s->host->resume(ps->s);
    }
    poster_stream_put(ps);
}

/* May run on any thread (in the post call) or on the worker. */
static void
poster_on_release(void *arg)
{
    struct poster_ticket *t = arg;
    struct poster_stream *ps = t->ps;
    free(t);
    atomic_fetch_add(&ps->cfg->released, 1);
    poster_stream_put(ps);
}

/* Posts one ticket. Returns the host's status; on any status but OK and
 * STREAM_GONE (which both settle the ticket) the ticket is ours again. */
static gwf_status
poster_post(const gwf_host *host, gwf_stream_ref *ref, struct poster_stream *ps)
{
    struct poster_ticket *t = malloc(sizeof *t);
    if (!t) {
        atomic_fetch_add(&ps->cfg->failed, 1);
        return GWF_ERR_NO_MEMORY;
    }
    t->ps = ps;
    atomic_fetch_add(&ps->holders, 1);
    atomic_fetch_add(&ps->cfg->tickets, 1);
    gwf_status st = host->post(ref, poster_on_run, poster_on_release, t);
    if (st == GWF_OK || st == GWF_ERR_STREAM_GONE)
        return st;
    atomic_fetch_sub(&ps->cfg->tickets, 1);
    atomic_fetch_add(&ps->cfg->failed, 1);
    free(t);
    poster_stream_put(ps);
    return st;
}

/* -- Threads ----------------------------------------------------------- */

static void *
poster_thread_main(void *arg)
{
    struct poster_thread *pt = arg;
    for (int i = 0; i < pt->posts; i++)
        if (poster_post(pt->host, pt->ref, pt->ps) != GWF_OK)
            break;
    pt->host->stream_ref_release(pt->ref);
    poster_stream_put(pt->ps);
    atomic_store(&pt->done, true);
    return NULL;
}

/* Joins the poster threads: all of them, or only those already done
 * (which does not block). */
static void
poster_join(struct poster_config *cfg, bool all)
{
    pthread_mutex_lock(&cfg->lock);
    struct poster_thread **link = &cfg->threads_head;
    while (*link) {
        struct poster_thread *pt = *link;
        if (!all && !atomic_load(&pt->done)) {
            link = &pt->next;
            continue;
        }
        *link = pt->next;
        pthread_join(pt->id, NULL);
        free(pt);
    }
    pthread_mutex_unlock(&cfg->lock);
}

static int
poster_start_thread(struct poster_stream *ps, gwf_stream *s)
{
    struct poster_config *cfg = ps->cfg;
    struct poster_thread *pt = calloc(1, sizeof *pt);
    if (!pt)
        return -1;
    pt->ps = ps;
    pt->host = s->host;
    pt->posts = cfg->posts;
    pt->ref = s->host->stream_ref(s);
    if (!pt->ref) {
        free(pt);
        return -1;
    }
    atomic_init(&pt->done, false);
    atomic_fetch_add(&ps->holders, 1);
    if (pthread_create(&pt->id, NULL, poster_thread_main, pt) != 0) {
        s->host->stream_ref_release(pt->ref);
        poster_stream_put(ps);
        free(pt);
        return -1;
    }
    pthread_mutex_lock(&cfg->lock);
    pt->next = cfg->threads_head;
    cfg->threads_head = pt;
    pthread_mutex_unlock(&cfg->lock);
    return 0;
}

/* -- Hooks ------------------------------------------------------------- */

static gwf_action
poster_report(struct poster_config *cfg, gwf_stream *s)
{
    poster_join(cfg, true);
    gwf_logf(cfg->inst, GWF_LOG_INFO,
             "poster totals: tickets=%ld ran=%ld released=%ld late=%ld "
             "failed=%ld",
             atomic_load(&cfg->tickets), atomic_load(&cfg->ran),
             atomic_load(&cfg->released), atomic_load(&cfg->late),
             atomic_load(&cfg->failed));
    s->host->send_local_reply(s, 204, NULL, 0, NULL, 0, "poster_report");
    return GWF_PAUSE;
}

static gwf_action
poster_request_headers(gwf_stream *s, void *ctx, int32_t eos)
{
    (void)eos;
    struct poster_stream *ps = ctx;
    struct poster_config *cfg = ps->cfg;
    gwf_view path = {0};
    if (s->host->header_get(s, GWF_REQUEST, ":path", 5, 0, &path) == GWF_OK &&
        path.len == 7 && memcmp(path.ptr, "/report", 7) == 0)
        return poster_report(cfg, s);

    poster_join(cfg, false);
    gwf_stream_ref *ref = s->host->stream_ref(s);
    if (!ref)
        return GWF_CONTINUE;
    poster_post(s->host, ref, ps);
    s->host->stream_ref_release(ref);
    for (int i = 0; i < cfg->threads; i++)
        if (poster_start_thread(ps, s) < 0)
            atomic_fetch_add(&cfg->failed, 1);
    return GWF_PAUSE;
}

static gwf_status
poster_stream_create(gwf_stream *s, const gwf_stream_init *init, void **ctx)
{
    struct poster_stream *ps = calloc(1, sizeof *ps);
    if (!ps)
        return GWF_ERR_NO_MEMORY;
    ps->cfg = init->config;
    ps->s = s;
    atomic_init(&ps->holders, 1);
    *ctx = ps;
    return GWF_OK;
}

static void
poster_stream_complete(gwf_stream *s, void *ctx)
{
    (void)s;
    struct poster_stream *ps = ctx;
    ps->completed = true;
}

static void
poster_stream_destroy(gwf_stream *s, void *ctx)
{
    (void)s;
    poster_stream_put(ctx);
}

/* -- Config ------------------------------------------------------------ */

static int
poster_count(const json_t *root, const char *field, int *out)
{
    const json_t *v = json_object_get(root, field);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 100000)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

static gwf_status
poster_config_create(const gwf_config_init *init, void **config)
{
    struct poster_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->inst = init->instance;
    if (pthread_mutex_init(&cfg->lock, NULL) != 0) {
        free(cfg);
        return GWF_ERR_INTERNAL;
    }
    json_t *root =
        json_loadb(init->config_json.ptr, init->config_json.len, 0, NULL);
    int bad = !json_is_object(root) ||
              poster_count(root, "threads", &cfg->threads) < 0 ||
              poster_count(root, "posts", &cfg->posts) < 0;
    json_decref(root);
    if (bad) {
        static const char why[] = "expected {threads?, posts?} with counts "
                                  "from 0 to 100000";
        init->instance->host->config_error(init->instance, "", why,
                                           sizeof why - 1);
        pthread_mutex_destroy(&cfg->lock);
        free(cfg);
        return GWF_ERR_BAD_ARGUMENT;
    }
    *config = cfg;
    return GWF_OK;
}

/* Runs before the host unloads the .so: no poster thread may outlive it. */
static void
poster_config_destroy(void *config)
{
    struct poster_config *cfg = config;
    poster_join(cfg, true);
    pthread_mutex_destroy(&cfg->lock);
    free(cfg);
}

GWF_PLUGIN_ENTRY = {
    .size = sizeof(gwf_plugin),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "poster",
    .version = "0.1.0",
    .description = "Test plugin that posts to its streams from threads",
    .config_create = poster_config_create,
    .config_destroy = poster_config_destroy,
    .stream_create = poster_stream_create,
    .request_headers = poster_request_headers,
    .stream_complete = poster_stream_complete,
    .stream_destroy = poster_stream_destroy,
};
