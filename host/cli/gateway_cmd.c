/*
 * gateway_cmd.c - `gwf gateway render` and `gwf gateway status`: one pass
 * of translation from the command line.
 *
 *   gwf gateway render -f PATH... -o DIR [--gateway-class NAME]...
 *                      [--address IP] [--plugin-path DIRS]
 *                      [--http-include] [--module PATH]
 *   gwf gateway status -f PATH... [-o yaml|json] [--gateway-class NAME]...
 *                      [--plugin-path DIRS]
 *   gwf gateway run    -f PATH... -o DIR [render's options]
 *                      [--nginx PATH]                  (gateway_run.c)
 *
 * A pass loads every input (files, directories, globs), builds the model
 * (translate.h) and writes it out. Input with errors is refused whole:
 * the errors are printed, one per line with file, line, document and
 * field, and nothing is written, so that a half-read set of manifests
 * never replaces a working configuration. (The translator itself would
 * serve what it could; the command line is stricter on purpose.)
 *
 * render writes DIR/nginx.conf, complete and runnable as
 * `nginx -p DIR -c DIR/nginx.conf`, or with --http-include
 * DIR/gateway.conf, to be included in an operator's own http {} block
 * (which must then load the module itself).
 */
#define _GNU_SOURCE
#include "gateway_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include <gwf/manifest.h>

#include "emit_nginx.h"
#include "translate.h"

#ifndef GWF_NGINX_MODULE_PATH
#define GWF_NGINX_MODULE_PATH "/usr/lib/nginx/modules/ngx_http_gwf_module.so"
#endif

static void
gateway_usage(FILE *out)
{
    fputs("usage: gwf gateway render -f PATH... -o DIR "
          "[--gateway-class NAME]...\n"
          "                          [--address IP] [--plugin-path DIRS] "
          "[--http-include]\n"
          "                          [--module PATH]\n"
          "       gwf gateway status -f PATH... [-o yaml|json] "
          "[--gateway-class NAME]...\n"
          "                          [--plugin-path DIRS]\n"
          "       gwf gateway run -f PATH... -o DIR [render's options] "
          "[--nginx PATH]\n",
          out);
}

static void
print_diag(const gwf_diag *d, const char *prefix)
{
    for (size_t i = 0; i < d->count; i++)
        fprintf(stderr, "%s%s\n", prefix, gwf_diag_line(d, i));
}

/* -- Files ------------------------------------------------------------------
 */

int
gateway_mkdirs(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int
gateway_write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* 0600: the configuration may carry header values from Secrets
     * (TrafficPolicy headerModifiers), like the TLS keys beside it. A
     * file left by an earlier run of the same pid goes first, so the
     * new one is made with this mode, never an old one's. */
    unlink(tmp);
    int fd =
        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t n = fwrite(text, 1, len, f);
    int flushed = fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0 || n != len || !flushed) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    if (rename(tmp, path) < 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

/* -- One pass ---------------------------------------------------------------
 */

/* Loads the inputs and builds the model. Returns 0 with *m and *model
 * set (the caller frees both), or 1 after printing every error. */
static int
load_model(const gateway_args *a, gwf_manifests **m, gw_model *model)
{
    gwf_diag errors, notes;
    gwf_diag_init(&errors);
    gwf_diag_init(&notes);
    memset(model, 0, sizeof *model);
    *m = gwf_manifests_new();
    if (!*m) {
        fprintf(stderr, "gwf: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < a->input_count; i++)
        gwf_manifests_load_path(*m, a->inputs[i], &errors);
    int built = -1;
    if (errors.count == 0) {
        /* nginx 1.22 (Debian 12's) speaks either HTTP/1.x or cleartext
         * HTTP/2 on a plain port, never both (emit_nginx.c). */
        gw_build_options opts = {.classes = a->class_count ? a->classes : NULL,
                                 .class_count = a->class_count,
                                 .plain_port_one_protocol = true};
        built = gw_model_build(*m, &opts, model, &errors, &notes);
        if (built < 0)
            gwf_diag_addf(&errors, "out of memory");
        else if (errors.count == 0 && gateway_kgateway_judge(a, *m, model) != 0)
            gwf_diag_addf(&errors, "out of memory");
    }
    print_diag(gwf_manifests_notes(*m), "info: ");
    print_diag(&notes, "info: ");
    print_diag(&errors, "");
    int status = errors.count ? 1 : 0;
    gwf_diag_free(&errors);
    gwf_diag_free(&notes);
    if (status) {
        if (built >= 0)
            gw_model_free(model);
        gwf_manifests_free(*m);
        *m = NULL;
    }
    return status;
}

/* Paths as absolute paths, for nginx (whose relative paths are relative
 * to its prefix): realpath when the path exists, else (a glob) the
 * current directory in front. NULL (after printing) on failure. */
static char *
absolute_path(const char *in)
{
    char cwd[PATH_MAX], resolved[PATH_MAX], *out = NULL;
    if (realpath(in, resolved))
        out = strdup(resolved);
    else if (in[0] == '/')
        out = strdup(in);
    else if (getcwd(cwd, sizeof cwd) && asprintf(&out, "%s/%s", cwd, in) < 0)
        out = NULL;
    if (!out)
        fprintf(stderr, "gwf: %s: %s\n", in, strerror(errno ? errno : ENOMEM));
    return out;
}

static int
absolute_inputs(const gateway_args *a, char **out)
{
    for (size_t i = 0; i < a->input_count; i++)
        if (!(out[i] = absolute_path(a->inputs[i])))
            return -1;
    return 0;
}

/* A ':'-separated list of directories, each made absolute (nginx reads
 * relative paths against its prefix, not our working directory). */
static char *
absolute_dirs(const char *list)
{
    char *copy = strdup(list), *out = strdup(""), *save = NULL;
    for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d && out;
         d = strtok_r(NULL, ":", &save)) {
        char *abs = absolute_path(d), *joined = NULL;
        if (abs && asprintf(&joined, "%s%s%s", out, out[0] ? ":" : "", abs) < 0)
            joined = NULL;
        free(abs);
        free(out);
        out = joined;
    }
    free(copy);
    return out;
}

int
gateway_render_once(const gateway_args *a, const char *prefix,
                    const char *tls_dir, const char *conf_path, char **summary)
{
    gwf_manifests *m;
    gw_model model;
    if (load_model(a, &m, &model) != 0)
        return 1;
    char *inputs[GATEWAY_MAX_INPUTS] = {NULL};
    if (absolute_inputs(a, inputs) < 0) {
        for (size_t i = 0; i < a->input_count; i++)
            free(inputs[i]);
        gw_model_free(&model);
        gwf_manifests_free(m);
        return 1;
    }
    char *module = a->module ? absolute_path(a->module) : NULL;
    char *plugins = a->plugin_path ? absolute_dirs(a->plugin_path) : NULL;
    if ((a->module && !module) || (a->plugin_path && !plugins)) {
        free(module);
        free(plugins);
        for (size_t i = 0; i < a->input_count; i++)
            free(inputs[i]);
        gw_model_free(&model);
        gwf_manifests_free(m);
        return 1;
    }
    gw_emit_options o = {
        .listen_address = a->address,
        .manifest_paths = (const char *const *)inputs,
        .manifest_path_count = a->input_count,
        .output_dir = prefix,
        .tls_dir = tls_dir,
        .plugin_path = plugins,
        .module_path = a->http_include ? NULL
                       : module        ? module
                                       : GWF_NGINX_MODULE_PATH,
        .http_include = a->http_include,
    };
    gw_emit_out out;
    gwf_diag errors;
    gwf_diag_init(&errors);
    int status = 1;
    if (gw_emit_nginx(&model, &o, &out, &errors) != 0) {
        print_diag(&errors, "");
    } else if (gateway_write_atomic(conf_path, out.config, out.config_len) <
               0) {
        fprintf(stderr, "gwf: %s: %s\n", conf_path, strerror(errno));
    } else {
        if (summary) {
            *summary = out.summary;
            out.summary = NULL;
        }
        status = 0;
    }
    gw_emit_out_free(&out);
    gwf_diag_free(&errors);
    free(module);
    free(plugins);
    for (size_t i = 0; i < a->input_count; i++)
        free(inputs[i]);
    gw_model_free(&model);
    gwf_manifests_free(m);
    return status;
}

static int
cmd_render(const gateway_args *a)
{
    if (gateway_mkdirs(a->output, 0755) < 0) {
        fprintf(stderr, "gwf: %s: %s\n", a->output, strerror(errno));
        return 1;
    }
    char dir[PATH_MAX], conf[PATH_MAX + 32];
    if (!realpath(a->output, dir)) {
        fprintf(stderr, "gwf: %s: %s\n", a->output, strerror(errno));
        return 1;
    }
    snprintf(conf, sizeof conf, "%s/%s", dir,
             a->http_include ? "gateway.conf" : "nginx.conf");
    char *summary = NULL;
    int status = gateway_render_once(a, dir, NULL, conf, &summary);
    if (status == 0)
        printf("%swrote %s\n", summary, conf);
    free(summary);
    return status;
}

/* -- status ---------------------------------------------------------------- */

/* A string that YAML would read as something else (a number, a boolean,
 * null) or that has no plain form must be quoted. */
static bool
needs_quotes(const char *s)
{
    static const char *const special[] = {
        "",     "~",     "null",  "Null",  "NULL", "true", "True",
        "TRUE", "false", "False", "FALSE", "yes",  "Yes",  "YES",
        "no",   "No",    "NO",    "on",    "On",   "ON",   "off",
        "Off",  "OFF",   "y",     "Y",     "n",    "N"};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (strcmp(s, special[i]) == 0)
            return true;
    /* Numbers, and timestamps and versions YAML 1.1 readers take for
     * numbers or dates. */
    if ((s[0] >= '0' && s[0] <= '9') || s[0] == '+' || s[0] == '.')
        return true;
    return strchr("-?:,[]{}#&*!|>'\"%@`. ", s[0]) != NULL;
}

static int
emit_scalar(yaml_emitter_t *em, const char *text, bool string)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = string && needs_quotes(text)
                                    ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                    : YAML_ANY_SCALAR_STYLE;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
                                      (yaml_char_t *)(uintptr_t)text,
                                      (int)strlen(text), 1, 1, style))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int
emit_json(yaml_emitter_t *em, json_t *v)
{
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item)
        {
            if (emit_scalar(em, key, true) < 0 || emit_json(em, item) < 0)
                return -1;
        }
        if (!yaml_mapping_end_event_initialize(&ev))
            return -1;
        return yaml_emitter_emit(em, &ev) ? 0 : -1;
    }
    case JSON_ARRAY: {
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                  YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(em, &ev))
            return -1;
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (emit_json(em, item) < 0)
                return -1;
        }
        if (!yaml_sequence_end_event_initialize(&ev))
            return -1;
        return yaml_emitter_emit(em, &ev) ? 0 : -1;
    }
    case JSON_STRING:
        return emit_scalar(em, json_string_value(v), true);
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return emit_scalar(em, num, false);
    case JSON_REAL:
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        return emit_scalar(em, num, false);
    case JSON_TRUE:
        return emit_scalar(em, "true", false);
    case JSON_FALSE:
        return emit_scalar(em, "false", false);
    default:
        return emit_scalar(em, "null", false);
    }
}

static int
write_yaml_handler(void *data, unsigned char *buffer, size_t size)
{
    return fwrite(buffer, 1, size, data) == size;
}

/* The JSON text as one YAML document on stdout. */
static int
print_yaml(const char *json_text)
{
    json_error_t jerr;
    json_t *root = json_loads(json_text, JSON_DECODE_ANY, &jerr);
    if (!root)
        return -1;
    yaml_emitter_t em;
    yaml_event_t ev;
    int status = -1;
    if (!yaml_emitter_initialize(&em)) {
        json_decref(root);
        return -1;
    }
    yaml_emitter_set_output(&em, write_yaml_handler, stdout);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ||
        !yaml_emitter_emit(&em, &ev) ||
        !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ||
        !yaml_emitter_emit(&em, &ev) || emit_json(&em, root) < 0 ||
        !yaml_document_end_event_initialize(&ev, 1) ||
        !yaml_emitter_emit(&em, &ev) ||
        !yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&em, &ev))
        goto out;
    status = 0;
out:
    yaml_emitter_delete(&em);
    json_decref(root);
    return status;
}

static int
cmd_status(const gateway_args *a)
{
    bool json = a->output && strcmp(a->output, "json") == 0;
    if (a->output && !json && strcmp(a->output, "yaml") != 0) {
        fprintf(stderr, "gwf: -o %s: expected yaml or json\n", a->output);
        return 2;
    }
    gwf_manifests *m;
    gw_model model;
    if (load_model(a, &m, &model) != 0)
        return 1;
    /* lastTransitionTime: now, or SOURCE_DATE_EPOCH for output that
     * is equal for equal inputs (tests, reproducible builds). */
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    int64_t now = epoch ? strtoll(epoch, NULL, 10) : (int64_t)time(NULL);
    char *text = gw_status_json(&model, now, 1);
    int status = 1;
    if (!text)
        fprintf(stderr, "gwf: out of memory\n");
    else if (json)
        status = printf("%s\n", text) < 0;
    else if (print_yaml(text) < 0)
        fprintf(stderr, "gwf: could not write YAML\n");
    else
        status = 0;
    free(text);
    gw_model_free(&model);
    gwf_manifests_free(m);
    return status;
}

/* -- Options -----------------------------------------------------------------
 */

static int
parse_args(int argc, char **argv, gateway_args *a)
{
    enum { O_CLASS = 256, O_ADDRESS, O_PLUGINS, O_INCLUDE, O_MODULE, O_NGINX };
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"gateway-class", required_argument, NULL, O_CLASS},
        {"address", required_argument, NULL, O_ADDRESS},
        {"plugin-path", required_argument, NULL, O_PLUGINS},
        {"http-include", no_argument, NULL, O_INCLUDE},
        {"module", required_argument, NULL, O_MODULE},
        {"nginx", required_argument, NULL, O_NGINX},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (a->input_count == GATEWAY_MAX_INPUTS)
                return -1;
            a->inputs[a->input_count++] = optarg;
            break;
        case 'o':
            a->output = optarg;
            break;
        case O_CLASS:
            if (a->class_count == GATEWAY_MAX_CLASSES)
                return -1;
            a->classes[a->class_count++] = optarg;
            break;
        case O_ADDRESS:
            a->address = optarg;
            break;
        case O_PLUGINS:
            a->plugin_path = optarg;
            break;
        case O_INCLUDE:
            a->http_include = true;
            break;
        case O_MODULE:
            a->module = optarg;
            break;
        case O_NGINX:
            a->nginx = optarg;
            break;
        default:
            return -1;
        }
    }
    if (optind != argc || a->input_count == 0)
        return -1;
    return 0;
}

int
gateway_main(int argc, char **argv)
{
    if (argc < 2) {
        gateway_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    gateway_args a;
    memset(&a, 0, sizeof a);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        gateway_usage(stdout);
        return 0;
    }
    bool render = strcmp(cmd, "render") == 0, run = strcmp(cmd, "run") == 0;
    bool status = strcmp(cmd, "status") == 0;
    if ((!render && !run && !status) ||
        parse_args(argc - 1, argv + 1, &a) < 0 || (status && a.nginx) ||
        (status && (a.address || a.module || a.http_include)) ||
        (!status && !a.output) || (render && a.nginx) ||
        (run && a.http_include)) {
        gateway_usage(stderr);
        return 2;
    }
    if (status)
        return cmd_status(&a);
    if (render)
        return cmd_render(&a);
    return gateway_run(&a);
}
