/*
 * limits_file.c - envoyproxy/ratelimit's limits file (descriptorsFile),
 * YAML or JSON, read into a jansson document.
 *
 * The file is input an operator may not fully control, read by the
 * nginx master, so it gets the limits the runtime's manifest reader
 * (host/runtime/node.c) puts on hostile input; a plugin links only the
 * SDK, so they are enforced here, as the text is read:
 *   - size: at most RL_LIMITS_FILE_MAX bytes, a regular file
 *     (gwf_file_read: a FIFO or a device is refused without blocking);
 *   - depth: at most RL_LIMITS_MAX_DEPTH nested mappings and lists;
 *   - nodes: at most RL_LIMITS_MAX_NODES values, one scalar at most
 *     RL_LIMITS_MAX_SCALAR bytes;
 *   - duplicate keys are an error in YAML as in JSON (a second
 *     `rate_limit:` must not silently replace the first), as is a NUL
 *     byte in a key;
 *   - YAML aliases are refused outright: the format has no use for
 *     them, so no "billion laughs" can start.
 * Plain YAML scalars follow the core schema for the few types the
 * format uses: integers, booleans, null, strings; a `!!str` (or `!`)
 * tag keeps a scalar a string. Only the first YAML document is read, as
 * envoyproxy/ratelimit does.
 */
#include <gwf/sdk_file.h>
#include "rate_limit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct reader {
    json_t *stack[RL_LIMITS_MAX_DEPTH]; /* open collections (borrowed) */
    json_t *keys[RL_LIMITS_MAX_DEPTH];  /* a mapping's pending key */
    json_t *lines[RL_LIMITS_MAX_DEPTH]; /* a mapping's key -> its line */
    int depth;
    size_t nodes;
    json_t *root; /* owns the whole tree */
    char *err;
    size_t err_size;
    int no_memory;
} reader;

static int fail(reader *r, size_t line, const char *fmt, ...) GWF_PRINTF(3, 4);

static int
fail(reader *r, size_t line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line)
        snprintf(r->err, r->err_size, "line %zu: %s", line, msg);
    else
        snprintf(r->err, r->err_size, "%s", msg);
    return -1;
}

static int
out_of_memory(reader *r)
{
    r->no_memory = 1;
    snprintf(r->err, r->err_size, "out of memory");
    return -1;
}

static int
is_str_tag(const yaml_char_t *tag)
{
    return tag && (strcmp((const char *)tag, "!") == 0 ||
                   strcmp((const char *)tag, YAML_STR_TAG) == 0);
}

/* A scalar as JSON; NULL when out of memory. */
static json_t *
scalar(const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    char *end;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        is_str_tag(ev->data.scalar.tag))
        return json_stringn(text, len);
    if (len == 0 || strcmp(text, "~") == 0 || strcmp(text, "null") == 0)
        return json_null();
    if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0 ||
        strcmp(text, "TRUE") == 0)
        return json_true();
    if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0 ||
        strcmp(text, "FALSE") == 0)
        return json_false();
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno == 0 && end == text + len &&
        (text[0] == '-' || (text[0] >= '0' && text[0] <= '9')))
        return json_integer(n);
    return json_stringn(text, len);
}

static int
expecting_key(const reader *r)
{
    return r->depth > 0 && json_is_object(r->stack[r->depth - 1]) &&
           !r->keys[r->depth - 1];
}

/* The scalar `ev` as the pending key of the innermost mapping. */
static int
set_key(reader *r, const yaml_event_t *ev, size_t line)
{
    json_t *key = scalar(ev);
    json_t *map = r->stack[r->depth - 1];

    if (!key)
        return out_of_memory(r);
    if (!json_is_string(key)) {
        json_decref(key);
        return fail(r, line, "a mapping key is not a plain string");
    }
    const char *text = json_string_value(key);
    if (strlen(text) != json_string_length(key)) {
        json_decref(key);
        return fail(r, line, "mapping key contains a NUL byte");
    }
    const json_t *first = json_object_get(r->lines[r->depth - 1], text);
    if (first || json_object_get(map, text)) {
        fail(r, line, "duplicate key \"%.40s\" (first defined at line %lld)",
             text, (long long)json_integer_value(first));
        json_decref(key);
        return -1;
    }
    if (json_object_set_new(r->lines[r->depth - 1], text,
                            json_integer((json_int_t)line)) != 0) {
        json_decref(key);
        return out_of_memory(r);
    }
    r->keys[r->depth - 1] = key;
    return 0;
}

/* Place a new value (the reader owns it from here on): as the root, a
 * list item, or the value of the pending key; a collection is opened. */
static int
attach(reader *r, json_t *node, size_t line)
{
    if (!node)
        return out_of_memory(r);
    if (++r->nodes > RL_LIMITS_MAX_NODES) {
        json_decref(node);
        return fail(r, line, "more than %u nodes in one file",
                    RL_LIMITS_MAX_NODES);
    }
    if (r->depth == 0) {
        json_decref(r->root);
        r->root = node;
    } else if (json_is_array(r->stack[r->depth - 1])) {
        if (json_array_append_new(r->stack[r->depth - 1], node) != 0)
            return out_of_memory(r);
    } else {
        json_t *key = r->keys[r->depth - 1];
        r->keys[r->depth - 1] = NULL;
        int rc = json_object_set_new(r->stack[r->depth - 1],
                                     json_string_value(key), node);
        json_decref(key);
        if (rc != 0)
            return out_of_memory(r);
    }
    if (!json_is_array(node) && !json_is_object(node))
        return 0;
    if (r->depth == RL_LIMITS_MAX_DEPTH)
        return fail(r, line, "nesting is deeper than the limit of %d levels",
                    RL_LIMITS_MAX_DEPTH);
    r->stack[r->depth] = node;
    r->keys[r->depth] = NULL;
    r->lines[r->depth] = NULL;
    if (json_is_object(node) && !(r->lines[r->depth] = json_object()))
        return out_of_memory(r);
    r->depth++;
    return 0;
}

static void
close_collection(reader *r)
{
    r->depth--;
    json_decref(r->keys[r->depth]);
    json_decref(r->lines[r->depth]);
}

/* One event; 1 at the end of the first document, -1 on an error. */
static int
on_event(reader *r, const yaml_event_t *ev)
{
    size_t line = ev->start_mark.line + 1;

    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_END_EVENT:
        return r->root ? 1 : 0;
    case YAML_ALIAS_EVENT:
        return fail(r, line, "aliases are not supported");
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.length > RL_LIMITS_MAX_SCALAR)
            return fail(r, line,
                        "scalar of %zu bytes is longer than the limit of %u "
                        "bytes",
                        ev->data.scalar.length, RL_LIMITS_MAX_SCALAR);
        if (expecting_key(r))
            return set_key(r, ev, line);
        return attach(r, scalar(ev), line);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (expecting_key(r))
            return fail(r, line, "a mapping key is not a plain string");
        return attach(r,
                      ev->type == YAML_SEQUENCE_START_EVENT ? json_array()
                                                            : json_object(),
                      line);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        close_collection(r);
        return 0;
    default:
        return 0;
    }
}

static json_t *
read_yaml(reader *r, const char *data, size_t len)
{
    yaml_parser_t p;
    int rc = 0;

    if (!yaml_parser_initialize(&p)) {
        out_of_memory(r);
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    while (rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            if (p.error == YAML_MEMORY_ERROR)
                out_of_memory(r);
            else
                fail(r, p.problem_mark.line + 1, "%s",
                     p.problem ? p.problem : "YAML error");
            rc = -1;
            break;
        }
        rc = on_event(r, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    while (r->depth > 0)
        close_collection(r);
    if (rc < 0) {
        json_decref(r->root);
        return NULL;
    }
    if (!r->root && !(r->root = json_object()))
        out_of_memory(r);
    return r->root;
}

/* jansson has no limits of ours: check depth and nodes once it is read
 * (the file's size bounds what that costs). */
static int
check_json(reader *r, const json_t *v, int depth)
{
    if (++r->nodes > RL_LIMITS_MAX_NODES)
        return fail(r, 0, "more than %u nodes in one file",
                    RL_LIMITS_MAX_NODES);
    if (json_is_string(v) && json_string_length(v) > RL_LIMITS_MAX_SCALAR)
        return fail(r, 0,
                    "string of %zu bytes is longer than the limit of %u "
                    "bytes",
                    json_string_length(v), RL_LIMITS_MAX_SCALAR);
    if (!json_is_array(v) && !json_is_object(v))
        return 0;
    if (depth == RL_LIMITS_MAX_DEPTH)
        return fail(r, 0, "nesting is deeper than the limit of %d levels",
                    RL_LIMITS_MAX_DEPTH);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (check_json(r, json_array_get(v, i), depth + 1) != 0)
                return -1;
        return 0;
    }
    const char *key;
    json_t *item;
    json_object_foreach((json_t *)v, key, item)
    {
        if (check_json(r, item, depth + 1) != 0)
            return -1;
    }
    return 0;
}

static json_t *
read_json(reader *r, const char *data, size_t len)
{
    json_error_t je;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);

    if (!doc) {
        if (json_error_code(&je) == json_error_out_of_memory)
            out_of_memory(r);
        else
            fail(r, (size_t)(je.line > 0 ? je.line : 0), "%s", je.text);
        return NULL;
    }
    if (check_json(r, doc, 0) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *
rl_limits_file_load(const char *path, char *err, size_t err_size,
                    int *no_memory)
{
    reader r = {.err = err, .err_size = err_size};
    size_t len = 0, i = 0;
    json_t *doc;

    *no_memory = 0;
    char *data = gwf_file_read(path, RL_LIMITS_FILE_MAX, &len, err, err_size);
    if (!data) {
        *no_memory = errno == ENOMEM;
        return NULL;
    }
    while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' ||
                       data[i] == '\t'))
        i++;
    if (i < len && data[i] == '{')
        doc = read_json(&r, data, len);
    else
        doc = read_yaml(&r, data, len);
    free(data);
    *no_memory = r.no_memory;
    return doc;
}
