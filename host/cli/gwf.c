/*
 * gwf.c - the gwf command: inspect plugins, validate manifests, and run
 * one request through a chain.
 *
 *   gwf inspect PLUGIN [--json]
 *   gwf validate FILE...
 *   gwf run [-f FILE]... [--policy REF] [--extension REF]...
 *           [--direct-response REF] [--backend REF] --request FILE
 *           [--upstream-response FILE | --upstream URL] [--now RFC3339]
 *           [--remote-addr IP] [--plugin-path DIRS] [--json]
 *   gwf gateway render|status|run ...     (gateway_cmd.c, gateway_run.c)
 *
 * `run` is a complete, if single-request, data plane: the same runtime as
 * nginx, a real event loop (plugins talk to Redis or an authz server for
 * real), and an upstream that is either a stub answer from a file or a
 * real HTTP server. Exit status: 0 when the request ran, whatever its
 * outcome; 1 when manifests, references or plugins are wrong; 2 on
 * usage errors.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gwf/exchange.h>
#include <gwf/loop.h>
#include <gwf/runtime.h>

#include "gateway_cmd.h"

#define RUN_TIMEOUT_SLACK_NS (5ull * 1000000000ull)

static void
usage(FILE *out)
{
    fputs("usage: gwf inspect PLUGIN [--json]\n"
          "       gwf validate FILE...\n"
          "       gwf run [-f FILE]... [--policy REF] [--extension REF]...\n"
          "               [--direct-response REF] [--backend REF]\n"
          "               --request FILE [--upstream-response FILE | "
          "--upstream URL]\n"
          "               [--now RFC3339] [--remote-addr IP] "
          "[--plugin-path DIRS] [--json]\n"
          "       gwf gateway render|status|run -f PATH... "
          "(gwf gateway --help)\n"
          "\n"
          "PLUGIN is a plugin name (searched in GWF_PLUGIN_PATH, then the "
          "install\ndirectory) or a path to a .so. REF is NAME or "
          "NAMESPACE/NAME.\n",
          out);
}

static void
print_errors(gwf_errors *e)
{
    for (size_t i = 0; i < e->count; i++)
        fprintf(stderr, "%s\n", e->lines[i]);
    gwf_errors_free(e);
}

static int
read_file(const char *path, gwf_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gwf: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > 64u * 1024u * 1024u ||
            gwf_buf_append(out, chunk, n) < 0) {
            fprintf(stderr, "gwf: %s: too large\n", path);
            fclose(f);
            return -1;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        fprintf(stderr, "gwf: %s: read error\n", path);
        return -1;
    }
    return 0;
}

/* -- inspect --------------------------------------------------------------- */

static int
cmd_inspect(int argc, char **argv)
{
    const char *target = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (!target && argv[i][0] != '-')
            target = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!target) {
        usage(stderr);
        return 2;
    }
    gwf_runtime *rt = gwf_runtime_new(NULL);
    if (!rt)
        return 1;
    gwf_errors e = {0};
    char *path = NULL;
    const gwf_plugin *p = gwf_runtime_load_plugin(rt, target, &path, &e);
    if (!p) {
        print_errors(&e);
        gwf_runtime_free(rt);
        return 1;
    }
    struct {
        const char *name;
        bool present;
    } hooks[] = {
        {"config_create", p->config_create != NULL},
        {"config_destroy", p->config_destroy != NULL},
        {"route_config_create", p->route_config_create != NULL},
        {"route_config_destroy", p->route_config_destroy != NULL},
        {"worker_start", p->worker_start != NULL},
        {"worker_stop", p->worker_stop != NULL},
        {"stream_create", p->stream_create != NULL},
        {"request_headers", p->request_headers != NULL},
        {"request_body", p->request_body != NULL},
        {"response_headers", p->response_headers != NULL},
        {"response_body", p->response_body != NULL},
        {"stream_complete", p->stream_complete != NULL},
        {"stream_destroy", p->stream_destroy != NULL},
        {"get_extension", p->get_extension != NULL},
        {"request_early", p->request_early != NULL},
    };
    char abi[32];
    snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
    if (json) {
        json_t *o = json_object();
        json_t *list = json_array();
        for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++)
            if (hooks[i].present)
                json_array_append_new(list, json_string(hooks[i].name));
        json_object_set_new(o, "name", json_string(p->name));
        json_object_set_new(o, "version", json_string(p->version));
        json_object_set_new(o, "description", json_string(p->description));
        json_object_set_new(o, "abi", json_string(abi));
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "hooks", list);
        char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(o);
    } else {
        printf("name:        %s\nversion:     %s\ndescription: %s\n"
               "abi:         %s (this host: %d.%d)\npath:        %s\n"
               "hooks:      ",
               p->name, p->version, p->description, abi, GWF_ABI_VERSION_MAJOR,
               GWF_ABI_VERSION_MINOR, path);
        for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++)
            if (hooks[i].present)
                printf(" %s", hooks[i].name);
        printf("\n");
    }
    free(path);
    gwf_runtime_free(rt);
    return 0;
}

/* -- validate -------------------------------------------------------------- */

static int
cmd_validate(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    /* Info level: the documents skipped because gwf does not read their
     * kind are listed (one line each, on stderr). */
    gwf_runtime_options opts = {.log_level = GWF_LOG_INFO};
    gwf_runtime *rt = gwf_runtime_new(&opts);
    if (!rt)
        return 1;
    gwf_errors e = {0};
    int failed = 0;
    for (int i = 1; i < argc; i++)
        if (gwf_runtime_load(rt, argv[i], &e) != 0)
            failed = 1;
    if (!failed && gwf_runtime_validate(rt, &e) != 0)
        failed = 1;
    if (failed) {
        if (e.count == 0)
            fprintf(stderr, "gwf: validation failed\n");
        print_errors(&e);
        gwf_runtime_free(rt);
        return 1;
    }
    printf("ok\n");
    gwf_runtime_free(rt);
    return 0;
}

/* -- run ---------------------------------------------------------------------
 */

typedef struct run_state {
    const char *upstream_url;
    gwf_memmsg stub; /* --upstream-response: status and headers */
    gwf_buf stub_body;
    bool have_stub;
    bool done;
    char error[512];
    int64_t realtime_base; /* --now, or 0 for the real clock */
    struct timespec started;
} run_state;

static int
stub_upstream(run_state *rs, gwf_exchange *x)
{
    if (!rs->have_stub) {
        x->response.status = 200;
        return 0;
    }
    if (gwf_memmsg_copy(&x->response, &rs->stub) != 0)
        return -1;
    return gwf_buf_set(&x->response_body, rs->stub_body.data,
                       rs->stub_body.len);
}

/* A real upstream: the request as the chain left it, sent with libcurl. */
static int
fetch_upstream(run_state *rs, gwf_exchange *x)
{
    if (gwf_exchange_fetch(x, rs->upstream_url, 30000, rs->error,
                           sizeof rs->error) == 0)
        return 0;
    fprintf(stderr, "gwf: %s\n", rs->error);
    return -1;
}

static int
upstream(void *ctx, gwf_exchange *x)
{
    run_state *rs = ctx;
    return rs->upstream_url ? fetch_upstream(rs, x) : stub_upstream(rs, x);
}

static void
on_done(void *ctx, gwf_exchange *x)
{
    (void)x;
    ((run_state *)ctx)->done = true;
}

static int64_t
run_realtime(void *ctx)
{
    run_state *rs = ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return rs->realtime_base +
           (int64_t)(now.tv_sec - rs->started.tv_sec) * 1000000000 +
           (now.tv_nsec - rs->started.tv_nsec);
}

/* RFC 3339 UTC or with an offset: 2026-01-01T00:00:00Z, ...+02:00. */
static int
parse_rfc3339(const char *s, int64_t *ns)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    int64_t frac = 0;
    if (*rest == '.') {
        int64_t scale = 100000000;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++) {
            frac += (*rest - '0') * scale;
            scale /= 10;
        }
    }
    int offset = 0;
    if (*rest == 'Z' || *rest == 'z') {
        rest++;
    } else if (*rest == '+' || *rest == '-') {
        int hh, mm;
        if (sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        offset = (hh * 60 + mm) * 60 * (*rest == '+' ? 1 : -1);
        rest += 6;
    } else {
        return -1;
    }
    if (*rest)
        return -1;
    time_t t = timegm(&tm);
    *ns = ((int64_t)t - offset) * 1000000000 + frac;
    return 0;
}

static json_t *
headers_json(const gwf_memmsg *m)
{
    json_t *list = json_array();
    for (size_t i = 0; i < m->count; i++) {
        json_t *pair = json_array();
        json_array_append_new(
            pair, json_stringn(m->fields[i].name, m->fields[i].name_len));
        json_t *v = json_stringn(m->fields[i].value, m->fields[i].value_len);
        json_array_append_new(pair, v ? v : json_string(""));
        json_array_append_new(list, pair);
    }
    return list;
}

static char *
base64(const char *data, size_t len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)(unsigned char)data[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)data[i + 2];
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* A body as "body" when it is valid UTF-8, else as "body_base64". */
static void
set_body(json_t *o, const gwf_buf *body)
{
    json_t *text = json_stringn(body->data ? body->data : "", body->len);
    if (text) {
        json_object_set_new(o, "body", text);
        return;
    }
    char *b64 = base64(body->data, body->len);
    json_object_set_new(o, "body_base64", json_string(b64 ? b64 : ""));
    free(b64);
}

static void
print_json(const gwf_exchange *x)
{
    json_t *root = json_object();
    bool forwarded = x->outcome == GWF_EXCHANGE_FORWARDED;
    json_object_set_new(root, "outcome",
                        json_string(forwarded ? "forwarded" : "local_reply"));
    if (forwarded) {
        json_t *up = json_object();
        json_object_set_new(up, "method", json_string(x->request.method));
        json_object_set_new(up, "path", json_string(x->request.path));
        json_object_set_new(up, "headers", headers_json(&x->request));
        set_body(up, &x->upstream_body);
        json_object_set_new(root, "upstream_request", up);
    } else {
        json_object_set_new(root, "upstream_request", json_null());
    }
    json_t *resp = json_object();
    json_object_set_new(resp, "status", json_integer(x->response.status));
    json_object_set_new(resp, "headers", headers_json(&x->response));
    set_body(resp, &x->response_body);
    json_object_set_new(root, "response", resp);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(root);
}

static const char *
reason_phrase(unsigned status)
{
    static const struct {
        unsigned status;
        const char *text;
    } known[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {413, "Content Too Large"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].status == status)
            return known[i].text;
    return "";
}

static void
print_message(const gwf_memmsg *m, const gwf_buf *body, bool request)
{
    if (request)
        printf("%s %s HTTP/1.1\r\n", m->method, m->path);
    else
        printf("HTTP/1.1 %u %s\r\n", m->status, reason_phrase(m->status));
    for (size_t i = 0; i < m->count; i++)
        printf("%.*s: %.*s\r\n", (int)m->fields[i].name_len, m->fields[i].name,
               (int)m->fields[i].value_len, m->fields[i].value);
    printf("\r\n");
    if (body->len)
        fwrite(body->data, 1, body->len, stdout);
    if (body->len && body->data[body->len - 1] != '\n')
        printf("\n");
}

static void
print_text(const gwf_exchange *x)
{
    if (x->outcome == GWF_EXCHANGE_FORWARDED) {
        printf("=== upstream request\n");
        print_message(&x->request, &x->upstream_body, true);
    } else {
        printf("=== local reply%s%s\n", x->details[0] ? ": " : "", x->details);
    }
    printf("=== response\n");
    print_message(&x->response, &x->response_body, false);
}

typedef struct run_args {
    const char *files[64];
    size_t file_count;
    const char *extensions[64];
    size_t extension_count;
    const char *policy, *direct_response, *backend;
    const char *request, *upstream_response, *upstream_url;
    const char *now, *remote_addr, *plugin_path;
    bool json;
} run_args;

static int
parse_run_args(int argc, char **argv, run_args *a)
{
    enum {
        O_POLICY = 256,
        O_EXT,
        O_DR,
        O_BACKEND,
        O_REQUEST,
        O_UPRESP,
        O_UPSTREAM,
        O_NOW,
        O_REMOTE,
        O_PATH,
        O_JSON
    };
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"policy", required_argument, NULL, O_POLICY},
        {"extension", required_argument, NULL, O_EXT},
        {"direct-response", required_argument, NULL, O_DR},
        {"backend", required_argument, NULL, O_BACKEND},
        {"request", required_argument, NULL, O_REQUEST},
        {"upstream-response", required_argument, NULL, O_UPRESP},
        {"upstream", required_argument, NULL, O_UPSTREAM},
        {"now", required_argument, NULL, O_NOW},
        {"remote-addr", required_argument, NULL, O_REMOTE},
        {"plugin-path", required_argument, NULL, O_PATH},
        {"json", no_argument, NULL, O_JSON},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (a->file_count == 64)
                return -1;
            a->files[a->file_count++] = optarg;
            break;
        case O_POLICY:
            a->policy = optarg;
            break;
        case O_EXT:
            if (a->extension_count == 64)
                return -1;
            a->extensions[a->extension_count++] = optarg;
            break;
        case O_DR:
            a->direct_response = optarg;
            break;
        case O_BACKEND:
            a->backend = optarg;
            break;
        case O_REQUEST:
            a->request = optarg;
            break;
        case O_UPRESP:
            a->upstream_response = optarg;
            break;
        case O_UPSTREAM:
            a->upstream_url = optarg;
            break;
        case O_NOW:
            a->now = optarg;
            break;
        case O_REMOTE:
            a->remote_addr = optarg;
            break;
        case O_PATH:
            a->plugin_path = optarg;
            break;
        case O_JSON:
            a->json = true;
            break;
        default:
            return -1;
        }
    }
    if (optind != argc || !a->request ||
        (a->upstream_response && a->upstream_url))
        return -1;
    return 0;
}

static int
load_request(const char *path, gwf_exchange *x)
{
    gwf_buf raw = {0};
    if (read_file(path, &raw) < 0)
        return -1;
    char err[256];
    int r = gwf_memmsg_parse_request(&x->request, &x->request_body,
                                     raw.data ? raw.data : "", raw.len, err,
                                     sizeof err);
    gwf_buf_free(&raw);
    if (r != 0)
        fprintf(stderr, "gwf: %s: %s\n", path, err);
    return r;
}

static int
cmd_run(int argc, char **argv)
{
    run_args a;
    memset(&a, 0, sizeof a);
    if (parse_run_args(argc, argv, &a) < 0) {
        usage(stderr);
        return 2;
    }
    run_state rs;
    memset(&rs, 0, sizeof rs);
    clock_gettime(CLOCK_MONOTONIC, &rs.started);
    rs.upstream_url = a.upstream_url;
    if (a.now && parse_rfc3339(a.now, &rs.realtime_base) < 0) {
        fprintf(stderr,
                "gwf: --now %s: expected RFC 3339, such as "
                "2026-01-01T00:00:00Z\n",
                a.now);
        return 2;
    }
    if (a.upstream_response) {
        gwf_buf raw = {0};
        char err[256];
        if (read_file(a.upstream_response, &raw) < 0)
            return 1;
        int r = gwf_memmsg_parse_response(&rs.stub, &rs.stub_body,
                                          raw.data ? raw.data : "", raw.len,
                                          err, sizeof err);
        gwf_buf_free(&raw);
        if (r != 0) {
            gwf_memmsg_clear(&rs.stub);
            gwf_buf_free(&rs.stub_body);
            fprintf(stderr, "gwf: %s: %s\n", a.upstream_response, err);
            return 1;
        }
        rs.have_stub = true;
    }

    int status = 1;
    gwf_exchange x;
    memset(&x, 0, sizeof x);
    gwf_loop *loop = gwf_loop_new();
    gwf_runtime_options opts = {
        .plugin_path = a.plugin_path,
        .log_level = getenv("GWF_DEBUG") ? GWF_LOG_DEBUG : GWF_LOG_INFO,
        .realtime = a.now ? run_realtime : NULL,
        .clock_ctx = &rs,
        .host_name = "gwf-cli",
    };
    gwf_runtime *rt = loop ? gwf_runtime_new(&opts) : NULL;
    gwf_worker *w = NULL;
    gwf_errors e = {0};
    if (!rt)
        goto out;
    for (size_t i = 0; i < a.file_count; i++)
        if (gwf_runtime_load(rt, a.files[i], &e) != 0)
            goto out;
    gwf_route_refs refs = {
        .policy = a.policy,
        .extensions = a.extensions,
        .extension_count = a.extension_count,
        .direct_response = a.direct_response,
        .backend = a.backend,
        .route_name = "gwf-run",
    };
    gwf_chain *chain = gwf_runtime_chain(rt, &refs, &e);
    if (!chain)
        goto out;
    gwf_event_ops ev;
    gwf_loop_event_ops(loop, &ev);
    w = gwf_worker_start(rt, 0, 1, &ev, &e);
    if (!w)
        goto out;
    if (load_request(a.request, &x) < 0)
        goto out;
    snprintf(x.remote_address, sizeof x.remote_address, "%s",
             a.remote_addr ? a.remote_addr : "");
    x.upstream = upstream;
    x.on_done = on_done;
    x.ctx = &rs;
    if (gwf_exchange_start(&x, w, chain) != 0)
        goto out;
    /* The runtime answers a stream paused too long itself (504); the
     * slack only guards against a loop with nothing left in it. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!rs.done) {
        if (gwf_loop_run_once(loop, 100000000) < 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t spent = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000000000u +
                         (uint64_t)(now.tv_nsec - t0.tv_nsec);
        if (spent > 30ull * 1000000000ull + RUN_TIMEOUT_SLACK_NS)
            break;
    }
    if (!rs.done) {
        fprintf(stderr, "gwf: the request did not finish\n");
        gwf_exchange_abort(&x);
        goto out;
    }
    if (a.json)
        print_json(&x);
    else
        print_text(&x);
    status = 0;
out:
    print_errors(&e);
    gwf_exchange_clear(&x);
    gwf_worker_stop(w);
    gwf_runtime_free(rt);
    gwf_loop_free(loop);
    gwf_memmsg_clear(&rs.stub);
    gwf_buf_free(&rs.stub_body);
    return status;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "gateway") == 0)
        return gateway_main(argc - 1, argv + 1);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "gwf: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
