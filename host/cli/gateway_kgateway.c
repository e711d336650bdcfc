/*
 * gateway_kgateway.c - kgateway's own objects as the data plane judges
 * them: their status in `gwf gateway status`, and the routes a policy
 * gwf cannot honour fails closed.
 *
 * kgateway reports a Backend, GatewayExtension, TrafficPolicy or
 * DirectResponse Accepted when it translates, Invalid when it does not.
 * In gwf the question is whether the data plane's runtime takes it: its
 * shape, its references and, for what runs a plugin, the plugin found
 * (--plugin-path), loaded and configured. So the status asks the runtime
 * exactly what `gwf validate` would, and each document's errors become
 * its Accepted condition (False, reason Invalid, the errors as the
 * message, naming the field).
 *
 * Then every location the emitter will write that runs a chain (the
 * merged TrafficPolicies of an entry, its DirectResponse or Lambda
 * Backend, its rule's CORS filter) is built by a runtime configured as
 * nginx's will be (gwf_manifests_check referenced): an entry reached by a
 * policy that is not Accepted, or whose chain the runtime refuses, answers
 * 500 instead (gw_entry.fixed_status). nginx -t then never fails on a
 * policy, and the rest of the Gateway keeps serving. A rule's CORS
 * filter the cors plugin refuses makes its route PartiallyInvalid
 * (UnsupportedValue), the message naming the filter's field path.
 */
#define _GNU_SOURCE
#include "gateway_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gwf/runtime.h>

#include "translate.h"

static void
quiet(void *ctx, gwf_log_level level, const char *instance, const char *msg,
      size_t len)
{
    (void)ctx, (void)level, (void)instance, (void)msg, (void)len;
}

static bool
reported(const char *kind)
{
    return strcmp(kind, "Backend") == 0 ||
           strcmp(kind, "GatewayExtension") == 0 ||
           strcmp(kind, "TrafficPolicy") == 0 ||
           strcmp(kind, "DirectResponse") == 0;
}

/* The errors of `e` about doc ("FILE:LINE: Kind ns/name: rest"), their
 * `rest` parts joined with "; ", or NULL when there are none. */
static char *
errors_of(const gwf_errors *e, const gwf_doc *doc)
{
    char label[600];
    snprintf(label, sizeof label, ": %s %s/%s: ", doc->kind, doc->namespace_,
             doc->name);
    char *out = NULL;
    size_t len = 0;
    for (size_t i = 0; i < e->count; i++) {
        const char *at = e->lines[i] ? strstr(e->lines[i], label) : NULL;
        if (!at)
            continue;
        at += strlen(label);
        size_t add = strlen(at) + (len ? 2 : 0);
        char *grown = realloc(out, len + add + 1);
        if (!grown)
            break;
        out = grown;
        snprintf(out + len, add + 1, "%s%s", len ? "; " : "", at);
        len += add;
    }
    return out;
}

static gwf_runtime *
runtime_for(const gateway_args *a, bool referenced_only, gwf_errors *e)
{
    gwf_runtime_options o = {.plugin_path = a->plugin_path,
                             .log = quiet,
                             .referenced_only = referenced_only};
    gwf_runtime *rt = gwf_runtime_new(&o);
    if (!rt)
        return NULL;
    bool loaded = true;
    for (size_t i = 0; i < a->input_count; i++)
        loaded = gwf_runtime_load(rt, a->inputs[i], e) == 0 && loaded;
    if (!loaded) {
        gwf_runtime_free(rt);
        return NULL;
    }
    return rt;
}

static bool
accepted(const gw_model *m, const gwf_doc *doc)
{
    for (size_t i = 0; i < m->object_count; i++) {
        if (m->objects[i].doc != doc)
            continue;
        for (size_t k = 0; k < m->objects[i].conditions.count; k++) {
            const gw_condition *c = &m->objects[i].conditions.items[k];
            if (strcmp(c->type, "Accepted") == 0)
                return c->status;
        }
    }
    return true; /* not judged: nothing said against it */
}

static char *
ref_of(const gwf_doc *d)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", d->namespace_, d->name) < 0)
        s = NULL;
    return s;
}

/* Whether every policy of set is Accepted. */
static bool
members_accepted(const gw_model *m, const gw_policy_set *set)
{
    for (size_t i = 0; set && i < set->member_count; i++)
        if (!accepted(m, set->members[i]))
            return false;
    return true;
}

/* Whether the chain of entry e towards Lambda backend `lambda` (NULL:
 * its DirectResponse or its backends) builds, its policies being
 * Accepted (the caller's members_accepted). *marked: a policy was found
 * not Accepted here. */
static bool
chain_builds(gwf_runtime *rt, gw_model *m, const gw_entry *e,
             const gwf_doc *lambda, bool *marked)
{
    const gw_policy_set *set = e->policy;
    const gwf_doc *dr = gw_filters_direct_response(&e->rule->filters);
    if (dr && !accepted(m, dr))
        return false;
    char *refs_mem[GWF_PF_COUNT + 3] = {NULL};
    gwf_route_refs refs = {.route_name = "gwf gateway"};
    bool ok = true;
    const gwf_doc *cors = e->rule->filters.cors_route;
    if (cors && e->rule->filters.cors_field) {
        ok = (refs.route_filter_route = refs_mem[GWF_PF_COUNT + 2] =
                  ref_of(cors)) != NULL;
        refs.route_filter_field = e->rule->filters.cors_field;
    } else {
        cors = NULL;
    }
    for (size_t f = 0; set && f < GWF_PF_COUNT; f++)
        if (set->fields[f])
            ok = (refs.field_policies[f] = refs_mem[f] =
                      ref_of(set->fields[f])) &&
                 ok;
    if (dr)
        ok = (refs.direct_response = refs_mem[GWF_PF_COUNT] = ref_of(dr)) && ok;
    if (lambda)
        ok = (refs.backend = refs_mem[GWF_PF_COUNT + 1] = ref_of(lambda)) && ok;
    gwf_errors err = {0};
    ok = ok && gwf_runtime_chain(rt, &refs, &err) != NULL;
    /* Each document's own errors are in its Accepted condition already;
     * the chain's (a per-route config a plugin refuses) are added to
     * the policy's by the caller when ok is false. */
    for (size_t f = 0; !ok && set && f < GWF_PF_COUNT; f++) {
        const gwf_doc *d = set->fields[f];
        char *mine = d ? errors_of(&err, d) : NULL;
        if (mine) {
            gw_model_object_condition(m, d, "Accepted", false, "Invalid", mine);
            *marked = true;
        }
        free(mine);
    }
    char *mine = !ok && cors ? errors_of(&err, cors) : NULL;
    char *message = NULL;
    if (mine && asprintf(&message, "%s (the rule answers 500)", mine) >= 0) {
        gw_model_route_condition(m, cors, "PartiallyInvalid", true,
                                 "UnsupportedValue", message);
        free(message);
    }
    free(mine);
    gwf_errors_free(&err);
    for (size_t i = 0; i < GWF_PF_COUNT + 3; i++)
        free(refs_mem[i]);
    return ok;
}

/* Fails closed every entry whose chains do not build. A chain of a
 * policy set alone (no DirectResponse, no Lambda) is judged once per set:
 * most entries are that, and a Gateway-wide policy reaches them all.
 * Whether a set's policies are all Accepted is remembered per set too
 * until a chain finds one that is not (members_gen), so that entries with
 * DirectResponses or Lambdas do not scan every policy's status each. */
static void
judge_entries(gwf_runtime *rt, gw_model *m)
{
    size_t sets = m->policy_set_count + 1;
    signed char *judged = calloc(sets, 1);
    signed char *members_ok = calloc(sets, 1);
    size_t *members_gen = calloc(sets, sizeof(*members_gen));
    size_t gen = 1;
    if (!judged || !members_ok || !members_gen) {
        free(judged);
        free(members_ok);
        free(members_gen);
        return; /* nothing judged: the emitter's nginx -t still checks */
    }
    for (size_t i = 0; i < m->port_count; i++)
        for (size_t k = 0; k < m->ports[i].vhost_count; k++) {
            gw_vhost *v = &m->ports[i].vhosts[k];
            for (size_t j = 0; j < v->entry_count; j++) {
                gw_entry *e = &v->entries[j];
                const gw_rule *r = e->rule;
                if (r->fixed_status || e->fixed_status)
                    continue;
                /* A DirectResponse or a CORS filter makes the entry's
                 * chain its own, not its policy set's. */
                bool dr = gw_filters_direct_response(&r->filters) != NULL ||
                          r->filters.cors_field != NULL;
                bool ok = true, marked = false;
                if (e->policy) {
                    size_t s = e->policy->index;
                    if (members_gen[s] != gen) {
                        members_ok[s] = members_accepted(m, e->policy);
                        members_gen[s] = gen;
                    }
                    ok = members_ok[s];
                }
                if (ok && dr)
                    ok = chain_builds(rt, m, e, NULL, &marked);
                else if (ok && e->policy && judged[e->policy->index])
                    ok = judged[e->policy->index] > 0;
                else if (ok && e->policy)
                    judged[e->policy->index] =
                        (ok = chain_builds(rt, m, e, NULL, &marked)) ? 1 : -1;
                for (size_t b = 0; ok && b < r->backend_count; b++) {
                    const gw_backend *be = r->backends[b].backend;
                    if (be && be->kind == GW_BACKEND_LAMBDA && be->doc)
                        ok = chain_builds(rt, m, e, be->doc, &marked);
                }
                if (marked)
                    gen++; /* a policy is no longer Accepted */
                if (!ok)
                    e->fixed_status = 500;
            }
        }
    free(judged);
    free(members_ok);
    free(members_gen);
}

int
gateway_kgateway_judge(const gateway_args *a, const gwf_manifests *m,
                       gw_model *model)
{
    /* Without a kgateway resource there is nothing to ask the runtime
     * about (every policy, DirectResponse and Backend is one), and
     * loading it would parse every manifest twice more. */
    bool any = false;
    for (size_t i = 0; i < gwf_manifests_count(m) && !any; i++) {
        const gwf_doc *doc = gwf_manifests_at(m, i);
        any = doc->kind && reported(doc->kind);
    }
    for (size_t i = 0; i < model->rule_count && !any; i++)
        any = model->rules[i]->filters.cors_field != NULL;
    if (!any)
        return 0;
    gwf_errors e = {0};
    gwf_runtime *rt = runtime_for(a, false, &e);
    if (rt)
        gwf_runtime_validate(rt, &e);
    gwf_runtime_free(rt);
    int status = 0;
    for (size_t i = 0; i < gwf_manifests_count(m) && status == 0; i++) {
        const gwf_doc *doc = gwf_manifests_at(m, i);
        if (!doc->kind || !doc->name || !reported(doc->kind))
            continue;
        char *problems = errors_of(&e, doc);
        /* What the translator found it cannot honour (a headerModifiers
         * Secret that does not resolve, ...) makes it Invalid too. */
        for (size_t r = 0; r < model->route_policy_count && !problems; r++)
            if (model->route_policies[r].doc == doc &&
                model->route_policies[r].unsupported)
                problems = strdup(model->route_policies[r].unsupported);
        status = gw_model_object_condition(
            model, doc, "Accepted", problems == NULL,
            problems ? "Invalid" : "Accepted",
            problems ? problems : "accepted by the data plane");
        free(problems);
    }
    gwf_errors_free(&e);
    if (status)
        return status;
    gwf_errors e2 = {0};
    rt = runtime_for(a, true, &e2);
    gwf_errors_free(&e2);
    if (!rt)
        return 0; /* the inputs loaded a moment ago; nothing to judge by */
    judge_entries(rt, model);
    gwf_runtime_free(rt);
    return 0;
}
