/*
 * delegation.c - kgateway's HTTPRoute delegation, flattened into rules.
 *
 * A rule of an HTTPRoute may hand its traffic to other HTTPRoutes: a
 * backendRef of kind HTTPRoute (group gateway.networking.k8s.io) names one
 * child, or with name "*" (or none) every HTTPRoute of its namespace
 * (default: the parent's); one of kind `label` (group
 * delegation.kgateway.dev) names the HTTPRoutes labelled
 * delegation.kgateway.dev/label=<name> in its namespace, or in every
 * namespace with namespace "all". kgateway flattens the tree into plain
 * routes (pkg/kgateway/translator/httproute/delegation*.go); so does gwf,
 * before routes attach, so that attachment, precedence, policies and the
 * emitter see ordinary gw_rule entries served on the parent's listeners
 * and hostnames:
 *
 *   - a child takes part when it names no parentRefs, or names the parent
 *     (group gateway.networking.k8s.io, kind HTTPRoute, name, namespace
 *     defaulting to the child's); no ReferenceGrant is involved, as in
 *     kgateway (the child consents through its parentRefs);
 *   - a child with spec.hostnames is refused (it inherits the parent's):
 *     Accepted False, UnsupportedValue on its parentRef to the parent;
 *   - each child match is checked against each match of the parent rule:
 *     the parent's path must be a PathPrefix and a string prefix of the
 *     child's; the child's headers and query parameters must include the
 *     parent's (same name, type and value); a parent method must be the
 *     child's. A match that fails is dropped, a rule without matches left
 *     is dropped, a child without rules left does not count. With the
 *     child annotation delegation.kgateway.dev/inherit-parent-matcher
 *     (true, yes, enabled) the parent's match is merged in instead: the
 *     paths joined, the parent's headers, query parameters and method
 *     added (the parent's win a name both have);
 *   - a child rule inherits the parent rule's Gateway API filters it does
 *     not set itself (all of them when the parent route carries
 *     kgateway.dev/inherited-policy-priority: ShallowMergePreferParent or
 *     DeepMergePreferParent), and its DirectResponse when it has none; the
 *     parent's TrafficPolicies reach it through gw_rule.delegated_from
 *     (attach_policies.c);
 *   - a delegating rule none of whose children count answers 500 with
 *     ResolvedRefs False (BackendNotFound) on the parent, as for any
 *     backendRef that does not resolve; a rule mixing delegation and
 *     ordinary backendRefs, or with filters on a delegating backendRef,
 *     answers 500 (PartiallyInvalid); a delegating backendRef's weight
 *     is ignored, as kgateway ignores it;
 *   - a cycle (a route met again on the way down, itself included) skips
 *     that child with ResolvedRefs False (RefNotPermitted) on the route
 *     that delegated; trees deeper than MAX_DEPTH and more than
 *     MAX_RULES_OUT rules from one route (MAX_RULES_TOTAL from all) are
 *     cut the same way, so hostile manifests end in bounded time and
 *     memory.
 *
 * Child rules are read again from their document (gw_read_http_rule) for
 * each parent match that brings them in: a child shared by two parents
 * gets two independent copies. The delegating rules leave the route and
 * are kept in gw_model.delegating_rules for their children's
 * delegated_from. Each child that counts gets a parent status naming the
 * parent HTTPRoute: Accepted True, ResolvedRefs as its own references.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "build.h"

#define MAX_DEPTH 8        /* routes on one delegation path */
#define MAX_RULES_OUT 4096 /* rules one top-level route may expand to */
/* Rules delegation may make in all: without it, each top-level route
 * that delegates to one large namespace would copy all of it again, and a
 * few kilobytes of parents would make millions of rules. */
#define MAX_RULES_TOTAL 16384
#define LABEL_KEY "delegation.kgateway.dev/label"
#define LABEL_ALL_NAMESPACES "all"
#define INHERIT_MATCHER "delegation.kgateway.dev/inherit-parent-matcher"
#define PRIORITY_ANNOTATION "kgateway.dev/inherited-policy-priority"

typedef struct flattener {
    gw_build *b;
    const gwf_doc *stack[MAX_DEPTH]; /* routes on the current path */
    size_t depth;
    size_t produced; /* rules made for the current top-level route */
    size_t total;    /* rules made for all top-level routes */
} flattener;

/* -- Small helpers ------------------------------------------------------ */

static const gwf_node *
annotations_of(const gwf_doc *d)
{
    return gwf_node_get(gwf_node_get(d->root, "metadata"), "annotations");
}

static bool
inherits_matcher(const gwf_doc *d)
{
    const char *v = gw_node_string(annotations_of(d), INHERIT_MATCHER);
    return v && (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                 strcasecmp(v, "enabled") == 0);
}

static bool
prefers_parent(const gwf_doc *d)
{
    const char *v = gw_node_string(annotations_of(d), PRIORITY_ANNOTATION);
    return gw_streq(v, "ShallowMergePreferParent") ||
           gw_streq(v, "DeepMergePreferParent");
}

static bool
rule_delegates(const gw_rule *r)
{
    for (size_t i = 0; i < r->backend_count; i++)
        if (r->backends[i].delegate)
            return true;
    return false;
}

static bool
push_rule(gw_build *b, gw_rule ***arr, size_t *n, gw_rule *r)
{
    gw_rule **slot = gw_push(b, arr, n, sizeof(*slot));
    if (!slot)
        return false;
    *slot = r;
    return true;
}

/* Whether child route c accepts `parent` as its parent: no parentRefs,
 * or one naming it as an HTTPRoute. */
static bool
child_accepts(const gwf_doc *c, const gwf_doc *parent)
{
    const gwf_node *refs =
        gwf_node_get(gwf_node_get(c->root, "spec"), "parentRefs");
    if (gwf_node_size(refs) == 0)
        return true;
    for (size_t i = 0; i < gwf_node_size(refs); i++) {
        const gwf_node *ref = gwf_node_at(refs, i);
        const char *ns = gw_node_string(ref, "namespace");
        if (gw_streq(gw_node_string(ref, "group"), GW_GROUP) &&
            gw_streq(gw_node_string(ref, "kind"), "HTTPRoute") &&
            gw_streq(gw_node_string(ref, "name"), parent->name) &&
            gw_streq(ns ? ns : c->namespace_, parent->namespace_))
            return true;
    }
    return false;
}

/* -- Status ------------------------------------------------------------- */

void
gw_route_parents_free(gw_route_parent *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].parent_namespace);
        free(p[i].parent_name);
        free(p[i].section_name);
        gw_conditions_free(&p[i].conditions);
    }
    free(p);
}

/* The status entry of child c for parent route `parent`, made once;
 * NULL when it exists already with a verdict, or on OOM. */
static gw_route_parent *
child_status(gw_build *b, gw_route *c, const gwf_doc *parent, bool *fresh)
{
    *fresh = false;
    for (size_t i = 0; i < c->delegated_parent_count; i++) {
        gw_route_parent *p = &c->delegated_parents[i];
        if (gw_streq(p->parent_name, parent->name) &&
            gw_streq(p->parent_namespace, parent->namespace_))
            return p;
    }
    gw_route_parent *p = gw_push(b, &c->delegated_parents,
                                 &c->delegated_parent_count, sizeof(*p));
    if (!p)
        return NULL;
    p->parent_kind = "HTTPRoute";
    p->parent_namespace = gw_strdup(b, parent->namespace_);
    p->parent_name = gw_strdup(b, parent->name);
    *fresh = true;
    return p;
}

static void
child_accepted(gw_build *b, gw_route *c, const gwf_doc *parent)
{
    bool fresh;
    gw_route_parent *p = child_status(b, c, parent, &fresh);
    if (!p || !fresh)
        return;
    gw_cond_add(b, &p->conditions, "Accepted", true, "Accepted",
                "delegated to by HTTPRoute %s/%s", parent->namespace_,
                parent->name);
    if (c->refs_reason)
        gw_cond_add(b, &p->conditions, "ResolvedRefs", false, c->refs_reason,
                    "%s", c->refs_message ? c->refs_message : c->refs_reason);
    else
        gw_cond_add(b, &p->conditions, "ResolvedRefs", true, "ResolvedRefs",
                    "all references resolved");
    if (c->invalid_reason)
        gw_cond_add(b, &p->conditions, "PartiallyInvalid", true,
                    c->invalid_reason, "%s (the rule answers 500)",
                    c->invalid_message ? c->invalid_message : "");
}

static void
child_refused(gw_build *b, gw_route *c, const gwf_doc *parent,
              const char *message)
{
    bool fresh;
    gw_route_parent *p = child_status(b, c, parent, &fresh);
    if (!p || !fresh)
        return;
    gw_cond_add(b, &p->conditions, "Accepted", false, "UnsupportedValue", "%s",
                message);
}

void
gw_take_delegated_parents(gw_build *b, gw_route *rt, gw_route_status *st)
{
    for (size_t i = 0; i < rt->delegated_parent_count; i++) {
        gw_route_parent *p =
            gw_push(b, &st->parents, &st->parent_count, sizeof(*p));
        if (!p)
            break;
        *p = rt->delegated_parents[i];
        memset(&rt->delegated_parents[i], 0, sizeof(*p));
    }
    gw_route_parents_free(rt->delegated_parents, rt->delegated_parent_count);
    rt->delegated_parents = NULL;
    rt->delegated_parent_count = 0;
}

/* -- Matches ------------------------------------------------------------ */

static bool
kv_equal(const gw_kv_match *a, const gw_kv_match *b)
{
    return a->regex == b->regex && strcmp(a->name, b->name) == 0 &&
           strcmp(a->value, b->value) == 0;
}

/* Every one of want[] is among have[]. */
static bool
kv_superset(const gw_kv_match *have, size_t nh, const gw_kv_match *want,
            size_t nw)
{
    for (size_t i = 0; i < nw; i++) {
        bool found = false;
        for (size_t k = 0; k < nh && !found; k++)
            found = kv_equal(&have[k], &want[i]);
        if (!found)
            return false;
    }
    return true;
}

/* kgateway's IsDelegatedRouteMatch. */
static bool
match_within(const gw_match *parent, const gw_match *child)
{
    if (parent->path_kind != GW_PATH_PREFIX)
        return false;
    if (strncmp(child->path, parent->path, strlen(parent->path)) != 0)
        return false;
    if (!kv_superset(child->headers, child->header_count, parent->headers,
                     parent->header_count) ||
        !kv_superset(child->queries, child->query_count, parent->queries,
                     parent->query_count))
        return false;
    return !parent->method || gw_streq(parent->method, child->method);
}

/* Appends the parent's kv matches whose name the child lacks (header
 * names without case); the parent's win a name both have. */
static bool
merge_kv(gw_build *b, gw_kv_match **have, size_t *n, const gw_kv_match *want,
         size_t nw, bool fold)
{
    for (size_t i = 0; i < nw; i++) {
        gw_kv_match *same = NULL;
        for (size_t k = 0; k < *n && !same; k++)
            if (fold ? strcasecmp((*have)[k].name, want[i].name) == 0
                     : strcmp((*have)[k].name, want[i].name) == 0)
                same = &(*have)[k];
        if (!same) {
            same = gw_push(b, have, n, sizeof(*same));
            if (!same)
                return false;
        } else {
            free(same->name);
            free(same->value);
        }
        same->regex = want[i].regex;
        same->name = gw_strdup(b, want[i].name);
        same->value = gw_strdup(b, want[i].value);
        if (!same->name || !same->value)
            return false;
    }
    return true;
}

/* Appends s to buf (of cap bytes at *len), escaping PCRE2 meta
 * characters when `quote`. false when it does not fit. */
static bool
append(char *buf, size_t cap, size_t *len, const char *s, bool quote)
{
    for (; *s; s++) {
        bool meta = quote && strchr("\\.+*?()|[]{}^$", *s);
        if (*len + 2 + (meta ? 1 : 0) > cap)
            return false;
        if (meta)
            buf[(*len)++] = '\\';
        buf[(*len)++] = *s;
    }
    buf[*len] = '\0';
    return true;
}

/* Whether re compiles (a merged expression may not: a child regex that
 * ended in an escaped dollar loses the dollar, not the backslash). */
static bool
regex_compiles(const char *re)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0,
                                  &code, &offset, NULL);
    pcre2_code_free(c);
    return c != NULL;
}

/* kgateway's mergeParentChildRouteMatch: child := parent + child. */
static bool
merge_match(gw_build *b, const gw_match *parent, gw_match *child)
{
    char path[2048];
    size_t len = 0;
    path[0] = '\0';
    if (parent->path_kind == GW_PATH_REGEX) {
        /* The parent's expression stays whole; its "$" moves to the end. */
        size_t pl = strlen(parent->path);
        bool anchored = pl && parent->path[pl - 1] == '$';
        char *pre = strndup(parent->path, anchored ? pl - 1 : pl);
        bool ok = pre && append(path, sizeof(path), &len, pre, false);
        free(pre);
        if (ok && child->path_kind == GW_PATH_REGEX) {
            const char *c =
                child->path[0] == '^' ? child->path + 1 : child->path;
            size_t cl = strlen(c);
            char *body = strndup(c, cl && c[cl - 1] == '$' ? cl - 1 : cl);
            ok = body && append(path, sizeof(path), &len, body, false);
            free(body);
        } else if (ok) {
            ok = append(path, sizeof(path), &len, child->path, true);
            if (ok && child->path_kind == GW_PATH_PREFIX)
                ok = append(path, sizeof(path), &len, "(?:/.*)?", false);
        }
        if (ok && anchored)
            ok = append(path, sizeof(path), &len, "$", false);
        if (!ok || !regex_compiles(path))
            return false; /* this match is left out */
        child->path_kind = GW_PATH_REGEX;
    } else {
        /* path.Join: "/" + "/x" is "/x", "/a" + "/" is "/a". */
        if (!append(path, sizeof(path), &len, parent->path, false))
            return false;
        if (len && path[len - 1] == '/')
            path[--len] = '\0';
        const char *c = child->path;
        if (strcmp(c, "/") != 0 && !append(path, sizeof(path), &len, c, false))
            return false;
        if (len > 1 && path[len - 1] == '/')
            path[--len] = '\0';
        if (!len)
            append(path, sizeof(path), &len, "/", false);
    }
    char *copy = gw_strdup(b, path);
    if (!copy)
        return false;
    free(child->path);
    child->path = copy;
    if (!merge_kv(b, &child->headers, &child->header_count, parent->headers,
                  parent->header_count, true) ||
        !merge_kv(b, &child->queries, &child->query_count, parent->queries,
                  parent->query_count, false))
        return false;
    if (parent->method) {
        char *m = gw_strdup(b, parent->method);
        if (!m)
            return false;
        free(child->method);
        child->method = m;
    }
    return true;
}

static void
match_free(gw_match *m)
{
    free(m->path);
    free(m->method);
    for (size_t i = 0; i < m->header_count; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
    }
    free(m->headers);
    for (size_t i = 0; i < m->query_count; i++) {
        free(m->queries[i].name);
        free(m->queries[i].value);
    }
    free(m->queries);
    free(m->grpc_service);
    free(m->grpc_method);
    memset(m, 0, sizeof(*m));
}

static bool
kv_copy(gw_build *b, gw_kv_match **out, size_t *n, const gw_kv_match *in,
        size_t count)
{
    *out = NULL;
    *n = 0;
    return merge_kv(b, out, n, in, count, false);
}

static bool
match_copy(gw_build *b, gw_match *out, const gw_match *in)
{
    memset(out, 0, sizeof(*out));
    out->path_kind = in->path_kind;
    out->path = gw_strdup(b, in->path);
    out->method = gw_strdup(b, in->method);
    return out->path && (!in->method || out->method) &&
           kv_copy(b, &out->headers, &out->header_count, in->headers,
                   in->header_count) &&
           kv_copy(b, &out->queries, &out->query_count, in->queries,
                   in->query_count);
}

/* Keeps the matches of child rule r that lie within parent match pm (or
 * merges pm into them); false when none is left. `no_matches`: the
 * child rule had no matches list (with inherit it takes pm whole). */
static bool
fit_matches(gw_build *b, gw_rule *r, const gw_match *pm, bool inherit,
            bool no_matches)
{
    if (inherit && no_matches) {
        match_free(&r->matches[0]);
        return match_copy(b, &r->matches[0], pm);
    }
    size_t kept = 0;
    for (size_t i = 0; i < r->match_count; i++) {
        gw_match *m = &r->matches[i];
        bool ok = inherit ? merge_match(b, pm, m) : match_within(pm, m);
        if (!ok) {
            match_free(m);
            continue;
        }
        if (kept != i) {
            r->matches[kept] = *m;
            memset(m, 0, sizeof(*m));
        }
        kept++;
    }
    r->match_count = kept;
    return kept > 0;
}

/* -- Inherited filters --------------------------------------------------- */

static bool
ops_copy(gw_build *b, gw_header_op **out, size_t *n, const gw_header_op *in,
         size_t count)
{
    for (size_t i = 0; i < count; i++) {
        gw_header_op *op = gw_push(b, out, n, sizeof(*op));
        if (!op)
            return false;
        op->op = in[i].op;
        op->name = gw_strdup(b, in[i].name);
        op->value = gw_strdup(b, in[i].value);
    }
    return true;
}

/* Child rule r takes the filters of parent rule p it lacks (all of them
 * when `parent_first`). */
static void
inherit_filters(gw_build *b, gw_rule *r, const gw_rule *p, bool parent_first)
{
    gw_filters *f = &r->filters;
    const gw_filters *pf = &p->filters;
    if (pf->request_header_count &&
        (parent_first || !f->request_header_count)) {
        gw_filters tmp = {.request_headers = f->request_headers,
                          .request_header_count = f->request_header_count};
        f->request_headers = NULL;
        f->request_header_count = 0;
        gw_filters_free(&tmp);
        ops_copy(b, &f->request_headers, &f->request_header_count,
                 pf->request_headers, pf->request_header_count);
    }
    if (pf->response_header_count &&
        (parent_first || !f->response_header_count)) {
        gw_filters tmp = {.response_headers = f->response_headers,
                          .response_header_count = f->response_header_count};
        f->response_headers = NULL;
        f->response_header_count = 0;
        gw_filters_free(&tmp);
        ops_copy(b, &f->response_headers, &f->response_header_count,
                 pf->response_headers, pf->response_header_count);
    }
    if (pf->mirror_count && (parent_first || !f->mirror_count)) {
        free(f->mirrors);
        f->mirrors = NULL;
        f->mirror_count = 0;
        for (size_t i = 0; i < pf->mirror_count; i++) {
            gw_mirror *m =
                gw_push(b, &f->mirrors, &f->mirror_count, sizeof(*m));
            if (m)
                *m = pf->mirrors[i];
        }
    }
    /* A redirect or rewrite of the parent, when the child has neither
     * (the two exclude each other). */
    if ((pf->redirect || pf->rewrite) &&
        (parent_first || (!f->redirect && !f->rewrite))) {
        gw_filters tmp = {.redirect = f->redirect, .rewrite = f->rewrite};
        f->redirect = NULL;
        f->rewrite = NULL;
        gw_filters_free(&tmp);
        if (pf->redirect) {
            f->redirect = calloc(1, sizeof(*f->redirect));
            if (f->redirect) {
                *f->redirect = *pf->redirect;
                f->redirect->scheme = gw_strdup(b, pf->redirect->scheme);
                f->redirect->hostname = gw_strdup(b, pf->redirect->hostname);
                f->redirect->path = gw_strdup(b, pf->redirect->path);
            }
        } else {
            f->rewrite = calloc(1, sizeof(*f->rewrite));
            if (f->rewrite) {
                *f->rewrite = *pf->rewrite;
                f->rewrite->hostname = gw_strdup(b, pf->rewrite->hostname);
                f->rewrite->path = gw_strdup(b, pf->rewrite->path);
            }
        }
        if (!f->redirect && !f->rewrite)
            b->oom = true;
    }
    /* The parent rule's CORS filter, when the child has none: the child
     * runs the parent's (its node stays in the parent's document). */
    if (pf->cors_field && (parent_first || !f->cors_field)) {
        free(f->cors_field);
        f->cors_route = pf->cors_route;
        f->cors_field = gw_strdup(b, pf->cors_field);
    }
    const gwf_doc *dr = gw_filters_direct_response(pf);
    if (dr && !gw_filters_direct_response(f)) {
        gw_extension_ref *x =
            gw_push(b, &f->extensions, &f->extension_count, sizeof(*x));
        if (x)
            x->doc = dr;
    }
}

/* Whether rule r rewrites or redirects with ReplacePrefixMatch while a
 * match of its is not a PathPrefix (merging or inheriting made it so):
 * the prefix to replace would be undefined. */
static bool
replaces_prefix_off_prefix(const gw_rule *r)
{
    const gw_filters *f = &r->filters;
    bool replace =
        (f->redirect && f->redirect->path_mod == GW_PATH_REPLACE_PREFIX) ||
        (f->rewrite && f->rewrite->path_mod == GW_PATH_REPLACE_PREFIX);
    for (size_t i = 0; replace && i < r->match_count; i++)
        if (r->matches[i].path_kind != GW_PATH_PREFIX)
            return true;
    return false;
}

/* -- Selecting children ------------------------------------------------- */

static bool
label_is(const gwf_doc *d, const char *value)
{
    const char *v = gw_node_string(
        gwf_node_get(gwf_node_get(d->root, "metadata"), "labels"), LABEL_KEY);
    return gw_streq(v, value);
}

/* Whether route c is selected by delegation backendRef ref of a route in
 * namespace pns. */
static bool
selects(const gwf_node *ref, const char *pns, const gw_route *c)
{
    const char *name = gw_node_string(ref, "name");
    const char *ns = gw_node_string(ref, "namespace");
    if (!ns)
        ns = pns;
    if (gw_streq(gw_node_string(ref, "kind"), "label"))
        return (gw_streq(ns, LABEL_ALL_NAMESPACES) ||
                gw_streq(ns, c->doc->namespace_)) &&
               label_is(c->doc, name);
    if (!gw_streq(ns, c->doc->namespace_))
        return false;
    return !name || !*name || strcmp(name, "*") == 0 ||
           gw_streq(name, c->doc->name);
}

/* -- Flattening ---------------------------------------------------------- */

static size_t expand(flattener *fl, gw_route *owner, gw_rule *prule,
                     gw_rule ***out, size_t *out_count);

static bool
on_stack(const flattener *fl, const gwf_doc *d)
{
    for (size_t i = 0; i < fl->depth; i++)
        if (fl->stack[i] == d)
            return true;
    return false;
}

/* Child c's rules under match pm of prule, into out. Returns how many
 * rules it contributed. */
static size_t
take_child(flattener *fl, gw_route *owner, gw_rule *prule, const gw_match *pm,
           gw_route *c, gw_rule ***out, size_t *out_count)
{
    gw_build *b = fl->b;
    const gwf_node *rules =
        gwf_node_get(gwf_node_get(c->doc->root, "spec"), "rules");
    bool inherit = inherits_matcher(c->doc);
    bool parent_first = prefers_parent(prule->route);
    size_t n = gwf_node_size(rules), taken = 0;
    for (size_t i = 0; i < n && !b->oom; i++) {
        if (fl->produced >= MAX_RULES_OUT || fl->total >= MAX_RULES_TOTAL) {
            bool mine = fl->produced >= MAX_RULES_OUT;
            gw_route_ref_problem(
                b, owner, "RefNotPermitted",
                gw_printf(b,
                          "delegation from HTTPRoute %s/%s makes more than "
                          "%d rules%s: the rest are left out",
                          owner->doc->namespace_, owner->doc->name,
                          mine ? MAX_RULES_OUT : MAX_RULES_TOTAL,
                          mine ? "" : " with the other delegating routes"));
            break;
        }
        const gwf_node *rn = gwf_node_at(rules, i);
        gw_rd r;
        gw_rd_init(&r, b, c->doc);
        gw_rule *cr = gw_read_http_rule(&r, rn, i, c, c->created);
        if (!cr)
            continue;
        bool no_matches = gwf_node_size(gwf_node_get(rn, "matches")) == 0;
        if (r.errors || !fit_matches(b, cr, pm, inherit, no_matches)) {
            gw_rule_free(cr);
            continue;
        }
        fl->produced++;
        fl->total++;
        cr->delegated_from = prule;
        char idx[24];
        snprintf(idx, sizeof(idx), "r%zu", i);
        char *id =
            gw_ident(b, prule->id, c->doc->namespace_, c->doc->name, idx);
        if (id) {
            free(cr->id);
            cr->id = id;
        }
        inherit_filters(b, cr, prule, parent_first);
        if (replaces_prefix_off_prefix(cr)) {
            cr->fixed_status = 500;
            gw_route_unsupported(
                b, c,
                gw_printf(
                    b,
                    "spec.rules[%zu]: ReplacePrefixMatch needs PathPrefix "
                    "matches, and delegation from HTTPRoute %s/%s gives "
                    "this rule other ones",
                    i, prule->route->namespace_, prule->route->name));
        }
        if (rule_delegates(cr)) {
            /* A grandchild level: cr's matches are its children's parent
             * matches. */
            gw_rule **mine = NULL;
            size_t mine_count = 0;
            size_t got = expand(fl, c, cr, &mine, &mine_count);
            for (size_t k = 0; k < mine_count; k++)
                if (!push_rule(b, out, out_count, mine[k]))
                    gw_rule_free(mine[k]);
            free(mine);
            if (got) {
                if (!push_rule(b, &b->model->delegating_rules,
                               &b->model->delegating_rule_count, cr))
                    gw_rule_free(cr);
                taken += got;
                continue;
            }
            /* cr stays, answering 500 at its matches (expand set it). */
        }
        if (!push_rule(b, out, out_count, cr)) {
            gw_rule_free(cr);
            break;
        }
        taken++;
    }
    return taken;
}

/* Expands delegating rule prule of route `owner`: its children's rules
 * into out. Returns how many rules came in; on 0 (or a rule that mixes
 * delegation with ordinary backends) prule answers 500. */
static size_t
expand(flattener *fl, gw_route *owner, gw_rule *prule, gw_rule ***out,
       size_t *out_count)
{
    gw_build *b = fl->b;
    for (size_t i = 0; i < prule->backend_count; i++)
        if (prule->backends[i].delegate &&
            gwf_node_size(
                gwf_node_get(prule->backends[i].delegate, "filters"))) {
            /* Filters belong on the rule (which its children inherit). */
            prule->fixed_status = 500;
            gw_route_unsupported(
                b, owner,
                gw_printf(b,
                          "spec.rules[%zu].backendRefs[%zu].filters: filters "
                          "on a backendRef to HTTPRoutes are not applied: "
                          "the rule answers 500 rather than run without "
                          "them",
                          prule->index, i));
            return 0;
        }
    for (size_t i = 0; i < prule->backend_count; i++)
        if (!prule->backends[i].delegate) {
            prule->fixed_status = 500;
            gw_route_unsupported(
                b, owner,
                gw_printf(b,
                          "spec.rules[%zu]: a rule that delegates to "
                          "HTTPRoutes may not also have other backendRefs",
                          prule->index));
            return 0;
        }
    if (fl->depth >= MAX_DEPTH) {
        prule->fixed_status = 500;
        gw_route_ref_problem(
            b, owner, "RefNotPermitted",
            gw_printf(b,
                      "spec.rules[%zu]: delegation deeper than %d routes "
                      "is refused",
                      prule->index, MAX_DEPTH));
        return 0;
    }
    fl->stack[fl->depth++] = prule->route;
    size_t total = 0;
    for (size_t i = 0; i < prule->backend_count && !b->oom; i++) {
        const gwf_node *ref = prule->backends[i].delegate;
        size_t before = total;
        for (size_t k = 0; k < b->route_count && !b->oom; k++) {
            gw_route *c = &b->routes[k];
            if (c->grpc || !selects(ref, prule->route->namespace_, c) ||
                !child_accepts(c->doc, prule->route))
                continue;
            if (on_stack(fl, c->doc)) {
                gw_route_ref_problem(
                    b, owner, "RefNotPermitted",
                    gw_printf(b,
                              "spec.rules[%zu]: cyclic reference detected: "
                              "delegation to HTTPRoute %s/%s leads back to "
                              "it; that child is ignored",
                              prule->index, c->doc->namespace_, c->doc->name));
                continue;
            }
            if (c->hostname_count) {
                child_refused(b, c, prule->route,
                              "spec.hostnames must be unset on a delegatee "
                              "route (it inherits the parent's)");
                continue;
            }
            size_t got = 0;
            for (size_t m = 0; m < prule->match_count; m++)
                got += take_child(fl, owner, prule, &prule->matches[m], c, out,
                                  out_count);
            if (got)
                child_accepted(b, c, prule->route);
            total += got;
        }
        if (total == before) {
            const char *name = gw_node_string(ref, "name");
            const char *ns = gw_node_string(ref, "namespace");
            gw_route_ref_problem(
                b, owner, "BackendNotFound",
                gw_printf(b,
                          "spec.rules[%zu].backendRefs[%zu]: no HTTPRoute "
                          "%s %s/%s delegated to (none found, none names "
                          "this route in its parentRefs, or none has a "
                          "match within the rule's)",
                          prule->index, i,
                          gw_streq(gw_node_string(ref, "kind"), "label")
                              ? "labelled"
                              : "named",
                          ns ? ns : prule->route->namespace_,
                          name && *name ? name : "*"));
        }
    }
    fl->depth--;
    if (!total)
        prule->fixed_status = 500;
    return total;
}

/* Whether route rt names a Gateway among its parentRefs (only those are
 * served directly, so only their trees are flattened). */
static bool
has_gateway_parent(const gw_route *rt)
{
    const gwf_node *refs =
        gwf_node_get(gwf_node_get(rt->doc->root, "spec"), "parentRefs");
    for (size_t i = 0; i < gwf_node_size(refs); i++) {
        const gwf_node *ref = gwf_node_at(refs, i);
        const char *group = gw_node_string(ref, "group");
        const char *kind = gw_node_string(ref, "kind");
        if ((!group || gw_streq(group, GW_GROUP)) &&
            (!kind || gw_streq(kind, "Gateway")))
            return true;
    }
    return false;
}

void
gw_resolve_delegation(gw_build *b)
{
    flattener fl = {.b = b};
    for (size_t i = 0; i < b->route_count && !b->oom; i++) {
        gw_route *rt = &b->routes[i];
        if (rt->grpc || !has_gateway_parent(rt))
            continue;
        bool any = false;
        for (size_t k = 0; k < rt->rule_count && !any; k++)
            any = rule_delegates(rt->rules[k]);
        if (!any)
            continue;
        fl.produced = 0;
        gw_rule **rules = NULL;
        size_t count = 0;
        for (size_t k = 0; k < rt->rule_count; k++) {
            gw_rule *r = rt->rules[k];
            rt->rules[k] = NULL;
            if (!r)
                continue;
            if (!rule_delegates(r)) {
                if (!push_rule(b, &rules, &count, r))
                    gw_rule_free(r);
                continue;
            }
            size_t got = expand(&fl, rt, r, &rules, &count);
            gw_rule ***home = got ? &b->model->delegating_rules : &rules;
            size_t *home_count =
                got ? &b->model->delegating_rule_count : &count;
            if (!push_rule(b, home, home_count, r))
                gw_rule_free(r);
        }
        free(rt->rules);
        rt->rules = rules;
        rt->rule_count = count;
    }
}

void
gw_delegation_free(gw_model *m)
{
    for (size_t i = 0; i < m->delegating_rule_count; i++)
        gw_rule_free(m->delegating_rules[i]);
    free(m->delegating_rules);
    m->delegating_rules = NULL;
    m->delegating_rule_count = 0;
}
