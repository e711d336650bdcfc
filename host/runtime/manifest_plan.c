/*
 * manifest_plan.c - one route's request to its ordered plugin instances.
 *
 * Planning turns one route's request (a policy, extensions, a direct
 * response, a backend) into the ordered list of plugin instances. It
 * re-checks the documents it uses (manifest_validate.c), so that a plan
 * is never built on a shape validation would have refused, even if the
 * caller skipped it.
 */
#include "manifest_internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Plans                                                               */

typedef struct planner {
    const gwf_manifests *m;
    gwf_diag *d;
    gwf_plan_entry *entries;
    size_t count, cap;
    bool failed;
} planner;

static void
planner_oom(planner *p)
{
    if (!p->failed)
        gwf_diag_addf(p->d, "out of memory while building the plan");
    p->failed = true;
}

static gwf_plan_entry *
plan_add(planner *p)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        gwf_plan_entry *grown = realloc(p->entries, cap * sizeof(*grown));
        if (!grown) {
            planner_oom(p);
            return NULL;
        }
        p->entries = grown;
        p->cap = cap;
    }
    gwf_plan_entry *e = &p->entries[p->count++];
    memset(e, 0, sizeof(*e));
    return e;
}

static char *
json_of(planner *p, const gwf_node *n)
{
    char *json = gwf_node_to_json(n);
    if (!json)
        planner_oom(p);
    return json;
}

/* Fills the config part of an entry from a document node. */
static void
plan_config(planner *p, gwf_plan_entry *e, const char *plugin,
            const gwf_doc *doc, const char *field)
{
    e->plugin_name = plugin;
    e->config_doc = doc;
    e->config_field = field;
    e->config_json = json_of(p, gwf_node_find(doc->root, field, NULL));
}

static void
plan_route(planner *p, gwf_plan_entry *e, const gwf_doc *policy,
           const char *field)
{
    e->route_doc = policy;
    e->route_field = field;
    e->route_json = json_of(p, gwf_node_find(policy->root, field, NULL));
}

/* Finds a referenced document and checks it; NULL when it is missing
 * or invalid (reported). */
static const gwf_doc *
plan_resolve(planner *p, const char *kind, const char *ref)
{
    const char *ns, *name;
    size_t ns_len, name_len;
    char quoted[128];
    if (!manifest_split_ref(ref, &ns, &ns_len, &name, &name_len)) {
        gwf_quote(quoted, sizeof(quoted), ref ? ref : "",
                  ref ? strlen(ref) : 0);
        gwf_diag_addf(p->d,
                      "invalid %s reference %s (expected NAME or "
                      "NAMESPACE/NAME)",
                      kind, quoted);
        return NULL;
    }
    const doc_rec *r = manifest_lookup(p->m, kind, ns, ns_len, name, name_len);
    if (!r) {
        gwf_diag_addf(p->d, "%s %.*s/%.*s not found", kind, (int)ns_len, ns,
                      (int)name_len, name);
        return NULL;
    }
    if (manifest_check_document(p->m, &r->pub, p->d) != 0)
        return NULL;
    return &r->pub;
}

/* The extension an extensionRef under `field` of a (checked) policy
 * points at. */
static const gwf_doc *
policy_extension(const planner *p, const gwf_doc *policy, const char *field)
{
    char path[128];
    snprintf(path, sizeof(path), "%s.extensionRef", field);
    const gwf_node *ref = gwf_node_find(policy->root, path, NULL);
    const char *name = manifest_plain_string(gwf_node_get(ref, "name"));
    const char *ns = manifest_plain_string(manifest_field_of(ref, "namespace"));
    if (!ns)
        ns = policy->namespace_;
    const doc_rec *r = name ? manifest_lookup(p->m, "GatewayExtension", ns,
                                              strlen(ns), name, strlen(name))
                            : NULL;
    return r ? &r->pub : NULL;
}

static void
plan_policy_ref(planner *p, const gwf_doc *policy, const char *field,
                ext_type type)
{
    const gwf_doc *ext = policy_extension(p, policy, field);
    gwf_plan_entry *e;
    if (!ext)
        return; /* cannot happen for a checked policy */
    if (manifest_check_document(p->m, ext, p->d) != 0 || !(e = plan_add(p)))
        return;
    plan_config(p, e, manifest_ext_types[type].plugin, ext,
                manifest_ext_types[type].path);
    plan_route(p, e, policy, field);
}

/* In chain order (manifest.h); each is also the field's path under
 * spec. */
static const char *const policy_field_names[GWF_PF_COUNT] = {
    "cors", "apiKeyAuth",      "basicAuth",        "extAuth", "jwtAuth",
    "rbac", "rateLimit.local", "rateLimit.global", "csrf"};

const char *
gwf_policy_field_name(gwf_policy_field f)
{
    return (unsigned)f < GWF_PF_COUNT ? policy_field_names[f] : NULL;
}

gwf_policy_field
gwf_policy_field_parse(const char *name, size_t len)
{
    for (size_t i = 0; i < GWF_PF_COUNT; i++)
        if (strlen(policy_field_names[i]) == len &&
            memcmp(policy_field_names[i], name, len) == 0)
            return (gwf_policy_field)i;
    return GWF_PF_COUNT;
}

const gwf_node *
gwf_policy_field_node(const gwf_node *spec, gwf_policy_field f)
{
    if ((unsigned)f >= GWF_PF_COUNT)
        return NULL;
    if (f == GWF_PF_RATE_LIMIT_LOCAL || f == GWF_PF_RATE_LIMIT_GLOBAL)
        return manifest_field_of(manifest_field_of(spec, "rateLimit"),
                                 f == GWF_PF_RATE_LIMIT_LOCAL ? "local"
                                                              : "global");
    return manifest_field_of(spec, policy_field_names[f]);
}

bool
gwf_policy_field_off(const gwf_node *spec, gwf_policy_field f)
{
    const gwf_node *n = gwf_policy_field_node(spec, f);
    if (!n)
        return false;
    switch (f) {
    case GWF_PF_RATE_LIMIT_LOCAL:
        return manifest_local_rate_limit_off(n);
    case GWF_PF_CSRF:              /* kgateway's CSRFPolicy has no disable */
    case GWF_PF_RBAC:              /* nor has Authorization */
    case GWF_PF_RATE_LIMIT_GLOBAL: /* nor has the global limit */
        return false;
    default:
        return manifest_disabled(n);
    }
}

/* Whether Secret `secret` carries every label of `match` (a checked,
 * non-empty matchLabels). */
static bool
labels_match(const gwf_doc *secret, const gwf_node *match)
{
    const gwf_node *labels = manifest_field_of(
        manifest_field_of(secret->root, "metadata"), "labels");
    for (size_t i = 0; i < gwf_node_size(match); i++) {
        const char *want = manifest_plain_string(gwf_node_value_at(match, i));
        const char *have = manifest_plain_string(
            manifest_field_of(labels, gwf_node_key_at(match, i)));
        if (!want || !have || strcmp(want, have) != 0)
            return false;
    }
    return true;
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* apiKeyAuth.secretSelector: the Secrets of the policy's namespace whose
 * labels match, each checked, as `"gwfSelectedSecrets":["a","b"]`
 * spliced into the config JSON `json` (an object, freed here). A
 * checked Secret's name is a DNS-1123 subdomain: no JSON escaping. No
 * Secret matching is not an error here: the plugin then has no key, logs
 * a warning and refuses every request (docs/manifests.md). */
static char *
add_selected_secrets(planner *p, const gwf_doc *policy, const gwf_node *match,
                     char *json)
{
    const char **names = NULL;
    size_t count = 0, cap = 0, size = strlen(json) + 32;
    for (size_t i = 0; i < gwf_manifests_count(p->m); i++) {
        const gwf_doc *d = gwf_manifests_at(p->m, i);
        if (!d->kind || strcmp(d->kind, "Secret") != 0 || !d->name ||
            !d->namespace_ || strcmp(d->namespace_, policy->namespace_) != 0 ||
            !labels_match(d, match))
            continue;
        if (manifest_check_document(p->m, d, p->d) != 0)
            continue;
        if (count == cap) {
            size_t grown_cap = cap ? cap * 2 : 8;
            const char **grown = realloc(names, grown_cap * sizeof(*grown));
            if (!grown) {
                planner_oom(p);
                free(names);
                free(json);
                return NULL;
            }
            names = grown;
            cap = grown_cap;
        }
        names[count++] = d->name;
        size += strlen(d->name) + 3;
    }
    if (count)
        qsort(names, count, sizeof(*names), compare_names);
    size_t len = strlen(json);
    char *out = len >= 2 && json[len - 1] == '}' ? malloc(size) : NULL;
    if (!out) {
        planner_oom(p); /* or a node that is no mapping: cannot happen */
        free(names);
        free(json);
        return NULL;
    }
    size_t o = len - 1; /* before the closing brace */
    memcpy(out, json, o);
    o += (size_t)snprintf(out + o, size - o, "%s\"gwfSelectedSecrets\":[",
                          len > 2 ? "," : "");
    for (size_t i = 0; i < count; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0) /* duplicates */
            o += (size_t)snprintf(out + o, size - o, "%s\"%s\"", i ? "," : "",
                                  names[i]);
    snprintf(out + o, size - o, "]}");
    free(names);
    free(json);
    return out;
}

/* A field whose node is the plugin's whole config (cors, csrf,
 * basicAuth, apiKeyAuth). */
static void
plan_field_plugin(planner *p, const gwf_doc *policy, const char *plugin,
                  const char *field)
{
    gwf_plan_entry *e = plan_add(p);
    if (!e)
        return;
    plan_config(p, e, plugin, policy, field);
    const gwf_node *match = gwf_node_find(
        policy->root, "spec.apiKeyAuth.secretSelector.matchLabels", NULL);
    if (e->config_json && strcmp(field, "spec.apiKeyAuth") == 0 && match)
        e->config_json = add_selected_secrets(p, policy, match, e->config_json);
}

static void
plan_local_rate_limit(planner *p, const gwf_doc *policy, const gwf_node *local)
{
    gwf_plan_entry *e;
    if (manifest_local_rate_limit_off(local) || !(e = plan_add(p)))
        return;
    e->plugin_name = "rate_limit";
    e->config_doc = policy;
    e->config_field = "spec.rateLimit.local";
    char *local_json = json_of(p, local);
    if (!local_json)
        return;
    size_t size = strlen(local_json) + sizeof("{\"local\":}");
    e->config_json = malloc(size);
    if (e->config_json)
        snprintf(e->config_json, size, "{\"local\":%s}", local_json);
    else
        planner_oom(p);
    free(local_json);
}

/* Field f of a (checked) policy, when it sets it and does not switch it
 * off. */
static void
plan_policy_field(planner *p, const gwf_doc *policy, gwf_policy_field f)
{
    const gwf_node *n = gwf_policy_field_node(policy->spec, f);
    if (!n || gwf_policy_field_off(policy->spec, f))
        return;
    switch (f) {
    case GWF_PF_CORS:
        plan_field_plugin(p, policy, "cors", "spec.cors");
        break;
    case GWF_PF_CSRF:
        plan_field_plugin(p, policy, "csrf", "spec.csrf");
        break;
    case GWF_PF_JWT_AUTH:
        plan_policy_ref(p, policy, "spec.jwtAuth", EXT_JWT);
        break;
    case GWF_PF_BASIC_AUTH:
        plan_field_plugin(p, policy, "basic_auth", "spec.basicAuth");
        break;
    case GWF_PF_API_KEY_AUTH:
        plan_field_plugin(p, policy, "api_key_auth", "spec.apiKeyAuth");
        break;
    case GWF_PF_RBAC:
        plan_field_plugin(p, policy, "rbac", "spec.rbac");
        break;
    case GWF_PF_EXT_AUTH:
        plan_policy_ref(p, policy, "spec.extAuth", EXT_AUTH);
        break;
    case GWF_PF_RATE_LIMIT_LOCAL:
        plan_local_rate_limit(p, policy, n);
        break;
    case GWF_PF_RATE_LIMIT_GLOBAL:
        plan_policy_ref(p, policy, "spec.rateLimit.global", EXT_RATE_LIMIT);
        break;
    default:
        break;
    }
}

/* Whether `field` reads "spec.rules[N].filters[M].cors" (N, M decimal,
 * no sign, no leading zero but "0"). */
static bool
route_filter_path_ok(const char *field)
{
    static const char *const parts[] = {"spec.rules[", "].filters[", "].cors"};
    const char *s = field;
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]);
        if (strncmp(s, parts[i], n) != 0)
            return false;
        s += n;
        if (i == 2)
            break;
        size_t digits = strspn(s, "0123456789");
        if (digits == 0 || digits > 6 || (s[0] == '0' && digits > 1))
            return false;
        s += digits;
    }
    return *s == '\0';
}

/* An HTTPRoute rule's CORS filter (gwf_plan_request.route_filter_*):
 * the cors plugin configured with the filter's node, which the plugin
 * checks field by field (its errors name the HTTPRoute and the path). */
static void
plan_route_filter(planner *p, const char *route, const char *field)
{
    const gwf_doc *doc = plan_resolve(p, "HTTPRoute", route);
    if (!doc)
        return;
    char type_path[64];
    size_t len = strlen(field);
    if (!route_filter_path_ok(field) || len - 5 >= sizeof(type_path)) {
        gwf_doc_errorf(p->d, doc, NULL,
                       "a route filter must be named "
                       "spec.rules[N].filters[M].cors");
        return;
    }
    memcpy(type_path, field, len - 5);
    memcpy(type_path + len - 5, ".type", 6);
    const char *type =
        manifest_plain_string(gwf_node_find(doc->root, type_path, NULL));
    const gwf_node *cors = gwf_node_find(doc->root, field, NULL);
    if (!type || strcmp(type, "CORS") != 0) {
        gwf_doc_errorf(p->d, doc, type_path, "expected a filter of type CORS");
        return;
    }
    if (gwf_node_type_of(cors) != GWF_NODE_MAP) {
        gwf_doc_errorf(p->d, doc, field,
                       "expected a mapping (the HTTPCORSFilter)");
        return;
    }
    if (manifest_field_of(cors, "disable")) {
        gwf_doc_errorf(p->d, doc, field,
                       "unknown field \"disable\" (an HTTPCORSFilter has "
                       "none: leave the filter out instead)");
        return;
    }
    gwf_plan_entry *e = plan_add(p);
    if (e)
        plan_config(p, e, "cors", doc, field);
}

static void
plan_extension(planner *p, const gwf_doc *ext)
{
    ext_type type = ((const doc_rec *)ext)->ext;
    gwf_plan_entry *e;
    if (type == EXT_INVALID || !(e = plan_add(p)))
        return;
    if (type != EXT_PLUGIN) {
        plan_config(p, e, manifest_ext_types[type].plugin, ext,
                    manifest_ext_types[type].path);
        return;
    }
    const gwf_node *plugin = manifest_field_of(ext->spec, "plugin");
    const gwf_node *config = manifest_field_of(plugin, "config");
    const char *path = manifest_plain_string(manifest_field_of(plugin, "path"));
    e->plugin_name = manifest_plain_string(manifest_field_of(plugin, "name"));
    e->config_doc = ext;
    e->config_field = "spec.plugin.config";
    e->config_json = config ? json_of(p, config) : strdup("{}");
    if (!e->config_json)
        planner_oom(p);
    if (!path)
        return;
    const doc_rec *r = (const doc_rec *)ext;
    if (path[0] != '/' && !r->base_dir) {
        gwf_doc_errorf(p->d, ext, "spec.plugin.path",
                       "cannot make the relative path absolute: the "
                       "current directory is unknown");
        return;
    }
    e->plugin_path =
        manifest_join_clean(path[0] == '/' ? "" : r->base_dir, path);
    if (!e->plugin_path)
        planner_oom(p);
}

static void
plan_backend(planner *p, const gwf_doc *backend)
{
    gwf_plan_entry *e;
    /* A static backend only tells the data plane where to connect: no
     * plugin runs for it. */
    if (!manifest_field_of(backend->spec, "aws") || !(e = plan_add(p)))
        return;
    plan_config(p, e, "lambda_signer", backend, "spec.aws");
}

int
gwf_manifests_plan(const gwf_manifests *m, const gwf_plan_request *req,
                   gwf_plan *out, gwf_diag *d)
{
    size_t before = d->count;
    planner p = {.m = m, .d = d};
    const gwf_doc *doc;
    out->entries = NULL;
    out->count = 0;
    if (!m || !req)
        return 0;

    const gwf_doc *whole =
        req->policy ? plan_resolve(&p, "TrafficPolicy", req->policy) : NULL;
    const gwf_doc *field_docs[GWF_PF_COUNT] = {0};
    for (size_t f = 0; f < GWF_PF_COUNT; f++) {
        const char *ref = req->field_policies[f];
        size_t same = 0; /* one resolution (and message) per distinct ref */
        while (ref && same < f &&
               !(req->field_policies[same] &&
                 strcmp(req->field_policies[same], ref) == 0))
            same++;
        if (!ref)
            doc = whole;
        else if (same < f)
            doc = field_docs[same];
        else
            doc = plan_resolve(&p, "TrafficPolicy", ref);
        field_docs[f] = doc;
        if (f == GWF_PF_CORS &&
            (req->route_filter_route || req->route_filter_field)) {
            if (!req->route_filter_route || !req->route_filter_field)
                gwf_diag_addf(d, "a route filter needs both its HTTPRoute "
                                 "and its field path");
            else
                plan_route_filter(&p, req->route_filter_route,
                                  req->route_filter_field);
            continue; /* the rule's own filter wins over any policy's */
        }
        if (doc)
            plan_policy_field(&p, doc, (gwf_policy_field)f);
    }
    for (size_t i = 0; i < req->extension_count; i++) {
        doc = plan_resolve(&p, "GatewayExtension", req->extensions[i]);
        if (doc)
            plan_extension(&p, doc);
    }
    if (req->direct_response &&
        (doc = plan_resolve(&p, "DirectResponse", req->direct_response))) {
        gwf_plan_entry *e = plan_add(&p);
        if (e)
            plan_config(&p, e, "direct_response", doc, "spec");
    }
    if (req->backend && (doc = plan_resolve(&p, "Backend", req->backend)))
        plan_backend(&p, doc);

    gwf_plan plan = {p.entries, p.count};
    if (d->count != before) {
        gwf_plan_free(&plan);
        return manifest_errors_since(d, before);
    }
    *out = plan;
    return 0;
}

void
gwf_plan_free(gwf_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->count; i++) {
        free(p->entries[i].plugin_path);
        free(p->entries[i].config_json);
        free(p->entries[i].route_json);
    }
    free(p->entries);
    p->entries = NULL;
    p->count = 0;
}
