/*
 * config.c - reading the csrf plugin's config: kgateway's CSRFPolicy.
 *
 *   percentageEnabled   0-100, the share of requests checked and
 *                       enforced; 0 when left out (kgateway sets
 *                       Envoy's filter_enabled to 0 then)
 *   percentageShadowed  0-100, the share checked and counted but let
 *                       through; at most one of the two (kgateway's
 *                       AtMostOneOf)
 *   additionalOrigins   at most 16 shared.StringMatcher: exactly one of
 *                       exact, prefix, suffix, contains, safeRegex, and
 *                       ignoreCase (not for the regex)
 *   disable             accepted and ignored (the runtime drops a
 *                       disabled field before a plugin sees it)
 *
 * safeRegex is RE2 syntax in kgateway; gwf compiles it with PCRE2, which
 * reads the RE2 syntax operators write (classes, groups, alternation,
 * repetition) the same way. It is matched against the whole source
 * (Envoy's safe_regex is a full match), with a match limit so a
 * pathological pattern costs bounded time; PCRE2-only constructs that
 * RE2 refuses (back references, lookaround) are refused here too, so a
 * policy means the same in kgateway and gwf.
 */
#include "csrf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PCRE2's budget for one match (its default is 10 million steps). */
#define CSRF_MATCH_LIMIT 100000
#define CSRF_DEPTH_LIMIT 1000

/* Constructs RE2 does not have: a back reference (\1-\9, \g, \k) or a
 * lookaround / atomic group / recursion "(?=", "(?!", "(?<=", "(?<!",
 * "(?>", "(?R", "(?1". Named groups "(?P<name>" and "(?<name>" are RE2's. */
static const char *
re2_incompatible(const char *re)
{
    for (size_t i = 0; re[i]; i++) {
        if (re[i] == '\\' && re[i + 1]) {
            char c = re[i + 1];
            if ((c >= '1' && c <= '9') || c == 'g' || c == 'k')
                return "a back reference";
            i++;
            continue;
        }
        if (re[i] == '(' && re[i + 1] == '?') {
            const char *p = re + i + 2;
            if (*p == '=' || *p == '!' || *p == '>' || *p == 'R' ||
                (*p >= '0' && *p <= '9') || *p == '&' || *p == '(' ||
                (p[0] == '<' && (p[1] == '=' || p[1] == '!')))
                return "a lookaround, atomic group, condition or recursion";
        }
    }
    return NULL;
}

static void
parse_matcher(csrf_config *cfg, gwf_cfg *c, size_t index, const json_t *item)
{
    static const char *const known[] = {"exact",    "prefix",    "suffix",
                                        "contains", "safeRegex", "ignoreCase",
                                        NULL};
    static const char *const kinds[] = {"exact", "prefix", "suffix", "contains",
                                        "safeRegex"};
    char field[GWF_CFG_PATH_MAX], member[GWF_CFG_PATH_MAX];
    csrf_matcher *m = &cfg->origins[cfg->origin_count];
    const char *text = NULL;
    int found = 0, ignore_case = 0;

    gwf_cfg_item(field, "additionalOrigins", index);
    if (gwf_cfg_check_object(c, field, item,
                             "a string matcher {exact | prefix | suffix | "
                             "contains | safeRegex, ignoreCase}",
                             GWF_CFG_REQUIRED) != GWF_OK)
        return;
    gwf_cfg_known(c, field, item, known);
    gwf_cfg_bool(c, field, item, "ignoreCase", 0, &ignore_case);
    for (int k = 0; k < 5; k++) {
        const char *value = NULL;
        /* kgateway: an empty prefix or suffix is not allowed; an empty
         * exact or contains would be pointless or match everything. */
        if (gwf_cfg_string(c, field, item, kinds[k], GWF_CFG_NONEMPTY,
                           &value) != GWF_OK ||
            !value)
            continue;
        found++;
        if (found == 1) {
            m->kind = (csrf_match_kind)k;
            text = value;
        }
    }
    if (found != 1) {
        gwf_cfg_fail(c, field,
                     "expected exactly one of exact, prefix, suffix, "
                     "contains, safeRegex, found %s",
                     found ? "several" : "none");
        return;
    }
    m->ignore_case = ignore_case;
    m->text = gwf_cstr(text);
    if (m->kind == CSRF_REGEX) {
        const char *why = re2_incompatible(text);
        int err = 0;
        PCRE2_SIZE offset = 0;

        gwf_cfg_member(member, field, "safeRegex");
        if (why) {
            gwf_cfg_fail(c, member,
                         "expected an RE2 regular expression, found %s, "
                         "which RE2 does not support",
                         why);
            return;
        }
        m->regex = pcre2_compile((PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED,
                                 PCRE2_ANCHORED | PCRE2_ENDANCHORED |
                                     PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C,
                                 &err, &offset, NULL);
        if (!m->regex) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof(msg));
            gwf_cfg_fail(c, member,
                         "expected a regular expression, found an error at "
                         "byte %zu: %s",
                         (size_t)offset, (const char *)msg);
            return;
        }
    }
    cfg->origin_count++;
}

static void
parse_origins(csrf_config *cfg, gwf_cfg *c)
{
    const json_t *list = NULL;
    size_t count;

    if (gwf_cfg_list(c, "", cfg->doc, "additionalOrigins", 0, CSRF_MAX_ORIGINS,
                     &list) != GWF_OK ||
        !list)
        return;
    count = json_array_size(list);
    cfg->origins = calloc(count ? count : 1, sizeof(*cfg->origins));
    if (!cfg->origins) {
        gwf_cfg_no_memory(c, "additionalOrigins");
        return;
    }
    for (size_t i = 0; i < count; i++)
        parse_matcher(cfg, c, i, json_array_get(list, i));
}

static gwf_status
parse(csrf_config *cfg, gwf_cfg *c, gwf_view json)
{
    static const char *const known[] = {"percentageEnabled",
                                        "percentageShadowed",
                                        "additionalOrigins", "disable", NULL};
    const json_t *disable = NULL;
    json_error_t err;
    int64_t enabled = -1, shadowed = -1;

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
    gwf_cfg_object(c, "", cfg->doc, "disable", 0, &disable);
    gwf_cfg_int(c, "", cfg->doc, "percentageEnabled", 0, 0, 100, &enabled);
    gwf_cfg_int(c, "", cfg->doc, "percentageShadowed", 0, 0, 100, &shadowed);
    if (enabled >= 0 && shadowed >= 0)
        gwf_cfg_fail(c, "percentageShadowed",
                     "expected at most one of percentageEnabled and "
                     "percentageShadowed, found both");
    cfg->percent_enabled = enabled >= 0 ? (uint32_t)enabled : 0;
    cfg->percent_shadowed = shadowed >= 0 ? (uint32_t)shadowed : 0;
    parse_origins(cfg, c);
    if (cfg->origin_count > 0) {
        /* Bounded work per match, whatever the pattern and the source. */
        cfg->match_ctx = pcre2_match_context_create(NULL);
        if (!cfg->match_ctx)
            return gwf_cfg_no_memory(c, "additionalOrigins");
        pcre2_set_match_limit(cfg->match_ctx, CSRF_MATCH_LIMIT);
        pcre2_set_depth_limit(cfg->match_ctx, CSRF_DEPTH_LIMIT);
    }
    return gwf_cfg_status(c);
}

gwf_status
csrf_config_parse(gwf_instance *inst, gwf_view json, csrf_config **out)
{
    csrf_config *cfg = calloc(1, sizeof(*cfg));
    gwf_cfg c;
    gwf_status st;

    *out = NULL;
    if (!cfg)
        return GWF_ERR_NO_MEMORY;
    cfg->instance = inst;
    gwf_cfg_init(&c, inst);
    st = parse(cfg, &c, json);
    if (st != GWF_OK) {
        csrf_config_free(cfg);
        return st;
    }
    *out = cfg;
    return GWF_OK;
}

void
csrf_config_free(csrf_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->origins) {
        /* A matcher that failed half-way may hold a regex past the
         * count: free every slot the list had. */
        size_t slots = cfg->doc ? json_array_size(json_object_get(
                                      cfg->doc, "additionalOrigins"))
                                : 0;
        if (slots < cfg->origin_count)
            slots = cfg->origin_count;
        for (size_t i = 0; i < slots; i++)
            pcre2_code_free(cfg->origins[i].regex);
    }
    free(cfg->origins);
    pcre2_match_context_free(cfg->match_ctx);
    json_decref(cfg->doc);
    free(cfg);
}
