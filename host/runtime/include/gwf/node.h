/*
 * gwf/node.h - a read-only document tree parsed from YAML or JSON.
 *
 * Manifests arrive as YAML (libyaml) or JSON (jansson). Both are turned
 * into the same small tree of gwf_node, so validation and error reporting
 * are written once. Every node remembers the line and column where it was
 * written; every mapping entry also remembers the line of its key, which
 * is where an error about that entry is reported.
 *
 * Trees are built from untrusted input, so the parser enforces hard
 * limits (GWF_NODE_MAX_*) and fails with a clear message instead of
 * eating memory or stack. YAML aliases are not copied: an alias points at
 * the anchored node, so a tree is a DAG. Expansion still counts against
 * the node and byte limits, which is what stops "billion laughs" input,
 * and against the depth limit, which keeps every recursive walk over a
 * tree (gwf_node_to_json) within GWF_NODE_MAX_DEPTH frames.
 *
 * A node reached through an alias reports the line of its anchor.
 *
 * All accessors accept NULL and then return the "nothing" answer (0,
 * NULL, GWF_NODE_NULL), so lookups can be chained without checks.
 */
#ifndef GWF_NODE_H
#define GWF_NODE_H

#include <stddef.h>
#include <stdint.h>

#include <gwf/diag.h>

/* Hostile-input limits, per parsed file. */
#define GWF_NODE_MAX_INPUT (16u * 1024 * 1024) /* bytes of input */
#define GWF_NODE_MAX_DEPTH 64                  /* nested collections */
#define GWF_NODE_MAX_NODES 1000000u            /* incl. alias expansion */
#define GWF_NODE_MAX_SCALAR (1024u * 1024)     /* bytes in one scalar */
#define GWF_NODE_MAX_EXPANDED                                                  \
    (64u * 1024 * 1024) /* scalar bytes incl.                                  \
                           alias expansion */

typedef enum gwf_node_type {
    GWF_NODE_NULL,
    GWF_NODE_BOOL,
    GWF_NODE_INT,
    GWF_NODE_FLOAT,
    GWF_NODE_STRING,
    GWF_NODE_SEQ,
    GWF_NODE_MAP
} gwf_node_type;

typedef struct gwf_node gwf_node;

/* Type of n; GWF_NODE_NULL for a NULL pointer. */
gwf_node_type gwf_node_type_of(const gwf_node *n);

/* Human name of a type for messages: "null", "boolean", "integer",
 * "number", "string", "list", "mapping". Static storage. */
const char *gwf_node_type_name(gwf_node_type t);

/* 1-based line / column where n starts; 0 for NULL. */
unsigned gwf_node_line(const gwf_node *n);
unsigned gwf_node_column(const gwf_node *n);

/* STRING: its bytes (NUL-terminated; may contain NUL bytes, hence *len),
 * owned by the tree. NULL for any other type. `len` may be NULL. */
const char *gwf_node_str(const gwf_node *n, size_t *len);

/* Scalar text exactly as written in the input for YAML scalars of any
 * type (a JSON number or literal is rendered back to text). NULL for
 * collections. Owned by the tree. */
const char *gwf_node_text(const gwf_node *n, size_t *len);

/* INT, or FLOAT with an integral value within int64 range: 0 and *out
 * set. Anything else: -1, *out untouched. */
int gwf_node_int(const gwf_node *n, int64_t *out);

/* BOOL: 0 and *out set (0 or 1); otherwise -1. */
int gwf_node_bool(const gwf_node *n, int *out);

/* FLOAT or INT as a double: 0 and *out set; otherwise -1. */
int gwf_node_number(const gwf_node *n, double *out);

/* Items of a SEQ, pairs of a MAP, else 0. */
size_t gwf_node_size(const gwf_node *n);

/* Item i of a SEQ; NULL when out of range or not a SEQ. */
const gwf_node *gwf_node_at(const gwf_node *seq, size_t i);

/* Key / value / key line of pair i of a MAP (in input order); NULL or 0
 * when out of range or not a MAP. Keys never contain NUL bytes. */
const char *gwf_node_key_at(const gwf_node *map, size_t i);
const gwf_node *gwf_node_value_at(const gwf_node *map, size_t i);
unsigned gwf_node_key_line_at(const gwf_node *map, size_t i);

/* Value under `key` in a MAP; NULL if absent or not a MAP. Keys are
 * unique within a map (duplicates are a parse error). */
const gwf_node *gwf_node_get(const gwf_node *map, const char *key);

/* Writes a short description of n for messages into out (always
 * NUL-terminated): `string "abc"`, `integer 3`, `boolean true`, `null`,
 * `a list`, `a mapping`; long text is cut to ~40 bytes with "...". */
void gwf_node_describe(const gwf_node *n, char *out, size_t size);

/* Writes s (len bytes) into out as a double-quoted form for messages:
 * at most ~40 bytes of it, '"' and '\\' escaped, control bytes as \xNN,
 * "..." when cut. Needs size >= 8; always NUL-terminated. */
void gwf_quote(char *out, size_t size, const char *s, size_t len);

/* Compact JSON text of n (keys in input order). Non-finite floats (.inf,
 * .nan) have no JSON form and become null. Returns a malloc'd string the
 * caller frees, or NULL on OOM or when n is NULL. */
char *gwf_node_to_json(const gwf_node *n);

/* Follows a path like "spec.jwt.providers[0].issuer" from root. A key
 * that is not a plain word may be quoted: spec["a.b"] (inside quotes, \"
 * and \\ escape). Returns the node at the end of the path, or NULL when
 * some step does not exist or the path is malformed. If `line` is not
 * NULL it receives the line of the deepest step that exists: for a map
 * step the line of the key, for a list step the line of the item, and
 * the root's line when even the first step is missing. */
const gwf_node *gwf_node_find(const gwf_node *root, const char *path,
                              unsigned *line);

/*
 * Parsing.
 */

typedef enum gwf_format {
    GWF_FORMAT_AUTO, /* JSON if name ends in ".json" or the first
                        non-blank byte is '{' or '[', else YAML */
    GWF_FORMAT_YAML,
    GWF_FORMAT_JSON
} gwf_format;

/* The nodes of one parsed file; owns all memory of its nodes. */
typedef struct gwf_tree gwf_tree;

/* Picks the format GWF_FORMAT_AUTO stands for. */
gwf_format gwf_format_detect(const char *name, const char *data, size_t len);

/* Parses `len` bytes of `data` (need not be NUL-terminated; copied as
 * needed, not retained). YAML may hold several documents; JSON holds
 * one. `name` is used only in messages. On success returns 0 and sets
 * *out to a new tree the caller frees with gwf_tree_free. On failure adds
 * one or more lines "NAME:LINE:COL: problem" to d (a limit that is hit is
 * named with its value), sets *out to NULL and returns -1. */
int gwf_tree_parse(const char *name, const char *data, size_t len,
                   gwf_format format, gwf_tree **out, gwf_diag *d);

/* Frees the tree and every node in it. NULL is ignored. */
void gwf_tree_free(gwf_tree *t);

/* Documents of the file in input order. An empty YAML document is
 * present as a NULL node (type GWF_NODE_NULL, non-NULL pointer). */
size_t gwf_tree_doc_count(const gwf_tree *t);
const gwf_node *gwf_tree_doc(const gwf_tree *t, size_t i);

#endif
