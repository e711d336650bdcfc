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
 */
#include <gwf/sdk_json.h>
#include "rate_limit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    uint64_t seconds;
} units[] = {
    {"second", 1},    {"minute", 60},     {"hour", 3600},     {"day", 86400},
    {"week", 604800}, {"month", 2592000}, {"year", 31536000},
};

static int
unit_lookup(const char *text, uint64_t *seconds, const char **name)
{
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(text, units[i].name) == 0) {
            *seconds = units[i].seconds;
            *name = units[i].name;
            return 0;
        }
    }
    return -1;
}

/* Field paths in error messages are cut to FIELD_MAX on purpose: a
 * config nested hundreds of levels deep still gets a (shortened) path. */
#define FIELD_MAX 512

/* "`path`.`name`" into `field`, cut to FIELD_MAX bytes. */
static void
field_path(char field[FIELD_MAX], const char *path, const char *name)
{
    int n = snprintf(field, FIELD_MAX, "%s.%s", path, name);

    if (n < 0) /* an encoding error: no path rather than a wrong one */
        field[0] = '\0';
}

static gwf_status
parse_rate_limit(gwf_instance *inst, const char *path, const json_t *rl,
                 rl_limit *limit)
{
    static const char *const known[] = {"unit", "requests_per_unit",
                                        "unlimited", "name", NULL};
    char field[FIELD_MAX];
    const json_t *unit = json_object_get(rl, "unit");
    const json_t *rpu = json_object_get(rl, "requests_per_unit");
    const json_t *unl = json_object_get(rl, "unlimited");
    const char *key;
    json_t *v;

    if (!json_is_object(rl))
        return gwf_config_errorf(inst, path,
                                 "expected an object {unit, "
                                 "requests_per_unit}, found %s",
                                 gwf_json_kind(rl));
    json_object_foreach((json_t *)rl, key, v)
    {
        size_t i;
        for (i = 0; known[i] && strcmp(key, known[i]) != 0; i++)
            ;
        if (!known[i]) {
            field_path(field, path, key);
            return gwf_config_errorf(inst, field,
                                     "unknown field \"%.40s\" (expected "
                                     "one of: unit, requests_per_unit, "
                                     "unlimited, name)",
                                     key);
        }
    }
    if (unl) {
        field_path(field, path, "unlimited");
        if (!json_is_boolean(unl))
            return gwf_config_errorf(inst, field,
                                     "expected true or false, found %s",
                                     gwf_json_kind(unl));
        limit->unlimited = json_is_true(unl);
    }
    if (limit->unlimited) {
        if (unit || rpu)
            return gwf_config_errorf(inst, path,
                                     "an unlimited rate_limit has no unit "
                                     "or requests_per_unit");
        return GWF_OK;
    }
    field_path(field, path, "unit");
    if (!json_is_string(unit))
        return gwf_config_errorf(inst, field,
                                 "is required: expected one of second, "
                                 "minute, hour, day, week, month, year");
    if (unit_lookup(json_string_value(unit), &limit->unit_seconds,
                    &limit->unit_name) != 0)
        return gwf_config_errorf(inst, field,
                                 "expected one of second, minute, hour, "
                                 "day, week, month, year, found \"%.40s\"",
                                 json_string_value(unit));
    field_path(field, path, "requests_per_unit");
    if (!json_is_integer(rpu) || json_integer_value(rpu) < 0 ||
        json_integer_value(rpu) > UINT32_MAX)
        return gwf_config_errorf(inst, field,
                                 "is required: expected an integer "
                                 "0-4294967295");
    limit->requests_per_unit = (uint64_t)json_integer_value(rpu);
    return GWF_OK;
}

static gwf_status parse_level(gwf_instance *inst, const char *path,
                              const char *label, const json_t *list,
                              rl_node *parent);

static gwf_status
parse_node(gwf_instance *inst, const char *path, const char *parent_label,
           const json_t *d, rl_node *node)
{
    static const char *const known[] = {
        "key",         "value",           "rate_limit", "shadow_mode",
        "descriptors", "detailed_metric", NULL};
    char field[FIELD_MAX], label[512];
    const json_t *key = json_object_get(d, "key");
    const json_t *value = json_object_get(d, "value");
    const json_t *v;
    const char *name;
    gwf_status st = GWF_OK;

    if (!json_is_object(d))
        return gwf_config_errorf(inst, path,
                                 "expected an object {key, value, "
                                 "rate_limit, descriptors}, found %s",
                                 gwf_json_kind(d));
    json_object_foreach((json_t *)d, name, v)
    {
        size_t i;
        for (i = 0; known[i] && strcmp(name, known[i]) != 0; i++)
            ;
        if (known[i])
            continue;
        field_path(field, path, name);
        st = gwf_config_errorf(inst, field,
                               "unknown field \"%.40s\" (expected one of: "
                               "key, value, rate_limit, shadow_mode, "
                               "descriptors, detailed_metric)",
                               name);
    }
    field_path(field, path, "key");
    if (!json_is_string(key) || json_string_length(key) == 0 ||
        strlen(json_string_value(key)) != json_string_length(key))
        return gwf_config_errorf(inst, field,
                                 "is required: expected a non-empty "
                                 "string");
    node->key = strdup(json_string_value(key));
    if (!node->key)
        return GWF_ERR_NO_MEMORY;
    if (value) {
        field_path(field, path, "value");
        if (!json_is_string(value) ||
            strlen(json_string_value(value)) != json_string_length(value))
            return gwf_config_errorf(inst, field,
                                     "expected a string (quote numbers "
                                     "in YAML), found %s",
                                     gwf_json_kind(value));
        node->value = strdup(json_string_value(value));
        if (!node->value)
            return GWF_ERR_NO_MEMORY;
        node->value_len = strlen(node->value);
        if (node->value_len > 0 && node->value[node->value_len - 1] == '*') {
            node->wildcard = 1;
            node->value_len--;
        }
    }
    if (node->value)
        snprintf(label, sizeof(label), "%s%s%s_%s", parent_label,
                 *parent_label ? "." : "", node->key, node->value);
    else
        snprintf(label, sizeof(label), "%s%s%s", parent_label,
                 *parent_label ? "." : "", node->key);
    v = json_object_get(d, "rate_limit");
    if (v) {
        field_path(field, path, "rate_limit");
        if (parse_rate_limit(inst, field, v, &node->limit) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
        node->has_limit = 1;
        node->limit.metric_label = strdup(label);
        if (!node->limit.metric_label)
            return GWF_ERR_NO_MEMORY;
    }
    v = json_object_get(d, "shadow_mode");
    if (v) {
        field_path(field, path, "shadow_mode");
        if (!json_is_boolean(v))
            st = gwf_config_errorf(inst, field,
                                   "expected true or false, found %s",
                                   gwf_json_kind(v));
        node->limit.shadow_mode = json_is_true(v);
    }
    v = json_object_get(d, "detailed_metric");
    if (v && !json_is_boolean(v)) {
        field_path(field, path, "detailed_metric");
        st = gwf_config_errorf(inst, field, "expected true or false, found %s",
                               gwf_json_kind(v));
    }
    v = json_object_get(d, "descriptors");
    if (v) {
        field_path(field, path, "descriptors");
        if (parse_level(inst, field, label, v, node) != GWF_OK)
            st = GWF_ERR_BAD_ARGUMENT;
    }
    return st;
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

static gwf_status
parse_level(gwf_instance *inst, const char *path, const char *label,
            const json_t *list, rl_node *parent)
{
    char field[FIELD_MAX];
    gwf_status st = GWF_OK;

    if (!json_is_array(list))
        return gwf_config_errorf(inst, path, "expected a list, found %s",
                                 gwf_json_kind(list));
    parent->children =
        calloc(json_array_size(list) + 1, sizeof(*parent->children));
    if (!parent->children)
        return GWF_ERR_NO_MEMORY;
    for (size_t i = 0; i < json_array_size(list); i++) {
        rl_node *node = &parent->children[parent->child_count++];
        snprintf(field, sizeof(field), "%s[%zu]", path, i);
        if (parse_node(inst, field, label, json_array_get(list, i), node) !=
            GWF_OK) {
            st = GWF_ERR_BAD_ARGUMENT;
            continue;
        }
        for (size_t j = 0; j + 1 < parent->child_count; j++) {
            if (parent->children[j].key &&
                same_key_value(&parent->children[j], node)) {
                st = gwf_config_errorf(inst, field,
                                       "duplicate descriptor key \"%.40s\" "
                                       "value \"%.40s\" (first at [%zu])",
                                       node->key,
                                       node->value ? node->value : "", j);
                break;
            }
        }
    }
    return st;
}

gwf_status
rl_descriptors_parse(gwf_instance *inst, const char *field, const json_t *list,
                     rl_node *root)
{
    if (!list)
        return gwf_config_errorf(inst, field,
                                 "is required: expected a list of "
                                 "descriptors");
    return parse_level(inst, field, "", list, root);
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
    return strlen(n->key) == e->key_len &&
           memcmp(n->key, e->key, e->key_len) == 0;
}

static const rl_node *
find_child(const rl_node *parent, const rl_entry *e)
{
    const rl_node *wild = NULL, *any = NULL;

    for (size_t i = 0; i < parent->child_count; i++) {
        const rl_node *n = &parent->children[i];
        if (!key_is(n, e))
            continue;
        if (!n->value) {
            any = n;
        } else if (!n->wildcard) {
            if (n->value_len == e->value_len &&
                memcmp(n->value, e->value, e->value_len) == 0)
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
