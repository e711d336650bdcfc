/*
 * config.c - reading the cors plugin's config: kgateway's CorsPolicy,
 * which is the Gateway API's HTTPCORSFilter inline plus `disable`.
 *
 * Everything a response needs is built here, once: the parsed origin
 * rules, the joined Access-Control-Allow-Methods / -Allow-Headers /
 * -Expose-Headers values and the Max-Age text, so that the stream hooks
 * only compare and point. The bounds and rules are the Gateway API's
 * (its CRD validation), so a policy Kubernetes would refuse is refused
 * here too, with the field's path: at most 64 origins, 9 methods, 64
 * header names; "*" never beside other values; no repeated value (the
 * lists are sets); maxAge at least 1, 5 when left out.
 */
#include "cors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const cors_methods[] = {
    "GET",     "HEAD",  "POST",  "PUT", "DELETE", "CONNECT",
    "OPTIONS", "TRACE", "PATCH", "*",   NULL};

/* Report a repeated value or a "*" beside others in list `field`;
 * `same` compares two items. Returns 1 when the list is fine. */
static int
check_set(gwf_cfg *c, const char *field, const char *const *items, size_t count,
          int ignore_case)
{
    int ok = 1;

    for (size_t i = 0; i < count; i++) {
        char path[GWF_CFG_PATH_MAX];
        if (strcmp(items[i], "*") == 0 && count > 1) {
            gwf_cfg_fail(c, gwf_cfg_item(path, field, i),
                         "expected \"*\" alone or a list without \"*\", "
                         "found \"*\" beside %zu other value(s)",
                         count - 1);
            ok = 0;
        }
        for (size_t j = 0; j < i; j++) {
            int same = ignore_case ? strcasecmp(items[i], items[j]) == 0
                                   : strcmp(items[i], items[j]) == 0;
            if (same) {
                gwf_cfg_fail(c, gwf_cfg_item(path, field, i),
                             "expected each value once (the list is a "
                             "set), found \"%s\" again (first at [%zu])",
                             items[i], j);
                ok = 0;
                break;
            }
        }
    }
    return ok;
}

/* Join `items` with ", " into a new string (NULL for an empty list). */
static char *
join(gwf_cfg *c, const char *field, const char *const *items, size_t count)
{
    size_t len = 0;
    char *out, *p;

    if (count == 0)
        return NULL;
    for (size_t i = 0; i < count; i++)
        len += strlen(items[i]) + 2;
    out = malloc(len + 1);
    if (!out) {
        gwf_cfg_no_memory(c, field);
        return NULL;
    }
    p = out;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(items[i]);
        if (i > 0) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, items[i], n);
        p += n;
    }
    *p = '\0';
    return out;
}

static void
parse_origins(cors_config *cfg, gwf_cfg *c)
{
    const char **items = NULL;
    size_t count = 0;

    if (gwf_cfg_string_list(c, "", cfg->doc, "allowOrigins", 0,
                            GWF_CFG_NONEMPTY, CORS_MAX_ORIGINS, &items,
                            &count) != GWF_OK ||
        !items)
        return;
    if (!check_set(c, "allowOrigins", items, count, 1)) {
        free(items);
        return;
    }
    cfg->origins = calloc(count ? count : 1, sizeof(*cfg->origins));
    if (!cfg->origins) {
        gwf_cfg_no_memory(c, "allowOrigins");
        free(items);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        char path[GWF_CFG_PATH_MAX];
        const char *why = cors_origin_parse(items[i], strlen(items[i]),
                                            &cfg->origins[cfg->origin_count]);
        if (why) {
            gwf_cfg_fail(c, gwf_cfg_item(path, "allowOrigins", i),
                         "expected %s, found \"%.300s\"", why, items[i]);
            continue;
        }
        cfg->origin_count++;
    }
    free(items);
}

static void
parse_methods(cors_config *cfg, gwf_cfg *c)
{
    const char **items = NULL;
    size_t count = 0;
    int ok = 1;

    if (gwf_cfg_string_list(c, "", cfg->doc, "allowMethods", 0,
                            GWF_CFG_NONEMPTY, CORS_MAX_METHODS, &items,
                            &count) != GWF_OK ||
        !items)
        return;
    for (size_t i = 0; i < count; i++) {
        size_t k = 0;
        while (cors_methods[k] && strcmp(cors_methods[k], items[i]) != 0)
            k++;
        if (!cors_methods[k]) {
            char path[GWF_CFG_PATH_MAX];
            gwf_cfg_fail(c, gwf_cfg_item(path, "allowMethods", i),
                         "expected one of: GET, HEAD, POST, PUT, DELETE, "
                         "CONNECT, OPTIONS, TRACE, PATCH, *, found "
                         "\"%.64s\" (methods are case-sensitive)",
                         items[i]);
            ok = 0;
        }
    }
    if (ok && check_set(c, "allowMethods", items, count, 0)) {
        if (count == 1 && strcmp(items[0], "*") == 0)
            cfg->methods_wildcard = 1;
        else
            cfg->allow_methods = join(c, "allowMethods", items, count);
    }
    free(items);
}

/* allowHeaders / exposeHeaders: HTTP header names (tokens) of 1-256
 * bytes; "*" alone is the wildcard. */
static void
parse_header_list(cors_config *cfg, gwf_cfg *c, const char *field,
                  int *wildcard, char **joined)
{
    const char **items = NULL;
    size_t count = 0;
    int ok = 1;

    if (gwf_cfg_string_list(c, "", cfg->doc, field, 0, GWF_CFG_NONEMPTY,
                            CORS_MAX_HEADERS, &items, &count) != GWF_OK ||
        !items)
        return;
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(items[i]);
        if (len > CORS_HEADER_NAME_MAX_LEN ||
            !gwf_is_header_name(items[i], len)) {
            char path[GWF_CFG_PATH_MAX];
            gwf_cfg_fail(c, gwf_cfg_item(path, field, i),
                         "expected a header name of 1 to %d bytes (letters, "
                         "digits and !#$%%&'*+-.^_`|~), found \"%.64s\"",
                         CORS_HEADER_NAME_MAX_LEN, items[i]);
            ok = 0;
        }
    }
    if (ok && check_set(c, field, items, count, 1)) {
        if (count == 1 && strcmp(items[0], "*") == 0)
            *wildcard = 1;
        else
            *joined = join(c, field, items, count);
    }
    free(items);
}

static gwf_status
parse(cors_config *cfg, gwf_cfg *c, gwf_view json)
{
    static const char *const known[] = {
        "allowOrigins", "allowMethods",     "allowHeaders", "exposeHeaders",
        "maxAge",       "allowCredentials", "disable",      NULL};
    const json_t *disable = NULL;
    json_error_t err;
    int64_t max_age = CORS_DEFAULT_MAX_AGE;

    cfg->doc = json_loadb(json.ptr, json.len,
                          JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!cfg->doc)
        return gwf_cfg_fail(c, "",
                            "expected a JSON object, found invalid JSON: %s "
                            "(line %d, column %d)",
                            err.text, err.line, err.column);
    if (gwf_cfg_check_object(c, "", cfg->doc, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK)
        return gwf_cfg_status(c);
    gwf_cfg_known(c, "", cfg->doc, known);
    /* `disable: {}` never reaches a plugin that runs (the runtime drops
     * a disabled field); it is accepted and means nothing here. */
    gwf_cfg_object(c, "", cfg->doc, "disable", 0, &disable);
    parse_origins(cfg, c);
    parse_methods(cfg, c);
    parse_header_list(cfg, c, "allowHeaders", &cfg->headers_wildcard,
                      &cfg->allow_headers);
    parse_header_list(cfg, c, "exposeHeaders", &cfg->expose_wildcard,
                      &cfg->expose_headers);
    gwf_cfg_bool(c, "", cfg->doc, "allowCredentials", 0,
                 &cfg->allow_credentials);
    gwf_cfg_int(c, "", cfg->doc, "maxAge", 0, 1, INT32_MAX, &max_age);
    snprintf(cfg->max_age, sizeof(cfg->max_age), "%" PRId64, max_age);
    /* Without credentials the wildcard is sent as is; with them the
     * names are listed from each response (filter.c). */
    if (cfg->expose_wildcard && !cfg->allow_credentials) {
        cfg->expose_headers = strdup("*");
        if (!cfg->expose_headers)
            gwf_cfg_no_memory(c, "exposeHeaders");
    }
    /* Echoed request values make the preflight answer depend on them. */
    if (cfg->methods_wildcard && cfg->headers_wildcard)
        cfg->preflight_vary = "Origin, Access-Control-Request-Method, "
                              "Access-Control-Request-Headers";
    else if (cfg->methods_wildcard)
        cfg->preflight_vary = "Origin, Access-Control-Request-Method";
    else if (cfg->headers_wildcard)
        cfg->preflight_vary = "Origin, Access-Control-Request-Headers";
    else
        cfg->preflight_vary = "Origin";
    return gwf_cfg_status(c);
}

gwf_status
cors_config_parse(gwf_instance *inst, gwf_view json, cors_config **out)
{
    cors_config *cfg = calloc(1, sizeof(*cfg));
    gwf_cfg c;
    gwf_status st;

    *out = NULL;
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->instance = inst;
    gwf_cfg_init(&c, inst);
    st = parse(cfg, &c, json);
    if (st != GWF_OK) {
        cors_config_free(cfg);
        return st;
    }
    *out = cfg;
    return GWF_OK;
}

void
cors_config_free(cors_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->prepared_count; i++)
        free(cfg->prepared[i].origin);
    free(cfg->origins);
    free(cfg->allow_methods);
    free(cfg->allow_headers);
    free(cfg->expose_headers);
    json_decref(cfg->doc);
    free(cfg);
}
