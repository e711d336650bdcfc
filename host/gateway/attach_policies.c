/*
 * attach_policies.c - kgateway's TrafficPolicies on what gwf serves:
 * attachment and merging.
 *
 * A TrafficPolicy reaches a (rule, listener) pair, an entry of the
 * model, in five ways, from the most specific to the broadest:
 *
 *   1. an ExtensionRef filter of the rule naming it;
 *   2. targetRefs / targetSelectors to the rule's HTTPRoute or GRPCRoute
 *      with sectionName = the rule's name;
 *   3. the same without sectionName (the whole route);
 *   4. targetRefs / targetSelectors to the Gateway the entry was attached
 *      through, with sectionName = the listener's name;
 *   5. the same without sectionName (the whole Gateway).
 *
 * kgateway merges the policies that reach one route shallowly: each
 * top-level field (cors, apiKeyAuth, basicAuth, extAuth, jwtAuth, rbac,
 * rateLimit.local, rateLimit.global, csrf are the ones gwf runs as
 * plugins: gwf_policy_field) comes whole from the policy of highest priority
 * that sets it; the more specific attachment wins, and among policies of
 * one level the older (metadata.creationTimestamp) wins, then the first
 * by namespace/name. A parent may turn that around with the annotation
 * kgateway.dev/inherited-policy-priority: ShallowMergePreferParent (or
 * DeepMergePreferParent: gwf has no field that merges deeply, so the two
 * behave alike) on a Gateway puts its policies (4, 5) above the routes';
 * on an HTTPRoute or GRPCRoute it puts the whole-route ones (3) above its
 * rules' (1, 2). A field set with `disable` (or rateLimit.local without a
 * tokenBucket) still wins its field: that is how a route switches off
 * what its Gateway set.
 *
 * A rule a parent HTTPRoute delegated to (gw_rule.delegated_from,
 * delegation.c) is also reached by what reaches the parent rule at levels
 * 1 to 3, ranked below the child's own (the child overrides per field),
 * or above them when the parent route carries the PreferParent
 * annotation; each ancestor of the chain in turn. That is kgateway's
 * policy inheritance along a delegation chain.
 *
 * The result of each entry is an interned gw_policy_set naming, per
 * field, the policy it comes from; the emitter turns a set into
 * `gwf_policy REF FIELD...` lines and the data plane's runtime builds
 * the chain. Whether a policy can be honoured (its fields, references
 * and plugins) is the runtime's judgement; gwf gateway asks it, and an
 * entry whose chain cannot be built answers 500 (gw_entry.fixed_status).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"

#define PRIORITY_ANNOTATION "kgateway.dev/inherited-policy-priority"

enum level {
    LEVEL_GATEWAY_PREFERRED = 1, /* 5 with PreferParent on the Gateway */
    LEVEL_LISTENER_PREFERRED,    /* 4 with PreferParent on the Gateway */
    LEVEL_ROUTE_PREFERRED,       /* 3 with PreferParent on the route */
    LEVEL_EXTENSION_REF,
    LEVEL_RULE,
    LEVEL_ROUTE,
    LEVEL_LISTENER,
    LEVEL_GATEWAY
};

/* One policy that reaches an entry, and how. */
typedef struct policy policy;

typedef struct candidate {
    const gwf_doc *policy;
    policy *pol;
    int level;
    int64_t created;
    size_t order; /* position among ExtensionRefs, else 0 */
    /* Levels 1-3 (and 3 preferred): the rank of the route of the
     * delegation chain it comes through (0: the best), else 0. */
    size_t tier;
} candidate;

/* One target of a policy: by name or by labels, maybe a section. */
typedef struct target {
    const char *kind, *name, *section;
    const gwf_node *labels; /* matchLabels of a targetSelector */
} target;

struct policy {
    const gwf_doc *doc;
    const gw_route_policy *route; /* its nginx fields (read_route_policy.c) */
    unsigned route_set;           /* bit f: it sets gw_route_field f */
    int64_t created;
    target *targets;
    size_t target_count;
    size_t attached;          /* entries it reached */
    const gwf_doc **gateways; /* through which, each once */
    size_t gateway_count;
    /* Its candidate for the entry being gathered: a->cands[slot] when
     * stamp is a->entry_stamp (one candidate per policy and entry, found
     * without a scan: many policies on many entries stay linear). */
    size_t slot, stamp;
};

typedef struct attacher {
    gw_build *b;
    policy *policies;
    size_t policy_count;
    candidate *cands;
    size_t cand_count, cand_cap;
    const gwf_doc **members; /* scratch for attach_entry */
    size_t member_cap;
    size_t entry_stamp; /* counts gathered entries, from 1 */
} attacher;

static int64_t
created_of(const gwf_doc *d)
{
    const char *ts =
        gw_node_string(gwf_node_get(d->root, "metadata"), "creationTimestamp");
    int64_t t;
    return ts && gw_parse_timestamp(ts, &t) == 0 ? t : INT64_MAX;
}

static bool
prefers_parent(const gwf_doc *d)
{
    const char *v = gw_node_string(
        gwf_node_get(gwf_node_get(d->root, "metadata"), "annotations"),
        PRIORITY_ANNOTATION);
    return gw_streq(v, "ShallowMergePreferParent") ||
           gw_streq(v, "DeepMergePreferParent");
}

/* Whether target t of `p` names d (a policy reaches its own namespace
 * only: LocalPolicyTargetReference). */
static bool
target_names(const policy *p, const target *t, const gwf_doc *d)
{
    if (!gw_streq(t->kind, d->kind) ||
        !gw_streq(d->namespace_, p->doc->namespace_))
        return false;
    return t->name ? gw_streq(d->name, t->name) : gw_labels_match(d, t->labels);
}

static void
add_target(attacher *a, policy *p, const gwf_node *n, bool selector)
{
    target t = {gw_node_string(n, "kind"),
                selector ? NULL : gw_node_string(n, "name"),
                gw_node_string(n, "sectionName"),
                selector ? gwf_node_get(n, "matchLabels") : NULL};
    const char *group = gw_node_string(n, "group");
    if (!t.kind || (!selector && !t.name) ||
        (group && *group && !gw_streq(group, GW_GROUP)))
        return; /* names nothing gwf serves (the schema's business) */
    target *slot = gw_push(a->b, &p->targets, &p->target_count, sizeof(*slot));
    if (slot)
        *slot = t;
}

static void
collect_policies(attacher *a)
{
    for (size_t i = 0; i < gwf_manifests_count(a->b->m); i++) {
        const gwf_doc *d = gwf_manifests_at(a->b->m, i);
        if (!gw_streq(d->kind, "TrafficPolicy") || !d->name ||
            gwf_node_type_of(d->spec) != GWF_NODE_MAP)
            continue;
        policy *p = gw_push(a->b, &a->policies, &a->policy_count, sizeof(*p));
        if (!p)
            return;
        p->doc = d;
        p->route = gw_route_policy_of(a->b->model, d);
        for (size_t f = 0; p->route && f < GW_RF_COUNT; f++)
            if (gw_route_policy_sets(d, (gw_route_field)f))
                p->route_set |= 1u << f;
        p->created = created_of(d);
        const gwf_node *refs = gwf_node_get(d->spec, "targetRefs");
        for (size_t k = 0; k < gwf_node_size(refs); k++)
            add_target(a, p, gwf_node_at(refs, k), false);
        const gwf_node *sels = gwf_node_get(d->spec, "targetSelectors");
        for (size_t k = 0; k < gwf_node_size(sels); k++)
            add_target(a, p, gwf_node_at(sels, k), true);
    }
}

static policy *
policy_of(attacher *a, const gwf_doc *d)
{
    for (size_t i = 0; i < a->policy_count; i++)
        if (a->policies[i].doc == d)
            return &a->policies[i];
    return NULL;
}

/* Levels compare by class first (Gateway preferred, routes, Gateway),
 * then, among route levels, by tier. */
static int
level_class(int level)
{
    return level < LEVEL_ROUTE_PREFERRED ? 0 : level > LEVEL_ROUTE ? 2 : 1;
}

static int
rank_cmp(int la, size_t ta, int lb, size_t tb)
{
    if (level_class(la) != level_class(lb))
        return level_class(la) < level_class(lb) ? -1 : 1;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return la < lb ? -1 : la > lb;
}

static void
add_candidate(attacher *a, policy *p, int level, size_t order, size_t tier)
{
    candidate c = {p->doc, p, level, p->created, order, tier};
    if (p->stamp == a->entry_stamp) {
        candidate *old = &a->cands[p->slot];
        if (rank_cmp(old->level, old->tier, level, tier) > 0)
            *old = c; /* reached again, at a better level */
        return;
    }
    if (a->cand_count == a->cand_cap) {
        size_t cap = a->cand_cap ? a->cand_cap * 2 : 16;
        candidate *grown = realloc(a->cands, cap * sizeof(*grown));
        if (!grown) {
            a->b->oom = true;
            return;
        }
        a->cands = grown;
        a->cand_cap = cap;
    }
    p->stamp = a->entry_stamp;
    p->slot = a->cand_count;
    a->cands[a->cand_count++] = c;
}

static int
candidate_cmp(const void *x, const void *y)
{
    const candidate *c = x, *d = y;
    int rank = rank_cmp(c->level, c->tier, d->level, d->tier);
    if (rank)
        return rank;
    if (c->order != d->order)
        return c->order < d->order ? -1 : 1;
    if (c->created != d->created)
        return c->created < d->created ? -1 : 1;
    return gw_compare_ns_name(c->policy, d->policy);
}

/* Whether policy spec `spec` sets field f (to something or to off). */
static bool
sets_field(const gwf_node *spec, gwf_policy_field f)
{
    return gwf_policy_field_node(spec, f) != NULL;
}

/* The policies that reach rule r at levels 1-3 (its ExtensionRefs, its
 * route and its rule), with `tier`. */
static void
gather_rule(attacher *a, const gw_rule *r, size_t tier)
{
    bool route_first = prefers_parent(r->route);
    for (size_t i = 0; i < r->filters.extension_count; i++) {
        policy *p = policy_of(a, r->filters.extensions[i].doc);
        if (p)
            add_candidate(a, p, LEVEL_EXTENSION_REF, i + 1, tier);
    }
    for (size_t i = 0; i < a->policy_count; i++) {
        policy *p = &a->policies[i];
        for (size_t k = 0; k < p->target_count; k++) {
            const target *t = &p->targets[k];
            if (!target_names(p, t, r->route))
                continue;
            if (!t->section)
                add_candidate(a, p,
                              route_first ? LEVEL_ROUTE_PREFERRED : LEVEL_ROUTE,
                              0, tier);
            else if (gw_streq(t->section, r->name))
                add_candidate(a, p, LEVEL_RULE, 0, tier);
        }
    }
}

#define MAX_CHAIN 16 /* delegation.c bounds chains to fewer routes */

/* The policies that reach entry e, into a->cands. */
static void
gather(attacher *a, const gw_entry *e)
{
    const gw_rule *r = e->rule;
    const gw_gateway *g = &a->b->model->gateways[e->gateway];
    const gw_listener *l = &g->listeners[e->listener];
    bool gateway_first = prefers_parent(g->doc);
    a->cand_count = 0;
    a->entry_stamp++;
    /* The delegation chain, ranked: a parent goes below its descendants,
     * or above them all when its route prefers the parent. */
    const gw_rule *chain[MAX_CHAIN];
    size_t n = 0;
    for (const gw_rule *c = r; c && n < MAX_CHAIN; c = c->delegated_from) {
        if (n && prefers_parent(c->route)) {
            memmove(chain + 1, chain, n * sizeof(*chain));
            chain[0] = c;
        } else {
            chain[n] = c;
        }
        n++;
    }
    for (size_t i = 0; i < n; i++)
        gather_rule(a, chain[i], i);
    for (size_t i = 0; i < a->policy_count; i++) {
        policy *p = &a->policies[i];
        for (size_t k = 0; k < p->target_count; k++) {
            const target *t = &p->targets[k];
            if (!target_names(p, t, g->doc))
                continue;
            if (!t->section)
                add_candidate(a, p,
                              gateway_first ? LEVEL_GATEWAY_PREFERRED
                                            : LEVEL_GATEWAY,
                              0, 0);
            else if (gw_streq(t->section, l->name))
                add_candidate(a, p,
                              gateway_first ? LEVEL_LISTENER_PREFERRED
                                            : LEVEL_LISTENER,
                              0, 0);
        }
    }
}

static bool
same_set(const gw_policy_set *x, const gw_policy_set *y)
{
    return memcmp(x->fields, y->fields, sizeof(x->fields)) == 0 &&
           memcmp(x->route_fields, y->route_fields, sizeof(x->route_fields)) ==
               0 &&
           memcmp(x->route_above, y->route_above, sizeof(x->route_above)) ==
               0 &&
           x->member_count == y->member_count &&
           memcmp(x->members, y->members,
                  x->member_count * sizeof(*x->members)) == 0;
}

/* The set equal to `want` (whose members array is a->cands' copy, not
 * kept), made once. */
static const gw_policy_set *
intern_set(gw_build *b, const gw_policy_set *want)
{
    gw_model *m = b->model;
    for (size_t i = 0; i < m->policy_set_count; i++)
        if (same_set(m->policy_sets[i], want))
            return m->policy_sets[i];
    gw_policy_set *s = calloc(1, sizeof(*s));
    const gwf_doc **members =
        calloc(want->member_count ? want->member_count : 1, sizeof(*members));
    gw_policy_set **slot =
        s && members
            ? gw_push(b, &m->policy_sets, &m->policy_set_count, sizeof(*slot))
            : NULL;
    if (!slot) {
        free(s);
        free(members);
        b->oom = true;
        return NULL;
    }
    *s = *want;
    memcpy(members, want->members, want->member_count * sizeof(*members));
    s->members = members;
    s->index = m->policy_set_count - 1;
    *slot = s;
    return s;
}

/* Adds gateway g to *list (of *count) unless it is there. */
static void
add_ancestor(gw_build *b, const gwf_doc ***list, size_t *count,
             const gwf_doc *g)
{
    for (size_t i = 0; i < *count; i++)
        if ((*list)[i] == g)
            return;
    const gwf_doc **slot = gw_push(b, list, count, sizeof(*slot));
    if (slot)
        *slot = g;
}

/* The fields nginx does itself (read_route_policy.c) merge like the
 * others. A policy nginx cannot honour fails the entry closed whether or
 * not its fields won, and its route says why. */
static void
merge_route_fields(attacher *a, gw_policy_set *set, const candidate *c,
                   gw_entry *e)
{
    const gw_route_policy *rp = c->pol->route;
    if (!rp || (!c->pol->route_set && !rp->unsupported))
        return;
    for (size_t f = 0; f < GW_RF_COUNT; f++)
        if (!set->route_fields[f] && (c->pol->route_set & (1u << f))) {
            set->route_fields[f] = rp;
            set->route_above[f] = level_class(c->level) != 1;
        }
    if (!rp->unsupported || e->fixed_status)
        return;
    e->fixed_status = 500;
    /* The route's status is written already (attach.c): its parents get
     * PartiallyInvalid unless they say so for another reason. */
    gw_model *m = a->b->model;
    for (size_t i = 0; i < m->route_count; i++) {
        if (m->routes[i].route != e->rule->route)
            continue;
        for (size_t k = 0; k < m->routes[i].parent_count; k++) {
            gw_conditions *cs = &m->routes[i].parents[k].conditions;
            bool said = false;
            for (size_t j = 0; j < cs->count && !said; j++)
                said = strcmp(cs->items[j].type, "PartiallyInvalid") == 0;
            if (!said)
                gw_cond_add(a->b, cs, "PartiallyInvalid", true,
                            "UnsupportedValue",
                            "TrafficPolicy %s/%s applies to rule %zu, and "
                            "nginx cannot honour it (%s): the rule answers "
                            "500 rather than run without it",
                            rp->doc->namespace_, rp->doc->name, e->rule->index,
                            rp->unsupported);
        }
    }
}

static void
attach_entry(attacher *a, gw_entry *e)
{
    gather(a, e);
    if (a->cand_count == 0)
        return;
    qsort(a->cands, a->cand_count, sizeof(*a->cands), candidate_cmp);
    if (a->cand_count > a->member_cap) {
        const gwf_doc **grown =
            realloc(a->members, a->cand_count * sizeof(*grown));
        if (!grown) {
            a->b->oom = true;
            return;
        }
        a->members = grown;
        a->member_cap = a->cand_count;
    }
    const gwf_doc **members = a->members;
    gw_policy_set set = {.members = members, .member_count = a->cand_count};
    for (size_t i = 0; i < a->cand_count; i++) {
        const gwf_doc *d = a->cands[i].policy;
        policy *p = a->cands[i].pol;
        p->attached++;
        add_ancestor(a->b, &p->gateways, &p->gateway_count,
                     a->b->model->gateways[e->gateway].doc);
        members[i] = d;
        for (size_t f = 0; f < GWF_PF_COUNT; f++)
            if (!set.fields[f] && sets_field(d->spec, (gwf_policy_field)f))
                set.fields[f] = d;
        merge_route_fields(a, &set, &a->cands[i], e);
    }
    e->policy = intern_set(a->b, &set);
}

static void
report(attacher *a)
{
    for (size_t i = 0; i < a->policy_count; i++) {
        const policy *p = &a->policies[i];
        gw_object_status *st = gw_push(a->b, &a->b->model->objects,
                                       &a->b->model->object_count, sizeof(*st));
        if (!st)
            return;
        st->doc = p->doc;
        st->ancestors = p->gateways;
        st->ancestor_count = p->gateway_count;
        if (p->attached)
            gw_cond_add(a->b, &st->conditions, "Attached", true, "Attached",
                        "applies to %zu routing entr%s (a rule served "
                        "under one hostname of one listener)",
                        p->attached, p->attached == 1 ? "y" : "ies");
        else
            gw_cond_add(a->b, &st->conditions, "Attached", false,
                        "NoTargetFound",
                        "no Gateway, listener, route or rule gwf serves "
                        "matches its targetRefs, targetSelectors or an "
                        "ExtensionRef");
    }
}

/* The Gateways each DirectResponse is served through, as its status
 * ancestors. */
static void
report_direct_responses(gw_build *b)
{
    gw_model *m = b->model;
    for (size_t i = 0; i < m->port_count; i++)
        for (size_t k = 0; k < m->ports[i].vhost_count; k++) {
            const gw_vhost *v = &m->ports[i].vhosts[k];
            for (size_t j = 0; j < v->entry_count; j++) {
                const gw_entry *e = &v->entries[j];
                const gwf_doc *dr =
                    gw_filters_direct_response(&e->rule->filters);
                if (!dr)
                    continue;
                gw_object_status *st = NULL;
                for (size_t o = 0; o < m->object_count && !st; o++)
                    if (m->objects[o].doc == dr)
                        st = &m->objects[o];
                if (!st) {
                    st = gw_push(b, &m->objects, &m->object_count, sizeof(*st));
                    if (!st)
                        return;
                    st->doc = dr;
                }
                add_ancestor(b, &st->ancestors, &st->ancestor_count,
                             m->gateways[e->gateway].doc);
            }
        }
}

void
gw_attach_policies(gw_build *b)
{
    attacher a = {.b = b};
    collect_policies(&a);
    gw_model *m = b->model;
    for (size_t i = 0; i < m->port_count && !b->oom; i++)
        for (size_t k = 0; k < m->ports[i].vhost_count; k++) {
            gw_vhost *v = &m->ports[i].vhosts[k];
            for (size_t j = 0; j < v->entry_count; j++)
                attach_entry(&a, &v->entries[j]);
        }
    report(&a);
    report_direct_responses(b);
    for (size_t i = 0; i < a.policy_count; i++)
        free(a.policies[i].targets);
    free(a.policies);
    free(a.cands);
    free(a.members);
}

void
gw_policy_sets_free(gw_model *m)
{
    for (size_t i = 0; i < m->policy_set_count; i++) {
        free((void *)m->policy_sets[i]->members);
        free(m->policy_sets[i]);
    }
    free(m->policy_sets);
    m->policy_sets = NULL;
    m->policy_set_count = 0;
}
