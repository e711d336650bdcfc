/*
 * descriptors.c - the limits, in envoyproxy/ratelimit's own format, and
 * how a request's descriptor finds its limit.
 *
 * The config is a tree: each node is {key, value?, rate_limit?,
 * shadow_mode?, descriptors?}. A request descriptor (a list of key/value
 * entries) walks it one entry per level, preferring, as envoyproxy/
 * ratelimit does, a node with that exact value, then a node whose value
 * ends in '*' and is a prefix of the entry's value, then a node with the
 * key and no value. The last entry's node holds the limit; a descriptor
 * that stops early or finds no node is not limited. So an existing
 * ratelimit config means the same thing here.
 *
 * The tree is read through gwf/sdk_config.h, so its mistakes are worded
 * as every plugin words them; what only this format has (units in any
 * case, a duplicate key and value at one level) is checked here.
 */
#include <gwf/sdk_config.h>
#include "rate_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    uint64_t seconds;
} units[] = {
    {"second", 1},    {"minute", 60},     {"hour", 3600},     {"day", 86400},
    {"week", 604800}, {"month", 2592000}, {"year", 31536000},
};
#define UNIT_NAMES "second, minute, hour, day, week, month, year"

/* envoyproxy/ratelimit's units are matched in any case ("SECOND"), so not
 * with gwf_cfg_enum; the message has its words. */
static void
parse_unit(gwf_cfg *c, const char *path, const json_t *rl, rl_limit *limit)
{
    char field[GWF_CFG_PATH_MAX];
    const char *text = NULL;

    gwf_cfg_member(field, path, "unit");
    /* null is absent (a YAML `unit: !tag` or `unit: ~` reads as null) */
    if (!json_object_get(rl, "unit") ||
        json_is_null(json_object_get(rl, "unit"))) {
        gwf_cfg_fail(c, field, "is required: expected one of: " UNIT_NAMES);
        return;
    }
    if (gwf_cfg_string(c, path, rl, "unit", 0, &text) != GWF_OK || !text)
        return;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(text, units[i].name) == 0) {
            limit->unit_seconds = units[i].seconds;
            limit->unit_name = units[i].name;
            return;
        }
    }
    gwf_cfg_fail(c, field, "expected one of: " UNIT_NAMES ", found \"%.40s\"",
                 text);
}

static void
parse_rate_limit(gwf_cfg *c, const char *path, const json_t *rl,
                 rl_limit *limit)
{
    static const char *const known[] = {"unit", "requests_per_unit",
                                        "unlimited", "name", NULL};
    int64_t n;

    gwf_cfg_known(c, path, rl, known);
    gwf_cfg_bool(c, path, rl, "unlimited", 0, &limit->unlimited);
    if (limit->unlimited) {
        if (json_object_get(rl, "unit") ||
            json_object_get(rl, "requests_per_unit"))
            gwf_cfg_fail(c, path,
                         "an unlimited rate_limit has no unit or "
                         "requests_per_unit");
        return;
    }
    parse_unit(c, path, rl, limit);
    if (gwf_cfg_int(c, path, rl, "requests_per_unit", GWF_CFG_REQUIRED, 0,
                    UINT32_MAX, &n) == GWF_OK)
        limit->requests_per_unit = (uint64_t)n;
}

static void parse_level(gwf_cfg *c, const char *path, const char *label,
                        const json_t *list, rl_node *parent);

/* A copy of `text` for the node, or NULL (reported). */
static char *
copy(gwf_cfg *c, const char *path, const char *name, const char *text)
{
    char field[GWF_CFG_PATH_MAX];
    char *dup = strdup(text);

    if (!dup)
        gwf_cfg_no_memory(c, gwf_cfg_member(field, path, name));
    return dup;
}

/* `value`, which YAML turns into a number or a boolean unless quoted. */
static void
parse_value(gwf_cfg *c, const char *path, const json_t *d, rl_node *node)
{
    const json_t *v = json_object_get(d, "value");
    const char *text = NULL;
    char field[GWF_CFG_PATH_MAX];

    if (json_is_number(v) || json_is_boolean(v)) {
        gwf_cfg_fail(c, gwf_cfg_member(field, path, "value"),
                     "expected a string (quote numbers in YAML), found %s",
                     gwf_json_kind(v));
        return;
    }
    if (gwf_cfg_string(c, path, d, "value", 0, &text) != GWF_OK || !text)
        return;
    node->value = copy(c, path, "value", text);
    if (!node->value)
        return;
    node->value_len = strlen(node->value);
    if (node->value_len > 0 && node->value[node->value_len - 1] == '*') {
        node->wildcard = 1;
        node->value_len--;
    }
}

static void
parse_node(gwf_cfg *c, const char *path, const char *parent_label,
           const json_t *d, rl_node *node)
{
    static const char *const known[] = {
        "key",         "value",           "rate_limit", "shadow_mode",
        "descriptors", "detailed_metric", NULL};
    char field[GWF_CFG_PATH_MAX], label[512];
    const json_t *rl = NULL, *list = NULL;
    const char *key = NULL;
    int detailed_metric = 0;

    if (gwf_cfg_check_object(c, path, d,
                             "an object {key, value, rate_limit, "
                             "descriptors}",
                             GWF_CFG_REQUIRED) != GWF_OK)
        return;
    gwf_cfg_known(c, path, d, known);
    if (gwf_cfg_string(c, path, d, "key", GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY,
                       &key) != GWF_OK ||
        !(node->key = copy(c, path, "key", key)))
        return;
    node->key_len = strlen(node->key);
    parse_value(c, path, d, node);
    if (node->value)
        snprintf(label, sizeof(label), "%s%s%s_%s", parent_label,
                 *parent_label ? "." : "", node->key, node->value);
    else
        snprintf(label, sizeof(label), "%s%s%s", parent_label,
                 *parent_label ? "." : "", node->key);
    if (gwf_cfg_object(c, path, d, "rate_limit", 0, &rl) == GWF_OK && rl) {
        parse_rate_limit(c, gwf_cfg_member(field, path, "rate_limit"), rl,
                         &node->limit);
        node->has_limit = 1;
        node->limit.metric_label = copy(c, path, "rate_limit", label);
    }
    gwf_cfg_bool(c, path, d, "shadow_mode", 0, &node->limit.shadow_mode);
    gwf_cfg_bool(c, path, d, "detailed_metric", 0, &detailed_metric);
    if (gwf_cfg_list(c, path, d, "descriptors", 0, 0, &list) == GWF_OK && list)
        parse_level(c, gwf_cfg_member(field, path, "descriptors"), label, list,
                    node);
}

static int
same_key_value(const rl_node *a, const rl_node *b)
{
    if (strcmp(a->key, b->key) != 0)
        return 0;
    if (!a->value || !b->value)
        return !a->value && !b->value;
    return strcmp(a->value, b->value) == 0;
}

static void
parse_level(gwf_cfg *c, const char *path, const char *label, const json_t *list,
            rl_node *parent)
{
    char field[GWF_CFG_PATH_MAX];

    parent->children =
        calloc(json_array_size(list) + 1, sizeof(*parent->children));
    if (!parent->children) {
        gwf_cfg_no_memory(c, path);
        return;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        rl_node *node = &parent->children[parent->child_count++];
        unsigned errors = c->errors;

        gwf_cfg_item(field, path, i);
        parse_node(c, field, label, json_array_get(list, i), node);
        if (c->errors != errors || !node->key)
            continue;
        for (size_t j = 0; j + 1 < parent->child_count; j++) {
            if (parent->children[j].key &&
                same_key_value(&parent->children[j], node)) {
                gwf_cfg_fail(c, field,
                             "duplicate descriptor key \"%.40s\" value "
                             "\"%.40s\" (first at [%zu])",
                             node->key, node->value ? node->value : "", j);
                break;
            }
        }
    }
}

gwf_status
rl_descriptors_parse(gwf_cfg *c, const char *path, const json_t *obj,
                     const char *name, rl_node *root)
{
    char field[GWF_CFG_PATH_MAX];
    const json_t *list = NULL;

    if (gwf_cfg_list(c, path, obj, name, GWF_CFG_REQUIRED, 0, &list) == GWF_OK)
        parse_level(c, gwf_cfg_member(field, path, name), "", list, root);
    return gwf_cfg_status(c);
}

void
rl_node_free(rl_node *node)
{
    for (size_t i = 0; i < node->child_count; i++)
        rl_node_free(&node->children[i]);
    free(node->children);
    free(node->key);
    free(node->value);
    free(node->limit.metric_label);
    memset(node, 0, sizeof(*node));
}

static int
key_is(const rl_node *n, const rl_entry *e)
{
    return n->key_len == e->key_len && memcmp(n->key, e->key, e->key_len) == 0;
}

/* The child of `parent` for entry `e`: the one with its exact value, else
 * the first whose wildcard prefix it starts with, else the one for any
 * value. Siblings mostly share their key and differ in value: lengths
 * are compared before any bytes. */
static const rl_node *
find_child(const rl_node *parent, const rl_entry *e)
{
    const rl_node *wild = NULL, *any = NULL;

    for (size_t i = 0; i < parent->child_count; i++) {
        const rl_node *n = &parent->children[i];
        if (n->value && !n->wildcard && n->value_len != e->value_len)
            continue; /* an exact value of another length */
        if (!key_is(n, e))
            continue;
        if (!n->value) {
            any = n;
        } else if (!n->wildcard) {
            if (memcmp(n->value, e->value, e->value_len) == 0)
                return n;
        } else if (!wild && e->value_len >= n->value_len &&
                   memcmp(n->value, e->value, n->value_len) == 0) {
            wild = n;
        }
    }
    return wild ? wild : any;
}

const rl_limit *
rl_descriptors_match(const rl_node *root, const rl_entry *entries, size_t count)
{
    const rl_node *node = root;

    for (size_t i = 0; i < count; i++) {
        node = find_child(node, &entries[i]);
        if (!node)
            return NULL;
    }
    return count > 0 && node->has_limit ? &node->limit : NULL;
}
