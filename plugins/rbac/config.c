/*
 * config.c - reading the rbac plugin's config: kgateway's
 * shared.Authorization, `{policy: {matchExpressions: [...]}, action}`.
 *
 * Each expression (1-16384 bytes, 1-256 of them, as the CRD bounds
 * them) is compiled here (cel.h): a syntax error, an attribute gwf does
 * not provide, an unsupported function or a type error is reported at
 * `policy.matchExpressions[i]` with the expression and the 1-based
 * column, and the policy is refused. An expression must be of type bool
 * (or dyn, checked when evaluated).
 */
#include "rbac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
compile_all(rbac_config *cfg, gwf_cfg *c, const json_t *list)
{
    size_t count = json_array_size(list);

    cfg->progs = calloc(count ? count : 1, sizeof(*cfg->progs));
    if (!cfg->progs) {
        gwf_cfg_no_memory(c, "policy.matchExpressions");
        return;
    }
    for (size_t i = 0; i < count; i++) {
        char path[GWF_CFG_PATH_MAX];
        const json_t *item = json_array_get(list, i);
        const char *src = json_string_value(item);
        size_t len = json_string_length(item);
        cel_error err;

        gwf_cfg_item(path, "policy.matchExpressions", i);
        if (!src) {
            gwf_cfg_fail(c, path, "expected a CEL expression (a string)");
            continue;
        }
        if (len == 0 || len > CEL_MAX_EXPR_LEN) {
            gwf_cfg_fail(c, path,
                         "expected a CEL expression of 1 to %d bytes, found "
                         "%zu bytes",
                         CEL_MAX_EXPR_LEN, len);
            continue;
        }
        if (memchr(src, '\0', len)) {
            gwf_cfg_fail(c, path,
                         "expected a CEL expression, found a NUL "
                         "byte");
            continue;
        }
        if (cel_compile(src, len, &cfg->progs[i], &err) != 0) {
            if (err.line > 1)
                gwf_cfg_fail(c, path, "%s, at line %u column %u of \"%.200s\"",
                             err.msg, err.line, err.column, src);
            else
                gwf_cfg_fail(c, path, "%s, at column %u of \"%.200s\"", err.msg,
                             err.column, src);
            continue;
        }
        cel_kind t = cfg->progs[i].root->type;
        if (t != CEL_BOOL && t != CEL_DYN) {
            gwf_cfg_fail(c, path,
                         "expected an expression of type bool, found one of "
                         "another type in \"%.200s\"",
                         src);
            cel_program_free(&cfg->progs[i]);
            continue;
        }
        cfg->prog_count = i + 1;
    }
}

static gwf_status
parse(rbac_config *cfg, gwf_cfg *c, gwf_view json)
{
    static const char *const known[] = {"policy", "action", NULL};
    static const char *const policy_known[] = {"matchExpressions", NULL};
    static const char *const actions[] = {"Allow", "Deny", NULL};
    const json_t *policy = NULL, *list = NULL;
    json_error_t jerr;
    int action = 0;

    cfg->doc = json_loadb(json.ptr, json.len,
                          JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!cfg->doc)
        return gwf_cfg_fail(c, "",
                            "expected a JSON object, found invalid JSON: %s "
                            "(line %d, column %d)",
                            jerr.text, jerr.line, jerr.column);
    if (gwf_cfg_check_object(c, "", cfg->doc, "an object", GWF_CFG_REQUIRED) !=
        GWF_OK)
        return gwf_cfg_status(c);
    gwf_cfg_known(c, "", cfg->doc, known);
    gwf_cfg_enum(c, "", cfg->doc, "action", 0, actions, &action);
    cfg->deny = action == 1;
    if (gwf_cfg_object(c, "", cfg->doc, "policy", GWF_CFG_REQUIRED, &policy) !=
            GWF_OK ||
        !policy)
        return gwf_cfg_status(c);
    gwf_cfg_known(c, "policy", policy, policy_known);
    if (gwf_cfg_list(c, "policy", policy, "matchExpressions",
                     GWF_CFG_REQUIRED | GWF_CFG_NONEMPTY, RBAC_MAX_EXPRESSIONS,
                     &list) != GWF_OK ||
        !list)
        return gwf_cfg_status(c);
    compile_all(cfg, c, list);
    return gwf_cfg_status(c);
}

gwf_status
rbac_config_parse(gwf_instance *inst, gwf_view json, rbac_config **out)
{
    rbac_config *cfg = calloc(1, sizeof(*cfg));
    gwf_cfg c;
    gwf_status st;

    *out = NULL;
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->instance = inst;
    gwf_cfg_init(&c, inst);
    st = parse(cfg, &c, json);
    if (st != GWF_OK) {
        rbac_config_free(cfg);
        return st;
    }
    *out = cfg;
    return GWF_OK;
}

void
rbac_config_free(rbac_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->progs)
        for (size_t i = 0;
             i < json_array_size(json_object_get(
                     json_object_get(cfg->doc, "policy"), "matchExpressions"));
             i++)
            cel_program_free(&cfg->progs[i]);
    free(cfg->progs);
    json_decref(cfg->doc);
    free(cfg);
}

cel_result
rbac_match(const rbac_config *cfg, const cel_activation *act, cel_scratch *sc)
{
    cel_result r = CEL_RESULT_FALSE;

    for (size_t i = 0; i < cfg->prog_count; i++) {
        cel_result x = cel_eval(&cfg->progs[i], act, sc, NULL);
        if (x == CEL_RESULT_TRUE)
            return x;
        if (x == CEL_RESULT_LIMIT)
            r = x;
    }
    return r;
}
