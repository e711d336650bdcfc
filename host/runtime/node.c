/*
 * node.c - YAML and JSON into one tree of gwf_node, with positions.
 *
 * YAML is read from libyaml's event stream rather than its document API:
 * the events carry every mark we need, and building the tree ourselves is
 * where the hostile-input limits are enforced as the input is read (depth
 * on each collection start, node and byte totals on each node and each
 * alias), so a "billion laughs" file stops after a million nodes' worth
 * of bookkeeping, not after memory runs out. Plain scalars are resolved
 * with the YAML 1.2 core schema; quoted ones stay strings.
 *
 * JSON is parsed by jansson, which knows JSON best but keeps no positions.
 * So a small scanner walks the text first: it records the position of
 * every value and key in document order, enforces the depth and node
 * limits before jansson allocates anything, and the jansson tree is then
 * converted while consuming those positions in the same order (jansson
 * keeps object keys in insertion order, and duplicates are rejected).
 *
 * All nodes of one file live in an arena owned by the gwf_tree; that
 * makes alias sharing free and freeing a DAG trivial.
 */
#include "node.h"

#include <inttypes.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

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

/* ------------------------------------------------------------------ */
/* Arena                                                               */

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

enum { ARENA_BLOCK_SIZE = 64 * 1024 };

static void *
arena_alloc(gwf_tree *t, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    if (size == 0)
        size = align;
    arena_block *b = t->blocks;
    if (!b || b->size - b->used < size) {
        size_t cap = size > ARENA_BLOCK_SIZE / 2 ? size : ARENA_BLOCK_SIZE;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->size = cap;
        b->used = 0;
        /* A block made for one big request goes second so the current
         * block keeps serving small ones. */
        if (cap != ARENA_BLOCK_SIZE && t->blocks) {
            b->next = t->blocks->next;
            t->blocks->next = b;
        } else {
            b->next = t->blocks;
            t->blocks = b;
        }
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

static char *
arena_strndup(gwf_tree *t, const char *s, size_t len)
{
    char *copy = arena_alloc(t, len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

void
gwf_tree_free(gwf_tree *t)
{
    if (!t)
        return;
    arena_block *b = t->blocks;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(t->docs);
    free(t);
}

size_t
gwf_tree_doc_count(const gwf_tree *t)
{
    return t ? t->doc_count : 0;
}

const gwf_node *
gwf_tree_doc(const gwf_tree *t, size_t i)
{
    return t && i < t->doc_count ? t->docs[i] : NULL;
}

static int
tree_add_doc(gwf_tree *t, gwf_node *root)
{
    if (t->doc_count == t->doc_cap) {
        size_t cap = t->doc_cap ? t->doc_cap * 2 : 8;
        gwf_node **grown = realloc(t->docs, cap * sizeof(*grown));
        if (!grown)
            return -1;
        t->docs = grown;
        t->doc_cap = cap;
    }
    t->docs[t->doc_count++] = root;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */

gwf_node_type
gwf_node_type_of(const gwf_node *n)
{
    return n ? n->type : GWF_NODE_NULL;
}

const char *
gwf_node_type_name(gwf_node_type t)
{
    switch (t) {
    case GWF_NODE_NULL:
        return "null";
    case GWF_NODE_BOOL:
        return "boolean";
    case GWF_NODE_INT:
        return "integer";
    case GWF_NODE_FLOAT:
        return "number";
    case GWF_NODE_STRING:
        return "string";
    case GWF_NODE_SEQ:
        return "list";
    case GWF_NODE_MAP:
        return "mapping";
    }
    return "unknown";
}

unsigned
gwf_node_line(const gwf_node *n)
{
    return n ? n->line : 0;
}

unsigned
gwf_node_column(const gwf_node *n)
{
    return n ? n->column : 0;
}

const char *
gwf_node_str(const gwf_node *n, size_t *len)
{
    if (!n || n->type != GWF_NODE_STRING)
        return NULL;
    if (len)
        *len = n->len;
    return n->text;
}

const char *
gwf_node_text(const gwf_node *n, size_t *len)
{
    if (!n || n->type == GWF_NODE_SEQ || n->type == GWF_NODE_MAP)
        return NULL;
    if (len)
        *len = n->len;
    return n->text;
}

int
gwf_node_int(const gwf_node *n, int64_t *out)
{
    if (!n)
        return -1;
    if (n->type == GWF_NODE_INT) {
        *out = n->v.integer;
        return 0;
    }
    if (n->type != GWF_NODE_FLOAT)
        return -1;
    double f = n->v.real;
    /* Range first: converting an out-of-range double is undefined. */
    if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
        return -1;
    int64_t i = (int64_t)f;
    if ((double)i != f)
        return -1;
    *out = i;
    return 0;
}

int
gwf_node_bool(const gwf_node *n, int *out)
{
    if (!n || n->type != GWF_NODE_BOOL)
        return -1;
    *out = n->v.boolean;
    return 0;
}

int
gwf_node_number(const gwf_node *n, double *out)
{
    if (!n)
        return -1;
    if (n->type == GWF_NODE_INT) {
        *out = (double)n->v.integer;
        return 0;
    }
    if (n->type == GWF_NODE_FLOAT) {
        *out = n->v.real;
        return 0;
    }
    return -1;
}

size_t
gwf_node_size(const gwf_node *n)
{
    if (!n || (n->type != GWF_NODE_SEQ && n->type != GWF_NODE_MAP))
        return 0;
    return n->count;
}

const gwf_node *
gwf_node_at(const gwf_node *seq, size_t i)
{
    if (!seq || seq->type != GWF_NODE_SEQ || i >= seq->count)
        return NULL;
    return seq->c.items[i];
}

const char *
gwf_node_key_at(const gwf_node *map, size_t i)
{
    if (!map || map->type != GWF_NODE_MAP || i >= map->count)
        return NULL;
    return map->c.pairs[i].key;
}

const gwf_node *
gwf_node_value_at(const gwf_node *map, size_t i)
{
    if (!map || map->type != GWF_NODE_MAP || i >= map->count)
        return NULL;
    return map->c.pairs[i].value;
}

unsigned
gwf_node_key_line_at(const gwf_node *map, size_t i)
{
    if (!map || map->type != GWF_NODE_MAP || i >= map->count)
        return 0;
    return map->c.pairs[i].key_line;
}

static const gwf_pair *
map_find(const gwf_node *map, const char *key, size_t key_len)
{
    if (!map || map->type != GWF_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->count; i++) {
        const gwf_pair *p = &map->c.pairs[i];
        if (p->key_len == key_len && memcmp(p->key, key, key_len) == 0)
            return p;
    }
    return NULL;
}

const gwf_node *
gwf_node_get(const gwf_node *map, const char *key)
{
    if (!key)
        return NULL;
    const gwf_pair *p = map_find(map, key, strlen(key));
    return p ? p->value : NULL;
}

/* ------------------------------------------------------------------ */
/* Path lookup                                                         */

/* Does the quoted path segment [q, q_end) (without its quotes, with \"
 * and \\ escapes) spell `key`? */
static bool
quoted_equals(const char *q, const char *q_end, const char *key, size_t key_len)
{
    size_t k = 0;
    while (q < q_end) {
        char c = *q++;
        if (c == '\\' && q < q_end)
            c = *q++;
        if (k >= key_len || key[k] != c)
            return false;
        k++;
    }
    return k == key_len;
}

static const gwf_pair *
map_find_quoted(const gwf_node *map, const char *q, const char *q_end)
{
    if (!map || map->type != GWF_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->count; i++) {
        const gwf_pair *p = &map->c.pairs[i];
        if (quoted_equals(q, q_end, p->key, p->key_len))
            return p;
    }
    return NULL;
}

const gwf_node *
gwf_node_find(const gwf_node *root, const char *path, unsigned *line)
{
    unsigned deepest = gwf_node_line(root);
    const gwf_node *n = root;
    const char *s = path ? path : "";
    bool first = true;

    while (n && *s) {
        if (*s == '[') {
            s++;
            if (*s == '"') {
                const char *q = ++s;
                while (*s && *s != '"') {
                    if (*s == '\\' && s[1])
                        s++;
                    s++;
                }
                if (*s != '"' || s[1] != ']') {
                    n = NULL;
                    break;
                }
                const gwf_pair *p = map_find_quoted(n, q, s);
                s += 2;
                n = p ? p->value : NULL;
                if (p)
                    deepest = p->key_line;
            } else {
                size_t index = 0;
                const char *digits = s;
                while (*s >= '0' && *s <= '9') {
                    if (index > (SIZE_MAX - 9) / 10) {
                        index = SIZE_MAX;
                    } else {
                        index = index * 10 + (size_t)(*s - '0');
                    }
                    s++;
                }
                if (s == digits || *s != ']') {
                    n = NULL;
                    break;
                }
                s++;
                n = gwf_node_at(n, index);
                if (n)
                    deepest = n->line;
            }
        } else {
            if (!first) {
                if (*s != '.') {
                    n = NULL;
                    break;
                }
                s++;
            }
            const char *word = s;
            while (*s && *s != '.' && *s != '[')
                s++;
            if (s == word) {
                n = NULL;
                break;
            }
            const gwf_pair *p = map_find(n, word, (size_t)(s - word));
            n = p ? p->value : NULL;
            if (p)
                deepest = p->key_line;
        }
        first = false;
    }
    if (line)
        *line = deepest;
    return n;
}

/* ------------------------------------------------------------------ */
/* JSON output                                                         */

typedef struct text_buf {
    char *data;
    size_t len, cap;
    bool failed;
    locale_t c_locale; /* for printing floats; created on first use */
} text_buf;

static void
buf_append(text_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->len <= n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len <= n) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void
buf_puts(text_buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

static void
buf_json_string(text_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_append(b, "\"", 1);
    size_t run = 0; /* bytes that need no escaping, copied in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char uesc[7];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            memcpy(uesc, "\\u00", 4);
            uesc[4] = hex[c >> 4];
            uesc[5] = hex[c & 15];
            uesc[6] = '\0';
            esc = uesc;
        }
        if (!esc) {
            run++;
            continue;
        }
        buf_append(b, s + i - run, run);
        run = 0;
        buf_puts(b, esc);
    }
    buf_append(b, s + len - run, run);
    buf_append(b, "\"", 1);
}

static void
buf_json_float(text_buf *b, double f)
{
    if (!isfinite(f)) {
        buf_puts(b, "null");
        return;
    }
    if (!b->c_locale) {
        b->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!b->c_locale) {
            b->failed = true;
            return;
        }
    }
    /* printf and strtod follow LC_NUMERIC; JSON wants '.' whatever
     * locale the embedding process runs in. uselocale is per thread. */
    locale_t saved = uselocale(b->c_locale);
    char text[40];
    snprintf(text, sizeof(text), "%.15g", f);
    if (strtod(text, NULL) != f)
        snprintf(text, sizeof(text), "%.17g", f);
    uselocale(saved);
    if (!strpbrk(text, ".eE"))
        strcat(text, ".0");
    buf_puts(b, text);
}

static void
buf_json_node(text_buf *b, const gwf_node *n)
{
    char text[32];
    switch (n->type) {
    case GWF_NODE_NULL:
        buf_puts(b, "null");
        break;
    case GWF_NODE_BOOL:
        buf_puts(b, n->v.boolean ? "true" : "false");
        break;
    case GWF_NODE_INT:
        snprintf(text, sizeof(text), "%" PRId64, n->v.integer);
        buf_puts(b, text);
        break;
    case GWF_NODE_FLOAT:
        buf_json_float(b, n->v.real);
        break;
    case GWF_NODE_STRING:
        buf_json_string(b, n->text, n->len);
        break;
    case GWF_NODE_SEQ:
        buf_append(b, "[", 1);
        for (size_t i = 0; i < n->count && !b->failed; i++) {
            if (i)
                buf_append(b, ",", 1);
            buf_json_node(b, n->c.items[i]);
        }
        buf_append(b, "]", 1);
        break;
    case GWF_NODE_MAP:
        buf_append(b, "{", 1);
        for (size_t i = 0; i < n->count && !b->failed; i++) {
            if (i)
                buf_append(b, ",", 1);
            buf_json_string(b, n->c.pairs[i].key, n->c.pairs[i].key_len);
            buf_append(b, ":", 1);
            buf_json_node(b, n->c.pairs[i].value);
        }
        buf_append(b, "}", 1);
        break;
    }
}

char *
gwf_node_to_json(const gwf_node *n)
{
    if (!n)
        return NULL;
    text_buf b = {0};
    buf_json_node(&b, n);
    if (b.c_locale)
        freelocale(b.c_locale);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* ------------------------------------------------------------------ */
/* Shared builder state                                                */

/* Errors beyond this many in one file are counted as one summary line,
 * so a hostile file cannot flood the log. */
enum { MAX_ERRORS_PER_FILE = 20 };

typedef struct builder {
    const char *name;
    gwf_diag *d;
    gwf_tree *tree;
    size_t nodes; /* expanded node total so far */
    size_t bytes; /* expanded scalar/key bytes so far */
    unsigned errors;
    bool fatal; /* stop reading: the rest would be noise */
    locale_t c_locale;
} builder;

static void builder_error(builder *b, unsigned line, unsigned column,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
builder_error(builder *b, unsigned line, unsigned column, const char *fmt, ...)
{
    b->errors++;
    if (b->errors > MAX_ERRORS_PER_FILE)
        return;
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (b->errors == MAX_ERRORS_PER_FILE) {
        gwf_diag_addf(b->d, "%s:%u:%u: %s (too many errors, giving up)",
                      b->name, line, column, message);
        b->fatal = true;
        return;
    }
    gwf_diag_addf(b->d, "%s:%u:%u: %s", b->name, line, column, message);
}

static void
builder_oom(builder *b)
{
    if (!b->fatal)
        gwf_diag_addf(b->d, "%s: out of memory while parsing", b->name);
    b->errors++;
    b->fatal = true;
}

void
gwf_quote(char *out, size_t size, const char *s, size_t len)
{
    const size_t keep = 40;
    size_t o = 0;
    if (size < 8) {
        if (size)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    /* Room for the widest escape (4), the "..." (3), '"' and NUL. */
    for (size_t i = 0; i < len && i < keep && o + 9 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    if (len > keep || o + 9 >= size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

void
gwf_node_describe(const gwf_node *n, char *out, size_t size)
{
    char quoted[128];
    if (!size)
        return;
    switch (gwf_node_type_of(n)) {
    case GWF_NODE_NULL:
        snprintf(out, size, "null");
        break;
    case GWF_NODE_SEQ:
        snprintf(out, size, "a list");
        break;
    case GWF_NODE_MAP:
        snprintf(out, size, "a mapping");
        break;
    case GWF_NODE_STRING:
        gwf_quote(quoted, sizeof(quoted), n->text, n->len);
        snprintf(out, size, "string %s", quoted);
        break;
    default:
        /* Numbers and booleans: their text as written, unquoted. */
        gwf_quote(quoted, sizeof(quoted), n->text, n->len);
        quoted[strlen(quoted) - 1] = '\0';
        snprintf(out, size, "%s %s", gwf_node_type_name(n->type), quoted + 1);
        break;
    }
}

static gwf_node *
new_node(builder *b, gwf_node_type type, unsigned line, unsigned column)
{
    gwf_node *n = arena_alloc(b->tree, sizeof(*n));
    if (!n) {
        builder_oom(b);
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->line = line;
    n->column = column;
    n->weight = 1;
    return n;
}

/* Accounts for placing `n` (already complete, or a collection that is
 * just starting, height 1) under `depth` enclosing collections. Returns
 * -1 (error reported) when a limit is exceeded. */
static int
account(builder *b, const gwf_node *n, unsigned depth, unsigned line,
        unsigned column)
{
    if (depth + n->height > GWF_NODE_MAX_DEPTH) {
        builder_error(b, line, column,
                      "nesting is deeper than the limit of %d levels",
                      GWF_NODE_MAX_DEPTH);
        b->fatal = true;
        return -1;
    }
    if (n->weight > GWF_NODE_MAX_NODES - b->nodes) {
        builder_error(b, line, column,
                      "more than %u nodes in one file (aliases count "
                      "as the nodes they stand for)",
                      GWF_NODE_MAX_NODES);
        b->fatal = true;
        return -1;
    }
    if (n->bytes > GWF_NODE_MAX_EXPANDED - b->bytes) {
        builder_error(b, line, column,
                      "more than %u bytes of scalars in one file (aliases "
                      "count as the text they stand for)",
                      GWF_NODE_MAX_EXPANDED);
        b->fatal = true;
        return -1;
    }
    b->nodes += n->weight;
    b->bytes += n->bytes;
    return 0;
}

static int
check_scalar_length(builder *b, size_t len, unsigned line, unsigned column)
{
    if (len <= GWF_NODE_MAX_SCALAR)
        return 0;
    builder_error(b, line, column,
                  "scalar of %zu bytes is longer than the limit of %u bytes",
                  len, GWF_NODE_MAX_SCALAR);
    b->fatal = true;
    return -1;
}

/* Reports duplicate keys in a finished mapping, naming the first one. */
static int
compare_pair_ptr(const void *a, const void *b)
{
    const gwf_pair *x = *(const gwf_pair *const *)a;
    const gwf_pair *y = *(const gwf_pair *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    /* Same key: input order, so the first definition sorts first. */
    return x < y ? -1 : (x > y ? 1 : 0);
}

static void
report_duplicate(builder *b, const gwf_pair *first, const gwf_pair *again)
{
    char quoted[128];
    gwf_quote(quoted, sizeof(quoted), again->key, again->key_len);
    builder_error(b, again->key_line, again->key_column,
                  "duplicate key %s (first defined at line %u)", quoted,
                  first->key_line);
}

static void
check_duplicate_keys(builder *b, const gwf_node *map)
{
    size_t n = map->count;
    if (n < 2)
        return;
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            for (size_t j = 0; j < i; j++) {
                const gwf_pair *x = &map->c.pairs[j];
                const gwf_pair *y = &map->c.pairs[i];
                if (x->key_len == y->key_len &&
                    memcmp(x->key, y->key, x->key_len) == 0) {
                    report_duplicate(b, x, y);
                    break;
                }
            }
        }
        return;
    }
    const gwf_pair **sorted = malloc(n * sizeof(*sorted));
    if (!sorted) {
        builder_oom(b);
        return;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &map->c.pairs[i];
    qsort(sorted, n, sizeof(*sorted), compare_pair_ptr);
    size_t first = 0;
    for (size_t i = 1; i < n; i++) {
        const gwf_pair *x = sorted[first], *y = sorted[i];
        if (x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0)
            report_duplicate(b, x, y);
        else
            first = i;
    }
    free(sorted);
}

static double
parse_double(builder *b, const char *text)
{
    if (!b->c_locale) {
        b->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!b->c_locale) {
            builder_oom(b);
            return 0;
        }
    }
    locale_t saved = uselocale(b->c_locale);
    double f = strtod(text, NULL);
    uselocale(saved);
    return f;
}

/* ------------------------------------------------------------------ */
/* YAML 1.2 core schema                                                */

static bool
is_one_of(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(s, *words, len) == 0)
            return true;
    return false;
}

static bool
all_digits(const char *s, size_t len, int base)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok =
            (c >= '0' && c <= '9' && c - '0' < base) ||
            (base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        if (!ok)
            return false;
    }
    return true;
}

static int
digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/* Digits already checked. An integer too big for int64 becomes a float:
 * the core schema says "integer", but we have no wider type, and a
 * float at least keeps the magnitude for the error message. */
static void
set_integer(gwf_node *n, const char *digits, size_t len, int base,
            bool negative)
{
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t value = 0;
    double approx = 0;
    bool overflow = false;
    for (size_t i = 0; i < len; i++) {
        int digit = digit_value(digits[i]);
        approx = approx * base + digit;
        if (value > (limit - (uint64_t)digit) / (uint64_t)base)
            overflow = true;
        else
            value = value * (uint64_t)base + (uint64_t)digit;
    }
    if (overflow) {
        n->type = GWF_NODE_FLOAT;
        n->v.real = negative ? -approx : approx;
        return;
    }
    n->type = GWF_NODE_INT;
    if (negative)
        n->v.integer =
            value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)value;
    else
        n->v.integer = (int64_t)value;
}

static bool
looks_like_float(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    size_t int_digits = 0, frac_digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        int_digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            frac_digits++;
        }
    }
    if (int_digits == 0 && frac_digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp_digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return false;
    }
    return i == len;
}

/* Resolves n->text (a plain scalar, or one tagged with a core type) per
 * the YAML 1.2 core schema. */
static void
resolve_plain(builder *b, gwf_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    const char *s = n->text;
    size_t len = n->len;

    n->type = GWF_NODE_STRING;
    if (is_one_of(s, len, nulls)) {
        n->type = GWF_NODE_NULL;
    } else if (is_one_of(s, len, trues) || is_one_of(s, len, falses)) {
        n->type = GWF_NODE_BOOL;
        n->v.boolean = is_one_of(s, len, trues);
    } else if (len > 2 && s[0] == '0' && s[1] == 'x' &&
               all_digits(s + 2, len - 2, 16)) {
        set_integer(n, s + 2, len - 2, 16, false);
    } else if (len > 2 && s[0] == '0' && s[1] == 'o' &&
               all_digits(s + 2, len - 2, 8)) {
        set_integer(n, s + 2, len - 2, 8, false);
    } else if ((s[0] == '-' || s[0] == '+') && all_digits(s + 1, len - 1, 10)) {
        set_integer(n, s + 1, len - 1, 10, s[0] == '-');
    } else if (all_digits(s, len, 10)) {
        set_integer(n, s, len, 10, false);
    } else if (looks_like_float(s, len)) {
        n->type = GWF_NODE_FLOAT;
        n->v.real = parse_double(b, s);
    } else {
        size_t off = (s[0] == '-' || s[0] == '+') ? 1 : 0;
        if (is_one_of(s + off, len - off, infs)) {
            n->type = GWF_NODE_FLOAT;
            n->v.real = s[0] == '-' ? -INFINITY : INFINITY;
        } else if (is_one_of(s, len, nans)) {
            n->type = GWF_NODE_FLOAT;
            n->v.real = NAN;
        }
    }
}

/* ------------------------------------------------------------------ */
/* YAML                                                                */

typedef struct yaml_frame {
    gwf_node *node;
    char *anchor; /* malloc'd; registered when the node ends */
    void *items;  /* gwf_node *[] or gwf_pair[] (malloc'd) */
    size_t count, cap;
    bool have_key;
    gwf_pair key; /* pending key of a mapping */
} yaml_frame;

typedef struct anchor_slot {
    char *name; /* malloc'd; NULL = empty slot */
    gwf_node *node;
} anchor_slot;

typedef struct yaml_builder {
    builder b;
    yaml_frame stack[GWF_NODE_MAX_DEPTH];
    unsigned depth;
    anchor_slot *anchors; /* open addressing, power-of-two size */
    size_t anchor_count, anchor_cap;
} yaml_builder;

static size_t
hash_name(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void
anchors_clear(yaml_builder *y)
{
    for (size_t i = 0; i < y->anchor_cap; i++)
        free(y->anchors[i].name);
    free(y->anchors);
    y->anchors = NULL;
    y->anchor_count = 0;
    y->anchor_cap = 0;
}

static anchor_slot *
anchors_slot(anchor_slot *slots, size_t cap, const char *name)
{
    size_t i = hash_name(name) & (cap - 1);
    while (slots[i].name && strcmp(slots[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static gwf_node *
anchors_get(yaml_builder *y, const char *name)
{
    if (!y->anchor_cap)
        return NULL;
    return anchors_slot(y->anchors, y->anchor_cap, name)->node;
}

/* Takes ownership of `name` (freed on failure too). A later anchor with
 * the same name replaces the earlier one, as YAML specifies. */
static int
anchors_put(yaml_builder *y, char *name, gwf_node *node)
{
    if ((y->anchor_count + 1) * 2 > y->anchor_cap) {
        size_t cap = y->anchor_cap ? y->anchor_cap * 2 : 16;
        anchor_slot *slots = calloc(cap, sizeof(*slots));
        if (!slots) {
            free(name);
            return -1;
        }
        for (size_t i = 0; i < y->anchor_cap; i++) {
            if (y->anchors[i].name)
                *anchors_slot(slots, cap, y->anchors[i].name) = y->anchors[i];
        }
        free(y->anchors);
        y->anchors = slots;
        y->anchor_cap = cap;
    }
    anchor_slot *slot = anchors_slot(y->anchors, y->anchor_cap, name);
    if (slot->name) {
        free(name);
    } else {
        slot->name = name;
        y->anchor_count++;
    }
    slot->node = node;
    return 0;
}

static void
yaml_stack_clear(yaml_builder *y)
{
    while (y->depth) {
        yaml_frame *f = &y->stack[--y->depth];
        free(f->anchor);
        free(f->items);
    }
}

static int
frame_push_item(builder *b, yaml_frame *f, const void *item, size_t size)
{
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        void *grown = realloc(f->items, cap * size);
        if (!grown) {
            builder_oom(b);
            return -1;
        }
        f->items = grown;
        f->cap = cap;
    }
    memcpy((char *)f->items + f->count * size, item, size);
    f->count++;
    return 0;
}

/* Places a finished value: as a document root, a list item or the value
 * of the pending key. The caller has accounted for it already. */
static int
yaml_attach(yaml_builder *y, gwf_node *value)
{
    builder *b = &y->b;
    if (y->depth == 0) {
        if (tree_add_doc(b->tree, value) != 0) {
            builder_oom(b);
            return -1;
        }
        return 0;
    }
    yaml_frame *f = &y->stack[y->depth - 1];
    if (f->node->type == GWF_NODE_SEQ)
        return frame_push_item(b, f, &value, sizeof(value));
    f->key.value = value;
    f->have_key = false;
    return frame_push_item(b, f, &f->key, sizeof(f->key));
}

static bool
expecting_key(const yaml_builder *y)
{
    if (y->depth == 0)
        return false;
    const yaml_frame *f = &y->stack[y->depth - 1];
    return f->node->type == GWF_NODE_MAP && !f->have_key;
}

static int
yaml_set_key(yaml_builder *y, const char *text, size_t len, unsigned line,
             unsigned column)
{
    builder *b = &y->b;
    if (memchr(text, '\0', len)) {
        builder_error(b, line, column, "mapping key contains a NUL byte");
        return -1;
    }
    if (len > GWF_NODE_MAX_EXPANDED - b->bytes) {
        builder_error(b, line, column,
                      "more than %u bytes of scalars in one file (aliases "
                      "count as the text they stand for)",
                      GWF_NODE_MAX_EXPANDED);
        b->fatal = true;
        return -1;
    }
    b->bytes += len;
    yaml_frame *f = &y->stack[y->depth - 1];
    f->key.key = text;
    f->key.key_len = len;
    f->key.key_line = line;
    f->key.key_column = column;
    f->key.value = NULL;
    f->have_key = true;
    return 0;
}

static int
yaml_register_anchor(yaml_builder *y, const yaml_char_t *anchor, gwf_node *node)
{
    if (!anchor)
        return 0;
    char *name = strdup((const char *)anchor);
    /* anchors_put owns name from here on, and frees it on failure. */
    if (!name || anchors_put(y, name, node) != 0) {
        builder_oom(&y->b);
        return -1;
    }
    return 0;
}

static const char *
core_tag_name(const char *tag)
{
    static const char prefix[] = "tag:yaml.org,2002:";
    if (strncmp(tag, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    return tag + sizeof(prefix) - 1;
}

/* Applies an explicit tag to a scalar. Core tags (!!str, !!int, !!float,
 * !!bool, !!null) are honoured and checked; any other tag is ignored and
 * the scalar resolves as if untagged. */
static int
yaml_resolve_scalar(yaml_builder *y, gwf_node *n, const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    const char *core = tag ? core_tag_name(tag) : NULL;

    if (tag && (strcmp(tag, "!") == 0 || (core && !strcmp(core, "str")))) {
        n->type = GWF_NODE_STRING;
        return 0;
    }
    gwf_node_type want = GWF_NODE_STRING;
    if (core && !strcmp(core, "int"))
        want = GWF_NODE_INT;
    else if (core && !strcmp(core, "float"))
        want = GWF_NODE_FLOAT;
    else if (core && !strcmp(core, "bool"))
        want = GWF_NODE_BOOL;
    else if (core && !strcmp(core, "null"))
        want = GWF_NODE_NULL;

    if (want == GWF_NODE_STRING) {
        n->type = GWF_NODE_STRING;
        if (plain)
            resolve_plain(&y->b, n);
        return 0;
    }
    resolve_plain(&y->b, n);
    if (want == GWF_NODE_FLOAT && n->type == GWF_NODE_INT) {
        n->type = GWF_NODE_FLOAT;
        n->v.real = (double)n->v.integer;
    }
    if (n->type == want)
        return 0;
    char quoted[128];
    gwf_quote(quoted, sizeof(quoted), n->text, n->len);
    builder_error(&y->b, n->line, n->column, "%s is not a valid !!%s", quoted,
                  core);
    return -1;
}

static int
yaml_on_scalar(yaml_builder *y, const yaml_event_t *ev)
{
    builder *b = &y->b;
    unsigned line = (unsigned)ev->start_mark.line + 1;
    unsigned column = (unsigned)ev->start_mark.column + 1;
    size_t len = ev->data.scalar.length;
    const yaml_char_t *anchor = ev->data.scalar.anchor;
    bool is_key = expecting_key(y);

    if (check_scalar_length(b, len, line, column) != 0)
        return -1;
    char *text =
        arena_strndup(b->tree, (const char *)ev->data.scalar.value, len);
    if (!text) {
        builder_oom(b);
        return -1;
    }
    /* A key needs no node of its own unless it is anchored, in which
     * case a later alias may use it as a key or as a value. */
    gwf_node *n = NULL;
    if (!is_key || anchor) {
        n = new_node(b, GWF_NODE_STRING, line, column);
        if (!n)
            return -1;
        n->text = text;
        n->len = len;
        n->bytes = len;
        /* A bad tag is reported but the scalar still takes its place as
         * a string, so the structure stays in step and later errors in
         * the file are still found. */
        if (yaml_resolve_scalar(y, n, ev) != 0)
            n->type = GWF_NODE_STRING;
    }
    if (is_key) {
        if (yaml_register_anchor(y, anchor, n) != 0)
            return -1;
        return yaml_set_key(y, text, len, line, column);
    }
    if (account(b, n, y->depth, line, column) != 0)
        return -1;
    if (yaml_register_anchor(y, anchor, n) != 0)
        return -1;
    return yaml_attach(y, n);
}

static int
yaml_on_alias(yaml_builder *y, const yaml_event_t *ev)
{
    builder *b = &y->b;
    unsigned line = (unsigned)ev->start_mark.line + 1;
    unsigned column = (unsigned)ev->start_mark.column + 1;
    const char *name = (const char *)ev->data.alias.anchor;
    gwf_node *target = anchors_get(y, name);

    if (!target) {
        char quoted[128];
        gwf_quote(quoted, sizeof(quoted), name, strlen(name));
        builder_error(b, line, column,
                      "undefined alias %s (an alias must follow its anchor "
                      "in the same document, outside the anchored node)",
                      quoted);
        b->fatal = true;
        return -1;
    }
    if (expecting_key(y)) {
        if (target->type == GWF_NODE_SEQ || target->type == GWF_NODE_MAP) {
            builder_error(b, line, column,
                          "mapping keys must be scalars, not a %s",
                          gwf_node_type_name(target->type));
            b->fatal = true;
            return -1;
        }
        return yaml_set_key(y, target->text, target->len, line, column);
    }
    if (account(b, target, y->depth, line, column) != 0)
        return -1;
    return yaml_attach(y, target);
}

static int
yaml_on_collection_start(yaml_builder *y, const yaml_event_t *ev,
                         gwf_node_type type)
{
    builder *b = &y->b;
    unsigned line = (unsigned)ev->start_mark.line + 1;
    unsigned column = (unsigned)ev->start_mark.column + 1;
    const yaml_char_t *anchor = type == GWF_NODE_SEQ
                                    ? ev->data.sequence_start.anchor
                                    : ev->data.mapping_start.anchor;

    if (expecting_key(y)) {
        builder_error(b, line, column, "mapping keys must be scalars, not a %s",
                      gwf_node_type_name(type));
        b->fatal = true;
        return -1;
    }
    gwf_node *n = new_node(b, type, line, column);
    if (!n)
        return -1;
    n->height = 1;
    if (account(b, n, y->depth, line, column) != 0)
        return -1;
    yaml_frame *f = &y->stack[y->depth];
    memset(f, 0, sizeof(*f));
    f->node = n;
    if (anchor) {
        f->anchor = strdup((const char *)anchor);
        if (!f->anchor) {
            builder_oom(b);
            return -1;
        }
    }
    y->depth++;
    return 0;
}

/* Moves the frame's items into the arena, computes the expanded size of
 * the node, checks keys, registers the anchor and attaches the node. */
static int
yaml_on_collection_end(yaml_builder *y)
{
    builder *b = &y->b;
    yaml_frame *f = &y->stack[y->depth - 1];
    gwf_node *n = f->node;
    size_t size =
        n->type == GWF_NODE_SEQ ? sizeof(gwf_node *) : sizeof(gwf_pair);
    void *items = NULL;
    if (f->count) {
        items = arena_alloc(b->tree, f->count * size);
        if (!items) {
            builder_oom(b);
            return -1;
        }
        memcpy(items, f->items, f->count * size);
    }
    n->count = f->count;
    n->height = 1;
    for (size_t i = 0; i < n->count; i++) {
        gwf_node *child;
        if (n->type == GWF_NODE_SEQ) {
            child = ((gwf_node **)items)[i];
        } else {
            const gwf_pair *p = &((gwf_pair *)items)[i];
            child = p->value;
            n->bytes += p->key_len;
        }
        n->weight += child->weight;
        n->bytes += child->bytes;
        if (child->height + 1 > n->height)
            n->height = child->height + 1;
    }
    if (n->type == GWF_NODE_SEQ) {
        n->c.items = items;
    } else {
        n->c.pairs = items;
        check_duplicate_keys(b, n);
    }
    char *anchor = f->anchor;
    free(f->items);
    memset(f, 0, sizeof(*f));
    y->depth--;
    if (anchor && anchors_put(y, anchor, n) != 0) {
        builder_oom(b);
        return -1;
    }
    return yaml_attach(y, n);
}

/* libyaml reports reader errors (bad UTF-8, control characters) by byte
 * offset only; turn that into line and column. */
static void
offset_to_position(const char *data, size_t len, size_t offset, unsigned *line,
                   unsigned *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (data[i] == '\n') {
            (*line)++;
            *column = 1;
        } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
            (*column)++;
        }
    }
}

static void
yaml_report_parser_error(builder *b, const yaml_parser_t *p, const char *data,
                         size_t len)
{
    if (p->error == YAML_MEMORY_ERROR) {
        builder_oom(b);
        return;
    }
    unsigned line, column;
    if (p->error == YAML_READER_ERROR) {
        offset_to_position(data, len, p->problem_offset, &line, &column);
    } else {
        line = (unsigned)p->problem_mark.line + 1;
        column = (unsigned)p->problem_mark.column + 1;
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->context)
        builder_error(b, line, column, "%s (%s at line %u)", problem,
                      p->context, (unsigned)p->context_mark.line + 1);
    else
        builder_error(b, line, column, "%s", problem);
    b->fatal = true;
}

static int
yaml_handle_event(yaml_builder *y, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        anchors_clear(y); /* anchors are scoped to their document */
        return 0;
    case YAML_SCALAR_EVENT:
        return yaml_on_scalar(y, ev);
    case YAML_ALIAS_EVENT:
        return yaml_on_alias(y, ev);
    case YAML_SEQUENCE_START_EVENT:
        return yaml_on_collection_start(y, ev, GWF_NODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return yaml_on_collection_start(y, ev, GWF_NODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return yaml_on_collection_end(y);
    default:
        return 0;
    }
}

static void
parse_yaml(builder *b, const char *data, size_t len)
{
    yaml_builder *y = calloc(1, sizeof(*y));
    if (!y) {
        builder_oom(b);
        return;
    }
    y->b = *b;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(y);
        builder_oom(b);
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    bool done = false;
    while (!done && !y->b.fatal) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            yaml_report_parser_error(&y->b, &parser, data, len);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        /* -1 means the structure can no longer be trusted: stop. Errors
         * that leave it intact (duplicate keys, bad tags) return 0. */
        if (yaml_handle_event(y, &ev) != 0)
            y->b.fatal = true;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    yaml_stack_clear(y);
    anchors_clear(y);
    *b = y->b;
    free(y);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

typedef struct json_mark {
    unsigned line, column;
    size_t offset, len; /* raw text span, for numbers and literals */
} json_mark;

typedef struct json_scan {
    const char *p, *start, *end;
    unsigned line, column;
    json_mark *marks; /* every value and every key, in order */
    size_t count, cap;
    size_t values;
    bool invalid; /* not JSON: jansson will say why */
    bool limited; /* a limit was hit and reported */
    bool oom;
} json_scan;

static void
scan_advance(json_scan *s)
{
    if (*s->p == '\n') {
        s->line++;
        s->column = 1;
    } else if (((unsigned char)*s->p & 0xc0) != 0x80) {
        s->column++;
    }
    s->p++;
}

static void
scan_ws(json_scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        scan_advance(s);
}

static bool
scan_mark(json_scan *s)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        json_mark *grown = realloc(s->marks, cap * sizeof(*grown));
        if (!grown) {
            s->oom = true;
            return false;
        }
        s->marks = grown;
        s->cap = cap;
    }
    json_mark *m = &s->marks[s->count++];
    m->line = s->line;
    m->column = s->column;
    m->offset = (size_t)(s->p - s->start);
    m->len = 0;
    return true;
}

static bool
scan_string(json_scan *s)
{
    scan_advance(s); /* opening quote */
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\') {
            scan_advance(s);
            if (s->p >= s->end)
                return false;
        }
        scan_advance(s);
    }
    if (s->p >= s->end)
        return false;
    scan_advance(s);
    return true;
}

static bool scan_value(json_scan *s, builder *b, unsigned depth);

static bool
scan_collection(json_scan *s, builder *b, unsigned depth, char close)
{
    bool object = close == '}';
    if (depth + 1 > GWF_NODE_MAX_DEPTH) {
        builder_error(b, s->line, s->column,
                      "nesting is deeper than the limit of %d levels",
                      GWF_NODE_MAX_DEPTH);
        s->limited = true;
        return false;
    }
    scan_advance(s);
    scan_ws(s);
    if (s->p < s->end && *s->p == close) {
        scan_advance(s);
        return true;
    }
    for (;;) {
        scan_ws(s);
        if (object) {
            if (s->p >= s->end || *s->p != '"')
                return false;
            if (!scan_mark(s) || !scan_string(s))
                return false;
            scan_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return false;
            scan_advance(s);
        }
        if (!scan_value(s, b, depth + 1))
            return false;
        scan_ws(s);
        if (s->p >= s->end)
            return false;
        if (*s->p == close) {
            scan_advance(s);
            return true;
        }
        if (*s->p != ',')
            return false;
        scan_advance(s);
    }
}

static bool
scan_value(json_scan *s, builder *b, unsigned depth)
{
    scan_ws(s);
    if (s->p >= s->end)
        return false;
    if (++s->values > GWF_NODE_MAX_NODES) {
        builder_error(b, s->line, s->column, "more than %u nodes in one file",
                      GWF_NODE_MAX_NODES);
        s->limited = true;
        return false;
    }
    if (!scan_mark(s))
        return false;
    json_mark *m = &s->marks[s->count - 1];
    switch (*s->p) {
    case '{':
        return scan_collection(s, b, depth, '}');
    case '[':
        return scan_collection(s, b, depth, ']');
    case '"':
        return scan_string(s);
    default:
        break;
    }
    const char *word = s->p;
    while (s->p < s->end &&
           ((*s->p >= '0' && *s->p <= '9') || (*s->p >= 'a' && *s->p <= 'z') ||
            (*s->p >= 'A' && *s->p <= 'Z') || *s->p == '-' || *s->p == '+' ||
            *s->p == '.'))
        scan_advance(s);
    m->len = (size_t)(s->p - word);
    return m->len > 0;
}

typedef struct json_conv {
    builder *b;
    const json_scan *scan;
    size_t next; /* next mark to consume */
} json_conv;

static json_mark
conv_mark(json_conv *c)
{
    json_mark none = {1, 1, 0, 0};
    /* The scanner saw every token jansson accepted, so marks never run
     * out; falling back beats trusting that blindly. */
    if (c->next >= c->scan->count)
        return none;
    return c->scan->marks[c->next++];
}

static gwf_node *conv_value(json_conv *c, json_t *v);

static gwf_node *
conv_object(json_conv *c, json_t *v, gwf_node *n)
{
    builder *b = c->b;
    size_t count = json_object_size(v);
    gwf_pair *pairs =
        count ? arena_alloc(b->tree, count * sizeof(*pairs)) : NULL;
    if (count && !pairs) {
        builder_oom(b);
        return NULL;
    }
    const char *key;
    size_t key_len;
    json_t *value;
    size_t i = 0;
    json_object_keylen_foreach(v, key, key_len, value)
    {
        if (i == count)
            break;
        json_mark km = conv_mark(c);
        if (check_scalar_length(b, key_len, km.line, km.column) != 0)
            return NULL;
        gwf_pair *p = &pairs[i++];
        p->key = arena_strndup(b->tree, key, key_len);
        p->key_len = key_len;
        p->key_line = km.line;
        p->key_column = km.column;
        p->value = p->key ? conv_value(c, value) : NULL;
        if (!p->key)
            builder_oom(b);
        if (!p->value)
            return NULL;
        n->bytes += key_len;
    }
    n->c.pairs = pairs;
    n->count = i;
    return n;
}

static gwf_node *
conv_array(json_conv *c, json_t *v, gwf_node *n)
{
    builder *b = c->b;
    size_t count = json_array_size(v);
    gwf_node **items =
        count ? arena_alloc(b->tree, count * sizeof(*items)) : NULL;
    if (count && !items) {
        builder_oom(b);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        items[i] = conv_value(c, json_array_get(v, i));
        if (!items[i])
            return NULL;
    }
    n->c.items = items;
    n->count = count;
    return n;
}

static gwf_node *
conv_scalar(json_conv *c, json_t *v, gwf_node *n, const json_mark *m)
{
    builder *b = c->b;
    const char *text;
    size_t len;
    if (json_is_string(v)) {
        text = json_string_value(v);
        len = json_string_length(v);
        if (check_scalar_length(b, len, m->line, m->column) != 0)
            return NULL;
    } else {
        text = c->scan->start + m->offset;
        len = m->len;
    }
    n->text = arena_strndup(b->tree, text, len);
    if (!n->text) {
        builder_oom(b);
        return NULL;
    }
    n->len = len;
    n->bytes = len;
    return n;
}

static gwf_node *
conv_value(json_conv *c, json_t *v)
{
    json_mark m = conv_mark(c);
    gwf_node_type type;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        type = GWF_NODE_MAP;
        break;
    case JSON_ARRAY:
        type = GWF_NODE_SEQ;
        break;
    case JSON_STRING:
        type = GWF_NODE_STRING;
        break;
    case JSON_INTEGER:
        type = GWF_NODE_INT;
        break;
    case JSON_REAL:
        type = GWF_NODE_FLOAT;
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        type = GWF_NODE_BOOL;
        break;
    default:
        type = GWF_NODE_NULL;
        break;
    }
    gwf_node *n = new_node(c->b, type, m.line, m.column);
    if (!n)
        return NULL;
    switch (type) {
    case GWF_NODE_MAP:
        return conv_object(c, v, n);
    case GWF_NODE_SEQ:
        return conv_array(c, v, n);
    case GWF_NODE_INT:
        n->v.integer = (int64_t)json_integer_value(v);
        break;
    case GWF_NODE_FLOAT:
        n->v.real = json_real_value(v);
        break;
    case GWF_NODE_BOOL:
        n->v.boolean = json_is_true(v);
        break;
    default:
        break;
    }
    return conv_scalar(c, v, n, &m);
}

static void
parse_json(builder *b, const char *data, size_t len)
{
    json_scan scan = {
        .p = data, .start = data, .end = data + len, .line = 1, .column = 1};
    bool scanned = scan_value(&scan, b, 0);
    if (scanned) {
        scan_ws(&scan);
        scanned = scan.p == scan.end;
    }
    if (scan.oom) {
        builder_oom(b);
        goto done;
    }
    if (scan.limited) {
        b->fatal = true;
        goto done;
    }
    json_error_t error;
    json_t *root = json_loadb(
        data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
        &error);
    if (!root) {
        builder_error(b, (unsigned)(error.line > 0 ? error.line : 1),
                      (unsigned)(error.column > 0 ? error.column : 1), "%s",
                      error.text);
        b->fatal = true;
        goto done;
    }
    if (!scanned) {
        builder_error(b, scan.line, scan.column, "unexpected token");
        b->fatal = true;
        json_decref(root);
        goto done;
    }
    json_conv conv = {.b = b, .scan = &scan};
    gwf_node *doc = conv_value(&conv, root);
    json_decref(root);
    if (doc && tree_add_doc(b->tree, doc) != 0)
        builder_oom(b);
done:
    free(scan.marks);
}

/* ------------------------------------------------------------------ */
/* Entry point                                                         */

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

gwf_format
gwf_format_detect(const char *name, const char *data, size_t len)
{
    if (name && ends_with(name, ".json"))
        return GWF_FORMAT_JSON;
    size_t i = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' ||
                       data[i] == '\r'))
        i++;
    if (i < len && (data[i] == '{' || data[i] == '['))
        return GWF_FORMAT_JSON;
    return GWF_FORMAT_YAML;
}

int
gwf_tree_parse(const char *name, const char *data, size_t len,
               gwf_format format, gwf_tree **out, gwf_diag *d)
{
    *out = NULL;
    if (!name)
        name = "<input>";
    if (len > GWF_NODE_MAX_INPUT) {
        gwf_diag_addf(d,
                      "%s: input of %zu bytes is larger than the limit of %u "
                      "bytes (16 MiB)",
                      name, len, GWF_NODE_MAX_INPUT);
        return -1;
    }
    if (!data) {
        data = "";
        len = 0;
    }
    builder b = {.name = name, .d = d};
    b.tree = calloc(1, sizeof(*b.tree));
    if (!b.tree) {
        gwf_diag_addf(d, "%s: out of memory while parsing", name);
        return -1;
    }
    if (format == GWF_FORMAT_AUTO)
        format = gwf_format_detect(name, data, len);
    if (format == GWF_FORMAT_JSON) {
        /* jansson does not skip a byte order mark; YAML does. */
        if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
            data += 3;
            len -= 3;
        }
        parse_json(&b, data, len);
    } else {
        parse_yaml(&b, data, len);
    }
    if (b.c_locale)
        freelocale(b.c_locale);
    if (b.errors) {
        gwf_tree_free(b.tree);
        return -1;
    }
    *out = b.tree;
    return 0;
}
