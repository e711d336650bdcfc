/*
 * node_builder.h - what the YAML and JSON readers share with the tree.
 *
 * Private to node.c, yaml.c, json.c and node_parse.c. The readers build
 * gwf_node trees directly, so they see the node and tree layouts that
 * node.h keeps opaque, and they report through one builder that owns the
 * per-file error count and the hostile-input totals (node.h's limits).
 * Everything here is allocated in the tree's arena unless said otherwise.
 */
#ifndef GWF_NODE_BUILDER_H
#define GWF_NODE_BUILDER_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>

#include <gwf/node.h>

typedef struct gwf_pair {
    const char *key;
    size_t key_len;
    unsigned key_line, key_column;
    gwf_node *value;
} gwf_pair;

struct gwf_node {
    gwf_node_type type;
    unsigned line, column;
    unsigned height;  /* collections nested in this one, itself included */
    size_t weight;    /* nodes in the expanded subtree, itself included */
    size_t bytes;     /* scalar and key bytes in the expanded subtree */
    const char *text; /* scalars: NUL-terminated text */
    size_t len;
    union {
        int boolean;
        int64_t integer;
        double real;
    } v;
    size_t count; /* SEQ items or MAP pairs */
    union {
        gwf_node **items;
        gwf_pair *pairs;
    } c;
};

typedef struct arena_block {
    struct arena_block *next;
    size_t used, size;
    max_align_t data[];
} arena_block;

struct gwf_tree {
    arena_block *blocks;
    gwf_node **docs; /* malloc'd */
    size_t doc_count, doc_cap;
};

/* The state of one gwf_tree_parse call, shared by both readers. */
typedef struct gwf_builder {
    const char *name;
    gwf_diag *d;
    gwf_tree *tree;
    size_t nodes; /* expanded node total so far */
    size_t bytes; /* expanded scalar/key bytes so far */
    unsigned errors;
    bool fatal; /* stop reading: the rest would be noise */
    locale_t c_locale;
} gwf_builder;

/* -- The tree (node.c) ----------------------------------------------------- */

/* size bytes from the tree's arena, aligned for any type; NULL on OOM.
 * Freed with the tree. */
void *gwf_tree_alloc(gwf_tree *t, size_t size);

/* NUL-terminated copy of len bytes of s in the tree's arena; NULL on OOM. */
char *gwf_tree_strndup(gwf_tree *t, const char *s, size_t len);

/* Appends a document root; 0, or -1 on OOM. */
int gwf_tree_add_doc(gwf_tree *t, gwf_node *root);

/* -- The builder (node.c) -------------------------------------------------- */

/* Adds "NAME:LINE:COL: message" to b->d; past a per-file maximum the
 * errors are only counted, and b->fatal is set. */
void gwf_builder_error(gwf_builder *b, unsigned line, unsigned column,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports running out of memory (once) and stops the reader. */
void gwf_builder_oom(gwf_builder *b);

/* A zeroed node of one type at line:column, weight 1, in the arena;
 * NULL (OOM reported) on failure. */
gwf_node *gwf_builder_node(gwf_builder *b, gwf_node_type type, unsigned line,
                           unsigned column);

/* Accounts for placing n under depth enclosing collections against the
 * depth, node and byte limits; -1 (reported, fatal) when one is hit. */
int gwf_builder_account(gwf_builder *b, const gwf_node *n, unsigned depth,
                        unsigned line, unsigned column);

/* -1 (reported, fatal) when a scalar of len bytes is over the limit. */
int gwf_builder_check_scalar(gwf_builder *b, size_t len, unsigned line,
                             unsigned column);

/* Reports every duplicate key of a finished mapping. */
void gwf_builder_check_keys(gwf_builder *b, const gwf_node *map);

/* strtod in the C locale, whatever the process's locale is. */
double gwf_builder_double(gwf_builder *b, const char *text);

/* -- The readers ----------------------------------------------------------- */

/* Read len bytes into b->tree, reporting through b. */
void gwf_parse_yaml(gwf_builder *b, const char *data, size_t len); /* yaml.c */
void gwf_parse_json(gwf_builder *b, const char *data, size_t len); /* json.c */

#endif
