/*
 * yaml.c - YAML into a gwf_node tree (node_builder.h), with positions.
 *
 * YAML is read from libyaml's event stream rather than its document API:
 * the events carry every mark we need, and building the tree ourselves is
 * where the hostile-input limits are enforced as the input is read, so an
 * alias is counted as the nodes it stands for when it is met. Plain
 * scalars are resolved with the YAML 1.2 core schema; quoted ones stay
 * strings. Anchors live in a small open-addressing table for the file.
 */
#include "node_builder.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ------------------------------------------------------------------ */
/* YAML 1.2 core schema                                                */

static bool
is_one_of(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(s, *words, len) == 0)
            return true;
    return false;
}

static bool
all_digits(const char *s, size_t len, int base)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok =
            (c >= '0' && c <= '9' && c - '0' < base) ||
            (base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (!ok)
            return false;
    }
    return true;
}

static int
digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/* Digits already checked. An integer too big for int64 becomes a float:
 * the core schema says "integer", but we have no wider type, and a
 * float at least keeps the magnitude for the error message. */
static void
set_integer(gwf_node *n, const char *digits, size_t len, int base,
            bool negative)
{
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t value = 0;
    double approx = 0;
    bool overflow = false;
    for (size_t i = 0; i < len; i++) {
        int digit = digit_value(digits[i]);
        approx = approx * base + digit;
        if (value > (limit - (uint64_t)digit) / (uint64_t)base)
            overflow = true;
        else
            value = value * (uint64_t)base + (uint64_t)digit;
    }
    if (overflow) {
        n->type = GWF_NODE_FLOAT;
        n->v.real = negative ? -approx : approx;
        return;
    }
    n->type = GWF_NODE_INT;
    if (negative)
        n->v.integer =
            value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    else
        n->v.integer = (int64_t)value;
}

static bool
looks_like_float(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    size_t int_digits = 0, frac_digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        int_digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            frac_digits++;
        }
    }
    if (int_digits == 0 && frac_digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp_digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return false;
    }
    return i == len;
}

/* Resolves n->text (a plain scalar, or one tagged with a core type) per
 * the YAML 1.2 core schema. */
static void
resolve_plain(gwf_builder *b, gwf_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    const char *s = n->text;
    size_t len = n->len;

    n->type = GWF_NODE_STRING;
    if (is_one_of(s, len, nulls)) {
        n->type = GWF_NODE_NULL;
    } else if (is_one_of(s, len, trues) || is_one_of(s, len, falses)) {
        n->type = GWF_NODE_BOOL;
        n->v.boolean = is_one_of(s, len, trues);
    } else if (len > 2 && s[0] == '0' && s[1] == 'x' &&
               all_digits(s + 2, len - 2, 16)) {
        set_integer(n, s + 2, len - 2, 16, false);
    } else if (len > 2 && s[0] == '0' && s[1] == 'o' &&
               all_digits(s + 2, len - 2, 8)) {
        set_integer(n, s + 2, len - 2, 8, false);
    } else if ((s[0] == '-' || s[0] == '+') && all_digits(s + 1, len - 1, 10)) {
        set_integer(n, s + 1, len - 1, 10, s[0] == '-');
    } else if (all_digits(s, len, 10)) {
        set_integer(n, s, len, 10, false);
    } else if (looks_like_float(s, len)) {
        n->type = GWF_NODE_FLOAT;
        n->v.real = gwf_builder_double(b, s);
    } else {
        size_t off = (s[0] == '-' || s[0] == '+') ? 1 : 0;
        if (is_one_of(s + off, len - off, infs)) {
            n->type = GWF_NODE_FLOAT;
            n->v.real = s[0] == '-' ? -INFINITY : INFINITY;
        } else if (is_one_of(s, len, nans)) {
            n->type = GWF_NODE_FLOAT;
            n->v.real = NAN;
        }
    }
}

/* ------------------------------------------------------------------ */
/* YAML                                                                */

typedef struct yaml_frame {
    gwf_node *node;
    char *anchor; /* malloc'd; registered when the node ends */
    void *items;  /* gwf_node *[] or gwf_pair[] (malloc'd) */
    size_t count, cap;
    bool have_key;
    gwf_pair key; /* pending key of a mapping */
} yaml_frame;

typedef struct anchor_slot {
    char *name; /* malloc'd; NULL = empty slot */
    gwf_node *node;
} anchor_slot;

typedef struct yaml_builder {
    gwf_builder b;
    yaml_frame stack[GWF_NODE_MAX_DEPTH];
    unsigned depth;
    anchor_slot *anchors; /* open addressing, power-of-two size */
    size_t anchor_count, anchor_cap;
} yaml_builder;

static size_t
hash_name(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void
anchors_clear(yaml_builder *y)
{
    for (size_t i = 0; i < y->anchor_cap; i++)
        free(y->anchors[i].name);
    free(y->anchors);
    y->anchors = NULL;
    y->anchor_count = 0;
    y->anchor_cap = 0;
}

static anchor_slot *
anchors_slot(anchor_slot *slots, size_t cap, const char *name)
{
    size_t i = hash_name(name) & (cap - 1);
    while (slots[i].name && strcmp(slots[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static gwf_node *
anchors_get(yaml_builder *y, const char *name)
{
    if (!y->anchor_cap)
        return NULL;
    return anchors_slot(y->anchors, y->anchor_cap, name)->node;
}

/* Takes ownership of `name` (freed on failure too). A later anchor with
 * the same name replaces the earlier one, as YAML specifies. */
static int
anchors_put(yaml_builder *y, char *name, gwf_node *node)
{
    if ((y->anchor_count + 1) * 2 > y->anchor_cap) {
        size_t cap = y->anchor_cap ? y->anchor_cap * 2 : 16;
        anchor_slot *slots = calloc(cap, sizeof(*slots));
        if (!slots) {
            free(name);
            return -1;
        }
        for (size_t i = 0; i < y->anchor_cap; i++) {
            if (y->anchors[i].name)
                *anchors_slot(slots, cap, y->anchors[i].name) = y->anchors[i];
        }
        free(y->anchors);
        y->anchors = slots;
        y->anchor_cap = cap;
    }
    anchor_slot *slot = anchors_slot(y->anchors, y->anchor_cap, name);
    if (slot->name) {
        free(name);
    } else {
        slot->name = name;
        y->anchor_count++;
    }
    slot->node = node;
    return 0;
}

static void
yaml_stack_clear(yaml_builder *y)
{
    while (y->depth) {
        yaml_frame *f = &y->stack[--y->depth];
        free(f->anchor);
        free(f->items);
    }
}

static int
frame_push_item(gwf_builder *b, yaml_frame *f, const void *item, size_t size)
{
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        void *grown = realloc(f->items, cap * size);
        if (!grown) {
            gwf_builder_oom(b);
            return -1;
        }
        f->items = grown;
        f->cap = cap;
    }
    memcpy((char *)f->items + f->count * size, item, size);
    f->count++;
    return 0;
}

/* Places a finished value: as a document root, a list item or the value
 * of the pending key. The caller has accounted for it already. */
static int
yaml_attach(yaml_builder *y, gwf_node *value)
{
    gwf_builder *b = &y->b;
    if (y->depth == 0) {
        if (gwf_tree_add_doc(b->tree, value) != 0) {
            gwf_builder_oom(b);
            return -1;
        }
        return 0;
    }
    yaml_frame *f = &y->stack[y->depth - 1];
    if (f->node->type == GWF_NODE_SEQ)
        return frame_push_item(b, f, &value, sizeof(value));
    f->key.value = value;
    f->have_key = false;
    return frame_push_item(b, f, &f->key, sizeof(f->key));
}

static bool
expecting_key(const yaml_builder *y)
{
    if (y->depth == 0)
        return false;
    const yaml_frame *f = &y->stack[y->depth - 1];
    return f->node->type == GWF_NODE_MAP && !f->have_key;
}

static int
yaml_set_key(yaml_builder *y, const char *text, size_t len, unsigned line,
             unsigned column)
{
    gwf_builder *b = &y->b;
    if (memchr(text, '\0', len)) {
        gwf_builder_error(b, line, column, "mapping key contains a NUL byte");
        return -1;
    }
    if (len > GWF_NODE_MAX_EXPANDED - b->bytes) {
        gwf_builder_error(b, line, column,
                          "more than %u bytes of scalars in one file (aliases "
                          "count as the text they stand for)",
                          GWF_NODE_MAX_EXPANDED);
        b->fatal = true;
        return -1;
    }
    b->bytes += len;
    yaml_frame *f = &y->stack[y->depth - 1];
    f->key.key = text;
    f->key.key_len = len;
    f->key.key_line = line;
    f->key.key_column = column;
    f->key.value = NULL;
    f->have_key = true;
    return 0;
}

static int
yaml_register_anchor(yaml_builder *y, const yaml_char_t *anchor, gwf_node *node)
{
    if (!anchor)
        return 0;
    char *name = strdup((const char *)anchor);
    /* anchors_put owns name from here on, and frees it on failure. */
    if (!name || anchors_put(y, name, node) != 0) {
        gwf_builder_oom(&y->b);
        return -1;
    }
    return 0;
}

static const char *
core_tag_name(const char *tag)
{
    static const char prefix[] = "tag:yaml.org,2002:";
    if (strncmp(tag, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    return tag + sizeof(prefix) - 1;
}

/* Applies an explicit tag to a scalar. Core tags (!!str, !!int, !!float,
 * !!bool, !!null) are honoured and checked; any other tag is ignored and
 * the scalar resolves as if untagged. */
static int
yaml_resolve_scalar(yaml_builder *y, gwf_node *n, const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    const char *core = tag ? core_tag_name(tag) : NULL;

    if (tag && (strcmp(tag, "!") == 0 || (core && !strcmp(core, "str")))) {
        n->type = GWF_NODE_STRING;
        return 0;
    }
    gwf_node_type want = GWF_NODE_STRING;
    if (core && !strcmp(core, "int"))
        want = GWF_NODE_INT;
    else if (core && !strcmp(core, "float"))
        want = GWF_NODE_FLOAT;
    else if (core && !strcmp(core, "bool"))
        want = GWF_NODE_BOOL;
    else if (core && !strcmp(core, "null"))
        want = GWF_NODE_NULL;

    if (want == GWF_NODE_STRING) {
        n->type = GWF_NODE_STRING;
        if (plain)
            resolve_plain(&y->b, n);
        return 0;
    }
    resolve_plain(&y->b, n);
    if (want == GWF_NODE_FLOAT && n->type == GWF_NODE_INT) {
        n->type = GWF_NODE_FLOAT;
        n->v.real = (double)n->v.integer;
    }
    if (n->type == want)
        return 0;
    char quoted[128];
    gwf_quote(quoted, sizeof(quoted), n->text, n->len);
    gwf_builder_error(&y->b, n->line, n->column, "%s is not a valid !!%s",
                      quoted, core);
    return -1;
}

static int
yaml_on_scalar(yaml_builder *y, const yaml_event_t *ev)
{
    gwf_builder *b = &y->b;
    unsigned line = (unsigned)ev->start_mark.line + 1;
    unsigned column = (unsigned)ev->start_mark.column + 1;
    size_t len = ev->data.scalar.length;
    const yaml_char_t *anchor = ev->data.scalar.anchor;
    bool is_key = expecting_key(y);

    if (gwf_builder_check_scalar(b, len, line, column) != 0)
        return -1;
    char *text =
        gwf_tree_strndup(b->tree, (const char *)ev->data.scalar.value, len);
    if (!text) {
        gwf_builder_oom(b);
        return -1;
    }
    /* A key needs no node of its own unless it is anchored, in which
     * case a later alias may use it as a key or as a value. */
    gwf_node *n = NULL;
    if (!is_key || anchor) {
        n = gwf_builder_node(b, GWF_NODE_STRING, line, column);
        if (!n)
            return -1;
        n->text = text;
        n->len = len;
        n->bytes = len;
        /* A bad tag is reported but the scalar still takes its place as
         * a string, so the structure stays in step and later errors in
         * the file are still found. */
        if (yaml_resolve_scalar(y, n, ev) != 0)
            n->type = GWF_NODE_STRING;
    }
    if (is_key) {
        if (yaml_register_anchor(y, anchor, n) != 0)
            return -1;
        return yaml_set_key(y, text, len, line, column);
    }
    if (gwf_builder_account(b, n, y->depth, line, column) != 0)
        return -1;
    if (yaml_register_anchor(y, anchor, n) != 0)
        return -1;
    return yaml_attach(y, n);
}

static int
yaml_on_alias(yaml_builder *y, const yaml_event_t *ev)
{
    gwf_builder *b = &y->b;
    unsigned line = (unsigned)ev->start_mark.line + 1;
    unsigned column = (unsigned)ev->start_mark.column + 1;
    const char *name = (const char *)ev->data.alias.anchor;
    gwf_node *target = anchors_get(y, name);

    if (!target) {
        char quoted[128];
        gwf_quote(quoted, sizeof(quoted), name, strlen(name));
        gwf_builder_error(b, line, column,
                          "undefined alias %s (an alias must follow its anchor "
                          "in the same document, outside the anchored node)",
                          quoted);
        b->fatal = true;
        return -1;
    }
    if (expecting_key(y)) {
        if (target->type == GWF_NODE_SEQ || target->type == GWF_NODE_MAP) {
            gwf_builder_error(b, line, column,
                              "mapping keys must be scalars, not a %s",
                              gwf_node_type_name(target->type));
            b->fatal = true;
            return -1;
        }
        return yaml_set_key(y, target->text, target->len, line, column);
    }
    if (gwf_builder_account(b, target, y->depth, line, column) != 0)
        return -1;
    return yaml_attach(y, target);
}

static int
yaml_on_collection_start(yaml_builder *y, const yaml_event_t *ev,
                         gwf_node_type type)
{
    gwf_builder *b = &y->b;
    unsigned line = (unsigned)ev->start_mark.line + 1;
    unsigned column = (unsigned)ev->start_mark.column + 1;
    const yaml_char_t *anchor = type == GWF_NODE_SEQ
                                    ? ev->data.sequence_start.anchor
                                    : ev->data.mapping_start.anchor;

    if (expecting_key(y)) {
        gwf_builder_error(b, line, column,
                          "mapping keys must be scalars, not a %s",
                          gwf_node_type_name(type));
        b->fatal = true;
        return -1;
    }
    gwf_node *n = gwf_builder_node(b, type, line, column);
    if (!n)
        return -1;
    n->height = 1;
    if (gwf_builder_account(b, n, y->depth, line, column) != 0)
        return -1;
    yaml_frame *f = &y->stack[y->depth];
    memset(f, 0, sizeof(*f));
    f->node = n;
    if (anchor) {
        f->anchor = strdup((const char *)anchor);
        if (!f->anchor) {
            gwf_builder_oom(b);
            return -1;
        }
    }
    y->depth++;
    return 0;
}

/* Moves the frame's items into the arena, computes the expanded size of
 * the node, checks keys, registers the anchor and attaches the node. */
static int
yaml_on_collection_end(yaml_builder *y)
{
    gwf_builder *b = &y->b;
    yaml_frame *f = &y->stack[y->depth - 1];
    gwf_node *n = f->node;
    size_t size =
        n->type == GWF_NODE_SEQ ? sizeof(gwf_node *) : sizeof(gwf_pair);
    void *items = NULL;
    if (f->count) {
        items = gwf_tree_alloc(b->tree, f->count * size);
        if (!items) {
            gwf_builder_oom(b);
            return -1;
        }
        memcpy(items, f->items, f->count * size);
    }
    n->count = f->count;
    n->height = 1;
    for (size_t i = 0; i < n->count; i++) {
        gwf_node *child;
        if (n->type == GWF_NODE_SEQ) {
            child = ((gwf_node **)items)[i];
        } else {
            const gwf_pair *p = &((gwf_pair *)items)[i];
            child = p->value;
            n->bytes += p->key_len;
        }
        n->weight += child->weight;
        n->bytes += child->bytes;
        if (child->height + 1 > n->height)
            n->height = child->height + 1;
    }
    if (n->type == GWF_NODE_SEQ) {
        n->c.items = items;
    } else {
        n->c.pairs = items;
        gwf_builder_check_keys(b, n);
    }
    char *anchor = f->anchor;
    free(f->items);
    memset(f, 0, sizeof(*f));
    y->depth--;
    if (anchor && anchors_put(y, anchor, n) != 0) {
        gwf_builder_oom(b);
        return -1;
    }
    return yaml_attach(y, n);
}

/* libyaml reports reader errors (bad UTF-8, control characters) by byte
 * offset only; turn that into line and column. */
static void
offset_to_position(const char *data, size_t len, size_t offset, unsigned *line,
                   unsigned *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (data[i] == '\n') {
            (*line)++;
            *column = 1;
        } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
            (*column)++;
        }
    }
}

static void
yaml_report_parser_error(gwf_builder *b, const yaml_parser_t *p,
                         const char *data, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR) {
        gwf_builder_oom(b);
        return;
    }
    unsigned line, column;
    if (p->error == YAML_READER_ERROR) {
        offset_to_position(data, len, p->problem_offset, &line, &column);
    } else {
        line = (unsigned)p->problem_mark.line + 1;
        column = (unsigned)p->problem_mark.column + 1;
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->context)
        gwf_builder_error(b, line, column, "%s (%s at line %u)", problem,
                          p->context, (unsigned)p->context_mark.line + 1);
    else
        gwf_builder_error(b, line, column, "%s", problem);
    b->fatal = true;
}

static int
yaml_handle_event(yaml_builder *y, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        anchors_clear(y); /* anchors are scoped to their document */
        return 0;
    case YAML_SCALAR_EVENT:
        return yaml_on_scalar(y, ev);
    case YAML_ALIAS_EVENT:
        return yaml_on_alias(y, ev);
    case YAML_SEQUENCE_START_EVENT:
        return yaml_on_collection_start(y, ev, GWF_NODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return yaml_on_collection_start(y, ev, GWF_NODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return yaml_on_collection_end(y);
    default:
        return 0;
    }
}

void
gwf_parse_yaml(gwf_builder *b, const char *data, size_t len)
{
    yaml_builder *y = calloc(1, sizeof(*y));
    if (!y) {
        gwf_builder_oom(b);
        return;
    }
    y->b = *b;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(y);
        gwf_builder_oom(b);
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    bool done = false;
    while (!done && !y->b.fatal) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            yaml_report_parser_error(&y->b, &parser, data, len);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        /* -1 means the structure can no longer be trusted: stop. Errors
         * that leave it intact (duplicate keys, bad tags) return 0. */
        if (yaml_handle_event(y, &ev) != 0)
            y->b.fatal = true;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    yaml_stack_clear(y);
    anchors_clear(y);
    *b = y->b;
    free(y);
}
