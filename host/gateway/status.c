/*
 * status.c - Gateway API status conditions, and writing them out.
 *
 * The readers record each object's conditions in the model as they find
 * things (gw_cond_add): a GatewayClass is Accepted; a Gateway is Accepted
 * and Programmed, each listener Accepted / Programmed / ResolvedRefs /
 * Conflicted with its attachedRoutes and supportedKinds; a route has, per
 * parentRef, Accepted (NoMatchingParent, NotAllowedByListeners,
 * NoMatchingListenerHostname) and ResolvedRefs (BackendNotFound,
 * RefNotPermitted, InvalidKind), plus PartiallyInvalid when a rule answers
 * 500 for an unsupported value.
 *
 * gw_status_json writes them as the objects `kubectl get -o json` would
 * show after a controller reported them: {apiVersion, kind,
 * metadata{name, namespace}, status}. A route's parents report the
 * controllerName of their Gateway's class (kgateway's
 * "kgateway.dev/kgateway" when the class says so), as Kubernetes
 * controllers do.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "build.h"

void
gw_cond_add(gw_build *b, gw_conditions *c, const char *type, bool status,
            const char *reason, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    gw_condition *cond =
        msg ? gw_push(b, &c->items, &c->count, sizeof(*cond)) : NULL;
    if (!cond) {
        free(msg);
        b->oom = true;
        return;
    }
    cond->type = type;
    cond->status = status;
    cond->reason = reason;
    cond->message = msg;
}

int
gw_model_object_condition(gw_model *m, const gwf_doc *doc, const char *type,
                          bool status, const char *reason, const char *message)
{
    gw_object_status *st = NULL;
    for (size_t i = 0; i < m->object_count && !st; i++)
        if (m->objects[i].doc == doc)
            st = &m->objects[i];
    if (!st) {
        gw_object_status *grown =
            realloc(m->objects, (m->object_count + 1) * sizeof(*grown));
        if (!grown)
            return -1;
        m->objects = grown;
        st = &m->objects[m->object_count++];
        *st = (gw_object_status){.doc = doc};
    }
    char *copy = strdup(message ? message : "");
    if (!copy)
        return -1;
    for (size_t i = 0; i < st->conditions.count; i++) {
        gw_condition *c = &st->conditions.items[i];
        if (strcmp(c->type, type) == 0) { /* one condition per type */
            free(c->message);
            *c = (gw_condition){type, status, reason, copy};
            return 0;
        }
    }
    gw_condition *items = realloc(st->conditions.items,
                                  (st->conditions.count + 1) * sizeof(*items));
    if (!items) {
        free(copy);
        return -1;
    }
    st->conditions.items = items;
    items[st->conditions.count++] = (gw_condition){type, status, reason, copy};
    return 0;
}

int
gw_model_route_condition(gw_model *m, const gwf_doc *route, const char *type,
                         bool status, const char *reason, const char *message)
{
    for (size_t i = 0; i < m->route_count; i++) {
        if (m->routes[i].route != route)
            continue;
        for (size_t k = 0; k < m->routes[i].parent_count; k++) {
            gw_conditions *cs = &m->routes[i].parents[k].conditions;
            bool have = false;
            for (size_t j = 0; j < cs->count && !have; j++)
                have = strcmp(cs->items[j].type, type) == 0;
            if (have)
                continue; /* the first reason stays, as the reader's does */
            char *copy = strdup(message ? message : "");
            gw_condition *items =
                copy ? realloc(cs->items, (cs->count + 1) * sizeof(*items))
                     : NULL;
            if (!items) {
                free(copy);
                return -1;
            }
            cs->items = items;
            items[cs->count++] = (gw_condition){type, status, reason, copy};
        }
    }
    return 0;
}

void
gw_conditions_free(gw_conditions *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->items[i].message);
    free(c->items);
    c->items = NULL;
    c->count = 0;
}

/* -- JSON --------------------------------------------------------------- */

/* jansson's *_new return NULL on OOM and json_object_set_new ignores
 * NULL values safely (returns -1); `ok` collects failures. */
typedef struct out {
    bool ok;
    char when[32];
} out;

static void
set(out *o, json_t *obj, const char *key, json_t *value)
{
    if (!value || json_object_set_new(obj, key, value) != 0)
        o->ok = false;
}

static void
append(out *o, json_t *arr, json_t *value)
{
    if (!value || json_array_append_new(arr, value) != 0)
        o->ok = false;
}

static json_t *
str(const char *s)
{
    return json_string(s ? s : "");
}

static json_t *
conditions_json(out *o, const gw_conditions *c, const gwf_doc *doc)
{
    json_t *arr = json_array();
    if (!arr) {
        o->ok = false;
        return NULL;
    }
    int64_t gen = 0;
    bool has_gen =
        gwf_node_int(
            gwf_node_get(gwf_node_get(doc->root, "metadata"), "generation"),
            &gen) == 0;
    for (size_t i = 0; i < c->count; i++) {
        const gw_condition *k = &c->items[i];
        json_t *j = json_object();
        if (!j) {
            o->ok = false;
            continue;
        }
        set(o, j, "type", str(k->type));
        set(o, j, "status", str(k->status ? "True" : "False"));
        set(o, j, "reason", str(k->reason));
        set(o, j, "message", str(k->message));
        set(o, j, "lastTransitionTime", str(o->when));
        if (has_gen)
            set(o, j, "observedGeneration", json_integer(gen));
        append(o, arr, j);
    }
    return arr;
}

static json_t *
object_json(out *o, const gwf_doc *doc, bool namespaced, json_t *status)
{
    json_t *item = json_object(), *md = json_object();
    if (!item || !md) {
        json_decref(item);
        json_decref(md);
        json_decref(status);
        o->ok = false;
        return NULL;
    }
    set(o, item, "apiVersion", str(doc->api_version));
    set(o, item, "kind", str(doc->kind));
    set(o, md, "name", str(doc->name));
    if (namespaced)
        set(o, md, "namespace", str(doc->namespace_));
    set(o, item, "metadata", md);
    set(o, item, "status", status);
    return item;
}

static json_t *
gateway_json(out *o, const gw_gateway *g)
{
    json_t *st = json_object(), *ls = json_array();
    if (!st || !ls) {
        json_decref(st);
        json_decref(ls);
        o->ok = false;
        return NULL;
    }
    set(o, st, "conditions", conditions_json(o, &g->conditions, g->doc));
    for (size_t i = 0; i < g->listener_count; i++) {
        const gw_listener *l = &g->listeners[i];
        json_t *lj = json_object(), *kinds = json_array();
        if (!lj || !kinds) {
            json_decref(lj);
            json_decref(kinds);
            o->ok = false;
            continue;
        }
        set(o, lj, "name", str(l->name));
        for (size_t k = 0; k < l->supported_kind_count; k++) {
            json_t *kj = json_object();
            if (!kj) {
                o->ok = false;
                continue;
            }
            set(o, kj, "group", str(GW_GROUP));
            set(o, kj, "kind", str(l->supported_kinds[k]));
            append(o, kinds, kj);
        }
        set(o, lj, "supportedKinds", kinds);
        set(o, lj, "attachedRoutes", json_integer(l->attached_routes));
        set(o, lj, "conditions", conditions_json(o, &l->conditions, g->doc));
        append(o, ls, lj);
    }
    set(o, st, "listeners", ls);
    return object_json(o, g->doc, true, st);
}

static const char *
controller_of(const gw_model *m, const gwf_doc *gateway)
{
    for (size_t i = 0; gateway && i < m->gateway_count; i++)
        if (m->gateways[i].doc == gateway)
            return m->gateways[i].controller_name;
    return GW_CONTROLLER_NAME;
}

static json_t *
route_json(out *o, const gw_model *m, const gw_route_status *r)
{
    json_t *st = json_object(), *ps = json_array();
    if (!st || !ps) {
        json_decref(st);
        json_decref(ps);
        o->ok = false;
        return NULL;
    }
    for (size_t i = 0; i < r->parent_count; i++) {
        const gw_route_parent *p = &r->parents[i];
        json_t *pj = json_object(), *ref = json_object();
        if (!pj || !ref) {
            json_decref(pj);
            json_decref(ref);
            o->ok = false;
            continue;
        }
        set(o, ref, "group", str(GW_GROUP));
        set(o, ref, "kind", str(p->parent_kind ? p->parent_kind : "Gateway"));
        set(o, ref, "namespace", str(p->parent_namespace));
        set(o, ref, "name", str(p->parent_name));
        if (p->section_name)
            set(o, ref, "sectionName", str(p->section_name));
        if (p->port)
            set(o, ref, "port", json_integer(p->port));
        set(o, pj, "parentRef", ref);
        set(o, pj, "controllerName", str(controller_of(m, p->gateway)));
        set(o, pj, "conditions", conditions_json(o, &p->conditions, r->route));
        append(o, ps, pj);
    }
    set(o, st, "parents", ps);
    return object_json(o, r->route, true, st);
}

/* A kgateway policy's PolicyStatus ancestors: one per Gateway it
 * reaches a rule through, with the policy's own conditions (gwf judges
 * a policy as a whole, not per Gateway). */
static json_t *
ancestors_json(out *o, const gw_model *m, const gw_object_status *s)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < s->ancestor_count; i++) {
        const gwf_doc *g = s->ancestors[i];
        json_t *a = json_object(), *ref = json_object();
        set(o, ref, "group", str(GW_GROUP));
        set(o, ref, "kind", str("Gateway"));
        set(o, ref, "name", str(g->name));
        set(o, ref, "namespace", str(g->namespace_));
        set(o, a, "ancestorRef", ref);
        set(o, a, "controllerName", str(controller_of(m, g)));
        set(o, a, "conditions", conditions_json(o, &s->conditions, s->doc));
        append(o, list, a);
    }
    return list;
}

char *
gw_status_json(const gw_model *m, int64_t now, int pretty)
{
    out o = {.ok = true};
    time_t t = (time_t)now;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm));
    strftime(o.when, sizeof(o.when), "%Y-%m-%dT%H:%M:%SZ", &tm);

    json_t *root = json_object(), *items = json_array();
    if (!root || !items) {
        json_decref(root);
        json_decref(items);
        return NULL;
    }
    set(&o, root, "apiVersion", str("v1"));
    set(&o, root, "kind", str("List"));
    for (size_t i = 0; i < m->object_count; i++) {
        const gw_object_status *s = &m->objects[i];
        json_t *st = json_object();
        if (st)
            set(&o, st, "conditions",
                conditions_json(&o, &s->conditions, s->doc));
        if (st && s->ancestor_count)
            set(&o, st, "ancestors", ancestors_json(&o, m, s));
        bool namespaced = !gw_streq(s->doc->kind, "GatewayClass");
        append(&o, items, st ? object_json(&o, s->doc, namespaced, st) : NULL);
    }
    for (size_t i = 0; i < m->gateway_count; i++)
        append(&o, items, gateway_json(&o, &m->gateways[i]));
    for (size_t i = 0; i < m->route_count; i++)
        append(&o, items, route_json(&o, m, &m->routes[i]));
    set(&o, root, "items", items);
    char *text =
        o.ok ? json_dumps(root, pretty ? JSON_INDENT(2) : JSON_COMPACT) : NULL;
    json_decref(root);
    return text;
}
