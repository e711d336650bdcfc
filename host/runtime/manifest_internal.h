/*
 * manifest_internal.h - what loading, validation and planning share.
 *
 * Private to manifest_load.c, manifest_validate.c and manifest_plan.c:
 * the layout of a gwf_manifests (manifest.h keeps it opaque), the record
 * behind each gwf_doc, the table of GatewayExtension types, and the few
 * helpers more than one step uses. Loading is the bottom of the three,
 * validation uses it, planning uses both (it re-checks what it plans).
 */
#ifndef GWF_MANIFEST_INTERNAL_H
#define GWF_MANIFEST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <gwf/manifest.h>

/* The four kinds of GatewayExtension, by the block under spec. */
typedef enum ext_type {
    EXT_INVALID = -1,
    EXT_AUTH,
    EXT_RATE_LIMIT,
    EXT_JWT,
    EXT_PLUGIN,
    EXT_TYPE_COUNT
} ext_type;

struct ext_type_info {
    const char *field;     /* key under spec */
    const char *type_name; /* spec.type value */
    const char *plugin;    /* plugin that implements it */
    const char *path;      /* config_field of its plan entry */
};

/* Indexed by ext_type (manifest_load.c). */
extern const struct ext_type_info manifest_ext_types[EXT_TYPE_COUNT];

typedef struct doc_rec {
    gwf_doc pub;          /* first: a gwf_doc * is a doc_rec * */
    const char *base_dir; /* absolute directory of the file, or NULL */
    size_t order;         /* load order, for stable duplicate reports */
    ext_type ext;         /* GatewayExtension block, found at load time
                             so that resolving many references to one
                             extension does not rescan its spec */
} doc_rec;

typedef struct manifest_file {
    char *name;
    char *base_dir;
    gwf_tree *tree;
} manifest_file;

struct gwf_manifests {
    manifest_file *files;
    size_t file_count, file_cap;
    doc_rec **docs;
    size_t doc_count, doc_cap;
    doc_rec **index; /* docs with kind and name, sorted */
    size_t index_count;
    bool index_valid;
    gwf_diag notes; /* documents skipped, one line each */
};

/* Bounds on the pieces of a document's label in messages. */
enum { MAX_LABEL_KIND = 64, MAX_LABEL_NAME = 253, MAX_LABEL_FIELD = 256 };

/* -- Loading and the set (manifest_load.c) ----------------------------------
 */

/* Errors added to d since it held `before`, as an int. */
int manifest_errors_since(const gwf_diag *d, size_t before);

/* A string node whose bytes hold no NUL, so it is safe as a C string;
 * else NULL. Owned by the tree. */
const char *manifest_plain_string(const gwf_node *n);

/* The value under key, with an explicit null treated as absent (as in
 * Kubernetes, `field:` with nothing after it means "not set"). */
const gwf_node *manifest_field_of(const gwf_node *map, const char *key);

/* dir joined with rel, "." and duplicate slashes dropped; ".." is kept.
 * Returns a malloc'd absolute path, or NULL on OOM. */
char *manifest_join_clean(const char *dir, const char *rel);

/* Splits "name" or "namespace/name" (no namespace: "default"). Returns
 * false when malformed. The pieces point into ref. */
bool manifest_split_ref(const char *ref, const char **ns, size_t *ns_len,
                        const char **name, size_t *name_len);

/* The kinds gwf reads (manifest_load.c), NULL-terminated. A document of
 * any other kind is skipped at load time with a note. */
extern const char *const manifest_read_kinds[];

/* qsort order of doc_rec pointers: kind, namespace, name, load order. */
int manifest_compare_doc_ptr(const void *a, const void *b);

/* The document of that kind and namespace/name; NULL when absent. Uses
 * the sorted index when it is valid, else a linear scan. */
const doc_rec *manifest_lookup(const gwf_manifests *m, const char *kind,
                               const char *ns, size_t ns_len, const char *name,
                               size_t name_len);

/* -- Validation (manifest_validate.c) ---------------------------------------
 */

/* Checks one document; returns the number of errors added to d. */
unsigned manifest_check_document(const gwf_manifests *m, const gwf_doc *doc,
                                 gwf_diag *d);

/* `disable` switches ext auth off for the route: true, or kgateway's
 * empty-object form `disable: {}`. */
bool manifest_disabled(const gwf_node *field);
/* A TrafficPolicy's rateLimit.local that sets no tokenBucket: off. */
bool manifest_local_rate_limit_off(const gwf_node *local);

#endif
