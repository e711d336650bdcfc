/*
 * read_policies.c - kgateway policies gwf cannot apply yet: fail closed.
 *
 * kgateway attaches its policies to what gwf serves: a TrafficPolicy (JWT,
 * ext-authz, rate limits, ...) with targetRefs / targetSelectors naming an
 * HTTPRoute, a GRPCRoute (a rule of one by sectionName) or a Gateway; an
 * HTTPListenerPolicy or ListenerPolicy naming a Gateway; a
 * BackendConfigPolicy naming a Service. Giving those a meaning on nginx
 * (attachment, merging, precedence) is issue 13. Until then, serving a
 * targeted rule as if the policy were not there would turn an operator's
 * "JWT required" into "anyone may call", so every rule a policy reaches
 * answers 500 instead, and its route says why (PartiallyInvalid,
 * UnsupportedValue, naming the policy). A target that names nothing gwf
 * serves changes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "build.h"

static const char *const policy_kinds[] = {
    "TrafficPolicy", "HTTPListenerPolicy", "ListenerPolicy",
    "BackendConfigPolicy", NULL};

static bool
is_policy(const char *kind)
{
    for (size_t i = 0; policy_kinds[i]; i++)
        if (gw_streq(kind, policy_kinds[i]))
            return true;
    return false;
}

/* Every label of `want` (a matchLabels map) is on d with that value. */
static bool
labels_match(const gwf_doc *d, const gwf_node *want)
{
    const gwf_node *have =
        gwf_node_get(gwf_node_get(d->root, "metadata"), "labels");
    if (gwf_node_size(want) == 0)
        return false; /* an empty selector selects nothing here */
    for (size_t i = 0; i < gwf_node_size(want); i++) {
        const char *v = gwf_node_str(gwf_node_value_at(want, i), NULL);
        const char *h = gw_node_string(have, gwf_node_key_at(want, i));
        if (!v || !h || strcmp(v, h) != 0)
            return false;
    }
    return true;
}

/* One target: a reference (name) or a selector (labels), of a kind. */
typedef struct target {
    const char *kind, *name, *section;
    const gwf_node *labels;
} target;

static bool
names(const target *t, const gwf_doc *d, const char *ns)
{
    if (!gw_streq(d->namespace_, ns))
        return false; /* a policy targets its own namespace only */
    return t->name ? gw_streq(d->name, t->name) : labels_match(d, t->labels);
}

/* Whether the route's parentRefs name a Gateway the target names. */
static bool
route_under_gateway(gw_build *b, const gw_route *rt, const target *t,
                    const char *ns)
{
    const gwf_node *refs = gwf_node_get(rt->doc->spec, "parentRefs");
    for (size_t i = 0; i < gwf_node_size(refs); i++) {
        const gwf_node *ref = gwf_node_at(refs, i);
        const char *kind = gw_node_string(ref, "kind");
        if (kind && !gw_streq(kind, "Gateway"))
            continue;
        const char *gns = gw_node_string(ref, "namespace");
        const gwf_doc *g =
            gw_find(&b->gateways, gns ? gns : rt->doc->namespace_,
                    gw_node_string(ref, "name"));
        if (g && names(t, g, ns))
            return true;
    }
    return false;
}

static bool
rule_uses_service(const gw_rule *r, const target *t, const char *ns)
{
    for (size_t i = 0; i < r->backend_count; i++) {
        const gw_backend *be = r->backends[i].backend;
        if (be && be->doc && gw_streq(be->doc->kind, "Service") &&
            names(t, be->doc, ns))
            return true;
    }
    return false;
}

static void
fail_rule(gw_build *b, gw_route *rt, gw_rule *r, const gwf_doc *policy)
{
    r->fixed_status = 500;
    gw_route_unsupported(
        b, rt,
        gw_printf(b,
                  "%s %s/%s applies to rule %zu, and gwf does not apply "
                  "kgateway policies to Gateway API routes yet: the rule "
                  "answers 500 rather than run without it",
                  policy->kind, policy->namespace_, policy->name, r->index));
}

static void
apply_target(gw_build *b, const gwf_doc *policy, const target *t)
{
    const char *ns = policy->namespace_;
    bool route_kind =
        gw_streq(t->kind, "HTTPRoute") || gw_streq(t->kind, "GRPCRoute");
    for (size_t i = 0; i < b->route_count; i++) {
        gw_route *rt = &b->routes[i];
        bool whole = false, by_service = false;
        if (route_kind)
            whole = gw_streq(rt->doc->kind, t->kind) && names(t, rt->doc, ns);
        else if (gw_streq(t->kind, "Gateway"))
            whole = route_under_gateway(b, rt, t, ns);
        else if (gw_streq(t->kind, "Service"))
            by_service = true;
        for (size_t k = 0; k < rt->rule_count; k++) {
            gw_rule *r = rt->rules[k];
            if (!r)
                continue;
            bool hit = by_service ? rule_uses_service(r, t, ns) : whole;
            if (hit && route_kind && t->section)
                hit = gw_streq(r->name, t->section);
            if (hit)
                fail_rule(b, rt, r, policy);
        }
    }
}

void
gw_fail_closed_policies(gw_build *b)
{
    for (size_t i = 0; i < gwf_manifests_count(b->m); i++) {
        const gwf_doc *d = gwf_manifests_at(b->m, i);
        if (!d->kind || !d->name || !is_policy(d->kind))
            continue;
        const gwf_node *refs = gwf_node_get(d->spec, "targetRefs");
        for (size_t k = 0; k < gwf_node_size(refs); k++) {
            const gwf_node *ref = gwf_node_at(refs, k);
            target t = {gw_node_string(ref, "kind"),
                        gw_node_string(ref, "name"),
                        gw_node_string(ref, "sectionName"), NULL};
            if (t.kind && t.name)
                apply_target(b, d, &t);
        }
        const gwf_node *sels = gwf_node_get(d->spec, "targetSelectors");
        for (size_t k = 0; k < gwf_node_size(sels); k++) {
            const gwf_node *sel = gwf_node_at(sels, k);
            target t = {gw_node_string(sel, "kind"), NULL,
                        gw_node_string(sel, "sectionName"),
                        gwf_node_get(sel, "matchLabels")};
            if (t.kind)
                apply_target(b, d, &t);
        }
    }
}
