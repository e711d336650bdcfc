/*
 * node_parse.c - gwf_tree_parse: one entry point above both readers.
 *
 * It checks the input size, picks the format (a ".json" name or a
 * leading '{' or '[' means JSON), sets up the builder both readers
 * report through, and hands the bytes to yaml.c or json.c. It sits in
 * its own file because it is the one place that calls both readers, and
 * the readers call down into node.c: keeping it above them keeps the
 * runtime's layers one-way.
 */
#include "node_builder.h"

#include <locale.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Entry point                                                         */

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

gwf_format
gwf_format_detect(const char *name, const char *data, size_t len)
{
    if (name && ends_with(name, ".json"))
        return GWF_FORMAT_JSON;
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' ||
                       data[i] == '\r'))
        i++;
    if (i < len && (data[i] == '{' || data[i] == '['))
        return GWF_FORMAT_JSON;
    return GWF_FORMAT_YAML;
}

int
gwf_tree_parse(const char *name, const char *data, size_t len,
               gwf_format format, gwf_tree **out, gwf_diag *d)
{
    *out = NULL;
    if (!name)
        name = "<input>";
    if (len > GWF_NODE_MAX_INPUT) {
        gwf_diag_addf(d,
                      "%s: input of %zu bytes is larger than the limit of %u "
                      "bytes (16 MiB)",
                      name, len, GWF_NODE_MAX_INPUT);
        return -1;
    }
    if (!data) {
        data = "";
        len = 0;
    }
    gwf_builder b = {.name = name, .d = d};
    b.tree = calloc(1, sizeof(*b.tree));
    if (!b.tree) {
        gwf_diag_addf(d, "%s: out of memory while parsing", name);
        return -1;
    }
    if (format == GWF_FORMAT_AUTO)
        format = gwf_format_detect(name, data, len);
    if (format == GWF_FORMAT_JSON) {
        /* jansson does not skip a byte order mark; YAML does. */
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
            data += 3;
            len -= 3;
        }
        gwf_parse_json(&b, data, len);
    } else {
        gwf_parse_yaml(&b, data, len);
    }
    if (b.c_locale)
        freelocale(b.c_locale);
    if (b.errors) {
        gwf_tree_free(b.tree);
        return -1;
    }
    *out = b.tree;
    return 0;
}
