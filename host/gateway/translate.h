/*
 * translate.h - Gateway API documents in, a data plane model out.
 *
 * The translator's public face inside host/ (the CLI uses it; nothing
 * outside host/ does). gw_model_build reads every GatewayClass, Gateway,
 * HTTPRoute, GRPCRoute, ReferenceGrant, Namespace, Service,
 * EndpointSlice, Secret and kgateway Backend of a loaded gwf_manifests and
 * builds the model of model.h; gw_status_json reports, from that model,
 * the status each object would get from a Gateway API controller.
 *
 * Two kinds of problems, as in Kubernetes:
 *   - a malformed document (a field of the wrong type, a required field
 *     missing, a value outside the API's limits) is what the API server
 *     would refuse: one error line "FILE:LINE: Kind ns/name: field:
 *     message" in `errors`, and that document alone is ignored;
 *   - a well-formed document that refers to something missing or not
 *     permitted is served as the spec says (a rule answering 500, a
 *     route not attached, a listener not programmed) and reported in the
 *     status conditions, never as an error.
 * `notes` receives info lines (a Gateway of another class, say).
 */
#ifndef GWF_GATEWAY_TRANSLATE_H
#define GWF_GATEWAY_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gwf/diag.h>
#include <gwf/manifest.h>

#include "model.h"

/* The controller name routes report when the class does not give one. */
#define GW_CONTROLLER_NAME "gwf.dev/gateway-controller"

typedef struct gw_build_options {
    /* gatewayClassName values served; NULL / 0: {"gwf", "kgateway"}.
     * Borrowed for the duration of gw_model_build. */
    const char *const *classes;
    size_t class_count;
    /* The data plane cannot serve HTTP/1.x and cleartext HTTP/2 (gRPC
     * without TLS) on one port, as nginx before 1.25.1 cannot: a plain
     * HTTP port then takes HTTPRoutes or GRPCRoutes, not both. The route
     * that attaches first (oldest, then by namespace/name) decides; a
     * route of the other kind is refused there (NotAllowedByListeners,
     * with a message that says why). */
    bool plain_port_one_protocol;
} gw_build_options;

/* Builds *out from the documents of m (which must outlive *out: the
 * model points into it). `o` may be NULL (defaults); errors and notes
 * may be NULL (lines dropped). Returns the number of error lines added
 * (0: every document was well-formed), or -1 when memory ran out (then
 * *out is empty). Whatever the return value other than -1, *out holds
 * everything that could be served; free it with gw_model_free. */
int gw_model_build(const gwf_manifests *m, const gw_build_options *o,
                   gw_model *out, gwf_diag *errors, gwf_diag *notes);

/* Frees everything the model owns and leaves it empty. NULL is ignored. */
void gw_model_free(gw_model *m);

/* Sets a condition of the status of `doc` (a kgateway Backend,
 * GatewayExtension, TrafficPolicy or DirectResponse, judged by the data
 * plane's runtime): it replaces the doc's condition of the same type, or
 * is added. `type` and `reason` must be static strings;
 * `message` is copied. The object is listed by gw_status_json. Returns 0,
 * or -1 when memory ran out (m is then unchanged but for the object). */
int gw_model_object_condition(gw_model *m, const gwf_doc *doc, const char *type,
                              bool status, const char *reason,
                              const char *message);

/* Adds a condition to route `route` (an HTTPRoute or GRPCRoute) for
 * each of its parents that has none of that type yet (the first reason
 * stays, as the reader's PartiallyInvalid does): how the data plane's
 * judgement marks a rule it fails closed (a CORS filter the cors plugin
 * refuses). `type` and `reason` must be static strings; `message` is
 * copied. Returns 0, or -1 when memory ran out. */
int gw_model_route_condition(gw_model *m, const gwf_doc *route,
                             const char *type, bool status, const char *reason,
                             const char *message);

/* Every object of m with a Gateway API status (GatewayClasses of our
 * classes, their Gateways, the routes that name them), as a JSON
 * document {"apiVersion": "v1", "kind": "List", "items": [...]}, each
 * item {apiVersion, kind, metadata{name, namespace}, status{...}}.
 * `now` (Unix seconds) is every condition's lastTransitionTime, so that
 * equal inputs give equal output. `pretty`: indented. Returns a malloc'd
 * string the caller frees, or NULL on OOM. */
char *gw_status_json(const gw_model *m, int64_t now, int pretty);

#endif
