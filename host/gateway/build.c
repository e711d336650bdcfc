/*
 * build.c - gw_model_build: documents by kind, readers in order, cleanup.
 *
 * The order matters: ReferenceGrants first (listeners and routes consult
 * them), then Services / EndpointSlices / Backends are checked (routes
 * resolve into them), GatewayClasses and Gateways (routes attach to their
 * listeners), HTTPRoutes and GRPCRoutes, attachment, and last the
 * precedence order of every virtual host.
 *
 * Documents are picked by kind and API group, so a kind of the same name
 * from another group (a kgateway "Backend" versus something else called
 * Backend) is not mistaken for ours. Kinds the translator does not read
 * are left to the runtime (kgateway policies) or ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "build.h"

static const char *const default_classes[] = {"gwf", "kgateway"};

/* Whether apiVersion "group/version" (or "version" for core) is in
 * `group` ("" for core). */
static bool
in_group(const char *api_version, const char *group)
{
    if (!api_version)
        return false;
    const char *slash = strchr(api_version, '/');
    if (!*group)
        return slash == NULL;
    size_t n = strlen(group);
    return slash && (size_t)(slash - api_version) == n &&
           strncmp(api_version, group, n) == 0;
}

static void
collect(gw_build *b, gw_docs *docs, const gwf_doc *d)
{
    const gwf_doc **slot =
        gw_push(b, &docs->items, &docs->count, sizeof(*slot));
    if (slot)
        *slot = d;
}

static void
sort_documents(gw_build *b)
{
    static const struct {
        const char *kind, *group;
        size_t offset;
    } table[] = {
        {"GatewayClass", GW_GROUP, offsetof(gw_build, gateway_classes)},
        {"Gateway", GW_GROUP, offsetof(gw_build, gateways)},
        {"HTTPRoute", GW_GROUP, offsetof(gw_build, httproutes)},
        {"GRPCRoute", GW_GROUP, offsetof(gw_build, grpcroutes)},
        {"ReferenceGrant", GW_GROUP, offsetof(gw_build, grants)},
        {"Namespace", "", offsetof(gw_build, namespaces)},
        {"Service", "", offsetof(gw_build, services)},
        {"EndpointSlice", "discovery.k8s.io", offsetof(gw_build, slices)},
        {"Secret", "", offsetof(gw_build, secrets)},
        {"Backend", GW_KGATEWAY_GROUP, offsetof(gw_build, backends)},
    };
    size_t n = gwf_manifests_count(b->m);
    for (size_t i = 0; i < n && !b->oom; i++) {
        const gwf_doc *d = gwf_manifests_at(b->m, i);
        if (!d->kind)
            continue;
        for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
            if (strcmp(d->kind, table[k].kind) != 0 ||
                !in_group(d->api_version, table[k].group))
                continue;
            if (!d->name) {
                b->error_count++;
                if (b->errors)
                    gwf_doc_errorf(b->errors, d, "metadata.name",
                                   "is required (a string)");
            } else {
                collect(b, (gw_docs *)((char *)b + table[k].offset), d);
            }
            break;
        }
    }
}

/* Sort key of a document for duplicate detection: ns, name, load
 * position. */
typedef struct doc_key {
    const gwf_doc *doc;
    size_t order;
} doc_key;

static int
compare_keys(const void *x, const void *y)
{
    const doc_key *a = x, *b = y;
    int c = strcmp(a->doc->namespace_, b->doc->namespace_);
    if (!c)
        c = strcmp(a->doc->name, b->doc->name);
    if (!c)
        c = a->order < b->order ? -1 : a->order > b->order;
    return c;
}

/* Two documents of one kind with one namespace/name: the first loaded
 * wins (as in Kubernetes, where the second would update the first, and
 * as gwf_manifests_find does); each later one is an error and is left
 * out. Sorting keeps this O(n log n) on a huge input. */
static void
drop_duplicates(gw_build *b, gw_docs *docs)
{
    if (docs->count < 2)
        return;
    doc_key *keys = calloc(docs->count, sizeof(*keys));
    if (!keys) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < docs->count; i++) {
        keys[i].doc = docs->items[i];
        keys[i].order = i;
    }
    qsort(keys, docs->count, sizeof(*keys), compare_keys);
    bool any = false;
    for (size_t i = 1; i < docs->count; i++) {
        const gwf_doc *first = keys[i - 1].doc, *d = keys[i].doc;
        if (strcmp(first->namespace_, d->namespace_) != 0 ||
            strcmp(first->name, d->name) != 0)
            continue;
        /* keys[i - 1] is the first of the run: carry it forward. */
        keys[i].doc = first;
        docs->items[keys[i].order] = NULL;
        b->error_count++;
        if (b->errors)
            gwf_doc_errorf(b->errors, d, NULL,
                           "duplicate %s %s/%s (first defined at %s:%u); "
                           "this one is ignored",
                           d->kind, d->namespace_, d->name, first->file,
                           first->line);
        any = true;
    }
    free(keys);
    if (!any)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < docs->count; i++)
        if (docs->items[i])
            docs->items[kept++] = docs->items[i];
    docs->count = kept;
}

/* -- Unique identifiers ------------------------------------------------- */

typedef struct id_ref {
    char **id;
    size_t order;
} id_ref;

static int
compare_ids(const void *x, const void *y)
{
    const id_ref *a = x, *b = y;
    int c = strcmp(*a->id, *b->id);
    if (!c)
        c = a->order < b->order ? -1 : a->order > b->order;
    return c;
}

static bool
id_taken(const id_ref *v, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(*v[i].id, id) == 0)
            return true;
    return false;
}

/* Rule and backend ids fold every byte outside [a-z0-9] to '_', so
 * namespace "team-a" with route "web" and namespace "team" with route
 * "a-web" would share one. Emitters need them unique (nginx location and
 * upstream names): the first in model order keeps its id, each later one
 * gets the first free "_<n>" suffix. */
static void
unique_ids(gw_build *b)
{
    gw_model *m = b->model;
    size_t n = m->rule_count + m->backend_count;
    if (n < 2)
        return;
    id_ref *v = calloc(n, sizeof(*v));
    if (!v) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < m->rule_count; i++)
        v[i] = (id_ref){&m->rules[i]->id, i};
    for (size_t i = 0; i < m->backend_count; i++)
        v[m->rule_count + i] = (id_ref){&m->backends[i]->id, m->rule_count + i};
    qsort(v, n, sizeof(*v), compare_ids);
    size_t leader = 0, suffix = 1;
    for (size_t i = 1; i < n && !b->oom; i++) {
        if (strcmp(*v[i].id, *v[leader].id) != 0) {
            leader = i;
            suffix = 1;
            continue;
        }
        char *renamed = NULL;
        do {
            free(renamed);
            renamed = gw_printf(b, "%s_%zu", *v[leader].id, ++suffix);
        } while (renamed && id_taken(v, n, renamed));
        if (!renamed)
            break;
        free(*v[i].id);
        *v[i].id = renamed;
    }
    free(v);
}

static void
build_free(gw_build *b)
{
    gw_docs *all[] = {&b->gateway_classes, &b->gateways, &b->httproutes,
                      &b->grpcroutes,      &b->grants,   &b->namespaces,
                      &b->services,        &b->slices,   &b->secrets,
                      &b->backends};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]->items);
    for (size_t i = 0; i < b->listener_count; i++)
        free(b->listeners[i].attached);
    free(b->listeners);
    for (size_t i = 0; i < b->grant_count; i++) {
        free(b->grant_list[i].from);
        free(b->grant_list[i].to);
    }
    free(b->grant_list);
    for (size_t i = 0; i < b->route_count; i++)
        gw_route_free(&b->routes[i]);
    free(b->routes);
    free(b->vhost_slots);
}

int
gw_model_build(const gwf_manifests *m, const gw_build_options *o, gw_model *out,
               gwf_diag *errors, gwf_diag *notes)
{
    memset(out, 0, sizeof(*out));
    gw_build b = {
        .m = m,
        .classes = default_classes,
        .class_count = 2,
        .errors = errors,
        .notes = notes,
        .model = out,
    };
    if (o)
        b.plain_port_one_protocol = o->plain_port_one_protocol;
    if (o && o->class_count) {
        b.classes = o->classes;
        b.class_count = o->class_count;
    }
    sort_documents(&b);
    gw_docs *all[] = {&b.gateway_classes, &b.gateways, &b.httproutes,
                      &b.grpcroutes,      &b.grants,   &b.namespaces,
                      &b.services,        &b.slices,   &b.secrets,
                      &b.backends};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        drop_duplicates(&b, all[i]);
    gw_read_grants(&b);
    gw_read_backends(&b);
    gw_read_gateways(&b);
    gw_read_httproutes(&b);
    gw_read_grpcroutes(&b);
    gw_resolve_delegation(&b);
    gw_fail_closed_policies(&b);
    gw_attach_routes(&b);
    gw_read_route_policies(&b);
    gw_attach_policies(&b);
    unique_ids(&b);
    gw_sort_vhosts(out);
    build_free(&b);
    if (b.oom) {
        gw_model_free(out);
        return -1;
    }
    return b.error_count;
}

static void
port_free(gw_port *p)
{
    for (size_t i = 0; i < p->tls_count; i++)
        free(p->tls_hostnames[i]);
    free(p->tls_hostnames);
    free(p->tls_certs);
    for (size_t i = 0; i < p->vhost_count; i++) {
        free(p->vhosts[i].hostname);
        free(p->vhosts[i].entries);
    }
    free(p->vhosts);
}

void
gw_model_free(gw_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->gateway_count; i++) {
        gw_gateway *g = &m->gateways[i];
        for (size_t k = 0; k < g->listener_count; k++) {
            gw_listener *l = &g->listeners[k];
            free(l->name);
            free(l->hostname);
            free(l->supported_kinds);
            gw_conditions_free(&l->conditions);
        }
        free(g->listeners);
        gw_conditions_free(&g->conditions);
    }
    free(m->gateways);
    for (size_t i = 0; i < m->port_count; i++)
        port_free(&m->ports[i]);
    free(m->ports);
    for (size_t i = 0; i < m->rule_count; i++)
        gw_rule_free(m->rules[i]);
    free(m->rules);
    gw_backends_free(m);
    gw_access_logs_free(m);
    for (size_t i = 0; i < m->route_count; i++) {
        gw_route_status *r = &m->routes[i];
        for (size_t k = 0; k < r->parent_count; k++) {
            gw_route_parent *p = &r->parents[k];
            free(p->parent_namespace);
            free(p->parent_name);
            free(p->section_name);
            gw_conditions_free(&p->conditions);
        }
        free(r->parents);
    }
    free(m->routes);
    for (size_t i = 0; i < m->object_count; i++) {
        gw_conditions_free(&m->objects[i].conditions);
        free(m->objects[i].ancestors);
    }
    free(m->objects);
    for (size_t i = 0; i < m->cert_count; i++) {
        free(m->certs[i]->cert_pem);
        free(m->certs[i]->key_pem);
        free(m->certs[i]);
    }
    free(m->certs);
    gw_policy_sets_free(m);
    gw_route_policies_free(m);
    gw_delegation_free(m);
    memset(m, 0, sizeof(*m));
}
