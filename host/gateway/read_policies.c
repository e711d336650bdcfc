/*
 * read_policies.c - kgateway's listener and backend policy kinds: what
 * gwf honours, and failing closed what it does not.
 *
 * TrafficPolicy attaches elsewhere (attach_policies.c). kgateway's other
 * policy kinds also reach what gwf serves: an HTTPListenerPolicy or
 * ListenerPolicy naming a Gateway, a BackendConfigPolicy naming a
 * Service. The listener kinds' access logs to a file are honoured
 * (read_listener_policies.c reads them into the model); any other field
 * of theirs, and a BackendConfigPolicy whatever it holds, gwf gives no
 * meaning on nginx yet. Serving a targeted rule as if such a policy
 * were not there could turn an operator's requirement into "anything
 * goes", so every rule it reaches answers 500 instead, its route says
 * why (PartiallyInvalid, UnsupportedValue, naming the policy), and the
 * policy's own status is Accepted False naming the field. A target that
 * names nothing gwf serves changes nothing (Attached False).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"

static const char *const policy_kinds[] = {
    "HTTPListenerPolicy", "ListenerPolicy", "BackendConfigPolicy", NULL};

static bool
is_policy(const char *kind)
{
    for (size_t i = 0; policy_kinds[i]; i++)
        if (gw_streq(kind, policy_kinds[i]))
            return true;
    return false;
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
    return t->name ? gw_streq(d->name, t->name) : gw_labels_match(d, t->labels);
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
fail_rule(gw_build *b, gw_route *rt, gw_rule *r, const gwf_doc *policy,
          const char *why)
{
    r->fixed_status = 500;
    gw_route_unsupported(
        b, rt,
        gw_printf(b,
                  "%s %s/%s applies to rule %zu, and gwf cannot honour it "
                  "(%s): the rule answers 500 rather than run without it",
                  policy->kind, policy->namespace_, policy->name, r->index,
                  why));
}

static size_t
apply_target(gw_build *b, const gwf_doc *policy, const target *t,
             const char *why)
{
    size_t hits = 0;
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
            if (hit) {
                fail_rule(b, rt, r, policy, why);
                hits++;
            }
        }
    }
    return hits;
}

/* Fails the rules policy d reaches closed; returns how many. */
static size_t
fail_targets(gw_build *b, const gwf_doc *d, const char *why)
{
    size_t hits = 0;
    const gwf_node *refs = gwf_node_get(d->spec, "targetRefs");
    for (size_t k = 0; k < gwf_node_size(refs); k++) {
        const gwf_node *ref = gwf_node_at(refs, k);
        target t = {gw_node_string(ref, "kind"), gw_node_string(ref, "name"),
                    gw_node_string(ref, "sectionName"), NULL};
        if (t.kind && t.name)
            hits += apply_target(b, d, &t, why);
    }
    const gwf_node *sels = gwf_node_get(d->spec, "targetSelectors");
    for (size_t k = 0; k < gwf_node_size(sels); k++) {
        const gwf_node *sel = gwf_node_at(sels, k);
        target t = {gw_node_string(sel, "kind"), NULL,
                    gw_node_string(sel, "sectionName"),
                    gwf_node_get(sel, "matchLabels")};
        if (t.kind)
            hits += apply_target(b, d, &t, why);
    }
    return hits;
}

static void
report(gw_build *b, const gwf_doc *d, const char *why, size_t reached,
       const char *what)
{
    gw_model *m = b->model;
    gw_object_status *st =
        gw_push(b, &m->objects, &m->object_count, sizeof(*st));
    if (!st)
        return;
    st->doc = d;
    if (why)
        gw_cond_add(b, &st->conditions, "Accepted", false, "Invalid",
                    "%s; the rules it reaches answer 500", why);
    else
        gw_cond_add(b, &st->conditions, "Accepted", true, "Accepted",
                    "gwf honours every field on nginx");
    if (reached)
        gw_cond_add(b, &st->conditions, "Attached", true, "Attached",
                    "applies to %zu %s%s", reached, what,
                    reached == 1 ? "" : "s");
    else
        gw_cond_add(b, &st->conditions, "Attached", false, "NoTargetFound",
                    "no %s gwf serves matches its targetRefs or "
                    "targetSelectors",
                    what);
}

void
gw_fail_closed_policies(gw_build *b)
{
    for (size_t i = 0; i < gwf_manifests_count(b->m) && !b->oom; i++) {
        const gwf_doc *d = gwf_manifests_at(b->m, i);
        if (!d->kind || !d->name || !is_policy(d->kind))
            continue;
        if (gw_streq(d->kind, "BackendConfigPolicy")) {
            static const char why[] =
                "spec: gwf does not apply BackendConfigPolicy on nginx";
            report(b, d, why, fail_targets(b, d, why), "route rule");
            continue;
        }
        size_t listeners = 0;
        char *why = gw_read_listener_policy(b, d, &listeners);
        if (why)
            fail_targets(b, d, why);
        report(b, d, why, listeners, "Gateway listener");
        free(why);
    }
}
