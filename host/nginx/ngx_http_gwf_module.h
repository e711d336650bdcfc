/*
 * ngx_http_gwf_module.h - what the files of the nginx module share.
 *
 * Private to host/nginx: the configuration and per-request structs, the
 * worker's runtime handles, and the calls one file makes into another.
 * The files, by layer: events.c and metrics.c (the worker), headers.c
 * (messages), stream.c (a request's stream, local replies, wake-ups),
 * request.c (access phase, request bodies) and response.c (filters),
 * route.c and route_actions.c (the route table and route actions),
 * and ngx_http_gwf_module.c (directives, configuration, processes,
 * registration).
 */
#ifndef NGX_HTTP_GWF_MODULE_H
#define NGX_HTTP_GWF_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <gwf/runtime.h>

/* The request-body flag nginx reserves for buffering filters we use to
 * hold a response while a plugin decides about it. */
#define NGX_HTTP_GWF_BUFFERED 0x08

/* Response bodies through body hooks: file buffers are read in slices of
 * this size, output buffers are at least this large (and reused), and no
 * more upstream data is taken while this much of ours waits for the
 * client, so a slow client slows the upstream instead of growing memory. */
#define GWF_RESP_SLICE (64 * 1024)
#define GWF_RESP_OUT_MIN (16 * 1024)
#define GWF_RESP_BUSY_MAX (1024 * 1024)

#define GWF_METRICS_SLOTS 64
#define GWF_METRICS_SLOT_SIZE (64 * 1024)

typedef struct ngx_http_gwf_routes_s ngx_http_gwf_routes_t;
typedef struct ngx_http_gwf_actions_s ngx_http_gwf_actions_t;

typedef struct {
    ngx_array_t *manifests;      /* ngx_str_t */
    ngx_uint_t check_referenced; /* gwf_manifests_check referenced */
    ngx_str_t plugin_path;
    ngx_msec_t max_pause;
    size_t max_body;
    gwf_runtime *rt;
    ngx_log_t *log;
    ngx_shm_zone_t *metrics_zone;
} ngx_http_gwf_main_conf_t;

typedef struct {
    ngx_str_t policy;
    /* gwf_policy REF FIELD...: the policy of each field (gwf_policy_field);
     * set (any of them, or policy) means this block's own set replaces an
     * enclosing block's. */
    ngx_str_t field_policies[GWF_PF_COUNT];
    ngx_flag_t policy_set;
    ngx_str_t direct_response;
    ngx_str_t backend;
    /* gwf_route_filter ROUTE FIELD: an HTTPRoute rule's CORS filter. */
    ngx_str_t route_filter_route;
    ngx_str_t route_filter_field;
    ngx_array_t *extensions; /* ngx_str_t */
    ngx_flag_t metrics;
    /* Where the first gwf route directive of this block is, so an error
     * found while merging points at it rather than at the end of http. */
    ngx_str_t file;
    ngx_uint_t line;
    gwf_chain *chain;
    ngx_uint_t want_body[2];
    ngx_uint_t early; /* the chain's first plugin may answer before it */
    /* gwf_route lines (route.c) and the route actions of this location
     * (route_actions.c); NULL: none. Inherited by nested locations. */
    ngx_http_gwf_routes_t *routes;
    ngx_http_gwf_actions_t *actions;
} ngx_http_gwf_loc_conf_t;

/* A request's route state (route.c), kept in a request pool cleanup so
 * that it outlives the clearing of module contexts on a jump. */
typedef struct {
    ngx_http_request_t *r;
    ngx_http_gwf_actions_t *actions_done; /* the last location's actions run */
    ngx_event_t timeout_ev;               /* gwf_request_timeout */
    ngx_msec_t timeout;
    /* The table jumped, and r->uri_changes just after: while it is
     * unchanged the request is where the table sent it. */
    ngx_uint_t jump_uri_changes;
    unsigned jumped:1;
    /* A route action set Host: gwf_redirect's port comes from it, even
     * for a request line in absolute form. */
    unsigned host_set:1;
    /* A subrequest's header list is its own, no longer its parent's. */
    unsigned own_headers:1;
} ngx_http_gwf_route_state_t;

/* A header name in a message's index (see "Header index"). */
typedef struct hdr_name_s hdr_name_t;
struct hdr_name_s {
    hdr_name_t *next; /* in the same bucket, or on the spare list */
    ngx_uint_t hash;  /* ngx_hash_key_lc of the name */
    ngx_str_t key;    /* the first element's; compared ignoring case */
    ngx_array_t elts; /* ngx_table_elt_t *: the live ones, in list order */
};

/* One message's header index, valid while epoch == gwf_ngx_epoch. */
typedef struct {
    ngx_uint_t epoch; /* 0: to be built */
    ngx_list_t *list; /* the list it indexes */
    hdr_name_t **buckets;
    ngx_uint_t nbuckets;
    ngx_uint_t names;
    ngx_uint_t live;   /* elements not marked removed */
    ngx_uint_t marked; /* elements marked removed (hash == 0) */
    hdr_name_t *spare; /* name entries a rebuild gave back */
    /* header_at's cursor: the shown element number cursor_pos is
     * cursor_part's element cursor_i; NULL: none. */
    ngx_list_part_t *cursor_part;
    ngx_uint_t cursor_i;
    size_t cursor_pos;
} hdr_index_t;

/* The request's or the response's headers, as the runtime's message. */
typedef struct {
    ngx_http_request_t *r;
    ngx_uint_t is_response;
    hdr_index_t index;
    /* Request header calls (reads, removes) served by passes over the
     * list while the index is stale, in epoch scan_epoch (headers.c,
     * hdr_may_scan). */
    ngx_uint_t scan_epoch;
    ngx_uint_t scans;
} ngx_http_gwf_msg_t;

typedef struct {
    u_char remote_port[NGX_INT_T_LEN];
    u_char local_port[NGX_INT_T_LEN];
    u_char local_address[NGX_SOCKADDR_STRLEN];
} ngx_http_gwf_attr_texts_t;

/* One request's state: from the worker's spares (stream.c), kept until
 * the request's pool is destroyed. */
typedef struct ngx_http_gwf_ctx_s ngx_http_gwf_ctx_t;
struct ngx_http_gwf_ctx_s {
    ngx_http_request_t *r;
    ngx_http_gwf_msg_t msg[2]; /* by gwf_message_kind */
    gwf_rt_stream *st;
    gwf_rt_state req_state;   /* where the request side stands */
    gwf_rt_state state;       /* ... and the response side */
    ngx_event_t resume_ev;    /* runs the request on after a wake */
    unsigned waiting:1;       /* the access phase returned NGX_AGAIN */
    unsigned body_reading:1;  /* the access phase reads the body */
    unsigned body_waiting:1;  /* ... and returned NGX_DONE for it */
    unsigned body_read:1;     /* ... and nginx finished reading it */
    unsigned req_filter:1;    /* the body goes through the chain */
    unsigned req_started:1;   /* the request body filter ran */
    unsigned req_fed_eos:1;   /* the last request buffer was fed */
    unsigned req_eos_out:1;   /* the last chunk left the chain */
    unsigned req_native:1;    /* a reply ended the request side */
    unsigned req_take_all:1;  /* HTTP/2, nginx buffering: never hold input */
    unsigned request_done:1;  /* the request side passed the chain */
    unsigned replied:1;       /* a local reply is being sent */
    unsigned resp_started:1;  /* response headers went to the chain */
    unsigned resp_held:1;     /* headers held until the chain decides */
    unsigned resp_passed:1;   /* headers passed to the next filter */
    unsigned resp_replaced:1; /* a response hook replied: drop upstream */
    unsigned resp_eos_in:1;   /* the upstream body ended */
    unsigned resp_eos_out:1;  /* the last chunk went on */
    unsigned completed:1;
    unsigned resp_broken:1;     /* the upstream ended before its last buf */
    unsigned resp_timed_out:1;  /* ... because it timed out */
    unsigned resp_native:1;     /* broken: the rest is nginx's, unfiltered */
    unsigned resp_body_early:1; /* body came while the headers were held */
    unsigned flush_wanted:1;    /* nginx asked for a flush not yet sent */
    /* The client's HTTP version, which an HTTP/0.9 upstream overwrites,
     * and the upstream connection's read event (note_upstream_end). */
    unsigned http_version;
    ngx_event_t *upstream_read;
    ngx_chain_t *req_pending; /* request bufs not yet fed to the chain */
    ngx_chain_t *req_free;    /* our request bufs, for reuse */
    ngx_chain_t *req_busy;    /* ... not yet written or sent */
    off_t req_in;             /* bytes of request body fed to the chain */
    off_t req_out;            /* bytes of request body that left it */
    ngx_chain_t *pending;     /* upstream bufs not yet fed to the chain */
    ngx_chain_t *free;        /* our output bufs, for reuse */
    ngx_chain_t *busy;        /* our output bufs the client has not taken */
    u_char *slice;            /* GWF_RESP_SLICE bytes for file bufs */
    /* Attribute texts handed to plugins (valid for the hook's duration),
     * made on the first request for one: most requests ask for none, and
     * a smaller state leaves the request's pool room for nginx's own. */
    ngx_http_gwf_attr_texts_t *attr_texts;
    ngx_http_gwf_ctx_t *next_spare; /* on the spare list */
};

extern ngx_module_t ngx_http_gwf_module;

/* The worker's runtime state (one worker per process): module.c. */
extern gwf_worker *gwf_ngx_worker;
extern gwf_runtime *gwf_ngx_runtime;
extern ngx_http_gwf_main_conf_t *gwf_ngx_main;

/* Moves on at every entry into the runtime (hooks, timer, fd and post
 * callbacks): nginx may have changed the header lists since the last one,
 * so the header indexes of an older epoch are rebuilt before use. */
extern ngx_uint_t gwf_ngx_epoch;
void gwf_ngx_new_epoch(void);

/* events.c */
extern const gwf_event_ops gwf_ngx_events;
ngx_int_t gwf_ngx_posts_start(ngx_cycle_t *cycle);
void gwf_ngx_posts_stop(void);

/* metrics.c */
void gwf_ngx_metrics_start(ngx_cycle_t *cycle);
void gwf_ngx_metrics_stop(void);
char *ngx_http_gwf_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* headers.c */
ngx_int_t ngx_http_gwf_hdr_compact_request(ngx_http_gwf_msg_t *m);
gwf_status ngx_http_gwf_req_remove(ngx_http_gwf_msg_t *m, const char *name,
                                   size_t len);
gwf_status ngx_http_gwf_req_set(ngx_http_gwf_msg_t *m, const char *name,
                                size_t len, const char *value,
                                size_t value_len);
gwf_status ngx_http_gwf_resp_add(ngx_http_gwf_msg_t *m, const char *name,
                                 size_t len, const char *value,
                                 size_t value_len);
extern const gwf_message_ops gwf_ngx_message_ops;
typedef struct {
    ngx_str_t value;   /* the whole header value, sent as it is */
    size_t type_len;   /* the media type's length in it */
    ngx_str_t charset; /* the charset parameter's value, or empty */
} ngx_http_gwf_content_type_t;
void ngx_http_gwf_content_type_parse(const ngx_str_t *value,
                                     ngx_http_gwf_content_type_t *out);
void ngx_http_gwf_content_type_set(ngx_http_request_t *r,
                                   const ngx_http_gwf_content_type_t *ct);
/* `lit` is lower case. Inlined with the length first: every reply header
 * is compared with a few names, and ngx_strncasecmp is a call and a
 * branchy loop per byte. */
static ngx_inline ngx_uint_t
ngx_http_gwf_name_is(const char *name, size_t len, const char *lit)
{
    size_t n = ngx_strlen(lit);
    if (len != n)
        return 0;
    /* Plugins name headers in lower case: that compare is inlined. */
    if (ngx_memcmp(name, lit, n) == 0)
        return 1;
    for (size_t i = 0; i < n; i++) {
        u_char c = (u_char)name[i];
        if (c >= 'A' && c <= 'Z')
            c |= 0x20;
        if (c != (u_char)lit[i])
            return 0;
    }
    return 1;
}

/* stream.c */
void ngx_http_gwf_cleanup_stream(void *data);
void ngx_http_gwf_ctx_spares_free(void);
ngx_http_gwf_ctx_t *ngx_http_gwf_create_ctx(ngx_http_request_t *r,
                                            ngx_http_gwf_loc_conf_t *lcf);
ngx_int_t ngx_http_gwf_reply_headers(ngx_http_request_t *r, gwf_rt_stream *st);
ngx_chain_t *ngx_http_gwf_reply_body(ngx_http_request_t *r, gwf_rt_stream *st);
ngx_int_t ngx_http_gwf_send_reply(ngx_http_request_t *r,
                                  ngx_http_gwf_ctx_t *ctx);
ngx_int_t ngx_http_gwf_send_constant(ngx_http_request_t *r, gwf_chain *chain,
                                     const gwf_chain_reply *reply);
ngx_int_t ngx_http_gwf_answer_early(ngx_http_request_t *r, gwf_chain *chain);

/* request.c */
ngx_chain_t *ngx_http_gwf_chunk_buf(ngx_http_request_t *r, ngx_chain_t **free,
                                    gwf_view chunk, ngx_buf_tag_t tag);
ngx_int_t ngx_http_gwf_request_init(ngx_conf_t *cf);
size_t ngx_http_gwf_chain_size(ngx_chain_t *cl);

/* response.c */
void ngx_http_gwf_response_init(void);
void ngx_http_gwf_response_flush(ngx_http_request_t *r,
                                 ngx_http_gwf_ctx_t *ctx);

/* route.c */
char *ngx_http_gwf_route(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_gwf_route_init(ngx_conf_t *cf);
ngx_regex_t *ngx_http_gwf_regex(ngx_conf_t *cf, ngx_str_t *re,
                                const char *what);
ngx_uint_t ngx_http_gwf_regex_whole(ngx_http_request_t *r, ngx_regex_t *re,
                                    ngx_str_t *s);

/* route_actions.c */
char *ngx_http_gwf_header_op(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_gwf_rewrite(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_gwf_redirect(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_gwf_request_timeout(ngx_conf_t *cf, ngx_command_t *cmd,
                                   void *conf);
char *ngx_http_gwf_sample(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_gwf_actions_run(ngx_http_request_t *r,
                                   ngx_http_gwf_actions_t *a,
                                   ngx_http_gwf_route_state_t *st);
ngx_int_t ngx_http_gwf_actions_init(ngx_conf_t *cf);

#endif /* NGX_HTTP_GWF_MODULE_H */
