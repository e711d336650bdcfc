/*
 * node.c - the document tree of gwf_node: its arena, accessors, path
 * lookups and JSON output, and the builder both readers fill it through.
 *
 * The readers (yaml.c, json.c) build nodes directly in the tree; the
 * builder here is where the hostile-input limits are enforced as the
 * input is read (depth on each collection start, node and byte totals on
 * each node and each alias), so a "billion laughs" file stops after a
 * million nodes' worth of bookkeeping, not after memory runs out. It also
 * owns the per-file error count and the duplicate-key check, so both
 * formats report the same problems in the same words.
 *
 * All nodes of one file live in an arena owned by the gwf_tree; that
 * makes alias sharing free and freeing a DAG trivial.
 */
#include "node_builder.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Arena                                                               */

enum { ARENA_BLOCK_SIZE = 64 * 1024 };

void *
gwf_tree_alloc(gwf_tree *t, size_t size)
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

char *
gwf_tree_strndup(gwf_tree *t, const char *s, size_t len)
{
    char *copy = gwf_tree_alloc(t, len + 1);
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

int
gwf_tree_add_doc(gwf_tree *t, gwf_node *root)
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

void
gwf_builder_error(gwf_builder *b, unsigned line, unsigned column,
                  const char *fmt, ...)
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

void
gwf_builder_oom(gwf_builder *b)
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

gwf_node *
gwf_builder_node(gwf_builder *b, gwf_node_type type, unsigned line,
                 unsigned column)
{
    gwf_node *n = gwf_tree_alloc(b->tree, sizeof(*n));
    if (!n) {
        gwf_builder_oom(b);
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
int
gwf_builder_account(gwf_builder *b, const gwf_node *n, unsigned depth,
                    unsigned line, unsigned column)
{
    if (depth + n->height > GWF_NODE_MAX_DEPTH) {
        gwf_builder_error(b, line, column,
                          "nesting is deeper than the limit of %d levels",
                          GWF_NODE_MAX_DEPTH);
        b->fatal = true;
        return -1;
    }
    if (n->weight > GWF_NODE_MAX_NODES - b->nodes) {
        gwf_builder_error(b, line, column,
                          "more than %u nodes in one file (aliases count "
                          "as the nodes they stand for)",
                          GWF_NODE_MAX_NODES);
        b->fatal = true;
        return -1;
    }
    if (n->bytes > GWF_NODE_MAX_EXPANDED - b->bytes) {
        gwf_builder_error(b, line, column,
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

int
gwf_builder_check_scalar(gwf_builder *b, size_t len, unsigned line,
                         unsigned column)
{
    if (len <= GWF_NODE_MAX_SCALAR)
        return 0;
    gwf_builder_error(
        b, line, column,
        "scalar of %zu bytes is longer than the limit of %u bytes", len,
        GWF_NODE_MAX_SCALAR);
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
report_duplicate(gwf_builder *b, const gwf_pair *first, const gwf_pair *again)
{
    char quoted[128];
    gwf_quote(quoted, sizeof(quoted), again->key, again->key_len);
    gwf_builder_error(b, again->key_line, again->key_column,
                      "duplicate key %s (first defined at line %u)", quoted,
                      first->key_line);
}

void
gwf_builder_check_keys(gwf_builder *b, const gwf_node *map)
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
        gwf_builder_oom(b);
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

double
gwf_builder_double(gwf_builder *b, const char *text)
{
    if (!b->c_locale) {
        b->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
        if (!b->c_locale) {
            gwf_builder_oom(b);
            return 0;
        }
    }
    locale_t saved = uselocale(b->c_locale);
    double f = strtod(text, NULL);
    uselocale(saved);
    return f;
}
