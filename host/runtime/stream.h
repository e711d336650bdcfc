/*
 * stream.h - the runtime's stream, shared by worker.c (events, posts,
 * the pending queue), stream.c (the pipeline) and host.c (the host table
 * plugins call), in that order from the bottom: each calls only the
 * files below it (see "Layers" in internal.h).
 */
#ifndef GWF_RUNTIME_STREAM_H
#define GWF_RUNTIME_STREAM_H

#include <stddef.h>

#include "internal.h"

/* A body chunk on its way through a direction's pipeline. */
typedef struct rt_chunk {
    gwf_buf data;
    uint32_t pos; /* next position to visit; == len once through */
    bool eos;
} rt_chunk;

/* One direction: the request (positions = plugins 0..n-1) or the
 * response (positions = plugins len-1..0). */
typedef struct rt_dir {
    uint32_t len;     /* positions in the pipeline */
    uint32_t hdr_pos; /* headers have passed positions [0, hdr_pos) */
    bool started;     /* headers were fed */
    bool hdr_eos;     /* the headers had end_of_stream */
    bool hdr_held;    /* position hdr_pos returned BUFFER for headers */
    bool body_ended;  /* the last chunk was fed */
    int32_t acc_pos;  /* position accumulating the body, or -1 */
    gwf_buf acc;
    rt_chunk *q; /* chunks in arrival order */
    size_t qn;
    size_t qcap;
    rt_chunk *cur; /* the chunk a body hook is looking at */
    gwf_buf taken; /* the chunk gwf_stream_take last handed out */
    /* Framing (see body_set in abi.h): a plugin changed the body; one
     * said it will change it while it streams (or is an ABI 0.1 plugin
     * with a body hook); the headers wait at the exit until the whole,
     * changed body is out, which holds held_bytes so far. */
    bool changed;
    bool streamed;
    bool len_hold;
    size_t held_bytes;
} rt_dir;

/* The plugin's gwf_stream: one per chain entry. */
struct rt_fstream {
    gwf_stream pub; /* first: plugins get &pub */
    gwf_rt_stream *st;
    uint32_t index;
    bool created;
    void *ctx;
    uint64_t dead_at; /* worker invocation in which it resumed/replied */
};

/* A shared per-stream value, or a plugin's provider of the values under
 * a prefix (`get` non-NULL; `key` is the prefix). The record, its key
 * and its data live in the stream's value blocks (stream.c); `cap` is
 * the room at `data`, so setting the key again with no more bytes
 * rewrites them in place. */
typedef struct rt_value {
    struct rt_value *next;
    const char *key; /* after the record */
    size_t key_len;
    gwf_value_type type;
    char *data;
    size_t len;
    size_t cap;
    gwf_status (*get)(void *ctx, const char *key, size_t key_len,
                      gwf_value_type *type, gwf_view *data);
    void (*release)(void *ctx);
    void *ctx;
} rt_value;

/* Memory for the values of one stream, handed out in order and freed
 * all at once with the stream. A spare stream keeps its newest block
 * (when small), so a stream reused for the same route sets its values
 * without calling malloc. */
typedef struct rt_value_block {
    struct rt_value_block *next; /* older blocks */
    size_t cap;
    size_t used;
    max_align_t mem[];
} rt_value_block;

/* The handle other threads hold (gwf_stream_ref). `lock` orders every
 * post against the end of the stream (worker.c): a post either finds the
 * stream alive and is on `posts` before the worker can end it, or finds
 * it ended and is released in the call. */
struct gwf_stream_ref {
    atomic_int refs;
    pthread_mutex_t lock;
    bool alive;              /* under lock; cleared on the worker only */
    gwf_worker *w;           /* valid while alive */
    gwf_rt_stream *st;       /* valid while alive; read on the worker only */
    struct rt_posted *posts; /* queued, neither run nor released yet */
};

enum { REPLY_NONE, REPLY_PENDING, REPLY_RUNNING, REPLY_DONE };

struct gwf_rt_stream {
    gwf_worker *w;
    gwf_chain *chain;
    const gwf_stream_ops *ops;
    void *dp;
    const gwf_message_ops *msg_ops;
    void *msg[2];
    uint64_t id;
    char request_id[32];

    rt_dir dir[2];
    bool running; /* the pipeline is on the stack */
    bool paused;
    gwf_message_kind paused_dir;
    uint32_t paused_idx;
    uint64_t pause_timer;   /* data plane timer id, or 0 */
    uint64_t pause_started; /* monotonic ns, or 0 */
    bool response_released; /* response headers passed every plugin */
    bool completed;
    bool free_deferred;
    /* The worker's handle for answers before the stream (gwf_chain_early):
     * only reads and replies work with it (host.c), and a reply goes
     * straight to the data plane. `early_answer` is set by a reply it
     * took, `early_failed` by one it could not. With `early_done_ok`
     * (the plugin is its chain's only one) request header writes work
     * too, and set `early_changed`. */
    bool early;
    bool early_answer;
    bool early_failed;
    bool early_done_ok;
    bool early_changed;

    /* Local reply. */
    int reply_state;
    uint32_t reply_from; /* plugins [0, reply_from) see the reply */
    bool in_reply;
    gwf_memmsg reply_msg;
    gwf_buf reply_body;
    char reply_details[64];
    /* A prepared reply sent as it is (no plugin before the sender): the
     * reply's status, headers and body are its, reply_msg stays empty. */
    rt_prepared *reply_prepared;

    rt_value *values;
    rt_value_block *value_blocks; /* newest first */
    rt_async *asyncs;             /* stream-scope timers and watches */
    gwf_stream_ref *ref;

    gwf_rt_stream *live_prev; /* the worker's list of live streams */
    gwf_rt_stream *live_next;
    bool queued; /* on the worker's pending list */
    gwf_rt_stream *next_pending;
    void (*run_marked)(gwf_rt_stream *st); /* what the worker calls then */

    uint32_t fs_cap; /* entries fs[] has room for (a spare is reused) */
    rt_fstream fs[];
};

/* -- stream.c: the chain's state machine -------------------------------- */

/* Have the headers of `which` left the chain for the data plane? */
bool rt_dir_released(const gwf_rt_stream *st, gwf_message_kind which);
/* "<worker>-<n>", made when first asked for (logs, attributes). */
const char *rt_stream_request_id(gwf_rt_stream *st);
gwf_status rt_stream_resume(rt_fstream *fs);
/* A local reply; host.c checked `headers` (reply_headers_checked: no
 * pseudo-header, names and values as header_set takes them). */
gwf_status rt_stream_reply(rt_fstream *fs, uint32_t status,
                           const gwf_header *headers, size_t count,
                           const char *body, size_t body_len,
                           const char *details);
/* Answer with a prepared reply (host.c checked the handle). */
gwf_status rt_stream_reply_prepared(rt_fstream *fs, rt_prepared *p,
                                    const gwf_view *values, size_t count);
/* Make the reply the stream's own copy (reply_msg, reply_body), for a
 * plugin reading it after a prepared reply was sent by reference.
 * GWF_OK or GWF_ERR_NO_MEMORY. */
gwf_status rt_stream_reply_open(gwf_rt_stream *st);
/* Add v to the runtime's counter `metric` of the stream's route. */
void rt_stream_count(gwf_rt_stream *st, uint32_t metric, const gwf_view *labels,
                     size_t count, double v);
/* Shared values (value_set / value_get, checked by host.c). The value
 * is the stream's and lives until the stream is freed; set copies
 * `data` (which may point into the value itself) and returns GWF_OK or
 * GWF_ERR_NO_MEMORY. A view of a value's bytes stays valid until the key
 * is set again. */
/* Whether a value of `type` with `len` bytes at `data` is well formed
 * (an INT is 8 bytes, a BOOL 1). */
bool rt_value_shape_ok(gwf_value_type type, const void *data, size_t len);
gwf_status rt_stream_value_get(const gwf_rt_stream *st, const char *key,
                               size_t len, gwf_value_type *type,
                               gwf_view *data);
gwf_status rt_stream_value_set(gwf_rt_stream *st, const char *key,
                               size_t key_len, gwf_value_type type,
                               const void *data, size_t len);
/* A plugin's reply could not be made (out of memory): the stream is
 * answered 500 instead, never let through. */
void rt_stream_reply_lost(gwf_rt_stream *st);
gwf_status rt_stream_value_provide(
    gwf_rt_stream *st, const char *prefix, size_t prefix_len,
    gwf_status (*get)(void *ctx, const char *key, size_t key_len,
                      gwf_value_type *type, gwf_view *data),
    void (*release)(void *ctx), void *ctx);

/* -- worker.c: ids, timers, fds, posts, the pending queue --------------- */

/* Queue `st` until no plugin code of its worker is on the stack, then
 * call run(st) (stream.c's hand-off: the worker knows no stream code).
 * Marking a queued stream again does nothing. */
void rt_stream_mark(gwf_rt_stream *st, void (*run)(gwf_rt_stream *st));
void rt_stream_unmark(gwf_rt_stream *st);
void rt_stream_cancel_async(gwf_rt_stream *st);
void rt_stream_drop_ref(gwf_rt_stream *st);
void rt_stream_ref_end(gwf_stream_ref *ref);

/* The async part of the host table. */
gwf_status rt_timer_start(gwf_instance *inst, gwf_stream *s, uint64_t delay_ns,
                          gwf_timer_cb cb, void *arg, uint64_t *timer_id);
gwf_status rt_timer_cancel(gwf_instance *inst, uint64_t timer_id);
gwf_status rt_fd_watch(gwf_instance *inst, gwf_stream *s, int fd,
                       uint32_t events, gwf_fd_cb cb, void *arg,
                       uint64_t *watch_id);
gwf_status rt_fd_update(gwf_instance *inst, uint64_t watch_id, uint32_t events);
gwf_status rt_fd_cancel(gwf_instance *inst, uint64_t watch_id);
gwf_stream_ref *rt_stream_ref(gwf_stream *s);
gwf_status rt_post(gwf_stream_ref *ref, gwf_post_cb cb, gwf_post_cb release,
                   void *arg);
void rt_stream_ref_release(gwf_stream_ref *ref);

#endif /* GWF_RUNTIME_STREAM_H */
