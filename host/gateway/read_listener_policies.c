/*
 * read_listener_policies.c - kgateway's HTTPListenerPolicy and
 * ListenerPolicy: access logs to a file, everything else refused.
 *
 * Both kinds configure an Envoy listener. gwf serves a listener with
 * nginx `server` blocks, and what it can give the same meaning there is
 * the access log: `accessLog[].fileSink` with a `stringFormat` or a
 * `jsonFormat`. HTTPListenerPolicy carries accessLog directly in its
 * spec; ListenerPolicy in `default.httpSettings` and, per port,
 * `perPort[].listener.httpSettings` (which replaces the default for the
 * listeners on that port, as kgateway documents).
 *
 * The format is Envoy's: text with command operators (%REQ(X?Y):N%).
 * This file parses it into gw_log_pieces, accepting only the operators
 * an nginx variable answers with the same meaning (the emitter maps
 * them); the others, another sink (grpcService, openTelemetry), a
 * `filter`, and every other field of the two kinds are refused by name.
 * A refused policy adds no log: the caller (read_policies.c) fails the
 * routes of the Gateways it targets closed and reports it Accepted
 * False with the reason this file gives. A log is a record operators
 * rely on (audits, the rate limit and ext-auth e2e suites read it), so
 * half of one is not served silently.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build.h"

/* A jsonFormat member or stringFormat longer than this is refused: it
 * becomes one nginx argument. */
#define FORMAT_MAX 16384
#define PATH_MAX_LEN 4096

typedef struct reader {
    gw_build *b;
    const gwf_doc *doc;
    char *why; /* the first reason it cannot be honoured */
} reader;

static void __attribute__((format(printf, 3, 4)))
refuse(reader *r, const char *path, const char *fmt, ...)
{
    if (r->why)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->why = gw_printf(r->b, "%s: %s", path, msg);
}

/* -- Envoy format strings ------------------------------------------------ */

static bool
push_piece(reader *r, gw_log_value *v, gw_log_piece p)
{
    gw_log_piece *slot =
        gw_push(r->b, &v->pieces, &v->piece_count, sizeof(*slot));
    if (!slot) {
        free(p.text);
        free(p.fallback);
        return false;
    }
    *slot = p;
    return true;
}

/* Appends literal bytes, merged with a literal just before. */
static bool
push_text(reader *r, gw_log_value *v, const char *s, size_t len)
{
    if (len == 0)
        return true;
    gw_log_piece *last = v->piece_count ? &v->pieces[v->piece_count - 1] : NULL;
    size_t old = last && last->op == GW_LOG_TEXT ? strlen(last->text) : 0;
    char *t = malloc(old + len + 1);
    if (!t) {
        r->b->oom = true;
        return false;
    }
    if (old)
        memcpy(t, last->text, old);
    memcpy(t + old, s, len);
    t[old + len] = '\0';
    if (old) {
        free(last->text);
        last->text = t;
        return true;
    }
    return push_piece(r, v, (gw_log_piece){.op = GW_LOG_TEXT, .text = t});
}

/* A header name as REQ()/RESP() take it: lowercase, and either a pseudo
 * header gwf knows or characters an nginx variable name can carry
 * ($http_x_y for "X-Y"). NULL (and a refusal) otherwise. */
static char *
header_arg(reader *r, const char *path, const char *s, size_t len, bool resp)
{
    static const char *const req_pseudo[] = {":method", ":path", ":authority",
                                             ":scheme", NULL};
    if (len == 0 || len > 256) {
        refuse(r, path, "a header name of %zu bytes", len);
        return NULL;
    }
    char *name = malloc(len + 1);
    if (!name) {
        r->b->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        name[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    name[len] = '\0';
    if (name[0] == ':') {
        bool known = resp ? strcmp(name, ":status") == 0 : false;
        for (size_t i = 0; !resp && req_pseudo[i]; i++)
            known = known || strcmp(name, req_pseudo[i]) == 0;
        if (!known) {
            refuse(r, path, "pseudo header %s has no nginx variable in gwf",
                   name);
            free(name);
            return NULL;
        }
        return name;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_')) {
            refuse(r, path,
                   "header name \"%s\" has a character nginx cannot name "
                   "in a variable (letters, digits, '-' and '_' only)",
                   name);
            free(name);
            return NULL;
        }
    }
    return name;
}

/* Operators without an argument and what they become. */
static const struct {
    const char *name;
    gw_log_op op;
} plain_ops[] = {
    {"START_TIME", GW_LOG_START_TIME},
    {"PROTOCOL", GW_LOG_PROTOCOL},
    {"RESPONSE_CODE", GW_LOG_RESPONSE_CODE},
    {"DURATION", GW_LOG_DURATION},
    {"BYTES_SENT", GW_LOG_BYTES_SENT},
    {"DOWNSTREAM_REMOTE_ADDRESS", GW_LOG_REMOTE},
    {"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", GW_LOG_REMOTE_IP},
    {"UPSTREAM_HOST", GW_LOG_UPSTREAM_HOST},
    {"RESPONSE_FLAGS", GW_LOG_MISSING},
    {"REQUEST_DURATION", GW_LOG_MISSING},
    {"DOWNSTREAM_LOCAL_ADDRESS", GW_LOG_LOCAL},
    {"REQUESTED_SERVER_NAME", GW_LOG_SERVER_NAME},
    {"HOSTNAME", GW_LOG_HOSTNAME},
};

/* One operator: name, its argument (NULL when none), max length. */
static bool
add_operator(reader *r, gw_log_value *v, const char *path, const char *name,
             size_t name_len, const char *arg, size_t arg_len, uint32_t max_len)
{
    char op[64];
    snprintf(op, sizeof op, "%.*s", (int)(name_len < 60 ? name_len : 60), name);
    gw_log_piece p = {.max_len = max_len};
    if (strcmp(op, "REQ") == 0 || strcmp(op, "RESP") == 0) {
        bool resp = op[1] == 'E' && op[2] == 'S';
        if (!arg) {
            refuse(r, path, "%%%s%% needs a header name", op);
            return false;
        }
        const char *q = memchr(arg, '?', arg_len);
        if (q && resp) {
            refuse(r, path,
                   "%%RESP(a?b)%%: gwf logs no fallback for a "
                   "response header");
            return false;
        }
        p.op = resp ? GW_LOG_RESP : GW_LOG_REQ;
        p.text =
            header_arg(r, path, arg, q ? (size_t)(q - arg) : arg_len, resp);
        if (!p.text)
            return false;
        if (q) {
            p.fallback = header_arg(r, path, q + 1,
                                    arg_len - (size_t)(q - arg) - 1, false);
            if (!p.fallback) {
                free(p.text);
                return false;
            }
        }
        return push_piece(r, v, p);
    }
    if (strcmp(op, "DYNAMIC_METADATA") == 0) {
        p.op = GW_LOG_MISSING; /* nginx has no dynamic metadata */
        return push_piece(r, v, p);
    }
    if (strcmp(op, "START_TIME") == 0 && arg && arg_len == 2 &&
        memcmp(arg, "%s", 2) == 0) {
        p.op = GW_LOG_START_TIME_S; /* the one format nginx can give */
        return push_piece(r, v, p);
    }
    for (size_t i = 0; i < sizeof plain_ops / sizeof plain_ops[0]; i++) {
        if (strcmp(op, plain_ops[i].name) != 0)
            continue;
        if (arg) {
            refuse(r, path,
                   "%%%s(...)%%: gwf cannot log it with an argument on "
                   "nginx (only %%%s%%)",
                   op, op);
            return false;
        }
        p.op = plain_ops[i].op;
        return push_piece(r, v, p);
    }
    if (strcmp(op, "BYTES_RECEIVED") == 0) {
        refuse(r, path,
               "%%BYTES_RECEIVED%% counts body bytes; nginx counts the whole "
               "request ($request_length), so gwf cannot log it with the "
               "same meaning");
        return false;
    }
    refuse(r, path,
           "%%%s%% is a command operator gwf cannot log with the same "
           "meaning on nginx",
           op);
    return false;
}

/* Parses Envoy format text s (len bytes) into v. */
static bool
parse_format(reader *r, gw_log_value *v, const char *path, const char *s,
             size_t len)
{
    if (len > FORMAT_MAX) {
        refuse(r, path, "longer than %d bytes", FORMAT_MAX);
        return false;
    }
    size_t i = 0, lit = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            refuse(r, path, "control byte 0x%02x in the format", c);
            return false;
        }
        if (c != '%') {
            i++;
            continue;
        }
        if (!push_text(r, v, s + lit, i - lit))
            return false;
        if (i + 1 < len && s[i + 1] == '%') {
            if (!push_text(r, v, "%", 1))
                return false;
            i += 2;
            lit = i;
            continue;
        }
        size_t n = i + 1;
        while (n < len && ((s[n] >= 'A' && s[n] <= 'Z') || s[n] == '_' ||
                           (s[n] >= '0' && s[n] <= '9')))
            n++;
        const char *name = s + i + 1;
        size_t name_len = n - i - 1, arg_len = 0;
        const char *arg = NULL;
        if (n < len && s[n] == '(') {
            const char *close = memchr(s + n, ')', len - n);
            if (!close)
                goto malformed;
            arg = s + n + 1;
            arg_len = (size_t)(close - arg);
            n = (size_t)(close - s) + 1;
        }
        uint64_t max_len = 0;
        if (n < len && s[n] == ':') {
            n++;
            size_t digits = 0;
            while (n < len && s[n] >= '0' && s[n] <= '9' && digits < 10) {
                max_len = max_len * 10 + (uint64_t)(s[n] - '0');
                n++, digits++;
            }
            if (digits == 0 || max_len == 0 || max_len > UINT32_MAX)
                goto malformed;
        }
        if (name_len == 0 || n >= len || s[n] != '%')
            goto malformed;
        if (!add_operator(r, v, path, name, name_len, arg, arg_len,
                          (uint32_t)max_len))
            return false;
        i = n + 1;
        lit = i;
    }
    return push_text(r, v, s + lit, len - lit);
malformed:
    refuse(r, path, "malformed command operator at byte %zu", i);
    return false;
}

/* -- accessLog ------------------------------------------------------------ */

static void
value_free(gw_log_value *v)
{
    for (size_t i = 0; i < v->piece_count; i++) {
        free(v->pieces[i].text);
        free(v->pieces[i].fallback);
    }
    free(v->pieces);
    free(v->key);
}

static void
log_free(gw_access_log *l)
{
    for (size_t i = 0; i < l->value_count; i++)
        value_free(&l->values[i]);
    free(l->values);
    free(l->path);
}

void
gw_access_logs_free(gw_model *m)
{
    for (size_t i = 0; i < m->access_log_count; i++)
        log_free(&m->access_logs[i]);
    free(m->access_logs);
    m->access_logs = NULL;
    m->access_log_count = 0;
}

/* Whether map has keys other than `known` (NULL-terminated): the first
 * is refused by name. */
static bool
only_keys(reader *r, const gwf_node *map, const char *path,
          const char *const *known, const char *what)
{
    if (gwf_node_type_of(map) != GWF_NODE_NULL &&
        gwf_node_type_of(map) != GWF_NODE_MAP) {
        refuse(r, path, "must be a mapping");
        return false;
    }
    for (size_t i = 0; i < gwf_node_size(map); i++) {
        const char *k = gwf_node_key_at(map, i);
        bool ok = false;
        for (size_t j = 0; known[j] && !ok; j++)
            ok = strcmp(k, known[j]) == 0;
        if (!ok) {
            char p[GW_PATH_MAX];
            refuse(r, gw_path(p, path, k), "gwf does not implement %s on nginx",
                   what);
            return false;
        }
    }
    return true;
}

static bool
read_json_format(reader *r, gw_access_log *l, const gwf_node *fmt,
                 const char *path)
{
    if (gwf_node_type_of(fmt) != GWF_NODE_MAP || gwf_node_size(fmt) == 0) {
        refuse(r, path, "must be a non-empty mapping");
        return false;
    }
    for (size_t i = 0; i < gwf_node_size(fmt); i++) {
        char p[GW_PATH_MAX];
        const char *key = gwf_node_key_at(fmt, i);
        const gwf_node *val = gwf_node_value_at(fmt, i);
        gw_path(p, path, key);
        gw_log_value *v =
            gw_push(r->b, &l->values, &l->value_count, sizeof(*v));
        if (!v || !(v->key = gw_strdup(r->b, key)))
            return false;
        if (strlen(key) > 256) {
            refuse(r, p, "a member name longer than 256 bytes");
            return false;
        }
        size_t len = 0;
        const char *s = gwf_node_str(val, &len);
        gwf_node_type t = gwf_node_type_of(val);
        if (t == GWF_NODE_INT || t == GWF_NODE_FLOAT || t == GWF_NODE_BOOL) {
            /* Envoy writes a number or boolean as it is: JSON text. */
            char json[64];
            int64_t n;
            double x;
            int flag;
            if (gwf_node_bool(val, &flag) == 0)
                snprintf(json, sizeof json, "%s", flag ? "true" : "false");
            else if (gwf_node_int(val, &n) == 0)
                snprintf(json, sizeof json, "%lld", (long long)n);
            else if (gwf_node_number(val, &x) == 0 && x == x &&
                     x - x == 0) /* finite */
                snprintf(json, sizeof json, "%.17g", x);
            else {
                refuse(r, p, "a number JSON cannot carry");
                return false;
            }
            v->raw = true;
            if (!push_text(r, v, json, strlen(json)))
                return false;
            continue;
        }
        if (!s || memchr(s, '\0', len)) {
            refuse(r, p,
                   "gwf logs string, number and boolean members only "
                   "(not %s)",
                   gwf_node_type_name(t));
            return false;
        }
        if (!parse_format(r, v, p, s, len))
            return false;
    }
    return true;
}

static bool
read_file_sink(reader *r, gw_access_log *l, const gwf_node *fs,
               const char *path)
{
    static const char *const known[] = {"path", "stringFormat", "jsonFormat",
                                        NULL};
    char p[GW_PATH_MAX];
    if (gwf_node_type_of(fs) != GWF_NODE_MAP) {
        refuse(r, path, "must be a mapping");
        return false;
    }
    if (!only_keys(r, fs, path, known, "this fileSink field"))
        return false;
    size_t len = 0;
    const char *file = gwf_node_str(gwf_node_get(fs, "path"), &len);
    gw_path(p, path, "path");
    if (!file || len == 0 || memchr(file, '\0', len)) {
        refuse(r, p, "required: the file to write the log to");
        return false;
    }
    /* nginx reads "$" in an access_log path as a variable and "syslog:"
     * as another sink: an absolute path of plain bytes only. */
    if (file[0] != '/' || len > PATH_MAX_LEN || strchr(file, '$') ||
        gw_has_control(file) || strchr(file, '\t')) {
        refuse(r, p,
               "must be an absolute file path without '$' or control bytes "
               "(/dev/stdout and /dev/stderr are files)");
        return false;
    }
    /* nginx opens the file when it loads the configuration, and a
     * directory that is not there would make it refuse the whole
     * configuration: the policy fails closed instead. */
    char dir[PATH_MAX_LEN + 1];
    memcpy(dir, file, len + 1);
    char *slash = strrchr(dir, '/');
    slash[slash == dir ? 1 : 0] = '\0';
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        refuse(r, p, "directory %s does not exist here", dir);
        return false;
    }
    if (!(l->path = gw_strdup(r->b, file)))
        return false;
    const gwf_node *text = gwf_node_get(fs, "stringFormat");
    const gwf_node *json = gwf_node_get(fs, "jsonFormat");
    bool has_text = gwf_node_type_of(text) != GWF_NODE_NULL;
    bool has_json = gwf_node_type_of(json) != GWF_NODE_NULL;
    if (has_text == has_json) {
        refuse(r, path, "exactly one of stringFormat and jsonFormat");
        return false;
    }
    if (has_json) {
        l->json = true;
        return read_json_format(r, l, json, gw_path(p, path, "jsonFormat"));
    }
    gw_path(p, path, "stringFormat");
    const char *s = gwf_node_str(text, &len);
    if (!s || memchr(s, '\0', len)) {
        refuse(r, p, "must be a string");
        return false;
    }
    /* nginx ends every line itself; Envoy's formats end theirs. */
    if (len && s[len - 1] == '\n')
        len--;
    if (len == 0) {
        refuse(r, p, "an empty format");
        return false;
    }
    gw_log_value *v = gw_push(r->b, &l->values, &l->value_count, sizeof(*v));
    return v && parse_format(r, v, p, s, len);
}

/* accessLog (a list at path) into *logs; false when refused. */
static bool
read_access_logs(reader *r, const gwf_node *list, const char *path,
                 gw_access_log **logs, size_t *count)
{
    static const char *const known[] = {"fileSink", NULL};
    if (gwf_node_type_of(list) == GWF_NODE_NULL)
        return true;
    if (gwf_node_type_of(list) != GWF_NODE_SEQ || gwf_node_size(list) > 16) {
        refuse(r, path, "must be a list of at most 16 access logs");
        return false;
    }
    for (size_t i = 0; i < gwf_node_size(list); i++) {
        char p[GW_PATH_MAX], f[GW_PATH_MAX];
        const gwf_node *al = gwf_node_at(list, i);
        gw_path_i(p, path, i);
        if (gwf_node_type_of(al) != GWF_NODE_MAP) {
            refuse(r, p, "must be a mapping");
            return false;
        }
        if (!only_keys(r, al, p, known,
                       "this access log sink or filter (only fileSink)"))
            return false;
        const gwf_node *fs = gwf_node_get(al, "fileSink");
        if (!fs) {
            refuse(r, p, "has no sink gwf implements (fileSink)");
            return false;
        }
        gw_access_log *l = gw_push(r->b, logs, count, sizeof(*l));
        if (!l || !read_file_sink(r, l, fs, gw_path(f, p, "fileSink")))
            return false;
    }
    return true;
}

/* httpSettings (ListenerPolicy) at path. */
static bool
read_http_settings(reader *r, const gwf_node *hs, const char *path,
                   gw_access_log **logs, size_t *count)
{
    static const char *const known[] = {"accessLog", NULL};
    char p[GW_PATH_MAX];
    if (gwf_node_type_of(hs) == GWF_NODE_NULL)
        return true;
    return only_keys(r, hs, path, known, "this listener setting") &&
           read_access_logs(r, gwf_node_get(hs, "accessLog"),
                            gw_path(p, path, "accessLog"), logs, count);
}

/* -- Targets -------------------------------------------------------------- */

/* Whether target t (a targetRef or targetSelector) names listener l of
 * served gateway g. */
static bool
targets(const gwf_doc *policy, const gwf_node *t, bool selector,
        const gw_gateway *g, const gw_listener *l)
{
    const char *kind = gw_node_string(t, "kind");
    const char *group = gw_node_string(t, "group");
    const char *section = gw_node_string(t, "sectionName");
    if (!gw_streq(kind, "Gateway") ||
        (group && *group && !gw_streq(group, GW_GROUP)) ||
        !gw_streq(g->doc->namespace_, policy->namespace_))
        return false;
    if (section && !gw_streq(section, l->name))
        return false;
    if (selector)
        return gw_labels_match(g->doc, gwf_node_get(t, "matchLabels"));
    return gw_streq(gw_node_string(t, "name"), g->doc->name);
}

static bool
reaches(const gwf_doc *d, const gw_gateway *g, const gw_listener *l)
{
    const gwf_node *refs = gwf_node_get(d->spec, "targetRefs");
    for (size_t k = 0; k < gwf_node_size(refs); k++)
        if (targets(d, gwf_node_at(refs, k), false, g, l))
            return true;
    const gwf_node *sels = gwf_node_get(d->spec, "targetSelectors");
    for (size_t k = 0; k < gwf_node_size(sels); k++)
        if (targets(d, gwf_node_at(sels, k), true, g, l))
            return true;
    return false;
}

/* Copies the logs read (`logs`) onto listener (gi, li). */
static void
place(reader *r, const gw_access_log *logs, size_t count, size_t gi, size_t li)
{
    gw_model *m = r->b->model;
    for (size_t i = 0; i < count && !r->b->oom; i++) {
        gw_access_log *l =
            gw_push(r->b, &m->access_logs, &m->access_log_count, sizeof(*l));
        if (!l)
            return;
        *l = (gw_access_log){.policy = r->doc,
                             .gateway = gi,
                             .listener = li,
                             .json = logs[i].json,
                             .path = gw_strdup(r->b, logs[i].path)};
        for (size_t k = 0; k < logs[i].value_count; k++) {
            const gw_log_value *from = &logs[i].values[k];
            gw_log_value *v =
                gw_push(r->b, &l->values, &l->value_count, sizeof(*v));
            if (!v)
                return;
            v->key = gw_strdup(r->b, from->key);
            v->raw = from->raw;
            for (size_t j = 0; j < from->piece_count; j++) {
                gw_log_piece p = from->pieces[j];
                p.text = gw_strdup(r->b, p.text);
                p.fallback = gw_strdup(r->b, p.fallback);
                gw_log_piece *slot =
                    gw_push(r->b, &v->pieces, &v->piece_count, sizeof(*slot));
                if (!slot) {
                    free(p.text);
                    free(p.fallback);
                    return;
                }
                *slot = p;
            }
        }
    }
}

/* -- The two kinds -------------------------------------------------------- */

typedef struct port_logs {
    int64_t port;
    gw_access_log *logs;
    size_t count;
} port_logs;

static void
read_listener_policy_spec(reader *r, gw_access_log **dflt, size_t *dflt_count,
                          port_logs **ports, size_t *port_count)
{
    static const char *const spec_keys[] = {"targetRefs", "targetSelectors",
                                            "default", "perPort", NULL};
    static const char *const default_keys[] = {"httpSettings", NULL};
    const gwf_node *spec = r->doc->spec;
    char p[GW_PATH_MAX], q[GW_PATH_MAX];
    if (!only_keys(r, spec, "spec", spec_keys, "this field"))
        return;
    const gwf_node *def = gwf_node_get(spec, "default");
    if (def && !only_keys(r, def, "spec.default", default_keys,
                          "this listener setting"))
        return;
    if (!read_http_settings(r, gwf_node_get(def, "httpSettings"),
                            "spec.default.httpSettings", dflt, dflt_count))
        return;
    const gwf_node *pp = gwf_node_get(spec, "perPort");
    if (gwf_node_type_of(pp) != GWF_NODE_NULL &&
        (gwf_node_type_of(pp) != GWF_NODE_SEQ || gwf_node_size(pp) > 64)) {
        refuse(r, "spec.perPort", "must be a list of at most 64 ports");
        return;
    }
    for (size_t i = 0; i < gwf_node_size(pp); i++) {
        static const char *const port_keys[] = {"port", "listener", NULL};
        static const char *const listener_keys[] = {"httpSettings", NULL};
        const gwf_node *e = gwf_node_at(pp, i);
        gw_path_i(p, "spec.perPort", i);
        if (!only_keys(r, e, p, port_keys, "this field"))
            return;
        port_logs *pl = gw_push(r->b, ports, port_count, sizeof(*pl));
        if (!pl)
            return;
        if (gwf_node_int(gwf_node_get(e, "port"), &pl->port) != 0 ||
            pl->port < 1 || pl->port > 65535) {
            refuse(r, gw_path(q, p, "port"), "required: a port 1-65535");
            return;
        }
        const gwf_node *lc = gwf_node_get(e, "listener");
        gw_path(q, p, "listener");
        if (!only_keys(r, lc, q, listener_keys, "this listener setting"))
            return;
        char h[GW_PATH_MAX];
        if (!read_http_settings(r, gwf_node_get(lc, "httpSettings"),
                                gw_path(h, q, "httpSettings"), &pl->logs,
                                &pl->count))
            return;
    }
}

char *
gw_read_listener_policy(gw_build *b, const gwf_doc *d, size_t *reached)
{
    reader r = {.b = b, .doc = d};
    gw_access_log *dflt = NULL;
    size_t dflt_count = 0;
    port_logs *ports = NULL;
    size_t port_count = 0;
    *reached = 0;
    if (gwf_node_type_of(d->spec) != GWF_NODE_MAP)
        refuse(&r, "spec", "must be a mapping");
    else if (gw_streq(d->kind, "ListenerPolicy"))
        read_listener_policy_spec(&r, &dflt, &dflt_count, &ports, &port_count);
    else {
        static const char *const keys[] = {"targetRefs", "targetSelectors",
                                           "accessLog", NULL};
        if (only_keys(&r, d->spec, "spec", keys, "this listener setting"))
            read_access_logs(&r, gwf_node_get(d->spec, "accessLog"),
                             "spec.accessLog", &dflt, &dflt_count);
    }
    gw_model *m = b->model;
    for (size_t gi = 0; gi < m->gateway_count; gi++) {
        const gw_gateway *g = &m->gateways[gi];
        for (size_t li = 0; li < g->listener_count; li++) {
            if (!reaches(d, g, &g->listeners[li]))
                continue;
            ++*reached;
            if (r.why)
                continue;
            const gw_access_log *logs = dflt;
            size_t count = dflt_count;
            for (size_t k = 0; k < port_count; k++)
                if (ports[k].port == g->listeners[li].port) {
                    logs = ports[k].logs;
                    count = ports[k].count;
                }
            place(&r, logs, count, gi, li);
        }
    }
    for (size_t i = 0; i < dflt_count; i++)
        log_free(&dflt[i]);
    free(dflt);
    for (size_t k = 0; k < port_count; k++) {
        for (size_t i = 0; i < ports[k].count; i++)
            log_free(&ports[k].logs[i]);
        free(ports[k].logs);
    }
    free(ports);
    return r.why;
}
