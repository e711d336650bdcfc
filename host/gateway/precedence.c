/*
 * precedence.c - the order in which a virtual host tries its entries.
 *
 * A data plane tries a host's (rule, match) entries in order and the
 * first that matches serves the request, so the order must be the one the
 * Gateway API prescribes (HTTPRouteRule's documentation), across every
 * route attached to the host:
 *   1. an Exact path before any other path match;
 *   2. a longer PathPrefix before a shorter one (in characters);
 *   3. a match with a method before one without;
 *   4. more header matches first;
 *   5. more query parameter matches first;
 *   6. the older route first (metadata.creationTimestamp; a route without
 *      one counts as newest);
 *   7. "{namespace}/{name}" in alphabetical order;
 *   8. within one route, rules in order, then matches in order.
 * The spec leaves RegularExpression paths to the implementation. Envoy
 * tries routes in list order too, and kgateway puts regex matches after
 * Exact ones and before PathPrefix ones, without ordering regexes by
 * length (a longer expression is not a more specific one): ties between
 * regexes go to the criteria from 3 on (kgateway pull request 9473,
 * "prioritize regex over prefix and ignore regex lengths"; Envoy
 * Gateway, Contour and NGINX Gateway Fabric also order Exact, then
 * RegularExpression, then PathPrefix). gwf does the same, so a manifest
 * set behaves alike on kgateway and on gwf.
 *
 * After sorting, an entry listed twice (a route served on one host of one
 * port through two listeners) is kept once.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"

static int
path_rank(gw_path_kind k)
{
    switch (k) {
    case GW_PATH_EXACT:
        return 0;
    case GW_PATH_REGEX:
        return 1;
    default:
        return 2;
    }
}

int
gw_compare_ns_name(const gwf_doc *a, const gwf_doc *b)
{
    const char *pa[3] = {a->namespace_ ? a->namespace_ : "", "/",
                         a->name ? a->name : ""};
    const char *pb[3] = {b->namespace_ ? b->namespace_ : "", "/",
                         b->name ? b->name : ""};
    size_t ia = 0, ib = 0;
    const char *sa = pa[0], *sb = pb[0];
    for (;;) {
        while (!*sa && ia < 2)
            sa = pa[++ia];
        while (!*sb && ib < 2)
            sb = pb[++ib];
        if (!*sa || !*sb)
            return (*sa != 0) - (*sb != 0);
        if (*sa != *sb)
            return (unsigned char)*sa < (unsigned char)*sb ? -1 : 1;
        sa++;
        sb++;
    }
}

#define PREFER(cond_a, cond_b)                                                 \
    do {                                                                       \
        if ((cond_a) != (cond_b))                                              \
            return (cond_a) ? -1 : 1;                                          \
    } while (0)
#define FEWER_FIRST(x, y)                                                      \
    do {                                                                       \
        if ((x) != (y))                                                        \
            return (x) < (y) ? -1 : 1;                                         \
    } while (0)

int
gw_entry_compare(const gw_entry *ea, const gw_entry *eb)
{
    const gw_rule *ra = ea->rule, *rb = eb->rule;
    const gw_match *a = &ra->matches[ea->match];
    const gw_match *b = &rb->matches[eb->match];
    FEWER_FIRST(path_rank(a->path_kind), path_rank(b->path_kind));
    if (a->path_kind == GW_PATH_PREFIX) {
        size_t la = strlen(a->path), lb = strlen(b->path);
        FEWER_FIRST(lb, la); /* longer first */
    }
    PREFER(a->method != NULL, b->method != NULL);
    FEWER_FIRST(b->header_count, a->header_count);
    FEWER_FIRST(b->query_count, a->query_count);
    FEWER_FIRST(ra->created, rb->created);
    if (ra->route != rb->route) {
        int c = gw_compare_ns_name(ra->route, rb->route);
        if (c)
            return c;
        /* An HTTPRoute and a GRPCRoute of the same name. */
        c = strcmp(ra->route->kind ? ra->route->kind : "",
                   rb->route->kind ? rb->route->kind : "");
        if (c)
            return c;
    }
    FEWER_FIRST(ra->index, rb->index);
    FEWER_FIRST(ea->match, eb->match);
    return 0;
}

static int
compare(const void *x, const void *y)
{
    return gw_entry_compare(x, y);
}

void
gw_sort_vhost(gw_vhost *v)
{
    if (v->entry_count < 2)
        return;
    qsort(v->entries, v->entry_count, sizeof(*v->entries), compare);
    size_t kept = 1;
    for (size_t i = 1; i < v->entry_count; i++) {
        const gw_entry *prev = &v->entries[kept - 1];
        if (v->entries[i].rule == prev->rule &&
            v->entries[i].match == prev->match)
            continue;
        v->entries[kept++] = v->entries[i];
    }
    v->entry_count = kept;
}

void
gw_sort_vhosts(gw_model *m)
{
    for (size_t i = 0; i < m->port_count; i++)
        for (size_t k = 0; k < m->ports[i].vhost_count; k++)
            gw_sort_vhost(&m->ports[i].vhosts[k]);
}
