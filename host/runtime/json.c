/*
 * json.c - JSON into a gwf_node tree (node_builder.h), with positions.
 *
 * JSON is parsed by jansson, which knows JSON best but keeps no positions.
 * So a small scanner walks the text first: it records the position of
 * every value and key in document order, enforces the depth and node
 * limits before jansson allocates anything, and the jansson tree is then
 * converted while consuming those positions in the same order (jansson
 * keeps object keys in insertion order, and duplicates are rejected).
 */
#include "node_builder.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* JSON                                                                */

typedef struct json_mark {
    unsigned line, column;
    size_t offset, len; /* raw text span, for numbers and literals */
} json_mark;

typedef struct json_scan {
    const char *p, *start, *end;
    unsigned line, column;
    json_mark *marks; /* every value and every key, in order */
    size_t count, cap;
    size_t values;
    bool invalid; /* not JSON: jansson will say why */
    bool limited; /* a limit was hit and reported */
    bool oom;
} json_scan;

static void
scan_advance(json_scan *s)
{
    if (*s->p == '\n') {
        s->line++;
        s->column = 1;
    } else if (((unsigned char)*s->p & 0xc0) != 0x80) {
        s->column++;
    }
    s->p++;
}

static void
scan_ws(json_scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        scan_advance(s);
}

static bool
scan_mark(json_scan *s)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        json_mark *grown = realloc(s->marks, cap * sizeof(*grown));
        if (!grown) {
            s->oom = true;
            return false;
        }
        s->marks = grown;
        s->cap = cap;
    }
    json_mark *m = &s->marks[s->count++];
    m->line = s->line;
    m->column = s->column;
    m->offset = (size_t)(s->p - s->start);
    m->len = 0;
    return true;
}

static bool
scan_string(json_scan *s)
{
    scan_advance(s); /* opening quote */
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\') {
            scan_advance(s);
            if (s->p >= s->end)
                return false;
        }
        scan_advance(s);
    }
    if (s->p >= s->end)
        return false;
    scan_advance(s);
    return true;
}

static bool scan_value(json_scan *s, gwf_builder *b, unsigned depth);

static bool
scan_collection(json_scan *s, gwf_builder *b, unsigned depth, char close)
{
    bool object = close == '}';
    if (depth + 1 > GWF_NODE_MAX_DEPTH) {
        gwf_builder_error(b, s->line, s->column,
                          "nesting is deeper than the limit of %d levels",
                          GWF_NODE_MAX_DEPTH);
        s->limited = true;
        return false;
    }
    scan_advance(s);
    scan_ws(s);
    if (s->p < s->end && *s->p == close) {
        scan_advance(s);
        return true;
    }
    for (;;) {
        scan_ws(s);
        if (object) {
            if (s->p >= s->end || *s->p != '"')
                return false;
            if (!scan_mark(s) || !scan_string(s))
                return false;
            scan_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return false;
            scan_advance(s);
        }
        if (!scan_value(s, b, depth + 1))
            return false;
        scan_ws(s);
        if (s->p >= s->end)
            return false;
        if (*s->p == close) {
            scan_advance(s);
            return true;
        }
        if (*s->p != ',')
            return false;
        scan_advance(s);
    }
}

static bool
scan_value(json_scan *s, gwf_builder *b, unsigned depth)
{
    scan_ws(s);
    if (s->p >= s->end)
        return false;
    if (++s->values > GWF_NODE_MAX_NODES) {
        gwf_builder_error(b, s->line, s->column,
                          "more than %u nodes in one file", GWF_NODE_MAX_NODES);
        s->limited = true;
        return false;
    }
    if (!scan_mark(s))
        return false;
    json_mark *m = &s->marks[s->count - 1];
    switch (*s->p) {
    case '{':
        return scan_collection(s, b, depth, '}');
    case '[':
        return scan_collection(s, b, depth, ']');
    case '"':
        return scan_string(s);
    default:
        break;
    }
    const char *word = s->p;
    while (s->p < s->end &&
           ((*s->p >= '0' && *s->p <= '9') || (*s->p >= 'a' && *s->p <= 'z') ||
            (*s->p >= 'A' && *s->p <= 'Z') || *s->p == '-' || *s->p == '+' ||
            *s->p == '.'))
        scan_advance(s);
    m->len = (size_t)(s->p - word);
    return m->len > 0;
}

typedef struct json_conv {
    gwf_builder *b;
    const json_scan *scan;
    size_t next; /* next mark to consume */
} json_conv;

static json_mark
conv_mark(json_conv *c)
{
    json_mark none = {1, 1, 0, 0};
    /* The scanner saw every token jansson accepted, so marks never run
     * out; falling back beats trusting that blindly. */
    if (c->next >= c->scan->count)
        return none;
    return c->scan->marks[c->next++];
}

static gwf_node *conv_value(json_conv *c, json_t *v);

static gwf_node *
conv_object(json_conv *c, json_t *v, gwf_node *n)
{
    gwf_builder *b = c->b;
    size_t count = json_object_size(v);
    gwf_pair *pairs =
        count ? gwf_tree_alloc(b->tree, count * sizeof(*pairs)) : NULL;
    if (count && !pairs) {
        gwf_builder_oom(b);
        return NULL;
    }
    const char *key;
    size_t key_len;
    json_t *value;
    size_t i = 0;
    json_object_keylen_foreach(v, key, key_len, value)
    {
        if (i == count)
            break;
        json_mark km = conv_mark(c);
        if (gwf_builder_check_scalar(b, key_len, km.line, km.column) != 0)
            return NULL;
        gwf_pair *p = &pairs[i++];
        p->key = gwf_tree_strndup(b->tree, key, key_len);
        p->key_len = key_len;
        p->key_line = km.line;
        p->key_column = km.column;
        p->value = p->key ? conv_value(c, value) : NULL;
        if (!p->key)
            gwf_builder_oom(b);
        if (!p->value)
            return NULL;
        n->bytes += key_len;
    }
    n->c.pairs = pairs;
    n->count = i;
    return n;
}

static gwf_node *
conv_array(json_conv *c, json_t *v, gwf_node *n)
{
    gwf_builder *b = c->b;
    size_t count = json_array_size(v);
    gwf_node **items =
        count ? gwf_tree_alloc(b->tree, count * sizeof(*items)) : NULL;
    if (count && !items) {
        gwf_builder_oom(b);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        items[i] = conv_value(c, json_array_get(v, i));
        if (!items[i])
            return NULL;
    }
    n->c.items = items;
    n->count = count;
    return n;
}

static gwf_node *
conv_scalar(json_conv *c, json_t *v, gwf_node *n, const json_mark *m)
{
    gwf_builder *b = c->b;
    const char *text;
    size_t len;
    if (json_is_string(v)) {
        text = json_string_value(v);
        len = json_string_length(v);
        if (gwf_builder_check_scalar(b, len, m->line, m->column) != 0)
            return NULL;
    } else {
        text = c->scan->start + m->offset;
        len = m->len;
    }
    n->text = gwf_tree_strndup(b->tree, text, len);
    if (!n->text) {
        gwf_builder_oom(b);
        return NULL;
    }
    n->len = len;
    n->bytes = len;
    return n;
}

static gwf_node *
conv_value(json_conv *c, json_t *v)
{
    json_mark m = conv_mark(c);
    gwf_node_type type;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        type = GWF_NODE_MAP;
        break;
    case JSON_ARRAY:
        type = GWF_NODE_SEQ;
        break;
    case JSON_STRING:
        type = GWF_NODE_STRING;
        break;
    case JSON_INTEGER:
        type = GWF_NODE_INT;
        break;
    case JSON_REAL:
        type = GWF_NODE_FLOAT;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        type = GWF_NODE_BOOL;
        break;
    default:
        type = GWF_NODE_NULL;
        break;
    }
    gwf_node *n = gwf_builder_node(c->b, type, m.line, m.column);
    if (!n)
        return NULL;
    switch (type) {
    case GWF_NODE_MAP:
        return conv_object(c, v, n);
    case GWF_NODE_SEQ:
        return conv_array(c, v, n);
    case GWF_NODE_INT:
        n->v.integer = (int64_t)json_integer_value(v);
        break;
    case GWF_NODE_FLOAT:
        n->v.real = json_real_value(v);
        break;
    case GWF_NODE_BOOL:
        n->v.boolean = json_is_true(v);
        break;
    default:
        break;
    }
    return conv_scalar(c, v, n, &m);
}

void
gwf_parse_json(gwf_builder *b, const char *data, size_t len)
{
    json_scan scan = {
        .p = data, .start = data, .end = data + len, .line = 1, .column = 1};
    bool scanned = scan_value(&scan, b, 0);
    if (scanned) {
        scan_ws(&scan);
        scanned = scan.p == scan.end;
    }
    if (scan.oom) {
        gwf_builder_oom(b);
        goto done;
    }
    if (scan.limited) {
        b->fatal = true;
        goto done;
    }
    json_error_t error;
    json_t *root = json_loadb(
        data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
        &error);
    if (!root) {
        gwf_builder_error(b, (unsigned)(error.line > 0 ? error.line : 1),
                          (unsigned)(error.column > 0 ? error.column : 1), "%s",
                          error.text);
        b->fatal = true;
        goto done;
    }
    if (!scanned) {
        gwf_builder_error(b, scan.line, scan.column, "unexpected token");
        b->fatal = true;
        json_decref(root);
        goto done;
    }
    json_conv conv = {.b = b, .scan = &scan};
    gwf_node *doc = conv_value(&conv, root);
    json_decref(root);
    if (doc && gwf_tree_add_doc(b->tree, doc) != 0)
        gwf_builder_oom(b);
done:
    free(scan.marks);
}
