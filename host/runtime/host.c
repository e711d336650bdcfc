/*
 * host.c - the gwf_host function table: what plugins call.
 *
 * Every entry checks its arguments and the phase before it touches
 * anything, because the caller is code we did not write: a NULL, a
 * header name with a newline, a write after the headers left, or a call
 * on a handle that is already dead returns a status, never crashes. The
 * data plane's own message access (gwf_message_ops) only ever sees
 * validated input.
 */
#include <jansson.h>
#include <stdbool.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "stream.h"

#define INST(i) ((rt_instance *)(i))
#define FS(s) ((rt_fstream *)(s))

/* A stream handle may be used unless it resumed or replied in this very
 * invocation, or the stream was completed (then only reads work). */
static gwf_status
fs_usable(gwf_stream *s)
{
    if (!s)
        return GWF_ERR_BAD_ARGUMENT;
    rt_fstream *fs = FS(s);
    if (fs->dead_at && fs->dead_at == fs->st->w->invocation)
        return GWF_ERR_STREAM_GONE;
    return GWF_OK;
}

/* The handle of an answer before the stream (abi.h request_early) reads
 * the request and replies: those calls check with fs_usable, every other
 * with fs_check, which refuses it (header writes: fs_check_write). */
static gwf_status
fs_check(gwf_stream *s)
{
    gwf_status st = fs_usable(s);
    if (st == GWF_OK && FS(s)->st->early)
        return GWF_ERR_WRONG_PHASE;
    return st;
}

/* A header write: as fs_check, except that an early handle whose plugin
 * may finish the request (abi.h GWF_DONE) writes the request's headers. */
static gwf_status
fs_check_write(gwf_stream *s, gwf_message_kind which)
{
    gwf_status st = fs_usable(s);
    if (st != GWF_OK)
        return st;
    gwf_rt_stream *rs = FS(s)->st;
    if (rs->early && (which != GWF_REQUEST || !rs->early_done_ok))
        return GWF_ERR_WRONG_PHASE;
    return GWF_OK;
}

/* RFC 9110 tchar: ALPHA, DIGIT and "!#$%&'*+-.^_`|~". A table of the
 * 256 bytes, made at compile time from the bitmap of the 128 ASCII ones:
 * every reply header name passes here, a byte at a time. */
#define TCHAR_LO UINT64_C(0x03ff6cfa00000000)
#define TCHAR_HI UINT64_C(0x57ffffffc7fffffe)
#define TC(c)                                                                  \
    ((c) < 128 && ((((c) < 64 ? TCHAR_LO : TCHAR_HI) >> ((c)&63)) & 1))
#define TC4(c) TC(c), TC((c) + 1), TC((c) + 2), TC((c) + 3)
#define TC16(c) TC4(c), TC4((c) + 4), TC4((c) + 8), TC4((c) + 12)
#define TC64(c) TC16(c), TC16((c) + 16), TC16((c) + 32), TC16((c) + 48)
static const bool tchar_table[256] = {TC64(0), TC64(64), TC64(128), TC64(192)};

static bool
is_tchar(unsigned char c)
{
    return tchar_table[c];
}

static bool
valid_name(const char *name, size_t len)
{
    if (!name || len == 0 || len > 1024)
        return false;
    size_t i = name[0] == ':' ? 1 : 0;
    if (i == len)
        return false;
    for (; i < len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return false;
    return true;
}

/* Header values (RFC 9110 5.5 field-value): visible ASCII, SP, HTAB and
 * obs-text. Every other control byte and DEL is refused, not only CR, LF
 * and NUL: a plugin's value comes from claims, authz answers and Lambda
 * replies, and a 0x01 or 0x7f in it reaches upstreams and clients, which
 * may cut the line there or read the header differently from us. This
 * is the same rule as the SDK's gwf_is_header_value. */
static bool
is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Leading and trailing SP/HTAB are not part of a field value; every
 * recipient drops them when it parses the line, so the host drops them
 * when the value is set and header_get returns what the peer will see.
 * Trimming rather than refusing keeps " v" (a JSON answer's padding)
 * working; it can change no meaning. */
static void
trim_ows(const char **value, size_t *len)
{
    while (*len && (**value == ' ' || **value == '\t')) {
        (*value)++;
        (*len)--;
    }
    while (*len && ((*value)[*len - 1] == ' ' || (*value)[*len - 1] == '\t'))
        (*len)--;
}

/* Pseudo-headers become part of the request or status line, where a
 * space separates elements: ":method" must be a token, and the others
 * (":path", ":authority", ":scheme", ":status") one element without
 * white space. The data plane checks the rest (a path starts with '/',
 * a status is 200-599). */
static bool
valid_pseudo_value(const char *name, size_t name_len, const char *value,
                   size_t len)
{
    bool method = name_len == 7 && strncasecmp(name, ":method", 7) == 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (method ? !is_tchar(c) : (c == ' ' || c == '\t'))
            return false;
    }
    return !method || len > 0;
}

/* `value` after trim_ows; `name` already passed valid_name. */
static bool
valid_value(const char *name, size_t name_len, const char *value, size_t len)
{
    if (len && !value)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_field_byte((unsigned char)value[i]))
            return false;
    if (name[0] == ':')
        return valid_pseudo_value(name, name_len, value, len);
    return true;
}

/* -- Logging, time --------------------------------------------------------- */

static void
h_log(gwf_instance *inst, gwf_log_level level, const char *msg, size_t len)
{
    if (!inst || (len && !msg))
        return;
    rt_log(INST(inst)->rt, level, INST(inst)->name, "%.*s",
           (int)(len > 4096 ? 4096 : len), msg ? msg : "");
}

static void
h_stream_log(gwf_stream *s, gwf_log_level level, const char *msg, size_t len)
{
    if (!s || (len && !msg))
        return;
    rt_fstream *fs = FS(s);
    rt_instance *inst = fs->st->chain->filters[fs->index].inst;
    rt_log(inst->rt, level, inst->name, "[%s] %.*s",
           rt_stream_request_id(fs->st), (int)(len > 4096 ? 4096 : len),
           msg ? msg : "");
}

static int32_t
h_log_enabled(gwf_instance *inst, gwf_log_level level)
{
    return inst && level >= INST(inst)->rt->opts.log_level;
}

static int64_t
h_now(gwf_instance *inst, gwf_clock clock)
{
    gwf_runtime *rt = inst ? INST(inst)->rt : NULL;
    struct timespec ts;
    if (clock == GWF_CLOCK_MONOTONIC) {
        if (rt && rt->opts.monotonic)
            return rt->opts.monotonic(rt->opts.clock_ctx);
        clock_gettime(CLOCK_MONOTONIC, &ts);
    } else {
        if (rt && rt->opts.realtime)
            return rt->opts.realtime(rt->opts.clock_ctx);
        clock_gettime(CLOCK_REALTIME, &ts);
    }
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* -- Configuration --------------------------------------------------------- */

static void
h_config_error(gwf_instance *i, const char *field, const char *msg, size_t len)
{
    if (!i)
        return;
    rt_instance *inst = INST(i);
    int n = (int)(len > 1024 ? 1024 : len);
    if (!msg)
        n = 0;
    if (!inst->err_diag) {
        rt_log(inst->rt, GWF_LOG_ERROR, inst->name,
               "config_error outside configuration: %.*s", n, msg ? msg : "");
        return;
    }
    char path[512];
    const char *base = inst->err_field ? inst->err_field : "";
    if (!field || !*field)
        snprintf(path, sizeof path, "%s", base);
    else if (field[0] == '[' || !*base)
        snprintf(path, sizeof path, "%s%s", base, field);
    else
        snprintf(path, sizeof path, "%s.%s", base, field);
    gwf_doc_errorf(inst->err_diag, inst->err_doc, path[0] ? path : NULL, "%.*s",
                   n, msg ? msg : "");
    inst->err_count++;
}

/* A Backend's spec.tls.caFile is relative to the Backend's own manifest,
 * which the plugin reading it does not know: hand it over absolute. */
static char *
absolute_tls_ca(const gwf_doc *doc, char *json)
{
    json_t *spec = json_loads(json, 0, NULL);
    json_t *ca = json_object_get(json_object_get(spec, "tls"), "caFile");
    const char *path = json_string_value(ca);
    if (!path || path[0] == '/' || !doc->file) {
        json_decref(spec);
        return json;
    }
    char *copy = rt_strdup(doc->file);
    char dir[PATH_MAX];
    char *joined = NULL;
    if (copy && realpath(dirname(copy), dir)) {
        size_t len = strlen(dir) + 1 + strlen(path) + 1;
        joined = malloc(len);
        if (joined)
            snprintf(joined, len, "%s/%s", dir, path);
    }
    free(copy);
    char *out = NULL;
    if (joined && json_object_set_new(json_object_get(spec, "tls"), "caFile",
                                      json_string(joined)) == 0)
        out = json_dumps(spec, JSON_COMPACT);
    free(joined);
    json_decref(spec);
    if (!out)
        return json;
    free(json);
    return out;
}

static int
collect_endpoint(void *ctx, const char *address, int port)
{
    json_t *list = ctx, *e = json_object();
    if (!e || json_object_set_new(e, "address", json_string(address)) != 0 ||
        json_object_set_new(e, "port", json_integer(port)) != 0 ||
        json_array_append_new(list, e) != 0)
        return -1;
    return 0;
}

/* A Service handed to a plugin: the whole document, plus "endpoints":
 * for each of its ports, {"port": P, "addresses": [{"address", "port"}]}
 * as kube-proxy maps them (gwf_manifests_service_endpoints), so that a
 * plugin named a Service by a backendRef connects where a client in the
 * cluster would. */
static char *
service_with_endpoints(const gwf_manifests *m, const gwf_doc *doc, char *json)
{
    json_t *root = json_loads(json, 0, NULL), *all = json_array();
    const gwf_node *ports = gwf_node_get(doc->spec, "ports");
    bool ok = root && all;
    for (size_t i = 0; ok && i < gwf_node_size(ports); i++) {
        int64_t port;
        if (gwf_node_int(gwf_node_get(gwf_node_at(ports, i), "port"), &port) !=
                0 ||
            port < 1 || port > 65535)
            continue;
        json_t *one = json_object(), *addrs = json_array();
        ok = one && addrs &&
             gwf_manifests_service_endpoints(m, doc, (int)port,
                                             collect_endpoint, addrs) == 0 &&
             json_object_set_new(one, "port", json_integer(port)) == 0 &&
             json_object_set(one, "addresses", addrs) == 0 &&
             json_array_append(all, one) == 0;
        json_decref(one);
        json_decref(addrs);
    }
    char *out = ok && json_object_set(root, "endpoints", all) == 0
                    ? json_dumps(root, JSON_COMPACT)
                    : NULL;
    json_decref(all);
    json_decref(root);
    free(json);
    return out;
}

static gwf_status
h_lookup_document(gwf_instance *i, const char *kind, const char *ref,
                  gwf_view *spec_json)
{
    if (!i || !kind || !ref || !*ref || !spec_json)
        return GWF_ERR_BAD_ARGUMENT;
    rt_instance *inst = INST(i);
    if (!inst->err_diag)
        return GWF_ERR_WRONG_PHASE;
    char full[512];
    if (strchr(ref, '/'))
        snprintf(full, sizeof full, "%s", ref);
    else
        snprintf(full, sizeof full, "%s/%s", inst->doc->namespace_, ref);
    const gwf_doc *doc = gwf_manifests_find(inst->rt->manifests, kind, full);
    if (!doc)
        return GWF_ERR_NOT_FOUND;
    /* A document in another namespace - a backendRef's Service or
     * Backend, a passwordSecretRef's Secret, a ConfigMap - needs a
     * ReferenceGrant there, as every cross-namespace reference does in
     * the Gateway API and kgateway: otherwise it is not found, the same
     * answer as for a name that does not exist. */
    char group[254] = "", to_group[254] = "";
    const char *av = inst->doc->api_version, *slash = av ? strchr(av, '/') : 0;
    if (slash && (size_t)(slash - av) >= sizeof group)
        return GWF_ERR_NOT_FOUND; /* no group is that long: fail closed */
    if (slash)
        memcpy(group, av, (size_t)(slash - av));
    av = doc->api_version;
    slash = av ? strchr(av, '/') : 0;
    if (slash && (size_t)(slash - av) >= sizeof to_group)
        return GWF_ERR_NOT_FOUND;
    if (slash)
        memcpy(to_group, av, (size_t)(slash - av));
    if (!gwf_manifests_ref_granted(inst->rt->manifests, group, inst->doc->kind,
                                   inst->doc->namespace_, to_group, kind,
                                   doc->namespace_, doc->name))
        return GWF_ERR_NOT_FOUND;
    bool whole = strcmp(kind, "Secret") == 0 || strcmp(kind, "Service") == 0 ||
                 strcmp(kind, "ConfigMap") == 0;
    const gwf_node *node = whole || !doc->spec ? doc->root : doc->spec;
    char *json = gwf_node_to_json(node);
    if (json && strcmp(kind, "Backend") == 0)
        json = absolute_tls_ca(doc, json);
    if (json && strcmp(kind, "Service") == 0)
        json = service_with_endpoints(inst->rt->manifests, doc, json);
    char **grown =
        realloc(inst->lookups, (inst->lookup_count + 1) * sizeof *grown);
    if (!json || !grown) {
        free(json);
        if (grown)
            inst->lookups = grown;
        return GWF_ERR_NO_MEMORY;
    }
    inst->lookups = grown;
    inst->lookups[inst->lookup_count++] = json;
    spec_json->ptr = json;
    spec_json->len = strlen(json);
    return GWF_OK;
}

static gwf_view
h_config_dir(gwf_instance *i)
{
    gwf_view v = {"", 0};
    if (i && INST(i)->config_dir) {
        v.ptr = INST(i)->config_dir;
        v.len = strlen(v.ptr);
    }
    return v;
}

/* -- Metrics ----------------------------------------------------------------
 */

static gwf_status
h_metric_define(gwf_instance *i, gwf_metric_kind kind, const char *name,
                const char *help, const char *const *labels, size_t label_count,
                const double *buckets, size_t bucket_count, uint32_t *id)
{
    if (!i)
        return GWF_ERR_BAD_ARGUMENT;
    return rt_metrics_define(INST(i)->rt->metrics, kind, name, help, labels,
                             label_count, buckets, bucket_count, id);
}

static gwf_status
record(gwf_instance *i, int op, uint32_t id, const gwf_view *values,
       size_t count, double v)
{
    if (!i)
        return GWF_ERR_BAD_ARGUMENT;
    return rt_metrics_record(INST(i)->rt->metrics, op, id, INST(i)->name,
                             values, count, v);
}

static gwf_status
h_metric_add(gwf_instance *i, uint32_t id, const gwf_view *values, size_t count,
             double delta)
{
    return record(i, RT_METRIC_ADD, id, values, count, delta);
}

static gwf_status
h_metric_set(gwf_instance *i, uint32_t id, const gwf_view *values, size_t count,
             double value)
{
    return record(i, RT_METRIC_SET, id, values, count, value);
}

static gwf_status
h_metric_observe(gwf_instance *i, uint32_t id, const gwf_view *values,
                 size_t count, double value)
{
    return record(i, RT_METRIC_OBSERVE, id, values, count, value);
}

/* Handles: the instance is the owner, so a handle of another instance
 * or of a config that is gone (rt_metrics_forget) is refused. */
static gwf_status
h_metric_series(gwf_instance *i, uint32_t id, const gwf_view *values,
                size_t count, uint64_t *series)
{
    if (!i)
        return GWF_ERR_BAD_ARGUMENT;
    return rt_metrics_handle(INST(i)->rt->metrics, id, INST(i), INST(i)->name,
                             values, count, series);
}

/* What the three handle calls share, as record() for the label calls. */
static gwf_status
series_record(gwf_instance *i, int op, uint64_t series, double v)
{
    if (!i)
        return GWF_ERR_BAD_ARGUMENT;
    return rt_metrics_handle_record(INST(i)->rt->metrics, op, INST(i), series,
                                    v);
}

static gwf_status
h_metric_series_add(gwf_instance *i, uint64_t series, double delta)
{
    return series_record(i, RT_METRIC_ADD, series, delta);
}

static gwf_status
h_metric_series_set(gwf_instance *i, uint64_t series, double value)
{
    return series_record(i, RT_METRIC_SET, series, value);
}

static gwf_status
h_metric_series_observe(gwf_instance *i, uint64_t series, double value)
{
    return series_record(i, RT_METRIC_OBSERVE, series, value);
}

/* -- Headers ----------------------------------------------------------------
 */

/* The message a header call reads, or NULL if there is none yet. */
static void *
message(rt_fstream *fs, gwf_message_kind which)
{
    gwf_rt_stream *st = fs->st;
    if (which == GWF_RESPONSE && st->in_reply)
        return rt_stream_reply_open(st) == GWF_OK ? &st->reply_msg : NULL;
    if (which != GWF_REQUEST && which != GWF_RESPONSE)
        return NULL;
    return st->msg[which];
}

/* The message of a write that passed its checks, which is now made: an
 * early handle remembers that the request changed (abi.h: GWF_CONTINUE
 * after a change is refused). */
static void *
message_written(rt_fstream *fs, gwf_message_kind which)
{
    if (fs->st->early)
        fs->st->early_changed = true;
    return message(fs, which);
}

static const gwf_message_ops *
ops_for(rt_fstream *fs, gwf_message_kind which)
{
    if (which == GWF_RESPONSE && fs->st->in_reply)
        return &gwf_memmsg_ops;
    return fs->st->msg_ops;
}

/* Writable: the headers have not left the chain, and the stream is not
 * completing. */
static gwf_status
writable(rt_fstream *fs, gwf_message_kind which)
{
    gwf_rt_stream *st = fs->st;
    if (st->completed)
        return GWF_ERR_WRONG_PHASE;
    if (!message(fs, which))
        return GWF_ERR_WRONG_PHASE;
    const rt_dir *d = &st->dir[which];
    if (which == GWF_REQUEST && st->reply_state != REPLY_NONE)
        return GWF_ERR_WRONG_PHASE;
    if (d->started && d->hdr_pos >= d->len)
        return GWF_ERR_WRONG_PHASE;
    if (which == GWF_RESPONSE && !d->started)
        return GWF_ERR_WRONG_PHASE;
    return GWF_OK;
}

static gwf_status
h_header_get(gwf_stream *s, gwf_message_kind which, const char *name,
             size_t name_len, size_t index, gwf_view *value)
{
    gwf_status st = fs_usable(s);
    if (st != GWF_OK)
        return st;
    if (!name || !name_len || !value)
        return GWF_ERR_BAD_ARGUMENT;
    void *m = message(FS(s), which);
    if (!m)
        return GWF_ERR_WRONG_PHASE;
    return ops_for(FS(s), which)->get(m, name, name_len, index, value);
}

static size_t
h_header_count(gwf_stream *s, gwf_message_kind which)
{
    if (fs_usable(s) != GWF_OK)
        return 0;
    void *m = message(FS(s), which);
    return m ? ops_for(FS(s), which)->count(m) : 0;
}

static gwf_status
h_header_at(gwf_stream *s, gwf_message_kind which, size_t index, gwf_view *name,
            gwf_view *value)
{
    gwf_status st = fs_usable(s);
    if (st != GWF_OK)
        return st;
    if (!name || !value)
        return GWF_ERR_BAD_ARGUMENT;
    void *m = message(FS(s), which);
    if (!m)
        return GWF_ERR_WRONG_PHASE;
    return ops_for(FS(s), which)->at(m, index, name, value);
}

/* The request's framing is the host's: a plugin that changed
 * Content-Length or Transfer-Encoding before the body was read would
 * make the data plane read the body wrongly (request smuggling). Bodies
 * are changed with body_set, and the host fixes the framing. */
static bool
framing_header(gwf_message_kind which, const char *name, size_t len)
{
    return which == GWF_REQUEST &&
           ((len == 14 && strncasecmp(name, "content-length", 14) == 0) ||
            (len == 17 && strncasecmp(name, "transfer-encoding", 17) == 0));
}

static gwf_status
header_write(gwf_stream *s, gwf_message_kind which, const char *name,
             size_t name_len, const char *value, size_t value_len, bool add)
{
    gwf_status st = fs_check_write(s, which);
    if (st != GWF_OK)
        return st;
    if (!valid_name(name, name_len) || (value_len && !value))
        return GWF_ERR_BAD_ARGUMENT;
    trim_ows(&value, &value_len);
    if (!valid_value(name, name_len, value, value_len) ||
        framing_header(which, name, name_len))
        return GWF_ERR_BAD_ARGUMENT;
    if ((st = writable(FS(s), which)) != GWF_OK)
        return st;
    const gwf_message_ops *ops = ops_for(FS(s), which);
    void *m = message_written(FS(s), which);
    const char *v = value ? value : "";
    return add ? ops->add(m, name, name_len, v, value_len)
               : ops->set(m, name, name_len, v, value_len);
}

static gwf_status
h_header_set(gwf_stream *s, gwf_message_kind which, const char *name,
             size_t name_len, const char *value, size_t value_len)
{
    return header_write(s, which, name, name_len, value, value_len, false);
}

static gwf_status
h_header_add(gwf_stream *s, gwf_message_kind which, const char *name,
             size_t name_len, const char *value, size_t value_len)
{
    return header_write(s, which, name, name_len, value, value_len, true);
}

static gwf_status
h_header_remove(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len)
{
    gwf_status st = fs_check_write(s, which);
    if (st != GWF_OK)
        return st;
    if (!valid_name(name, name_len) || framing_header(which, name, name_len))
        return GWF_ERR_BAD_ARGUMENT;
    if ((st = writable(FS(s), which)) != GWF_OK)
        return st;
    return ops_for(FS(s), which)
        ->remove(message_written(FS(s), which), name, name_len);
}

/* -- Bodies ---------------------------------------------------------------- */

static gwf_status
h_body_get(gwf_stream *s, gwf_message_kind which, gwf_view *data)
{
    gwf_status st = fs_check(s);
    if (st != GWF_OK)
        return st;
    if (!data || (which != GWF_REQUEST && which != GWF_RESPONSE))
        return GWF_ERR_BAD_ARGUMENT;
    rt_chunk *c = FS(s)->st->dir[which].cur;
    if (!c)
        return GWF_ERR_WRONG_PHASE;
    data->ptr = c->data.data;
    data->len = c->data.len;
    return GWF_OK;
}

static gwf_status
h_body_set(gwf_stream *s, gwf_message_kind which, const char *data, size_t len)
{
    gwf_status st = fs_check(s);
    if (st != GWF_OK)
        return st;
    if ((len && !data) || (which != GWF_REQUEST && which != GWF_RESPONSE))
        return GWF_ERR_BAD_ARGUMENT;
    gwf_rt_stream *rs = FS(s)->st;
    rt_dir *d = &rs->dir[which];
    rt_chunk *c = d->cur;
    if (!c)
        return GWF_ERR_WRONG_PHASE;
    /* A local reply's body is whole: its length is set when it is sent.
     * Otherwise the message's framing must allow the change (abi.h). */
    bool framed = rs->in_reply || d->streamed;
    if (!framed && rt_dir_released(rs, which))
        return GWF_ERR_WRONG_PHASE;
    if (len > rs->w->rt->opts.max_body_bytes)
        return GWF_ERR_LIMIT;
    if (gwf_buf_set(&c->data, data, len) != 0)
        return GWF_ERR_NO_MEMORY;
    if (!rs->in_reply) {
        d->changed = true;
        d->len_hold |= !framed;
    }
    return GWF_OK;
}

static gwf_status
h_body_will_change(gwf_stream *s, gwf_message_kind which)
{
    gwf_status st = fs_check(s);
    if (st != GWF_OK)
        return st;
    if (which != GWF_REQUEST && which != GWF_RESPONSE)
        return GWF_ERR_BAD_ARGUMENT;
    gwf_rt_stream *rs = FS(s)->st;
    if (which == GWF_RESPONSE && rs->in_reply)
        return GWF_OK; /* a reply's body is whole: nothing to announce */
    if ((st = writable(FS(s), which)) != GWF_OK)
        return st;
    rs->dir[which].streamed = true;
    return GWF_OK;
}

/* -- Stream information ------------------------------------------------- */

static gwf_status
h_attribute(gwf_stream *s, gwf_attribute attr, gwf_view *value)
{
    gwf_status st = fs_usable(s);
    if (st != GWF_OK)
        return st;
    if (!value)
        return GWF_ERR_BAD_ARGUMENT;
    gwf_rt_stream *rs = FS(s)->st;
    if (attr == GWF_ATTR_EARLY_DONE) {
        if (!rs->early)
            return GWF_ERR_NOT_FOUND;
        if (!rs->dp)
            return GWF_ERR_STREAM_GONE; /* a handle kept past its call */
        value->ptr = rs->early_done_ok ? "1" : "0";
        value->len = 1;
        return GWF_OK;
    }
    if (rs->ops && rs->ops->attribute) {
        st = rs->ops->attribute(rs->dp, attr, value);
        /* Only what the data plane does not know falls back to the
         * runtime's own; a failure (out of memory) is the answer, not an
         * absent attribute a plugin would act on. */
        if (st != GWF_ERR_NOT_FOUND)
            return st;
    }
    switch (attr) {
    case GWF_ATTR_REQUEST_ID:
        value->ptr = rt_stream_request_id(rs);
        value->len = strlen(value->ptr);
        return GWF_OK;
    case GWF_ATTR_ROUTE_NAME:
        value->ptr = rs->chain->route_name;
        value->len = strlen(rs->chain->route_name);
        return GWF_OK;
    default:
        return GWF_ERR_NOT_FOUND;
    }
}

static gwf_instance *
h_stream_instance(gwf_stream *s)
{
    if (!s)
        return NULL;
    rt_fstream *fs = FS(s);
    return &fs->st->chain->filters[fs->index].inst->pub;
}

/* -- Shared values -------------------------------------------------------- */

static gwf_status
h_value_set(gwf_stream *s, const char *key, size_t key_len, gwf_value_type type,
            const void *data, size_t len)
{
    gwf_status st = fs_check(s);
    if (st != GWF_OK)
        return st;
    if (!key || !key_len || key_len > 256 ||
        !rt_value_shape_ok(type, data, len))
        return GWF_ERR_BAD_ARGUMENT;
    gwf_rt_stream *rs = FS(s)->st;
    if (rs->completed)
        return GWF_ERR_WRONG_PHASE;
    return rt_stream_value_set(rs, key, key_len, type, data, len);
}

static gwf_status
h_value_get(gwf_stream *s, const char *key, size_t key_len,
            gwf_value_type *type, gwf_view *data)
{
    gwf_status st = fs_usable(s);
    if (st != GWF_OK)
        return st;
    if (!key || !key_len || !data)
        return GWF_ERR_BAD_ARGUMENT;
    gwf_value_type t;
    st = rt_stream_value_get(FS(s)->st, key, key_len, &t, data);
    if (st == GWF_OK && type)
        *type = t;
    return st;
}

static gwf_status
h_value_provide(gwf_stream *s, const char *prefix, size_t prefix_len,
                gwf_status (*get)(void *ctx, const char *key, size_t key_len,
                                  gwf_value_type *type, gwf_view *data),
                void (*release)(void *ctx), void *ctx)
{
    gwf_status st = fs_check(s);
    if (st != GWF_OK)
        return st;
    if (!prefix || !prefix_len || prefix_len > 256 || !get)
        return GWF_ERR_BAD_ARGUMENT;
    gwf_rt_stream *rs = FS(s)->st;
    if (rs->completed)
        return GWF_ERR_WRONG_PHASE;
    return rt_stream_value_provide(rs, prefix, prefix_len, get, release, ctx);
}

/* -- Flow control ---------------------------------------------------------- */

static gwf_status
h_resume(gwf_stream *s)
{
    gwf_status st = fs_check(s);
    if (st != GWF_OK)
        return st;
    st = rt_stream_resume(FS(s));
    if (st == GWF_OK)
        FS(s)->dead_at = FS(s)->st->w->invocation;
    return st;
}

/* A reply header's value `v` (a copy: trimmed in place) as a value of
 * header `name` (checked already). */
static bool
reply_value_checked(const gwf_view *name, gwf_view *v)
{
    if (v->len && !v->ptr)
        return false;
    trim_ows(&v->ptr, &v->len);
    return valid_value(name->ptr, name->len, v->ptr, v->len);
}

/* A local reply's headers follow the rules of header_set, and a reply
 * has no pseudo-header: the same names and bytes are refused, and the
 * values are trimmed, into a copy
 * (`*out`, malloc'd, the caller frees it) since the plugin's array is
 * const. */
/* `out` is `room` entries of the caller's, or NULL: then, or when
 * `count` is larger, the copy is allocated (a reply with many headers). */
static gwf_status
reply_headers_checked(const gwf_header *headers, size_t count, gwf_header *room,
                      size_t room_count, gwf_header **out)
{
    gwf_header *copy =
        count <= room_count ? room : calloc(count, sizeof(*copy));
    if (!copy)
        return GWF_ERR_NO_MEMORY;
    for (size_t i = 0; i < count; i++) {
        copy[i] = headers[i];
        /* A reply has no pseudo-headers: its status is its own. */
        if (!valid_name(copy[i].name.ptr, copy[i].name.len) ||
            copy[i].name.ptr[0] == ':' ||
            !reply_value_checked(&copy[i].name, &copy[i].value))
            goto bad;
    }
    *out = copy;
    return GWF_OK;
bad:
    if (copy != room)
        free(copy);
    return GWF_ERR_BAD_ARGUMENT;
}

static gwf_status
h_send_local_reply(gwf_stream *s, uint32_t status, const gwf_header *headers,
                   size_t count, const char *body, size_t body_len,
                   const char *details)
{
    gwf_status st = fs_usable(s);
    if (st != GWF_OK)
        return st;
    if (count && !headers)
        return GWF_ERR_BAD_ARGUMENT;
    /* Replies carry a few headers: checked on the stack, no allocation. */
    gwf_header room[16];
    gwf_header *checked = NULL;
    if (count) {
        st = reply_headers_checked(headers, count, room, 16, &checked);
        if (st == GWF_ERR_NO_MEMORY)
            rt_stream_reply_lost(FS(s)->st);
        if (st != GWF_OK)
            return st;
    }
    st =
        rt_stream_reply(FS(s), status, checked, count, body, body_len, details);
    if (checked != room)
        free(checked);
    if (st == GWF_OK)
        FS(s)->dead_at = FS(s)->st->w->invocation;
    return st;
}

/* -- Prepared replies (abi.h 0.4) ------------------------------------------ */

#define MAX_PREPARED 4096

void
rt_prepared_forget(rt_instance *inst)
{
    for (uint32_t i = 0; i < inst->reply_count; i++)
        free(inst->replies[i]);
    free(inst->replies);
    inst->replies = NULL;
    inst->reply_count = 0;
    inst->always = NULL;
}

/* One allocation: the record, then the header array, then the texts of
 * the names, values and body (each size checked against overflow by
 * the caller's bounds: header and body lengths are memory the plugin
 * has). */
static rt_prepared *
prepared_new(uint32_t status, const gwf_header *checked, size_t count,
             const char *body, size_t body_len, const char *details)
{
    size_t text = body_len;
    for (size_t i = 0; i < count; i++) {
        size_t add = checked[i].name.len + checked[i].value.len;
        if (add < checked[i].name.len || text + add < text)
            return NULL;
        text += add;
    }
    size_t headers_at = sizeof(rt_prepared) + text;
    headers_at = (headers_at + _Alignof(gwf_header) - 1) &
                 ~(size_t)(_Alignof(gwf_header) - 1);
    if (headers_at < text ||
        count > (SIZE_MAX - headers_at) / sizeof(gwf_header))
        return NULL;
    rt_prepared *p = calloc(1, headers_at + count * sizeof(gwf_header));
    if (!p)
        return NULL;
    p->status = status;
    p->header_count = count;
    p->headers = (gwf_header *)((char *)p + headers_at);
    char *at = p->text;
    for (size_t i = 0; i < count; i++) {
        const gwf_view *n = &checked[i].name, *v = &checked[i].value;
        memcpy(at, n->ptr, n->len);
        p->headers[i].name = (gwf_view){at, n->len};
        at += n->len;
        if (v->len)
            memcpy(at, v->ptr, v->len);
        p->headers[i].value = (gwf_view){at, v->len};
        at += v->len;
    }
    if (body_len)
        memcpy(at, body, body_len);
    p->body = (gwf_view){at, body_len};
    size_t n = details ? strnlen(details, sizeof p->details - 1) : 0;
    if (n)
        memcpy(p->details, details, n);
    return p;
}

static gwf_status
h_reply_prepare(gwf_instance *i, uint32_t status, const gwf_header *headers,
                size_t count, const char *body, size_t body_len,
                const char *details, uint64_t *reply)
{
    if (!i || !reply)
        return GWF_ERR_BAD_ARGUMENT;
    rt_instance *inst = INST(i);
    if (!inst->err_diag)
        return GWF_ERR_WRONG_PHASE;
    if (status < 200 || status > 599 || (count && !headers) ||
        (body_len && !body))
        return GWF_ERR_BAD_ARGUMENT;
    if (inst->reply_count >= MAX_PREPARED || inst->rt->fail_reply_prepare)
        return GWF_ERR_NO_MEMORY;
    gwf_header room[16];
    gwf_header *checked = NULL;
    if (count) {
        gwf_status st =
            reply_headers_checked(headers, count, room, 16, &checked);
        if (st != GWF_OK)
            return st;
    }
    rt_prepared *p =
        prepared_new(status, checked, count, body, body_len, details);
    if (checked != room)
        free(checked);
    rt_prepared **grown =
        p ? realloc(inst->replies, (inst->reply_count + 1) * sizeof *grown)
          : NULL;
    if (!grown) {
        free(p);
        return GWF_ERR_NO_MEMORY;
    }
    inst->replies = grown;
    inst->replies[inst->reply_count++] = p;
    *reply = (uint64_t)inst->reply_tag << 32 | inst->reply_count;
    return GWF_OK;
}

/* The prepared reply of handle `reply` for the stream's instance, or
 * NULL for a handle it did not prepare. */
static rt_prepared *
prepared_of(const rt_fstream *fs, uint64_t reply)
{
    const rt_instance *inst = fs->st->chain->filters[fs->index].inst;
    uint32_t index = (uint32_t)reply;
    if ((reply >> 32) != inst->reply_tag || index == 0 ||
        index > inst->reply_count)
        return NULL;
    return inst->replies[index - 1];
}

static gwf_status
h_send_prepared_reply(gwf_stream *s, uint64_t reply)
{
    gwf_status st = fs_usable(s);
    if (st != GWF_OK)
        return st;
    rt_fstream *fs = FS(s);
    rt_prepared *p = prepared_of(fs, reply);
    if (!p)
        return GWF_ERR_BAD_ARGUMENT;
    st = rt_stream_reply_prepared(fs, p, NULL, 0);
    if (st == GWF_OK)
        fs->dead_at = fs->st->w->invocation;
    return st;
}

/* abi.h 0.10: only the values are checked, against the names checked
 * when the reply was prepared. */
static gwf_status
h_send_prepared_reply_values(gwf_stream *s, uint64_t reply,
                             const gwf_view *values, size_t count)
{
    gwf_status st = fs_usable(s);
    if (st != GWF_OK)
        return st;
    rt_fstream *fs = FS(s);
    rt_prepared *p = prepared_of(fs, reply);
    if (!p || count > p->header_count || (count && !values))
        return GWF_ERR_BAD_ARGUMENT;
    gwf_view room[8];
    gwf_view *checked = count <= 8 ? room : calloc(count, sizeof *checked);
    if (!checked) {
        rt_stream_reply_lost(fs->st);
        return GWF_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < count && st == GWF_OK; i++) {
        checked[i] = values[i];
        if (!reply_value_checked(&p->headers[i].name, &checked[i]))
            st = GWF_ERR_BAD_ARGUMENT;
    }
    if (st == GWF_OK)
        st = rt_stream_reply_prepared(fs, p, count ? checked : NULL, count);
    if (checked != room)
        free(checked);
    if (st == GWF_OK)
        fs->dead_at = fs->st->w->invocation;
    return st;
}

static gwf_status
h_reply_always(gwf_instance *i, uint64_t reply, uint64_t series)
{
    if (!i)
        return GWF_ERR_BAD_ARGUMENT;
    rt_instance *inst = INST(i);
    /* config_create only: a route config must not change what every
     * route of the instance answers. */
    if (!inst->err_diag || inst->configured)
        return GWF_ERR_WRONG_PHASE;
    uint32_t index = (uint32_t)reply;
    if ((reply >> 32) != inst->reply_tag || index == 0 ||
        index > inst->reply_count)
        return GWF_ERR_BAD_ARGUMENT;
    if (series && !rt_metrics_handle_valid(inst->rt->metrics, inst, series))
        return GWF_ERR_BAD_ARGUMENT;
    inst->always = inst->replies[index - 1];
    inst->always_series = series;
    return GWF_OK;
}

/* -- Async wrappers: refuse dead handles before worker.c sees them -------- */

static gwf_status
h_timer_start(gwf_instance *inst, gwf_stream *s, uint64_t delay_ns,
              gwf_timer_cb cb, void *arg, uint64_t *timer_id)
{
    gwf_status st;
    if (s && (st = fs_check(s)) != GWF_OK)
        return st;
    return rt_timer_start(inst, s, delay_ns, cb, arg, timer_id);
}

static gwf_status
h_fd_watch(gwf_instance *inst, gwf_stream *s, int fd, uint32_t events,
           gwf_fd_cb cb, void *arg, uint64_t *watch_id)
{
    gwf_status st;
    if (s && (st = fs_check(s)) != GWF_OK)
        return st;
    return rt_fd_watch(inst, s, fd, events, cb, arg, watch_id);
}

static gwf_stream_ref *
h_stream_ref(gwf_stream *s)
{
    if (fs_check(s) != GWF_OK)
        return NULL;
    return rt_stream_ref(s);
}

static const void *
h_get_extension(const gwf_host *host, const char *id)
{
    (void)host;
    (void)id;
    return NULL;
}

const gwf_host rt_host_template = {
    .size = sizeof(gwf_host),
    .abi_major = GWF_ABI_VERSION_MAJOR,
    .abi_minor = GWF_ABI_VERSION_MINOR,
    .name = "gwf",
    .log = h_log,
    .stream_log = h_stream_log,
    .log_enabled = h_log_enabled,
    .now = h_now,
    .config_error = h_config_error,
    .lookup_document = h_lookup_document,
    .config_dir = h_config_dir,
    .metric_define = h_metric_define,
    .metric_add = h_metric_add,
    .metric_set = h_metric_set,
    .metric_observe = h_metric_observe,
    .header_get = h_header_get,
    .header_count = h_header_count,
    .header_at = h_header_at,
    .header_set = h_header_set,
    .header_add = h_header_add,
    .header_remove = h_header_remove,
    .body_get = h_body_get,
    .body_set = h_body_set,
    .attribute = h_attribute,
    .stream_instance = h_stream_instance,
    .value_set = h_value_set,
    .value_get = h_value_get,
    .resume = h_resume,
    .send_local_reply = h_send_local_reply,
    .timer_start = h_timer_start,
    .timer_cancel = rt_timer_cancel,
    .fd_watch = h_fd_watch,
    .fd_update = rt_fd_update,
    .fd_cancel = rt_fd_cancel,
    .stream_ref = h_stream_ref,
    .post = rt_post,
    .stream_ref_release = rt_stream_ref_release,
    .get_extension = h_get_extension,
    .body_will_change = h_body_will_change,
    .metric_series = h_metric_series,
    .metric_series_add = h_metric_series_add,
    .metric_series_set = h_metric_series_set,
    .reply_prepare = h_reply_prepare,
    .send_prepared_reply = h_send_prepared_reply,
    .reply_always = h_reply_always,
    .metric_series_observe = h_metric_series_observe,
    .value_provide = h_value_provide,
    .send_prepared_reply_values = h_send_prepared_reply_values,
};
