/*
 * manifest.c - documents, kinds, validation, references and plans.
 *
 * Loading turns files into parsed trees (node.c) and the trees into
 * gwf_doc records; a `kind: List` or a top-level array is unpacked into
 * its items. Loading checks only what is needed to index a document.
 *
 * Validation checks the shape of each kind and resolves references, and
 * reports every problem rather than the first: an operator fixing a
 * config wants the whole list. It checks what the runtime owns (kinds,
 * names, references, the fields that decide which plugin runs); what a
 * plugin's config means is that plugin's business, so here those nodes
 * only have to be mappings.
 *
 * Planning turns one route's request (a policy, extensions, a direct
 * response, a backend) into the ordered list of plugin instances. It
 * re-checks the documents it uses, so that a plan is never built on a
 * shape validation would have refused, even if the caller skipped it.
 *
 * Lookups go through a sorted index built by gwf_manifests_validate
 * (binary search); before that, or after another load, they fall back to
 * a linear scan. Sorting is also how duplicates are found, so validating
 * a huge hostile file stays O(n log n).
 */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char default_namespace[] = "default";

static const gwf_node *field_of(const gwf_node *map, const char *key);

/* The four kinds of GatewayExtension, by the block under spec. */
typedef enum ext_type {
    EXT_INVALID = -1,
    EXT_AUTH,
    EXT_RATE_LIMIT,
    EXT_JWT,
    EXT_PLUGIN,
    EXT_TYPE_COUNT
} ext_type;

static const struct ext_type_info {
    const char *field;     /* key under spec */
    const char *type_name; /* spec.type value */
    const char *plugin;    /* plugin that implements it */
    const char *path;      /* config_field of its plan entry */
} ext_types[EXT_TYPE_COUNT] = {
    {"extAuth", "ExtAuth", "ext_authz", "spec.extAuth"},
    {"rateLimit", "RateLimit", "rate_limit", "spec.rateLimit"},
    {"jwt", "JWT", "jwt_auth", "spec.jwt"},
    {"plugin", "Plugin", NULL, "spec.plugin"},
};

/* The one type a GatewayExtension configures, or EXT_INVALID when it
 * sets none or several of them. */
static ext_type
extension_type(const gwf_doc *doc)
{
    ext_type found = EXT_INVALID;
    for (int t = 0; t < EXT_TYPE_COUNT; t++) {
        if (!field_of(doc->spec, ext_types[t].field))
            continue;
        if (found != EXT_INVALID)
            return EXT_INVALID;
        found = (ext_type)t;
    }
    return found;
}

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
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static int
errors_since(const gwf_diag *d, size_t before)
{
    size_t added = d->count - before;
    return added > INT_MAX ? INT_MAX : (int)added;
}

/* strerror() may use a static buffer, so use strerror_r, whose return
 * type depends on feature macros (int for XSI, char * for GNU). */
static const char *
xsi_error_text(int rc, const char *buf)
{
    return rc == 0 ? buf : NULL;
}

static const char *
gnu_error_text(const char *text, const char *buf)
{
    (void)buf;
    return text;
}

static void
error_text(int errnum, char *out, size_t size)
{
    out[0] = '\0';
    const char *text =
        _Generic(strerror_r(errnum, out, size), int
                 : xsi_error_text, default
                 : gnu_error_text)(strerror_r(errnum, out, size), out);
    if (!text || !*text)
        snprintf(out, size, "error %d", errnum);
    else if (text != out)
        snprintf(out, size, "%s", text);
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A string node whose bytes hold no NUL, so it is safe as a C string. */
static const char *
plain_string(const gwf_node *n)
{
    size_t len;
    const char *s = gwf_node_str(n, &len);
    if (!s || memchr(s, '\0', len))
        return NULL;
    return s;
}

/* The value under key, with an explicit null treated as absent (as in
 * Kubernetes, `field:` with nothing after it means "not set"). */
static const gwf_node *
field_of(const gwf_node *map, const char *key)
{
    const gwf_node *n = gwf_node_get(map, key);
    return gwf_node_type_of(n) == GWF_NODE_NULL ? NULL : n;
}

/* Joins two slash-separated paths and drops "." and empty components.
 * ".." is kept: resolving it lexically would be wrong across symlinks.
 * Returns a malloc'd absolute path, or NULL on OOM. */
static char *
join_clean(const char *dir, const char *rel)
{
    size_t cap = strlen(dir) + strlen(rel) + 3;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *parts[2] = {dir, rel};
    for (int p = 0; p < 2; p++) {
        const char *s = parts[p];
        while (*s) {
            while (*s == '/')
                s++;
            const char *start = s;
            while (*s && *s != '/')
                s++;
            size_t len = (size_t)(s - start);
            if (len == 0 || (len == 1 && start[0] == '.'))
                continue;
            out[o++] = '/';
            memcpy(out + o, start, len);
            o += len;
        }
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

/* The absolute directory a file name lives in, resolved against the
 * current directory now, at load time, so that later chdir() calls do
 * not change where relative plugin paths point. NULL on failure. */
static char *
absolute_dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    size_t dir_len = slash ? (size_t)(slash - file) + 1 : 0;
    char *dir = malloc(dir_len + 1);
    if (!dir)
        return NULL;
    memcpy(dir, file, dir_len);
    dir[dir_len] = '\0';
    char *result = NULL;
    if (file[0] == '/') {
        result = join_clean("", dir);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)))
            result = join_clean(cwd, dir);
    }
    free(dir);
    return result;
}

/* Splits "name" or "namespace/name". Returns false when malformed. */
static bool
split_ref(const char *ref, const char **ns, size_t *ns_len, const char **name,
          size_t *name_len)
{
    if (!ref || !*ref)
        return false;
    const char *slash = strchr(ref, '/');
    if (!slash) {
        *ns = default_namespace;
        *ns_len = sizeof(default_namespace) - 1;
        *name = ref;
        *name_len = strlen(ref);
        return true;
    }
    if (slash == ref || !slash[1] || strchr(slash + 1, '/'))
        return false;
    *ns = ref;
    *ns_len = (size_t)(slash - ref);
    *name = slash + 1;
    *name_len = strlen(slash + 1);
    return true;
}

/* strcmp of a C string against (s, len). */
static int
compare_n(const char *a, const char *s, size_t len)
{
    size_t a_len = strlen(a);
    int c = memcmp(a, s, a_len < len ? a_len : len);
    if (c)
        return c;
    return a_len < len ? -1 : (a_len > len ? 1 : 0);
}

/* ------------------------------------------------------------------ */
/* The set                                                             */

gwf_manifests *
gwf_manifests_new(void)
{
    return calloc(1, sizeof(gwf_manifests));
}

void
gwf_manifests_free(gwf_manifests *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->doc_count; i++)
        free(m->docs[i]);
    free(m->docs);
    for (size_t i = 0; i < m->file_count; i++) {
        free(m->files[i].name);
        free(m->files[i].base_dir);
        gwf_tree_free(m->files[i].tree);
    }
    free(m->files);
    free(m->index);
    free(m);
}

size_t
gwf_manifests_count(const gwf_manifests *m)
{
    return m ? m->doc_count : 0;
}

const gwf_doc *
gwf_manifests_at(const gwf_manifests *m, size_t i)
{
    return m && i < m->doc_count ? &m->docs[i]->pub : NULL;
}

static int
compare_doc_key(const doc_rec *x, const char *kind, const char *ns,
                size_t ns_len, const char *name, size_t name_len)
{
    int c = strcmp(x->pub.kind, kind);
    if (c)
        return c;
    c = compare_n(x->pub.namespace_, ns, ns_len);
    if (c)
        return c;
    return compare_n(x->pub.name, name, name_len);
}

static int
compare_doc_ptr(const void *a, const void *b)
{
    const doc_rec *x = *(const doc_rec *const *)a;
    const doc_rec *y = *(const doc_rec *const *)b;
    int c = compare_doc_key(x, y->pub.kind, y->pub.namespace_,
                            strlen(y->pub.namespace_), y->pub.name,
                            strlen(y->pub.name));
    if (c)
        return c;
    return x->order < y->order ? -1 : (x->order > y->order ? 1 : 0);
}

static const doc_rec *
lookup(const gwf_manifests *m, const char *kind, const char *ns, size_t ns_len,
       const char *name, size_t name_len)
{
    if (!m->index_valid) {
        for (size_t i = 0; i < m->doc_count; i++) {
            const doc_rec *r = m->docs[i];
            if (r->pub.kind && r->pub.name &&
                compare_doc_key(r, kind, ns, ns_len, name, name_len) == 0)
                return r;
        }
        return NULL;
    }
    /* Lower bound: the first (earliest loaded) of equal keys. */
    size_t lo = 0, hi = m->index_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (compare_doc_key(m->index[mid], kind, ns, ns_len, name, name_len) <
            0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->index_count &&
        compare_doc_key(m->index[lo], kind, ns, ns_len, name, name_len) == 0)
        return m->index[lo];
    return NULL;
}

const gwf_doc *
gwf_manifests_find(const gwf_manifests *m, const char *kind, const char *ref)
{
    const char *ns, *name;
    size_t ns_len, name_len;
    if (!m || !kind || !split_ref(ref, &ns, &ns_len, &name, &name_len))
        return NULL;
    const doc_rec *r = lookup(m, kind, ns, ns_len, name, name_len);
    return r ? &r->pub : NULL;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

enum { MAX_LABEL_KIND = 64, MAX_LABEL_NAME = 253, MAX_LABEL_FIELD = 256 };

static void
doc_label(const gwf_doc *doc, char *out, size_t size)
{
    if (doc->kind && doc->name)
        snprintf(out, size, "%.*s %.*s/%.*s", MAX_LABEL_KIND, doc->kind,
                 MAX_LABEL_NAME, doc->namespace_, MAX_LABEL_NAME, doc->name);
    else if (doc->kind)
        snprintf(out, size, "%.*s (document %u)", MAX_LABEL_KIND, doc->kind,
                 doc->index);
    else
        snprintf(out, size, "document %u", doc->index);
}

static void doc_verrorf(gwf_diag *d, const gwf_doc *doc, const char *field,
                        const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
doc_verrorf(gwf_diag *d, const gwf_doc *doc, const char *field, const char *fmt,
            va_list ap)
{
    char message[1024], label[640];
    vsnprintf(message, sizeof(message), fmt, ap);
    doc_label(doc, label, sizeof(label));
    unsigned line = doc->line;
    if (field) {
        gwf_node_find(doc->root, field, &line);
        gwf_diag_addf(d, "%s:%u: %s: %.*s%s: %s", doc->file, line, label,
                      MAX_LABEL_FIELD, field,
                      strlen(field) > MAX_LABEL_FIELD ? "..." : "", message);
    } else {
        gwf_diag_addf(d, "%s:%u: %s: %s", doc->file, line, label, message);
    }
}

void
gwf_doc_errorf(gwf_diag *d, const gwf_doc *doc, const char *field,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    doc_verrorf(d, doc, field, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */

static manifest_file *
add_file(gwf_manifests *m, const char *name)
{
    if (m->file_count == m->file_cap) {
        size_t cap = m->file_cap ? m->file_cap * 2 : 8;
        manifest_file *grown = realloc(m->files, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        m->files = grown;
        m->file_cap = cap;
    }
    manifest_file *f = &m->files[m->file_count];
    f->name = strdup(name);
    if (!f->name)
        return NULL;
    /* NULL base_dir (getcwd failed) is reported only if a relative
     * plugin path ever needs it. */
    f->base_dir = absolute_dir_of(name);
    f->tree = NULL;
    m->file_count++;
    return f;
}

static int
add_doc(gwf_manifests *m, const manifest_file *f, const gwf_node *root,
        unsigned index)
{
    if (m->doc_count == m->doc_cap) {
        size_t cap = m->doc_cap ? m->doc_cap * 2 : 16;
        doc_rec **grown = realloc(m->docs, cap * sizeof(*grown));
        if (!grown)
            return -1;
        m->docs = grown;
        m->doc_cap = cap;
    }
    doc_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    const gwf_node *metadata = gwf_node_get(root, "metadata");
    r->pub.kind = plain_string(gwf_node_get(root, "kind"));
    r->pub.api_version = plain_string(gwf_node_get(root, "apiVersion"));
    r->pub.name = plain_string(gwf_node_get(metadata, "name"));
    r->pub.namespace_ = plain_string(gwf_node_get(metadata, "namespace"));
    if (!r->pub.namespace_)
        r->pub.namespace_ = default_namespace;
    r->pub.file = f->name;
    r->pub.line = gwf_node_line(root);
    r->pub.index = index;
    r->pub.root = root;
    r->pub.spec = gwf_node_get(root, "spec");
    r->base_dir = f->base_dir;
    r->order = m->doc_count;
    r->ext = extension_type(&r->pub);
    m->docs[m->doc_count++] = r;
    m->index_valid = false;
    return 0;
}

/* State of loading one file: documents are numbered from 1, and
 * structural errors are capped like parse errors are. */
typedef struct file_loader {
    gwf_manifests *m;
    const manifest_file *f;
    gwf_diag *d;
    unsigned index;
    unsigned errors;
} file_loader;

enum { MAX_FILE_ERRORS = 20 };

static void load_error(file_loader *l, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
load_error(file_loader *l, unsigned line, const char *fmt, ...)
{
    char message[512];
    l->errors++;
    if (l->errors > MAX_FILE_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    gwf_diag_addf(l->d, "%s:%u: %s%s", l->f->name, line, message,
                  l->errors == MAX_FILE_ERRORS
                      ? " (too many errors in this file; the rest are not "
                        "listed)"
                      : "");
}

static void
load_one(file_loader *l, const gwf_node *n)
{
    char what[160];
    unsigned index = ++l->index;
    if (gwf_node_type_of(n) != GWF_NODE_MAP) {
        gwf_node_describe(n, what, sizeof(what));
        load_error(l, gwf_node_line(n),
                   "document %u: expected a mapping, got %s", index, what);
        return;
    }
    if (add_doc(l->m, l->f, n, index) != 0)
        load_error(l, gwf_node_line(n), "document %u: out of memory", index);
}

/* Adds one document, or the items of a List or of a top-level array. */
static void
add_documents(file_loader *l, const gwf_node *n)
{
    char what[160];
    const gwf_node *items = n;
    gwf_node_type type = gwf_node_type_of(n);

    if (type == GWF_NODE_NULL)
        return; /* an empty document */
    if (type == GWF_NODE_MAP) {
        const char *kind = plain_string(gwf_node_get(n, "kind"));
        if (!kind || strcmp(kind, "List") != 0) {
            load_one(l, n);
            return;
        }
        items = gwf_node_get(n, "items");
        if (gwf_node_type_of(items) == GWF_NODE_NULL)
            return;
        if (gwf_node_type_of(items) != GWF_NODE_SEQ) {
            unsigned line = gwf_node_line(n);
            gwf_node_find(n, "items", &line);
            gwf_node_describe(items, what, sizeof(what));
            load_error(l, line, "List: items: expected a list, got %s", what);
            return;
        }
    } else if (type != GWF_NODE_SEQ) {
        load_one(l, n);
        return;
    }
    for (size_t i = 0; i < gwf_node_size(items); i++) {
        const gwf_node *item = gwf_node_at(items, i);
        if (gwf_node_type_of(item) != GWF_NODE_NULL)
            load_one(l, item);
    }
}

int
gwf_manifests_load_buffer(gwf_manifests *m, const char *name, const char *data,
                          size_t len, gwf_diag *d)
{
    size_t before = d->count;
    if (!name)
        name = "<buffer>";
    gwf_tree *tree;
    if (gwf_tree_parse(name, data, len, GWF_FORMAT_AUTO, &tree, d) != 0)
        return errors_since(d, before);
    manifest_file *f = add_file(m, name);
    if (!f) {
        gwf_tree_free(tree);
        gwf_diag_addf(d, "%s: out of memory", name);
        return errors_since(d, before);
    }
    f->tree = tree;
    file_loader loader = {.m = m, .f = f, .d = d};
    for (size_t i = 0; i < gwf_tree_doc_count(tree); i++)
        add_documents(&loader, gwf_tree_doc(tree, i));
    return errors_since(d, before);
}

/* What a file that is not a regular file is, for the error message. */
static const char *
file_type_name(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "not a regular file";
}

static void
refuse_non_regular(const char *path, mode_t mode, gwf_diag *d)
{
    gwf_diag_addf(d,
                  "%s: refused: %s, not a regular file (manifests are read "
                  "only from regular files or symlinks to them)",
                  path, file_type_name(mode));
}

/* Opens a manifest for reading without ever blocking. A FIFO named
 * x.yaml would otherwise block open() and read() until a writer came,
 * which hangs `gwf validate` and an nginx master reloading its config
 * (it then handles no signal); a device could be read forever. So the
 * file is refused unless it is a regular file: checked with stat first,
 * so that a device is not even opened, then again with fstat on what
 * was opened (O_NONBLOCK, so a FIFO swapped in between cannot block the
 * open), which is what counts. Symlinks are followed. Returns the fd,
 * or -1 with the error reported. */
static int
open_regular(const char *path, struct stat *st, gwf_diag *d)
{
    char reason[128];
    if (stat(path, st) == 0 && !S_ISREG(st->st_mode)) {
        refuse_non_regular(path, st->st_mode, d);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        error_text(errno, reason, sizeof(reason));
        gwf_diag_addf(d, "%s: cannot open: %s", path, reason);
        return -1;
    }
    if (fstat(fd, st) != 0) {
        error_text(errno, reason, sizeof(reason));
        gwf_diag_addf(d, "%s: cannot stat: %s", path, reason);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        refuse_non_regular(path, st->st_mode, d);
        close(fd);
        return -1;
    }
    return fd;
}

static void
refuse_too_large(const char *path, gwf_diag *d)
{
    gwf_diag_addf(d, "%s: file is larger than the limit of %u bytes (16 MiB)",
                  path, GWF_NODE_MAX_INPUT);
}

/* Reads a whole regular file (open_regular), refusing more than the
 * parser's input limit. The limit is also enforced while reading: the
 * file may grow after fstat. Returns a malloc'd buffer or NULL (error
 * reported). */
static char *
read_file(const char *path, size_t *len, gwf_diag *d)
{
    char reason[128];
    struct stat st;
    int fd = open_regular(path, &st, d);
    if (fd < 0)
        return NULL;
    if (st.st_size < 0 || (uint64_t)st.st_size > GWF_NODE_MAX_INPUT) {
        refuse_too_large(path, d);
        close(fd);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1, used = 0;
    char *data = malloc(cap);
    for (;;) {
        if (!data) {
            gwf_diag_addf(d, "%s: out of memory", path);
            break;
        }
        if (used > GWF_NODE_MAX_INPUT) {
            refuse_too_large(path, d);
            break;
        }
        if (used == cap) {
            cap *= 2;
            char *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                data = NULL;
                continue;
            }
            data = grown;
        }
        ssize_t got = read(fd, data + used, cap - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            error_text(errno, reason, sizeof(reason));
            gwf_diag_addf(d, "%s: cannot read: %s", path, reason);
            break;
        }
        if (got == 0) {
            close(fd);
            *len = used;
            return data;
        }
        used += (size_t)got;
    }
    close(fd);
    free(data);
    return NULL;
}

static void
load_file(gwf_manifests *m, const char *path, gwf_diag *d)
{
    size_t len = 0;
    char *data = read_file(path, &len, d);
    if (!data)
        return;
    gwf_manifests_load_buffer(m, path, data, len, d);
    free(data);
}

static int
compare_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
is_manifest_name(const char *name)
{
    return name[0] != '.' &&
           (ends_with(name, ".yaml") || ends_with(name, ".yml") ||
            ends_with(name, ".json"));
}

static char *
join_path(const char *dir, const char *name)
{
    size_t dir_len = strlen(dir);
    bool slash = dir_len && dir[dir_len - 1] == '/';
    size_t size = dir_len + strlen(name) + 2;
    char *path = malloc(size);
    if (path)
        snprintf(path, size, "%s%s%s", dir, slash ? "" : "/", name);
    return path;
}

static bool
is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Loads the sorted list `paths`. A glob's directories are skipped
 * (a pattern ending in a star matches them as a matter of course); in a
 * directory listing, every entry was picked for its manifest name, so a
 * directory named x.yaml is refused like any other non-regular file.
 * Returns how many were loaded or refused. */
static size_t
load_sorted(gwf_manifests *m, char **paths, size_t count, bool skip_directories,
            gwf_diag *d)
{
    size_t loaded = 0;
    if (count == 0)
        return 0;
    qsort(paths, count, sizeof(*paths), compare_str_ptr);
    for (size_t i = 0; i < count; i++) {
        if (skip_directories && is_directory(paths[i]))
            continue;
        load_file(m, paths[i], d);
        loaded++;
    }
    return loaded;
}

static void
load_directory(gwf_manifests *m, const char *dir_path, gwf_diag *d)
{
    char reason[128];
    DIR *dir = opendir(dir_path);
    if (!dir) {
        error_text(errno, reason, sizeof(reason));
        gwf_diag_addf(d, "%s: cannot open directory: %s", dir_path, reason);
        return;
    }
    char **paths = NULL;
    size_t count = 0, cap = 0;
    bool oom = false;
    struct dirent *entry;
    while (!oom && (entry = readdir(dir)) != NULL) {
        if (!is_manifest_name(entry->d_name))
            continue;
        if (count == cap) {
            size_t new_cap = cap ? cap * 2 : 16;
            char **grown = realloc(paths, new_cap * sizeof(*grown));
            if (!grown) {
                oom = true;
                break;
            }
            paths = grown;
            cap = new_cap;
        }
        paths[count] = join_path(dir_path, entry->d_name);
        if (!paths[count])
            oom = true;
        else
            count++;
    }
    closedir(dir);
    if (oom)
        gwf_diag_addf(d, "%s: out of memory", dir_path);
    else if (load_sorted(m, paths, count, false, d) == 0)
        gwf_diag_addf(d, "%s: no *.yaml, *.yml or *.json files in directory",
                      dir_path);
    for (size_t i = 0; i < count; i++)
        free(paths[i]);
    free(paths);
}

static void
load_glob(gwf_manifests *m, const char *pattern, gwf_diag *d)
{
    glob_t g;
    memset(&g, 0, sizeof(g));
    int rc = glob(pattern, GLOB_NOSORT, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        gwf_diag_addf(d, "%s: no such file, directory or matching files",
                      pattern);
    } else if (rc == GLOB_NOSPACE) {
        gwf_diag_addf(d, "%s: out of memory", pattern);
    } else if (rc != 0) {
        gwf_diag_addf(d, "%s: cannot read a directory while matching", pattern);
    } else if (load_sorted(m, g.gl_pathv, g.gl_pathc, true, d) == 0) {
        gwf_diag_addf(d, "%s: matches only directories", pattern);
    }
    globfree(&g);
}

int
gwf_manifests_load_path(gwf_manifests *m, const char *path, gwf_diag *d)
{
    size_t before = d->count;
    char reason[128];
    struct stat st;
    if (!path || !*path) {
        gwf_diag_addf(d, "(empty path): no such file or directory");
        return errors_since(d, before);
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            load_directory(m, path, d);
        else
            load_file(m, path, d);
    } else if (strpbrk(path, "*?[")) {
        load_glob(m, path, d);
    } else {
        error_text(errno, reason, sizeof(reason));
        gwf_diag_addf(d, "%s: cannot open: %s", path, reason);
    }
    return errors_since(d, before);
}

/* ------------------------------------------------------------------ */
/* Validation context and generic checks                               */

/* More errors than this in one document are not listed: by then the
 * operator has loaded the wrong file, and the log should stay short. */
enum { MAX_DOC_ERRORS = 20 };

typedef struct check {
    const gwf_manifests *m;
    gwf_diag *d;
    const gwf_doc *doc;
    unsigned errors;
} check;

static void check_error(check *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
check_error(check *c, const char *field, const char *fmt, ...)
{
    c->errors++;
    if (c->errors > MAX_DOC_ERRORS)
        return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (c->errors == MAX_DOC_ERRORS)
        gwf_doc_errorf(c->d, c->doc, field,
                       "%s (too many errors in this document; the rest "
                       "are not listed)",
                       message);
    else
        gwf_doc_errorf(c->d, c->doc, field, "%s", message);
}

/* A field path for messages and gwf_node_find: parent.key, or
 * parent["key"] when the key is not a plain word. */
typedef struct field_path {
    char text[512];
} field_path;

static bool
is_plain_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static const char *
path_key(field_path *p, const char *parent, const char *key)
{
    if (is_plain_word(key)) {
        snprintf(p->text, sizeof(p->text), "%s%s%s", parent, *parent ? "." : "",
                 key);
        return p->text;
    }
    size_t o = (size_t)snprintf(p->text, sizeof(p->text), "%s[\"", parent);
    /* Leave room for '"', ']' and NUL; a key too long to fit is cut,
     * and then gwf_node_find stops at the parent, which is still the
     * right neighbourhood for the line number. */
    for (const char *s = key; *s && o + 4 < sizeof(p->text); s++) {
        if (*s == '"' || *s == '\\')
            p->text[o++] = '\\';
        p->text[o++] = *s;
    }
    if (o > sizeof(p->text) - 3)
        o = sizeof(p->text) - 3;
    memcpy(p->text + o, "\"]", 3);
    return p->text;
}

static const char *
path_index(field_path *p, const char *parent, size_t index)
{
    snprintf(p->text, sizeof(p->text), "%s[%zu]", parent, index);
    return p->text;
}

static bool
expect_type(check *c, const gwf_node *n, gwf_node_type want, const char *field)
{
    if (gwf_node_type_of(n) == want)
        return true;
    char got[160];
    gwf_node_describe(n, got, sizeof(got));
    const char *article = want == GWF_NODE_INT ? "an" : "a";
    check_error(c, field, "expected %s %s, got %s", article,
                gwf_node_type_name(want), got);
    return false;
}

/* An optional mapping-valued field: NULL when absent or wrong (the
 * latter reported). */
static const gwf_node *
optional_map(check *c, const gwf_node *parent, const char *key,
             const char *field)
{
    const gwf_node *n = field_of(parent, key);
    if (!n || !expect_type(c, n, GWF_NODE_MAP, field))
        return NULL;
    return n;
}

static const gwf_node *
required(check *c, const gwf_node *parent, const char *key, const char *field)
{
    const gwf_node *n = field_of(parent, key);
    if (!n)
        check_error(c, field, "missing required field");
    return n;
}

static const gwf_node *
required_map(check *c, const gwf_node *parent, const char *key,
             const char *field)
{
    const gwf_node *n = required(c, parent, key, field);
    if (!n || !expect_type(c, n, GWF_NODE_MAP, field))
        return NULL;
    return n;
}

/* A required string without NUL bytes; NULL when missing or wrong. */
static const char *
required_string(check *c, const gwf_node *parent, const char *key,
                const char *field)
{
    const gwf_node *n = required(c, parent, key, field);
    if (!n || !expect_type(c, n, GWF_NODE_STRING, field))
        return NULL;
    const char *s = plain_string(n);
    if (!s)
        check_error(c, field, "must not contain NUL bytes");
    return s;
}

static const char *
optional_string(check *c, const gwf_node *parent, const char *key,
                const char *field)
{
    const gwf_node *n = field_of(parent, key);
    if (!n || !expect_type(c, n, GWF_NODE_STRING, field))
        return NULL;
    const char *s = plain_string(n);
    if (!s)
        check_error(c, field, "must not contain NUL bytes");
    return s;
}

/* Reports every key of `map` not in the NULL-terminated `known`. */
static void
check_known_fields(check *c, const gwf_node *map, const char *parent,
                   const char *const *known)
{
    char list[256];
    size_t o = 0;
    list[0] = '\0';
    for (const char *const *k = known; *k && o < sizeof(list); k++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                              k == known ? "" : ", ", *k);
    for (size_t i = 0; i < gwf_node_size(map); i++) {
        const char *key = gwf_node_key_at(map, i);
        bool found = false;
        for (const char *const *k = known; *k && !found; k++)
            found = strcmp(*k, key) == 0;
        if (found)
            continue;
        field_path p;
        char quoted[128];
        gwf_quote(quoted, sizeof(quoted), key, strlen(key));
        check_error(c, path_key(&p, parent, key),
                    "unknown field %s (expected one of: %s)", quoted, list);
    }
}

static bool
check_int_at_least(check *c, const gwf_node *n, int64_t min, const char *field,
                   int64_t *out)
{
    int64_t value;
    if (gwf_node_int(n, &value) != 0) {
        char got[160];
        gwf_node_describe(n, got, sizeof(got));
        check_error(c, field, "expected an integer, got %s", got);
        return false;
    }
    if (value < min) {
        check_error(c, field, "must be at least %" PRId64 ", got %" PRId64, min,
                    value);
        return false;
    }
    if (out)
        *out = value;
    return true;
}

/* ------------------------------------------------------------------ */
/* Names, durations, base64                                            */

static bool
is_alnum_lower(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most max bytes. */
static bool
is_dns_label(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    if (!is_alnum_lower(s[0]) || !is_alnum_lower(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* Kubernetes' DNS-1123 subdomain: dot-separated labels, at most 253. */
static bool
is_dns_subdomain(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return false;
    const char *label = s;
    for (;;) {
        const char *dot = strchr(label, '.');
        size_t label_len = dot ? (size_t)(dot - label) : strlen(label);
        if (!is_dns_label(label, label_len, 253))
            return false;
        if (!dot)
            return true;
        label = dot + 1;
    }
}

/* A positive duration: one or more <integer><unit>, unit ms, s, m or h
 * ("1s", "500ms", "1m30s"). Returns milliseconds, or -1. */
static int64_t
parse_duration_ms(const char *s)
{
    const int64_t max_ms = INT64_MAX / 2;
    int64_t total = 0;
    if (!*s)
        return -1;
    while (*s) {
        int64_t value = 0;
        const char *digits = s;
        while (*s >= '0' && *s <= '9') {
            if (value > (max_ms - 9) / 10)
                return -1;
            value = value * 10 + (*s - '0');
            s++;
        }
        if (s == digits)
            return -1;
        int64_t unit;
        if (strncmp(s, "ms", 2) == 0) {
            unit = 1;
            s += 2;
        } else if (*s == 's') {
            unit = 1000;
            s++;
        } else if (*s == 'm') {
            unit = 60 * 1000;
            s++;
        } else if (*s == 'h') {
            unit = 60 * 60 * 1000;
            s++;
        } else {
            return -1;
        }
        if (value > (max_ms - total) / unit)
            return -1;
        total += value * unit;
    }
    return total > 0 ? total : -1;
}

static int
base64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Standard, padded base64 (what Kubernetes stores in Secret.data). */
static bool
is_base64(const char *s, size_t len)
{
    if (len % 4 != 0)
        return false;
    size_t pad = 0;
    while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++)
        if (base64_value(s[i]) < 0)
            return false;
    return true;
}

/* ------------------------------------------------------------------ */
/* GatewayExtension                                                    */

static bool
is_plugin_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static void
check_plugin_spec(check *c, const gwf_node *plugin)
{
    static const char *const known[] = {"name", "path", "config", NULL};
    check_known_fields(c, plugin, "spec.plugin", known);
    const gwf_node *name = field_of(plugin, "name");
    const gwf_node *path = field_of(plugin, "path");
    if (name && path) {
        check_error(c, "spec.plugin.path", "set either name or path, not both");
    } else if (!name && !path) {
        check_error(c, "spec.plugin", "expected one of name, path");
    } else if (name) {
        const char *s = optional_string(c, plugin, "name", "spec.plugin.name");
        if (s && !is_plugin_name(s)) {
            char quoted[128];
            gwf_quote(quoted, sizeof(quoted), s, strlen(s));
            check_error(c, "spec.plugin.name",
                        "invalid plugin name %s (expected 1 to 64 of "
                        "a-z, 0-9, '_' and '-')",
                        quoted);
        }
    } else {
        const char *s = optional_string(c, plugin, "path", "spec.plugin.path");
        if (s && !*s)
            check_error(c, "spec.plugin.path", "must not be empty");
    }
    optional_map(c, plugin, "config", "spec.plugin.config");
}

static void
check_extension(check *c)
{
    static const char *const known[] = {"type", "extAuth", "rateLimit",
                                        "jwt",  "plugin",  NULL};
    const gwf_node *spec = c->doc->spec;
    check_known_fields(c, spec, "spec", known);

    int present = 0;
    ext_type first = EXT_INVALID;
    for (int t = 0; t < EXT_TYPE_COUNT; t++) {
        const char *field = ext_types[t].path;
        if (!field_of(spec, ext_types[t].field))
            continue;
        if (++present == 1) {
            first = (ext_type)t;
        } else {
            check_error(c, field,
                        "only one of extAuth, rateLimit, jwt, plugin may be "
                        "set, found %s and %s",
                        ext_types[first].field, ext_types[t].field);
        }
        if (optional_map(c, spec, ext_types[t].field, field) && t == EXT_PLUGIN)
            check_plugin_spec(c, field_of(spec, "plugin"));
    }
    if (present == 0)
        check_error(c, "spec",
                    "expected exactly one of extAuth, rateLimit, jwt, plugin");

    const char *type = optional_string(c, spec, "type", "spec.type");
    if (!type)
        return;
    int declared = EXT_INVALID;
    for (int t = 0; t < EXT_TYPE_COUNT; t++)
        if (strcmp(type, ext_types[t].type_name) == 0)
            declared = t;
    char quoted[128];
    gwf_quote(quoted, sizeof(quoted), type, strlen(type));
    if (declared == EXT_INVALID)
        check_error(c, "spec.type",
                    "unknown type %s (expected one of ExtAuth, RateLimit, "
                    "JWT, Plugin)",
                    quoted);
    else if (present == 1 && declared != (int)first)
        check_error(c, "spec.type",
                    "type %s does not match spec.%s (expected %s)", quoted,
                    ext_types[first].field, ext_types[first].type_name);
}

/* ------------------------------------------------------------------ */
/* TrafficPolicy                                                       */

/* Resolves an extensionRef node (already known to be a mapping) to its
 * GatewayExtension; NULL when it does not resolve (reported). */
static const gwf_doc *
resolve_extension_ref(check *c, const gwf_node *ref, const char *field,
                      ext_type want)
{
    static const char *const known[] = {"name", "namespace", NULL};
    field_path name_field, ns_field;
    path_key(&name_field, field, "name");
    path_key(&ns_field, field, "namespace");
    check_known_fields(c, ref, field, known);
    const char *name = required_string(c, ref, "name", name_field.text);
    const char *ns = optional_string(c, ref, "namespace", ns_field.text);
    if (!name)
        return NULL;
    if (!ns)
        ns = c->doc->namespace_;
    const doc_rec *target =
        lookup(c->m, "GatewayExtension", ns, strlen(ns), name, strlen(name));
    if (!target) {
        check_error(c, name_field.text, "GatewayExtension %.*s/%.*s not found",
                    MAX_LABEL_NAME, ns, MAX_LABEL_NAME, name);
        return NULL;
    }
    ext_type got = target->ext;
    if (got == EXT_INVALID)
        return NULL; /* its own validation says why */
    if (got != want) {
        check_error(c, name_field.text,
                    "GatewayExtension %.*s/%.*s is a %s extension (it sets "
                    "spec.%s), expected %s (spec.%s)",
                    MAX_LABEL_NAME, ns, MAX_LABEL_NAME, name,
                    ext_types[got].type_name, ext_types[got].field,
                    ext_types[want].type_name, ext_types[want].field);
        return NULL;
    }
    return &target->pub;
}

static const gwf_doc *
check_extension_ref(check *c, const gwf_node *parent, const char *field,
                    ext_type want)
{
    field_path p;
    path_key(&p, field, "extensionRef");
    const gwf_node *ref = required_map(c, parent, "extensionRef", p.text);
    return ref ? resolve_extension_ref(c, ref, p.text, want) : NULL;
}

/* `disable` switches ext auth off for the route: true, or kgateway's
 * empty-object form `disable: {}`. */
static bool
ext_auth_disabled(const gwf_node *ext_auth)
{
    const gwf_node *disable = field_of(ext_auth, "disable");
    int on;
    if (gwf_node_type_of(disable) == GWF_NODE_MAP)
        return true;
    return gwf_node_bool(disable, &on) == 0 && on;
}

static void
check_ext_auth(check *c, const gwf_node *ext_auth)
{
    static const char *const known[] = {"extensionRef", "contextExtensions",
                                        "disable", NULL};
    check_known_fields(c, ext_auth, "spec.extAuth", known);
    const gwf_node *disable = field_of(ext_auth, "disable");
    if (disable && gwf_node_type_of(disable) != GWF_NODE_MAP)
        expect_type(c, disable, GWF_NODE_BOOL, "spec.extAuth.disable");
    if (!ext_auth_disabled(ext_auth) || field_of(ext_auth, "extensionRef"))
        check_extension_ref(c, ext_auth, "spec.extAuth", EXT_AUTH);

    const gwf_node *context = optional_map(c, ext_auth, "contextExtensions",
                                           "spec.extAuth.contextExtensions");
    for (size_t i = 0; i < gwf_node_size(context); i++) {
        field_path p;
        path_key(&p, "spec.extAuth.contextExtensions",
                 gwf_node_key_at(context, i));
        expect_type(c, gwf_node_value_at(context, i), GWF_NODE_STRING, p.text);
    }
}

static void
check_local_rate_limit(check *c, const gwf_node *local)
{
    static const char *const local_known[] = {"tokenBucket", NULL};
    static const char *const bucket_known[] = {"maxTokens", "tokensPerFill",
                                               "fillInterval", NULL};
    const char *bucket_field = "spec.rateLimit.local.tokenBucket";
    check_known_fields(c, local, "spec.rateLimit.local", local_known);
    const gwf_node *bucket =
        required_map(c, local, "tokenBucket", bucket_field);
    if (!bucket)
        return;
    check_known_fields(c, bucket, bucket_field, bucket_known);

    const gwf_node *max = required(
        c, bucket, "maxTokens", "spec.rateLimit.local.tokenBucket.maxTokens");
    if (max)
        check_int_at_least(c, max, 1,
                           "spec.rateLimit.local.tokenBucket.maxTokens", NULL);
    const gwf_node *per_fill = field_of(bucket, "tokensPerFill");
    if (per_fill)
        check_int_at_least(c, per_fill, 1,
                           "spec.rateLimit.local.tokenBucket.tokensPerFill",
                           NULL);
    const char *interval_field =
        "spec.rateLimit.local.tokenBucket.fillInterval";
    const char *interval =
        required_string(c, bucket, "fillInterval", interval_field);
    if (interval && parse_duration_ms(interval) < 0) {
        char quoted[128];
        gwf_quote(quoted, sizeof(quoted), interval, strlen(interval));
        check_error(c, interval_field,
                    "invalid duration %s (expected a positive duration "
                    "such as \"1s\", \"500ms\", \"1m\" or \"1h\")",
                    quoted);
    }
}

static void
check_global_rate_limit(check *c, const gwf_node *global)
{
    static const char *const known[] = {"descriptors", "extensionRef", NULL};
    const char *field = "spec.rateLimit.global.descriptors";
    check_known_fields(c, global, "spec.rateLimit.global", known);
    const gwf_node *descriptors = required(c, global, "descriptors", field);
    if (descriptors && expect_type(c, descriptors, GWF_NODE_SEQ, field) &&
        gwf_node_size(descriptors) == 0)
        check_error(c, field, "must list at least one descriptor");
    check_extension_ref(c, global, "spec.rateLimit.global", EXT_RATE_LIMIT);
}

static void
check_rate_limit(check *c, const gwf_node *rate_limit)
{
    static const char *const known[] = {"local", "global", NULL};
    check_known_fields(c, rate_limit, "spec.rateLimit", known);
    const gwf_node *local = field_of(rate_limit, "local");
    const gwf_node *global = field_of(rate_limit, "global");
    if (!local && !global)
        check_error(c, "spec.rateLimit",
                    "expected at least one of local, global");
    if (optional_map(c, rate_limit, "local", "spec.rateLimit.local"))
        check_local_rate_limit(c, local);
    if (optional_map(c, rate_limit, "global", "spec.rateLimit.global"))
        check_global_rate_limit(c, global);
}

static void
check_traffic_policy(check *c)
{
    static const char *const known[] = {"targetRefs", "extAuth", "jwtAuth",
                                        "rateLimit", NULL};
    static const char *const jwt_known[] = {"extensionRef", NULL};
    const gwf_node *spec = c->doc->spec;
    check_known_fields(c, spec, "spec", known);

    /* Accepted and ignored: routing is the data plane's job. */
    const gwf_node *targets = field_of(spec, "targetRefs");
    if (targets)
        expect_type(c, targets, GWF_NODE_SEQ, "spec.targetRefs");

    const gwf_node *n = optional_map(c, spec, "jwtAuth", "spec.jwtAuth");
    if (n) {
        check_known_fields(c, n, "spec.jwtAuth", jwt_known);
        check_extension_ref(c, n, "spec.jwtAuth", EXT_JWT);
    }
    n = optional_map(c, spec, "extAuth", "spec.extAuth");
    if (n)
        check_ext_auth(c, n);
    n = optional_map(c, spec, "rateLimit", "spec.rateLimit");
    if (n)
        check_rate_limit(c, n);
}

/* ------------------------------------------------------------------ */
/* DirectResponse, Backend, Secret                                     */

static void
check_direct_response(check *c)
{
    (void)c; /* spec is a mapping (checked by the caller); the
                direct_response plugin checks status and body */
}

static void
check_static_hosts(check *c, const gwf_node *static_)
{
    static const char *const known[] = {"hosts", NULL};
    static const char *const host_known[] = {"host", "port", NULL};
    check_known_fields(c, static_, "spec.static", known);
    const gwf_node *hosts = required(c, static_, "hosts", "spec.static.hosts");
    if (!hosts || !expect_type(c, hosts, GWF_NODE_SEQ, "spec.static.hosts"))
        return;
    if (gwf_node_size(hosts) == 0)
        check_error(c, "spec.static.hosts", "must list at least one host");
    for (size_t i = 0; i < gwf_node_size(hosts); i++) {
        field_path item, host_field, port_field;
        path_index(&item, "spec.static.hosts", i);
        const gwf_node *entry = gwf_node_at(hosts, i);
        if (!expect_type(c, entry, GWF_NODE_MAP, item.text))
            continue;
        check_known_fields(c, entry, item.text, host_known);
        path_key(&host_field, item.text, "host");
        path_key(&port_field, item.text, "port");
        const char *host = required_string(c, entry, "host", host_field.text);
        if (host && !*host)
            check_error(c, host_field.text, "must not be empty");
        const gwf_node *port = required(c, entry, "port", port_field.text);
        int64_t value;
        if (port && check_int_at_least(c, port, 1, port_field.text, &value) &&
            value > 65535)
            check_error(c, port_field.text,
                        "must be at most 65535, got %" PRId64, value);
    }
}

/* spec.tls of a static Backend: how a plugin that talks to this backend
 * itself (ext_authz) connects: {caFile, serverName?}. Only the shape is
 * checked here; the plugin resolves caFile and reads it. */
static void
check_backend_tls(check *c, const gwf_node *tls)
{
    static const char *const known[] = {"caFile", "serverName", NULL};
    check_known_fields(c, tls, "spec.tls", known);
    const char *ca = required_string(c, tls, "caFile", "spec.tls.caFile");
    if (ca && !*ca)
        check_error(c, "spec.tls.caFile",
                    "must not be empty (expected a PEM file of CAs, "
                    "relative to this manifest's directory)");
    const char *name =
        optional_string(c, tls, "serverName", "spec.tls.serverName");
    if (name && (!*name || strpbrk(name, "/:@ ?#[]")))
        check_error(c, "spec.tls.serverName",
                    "expected a host name, without port, path or spaces");
}

static void
check_backend(check *c)
{
    static const char *const known[] = {"type", "static", "aws", "tls", NULL};
    const gwf_node *spec = c->doc->spec;
    check_known_fields(c, spec, "spec", known);
    const gwf_node *static_ = field_of(spec, "static");
    const gwf_node *aws = field_of(spec, "aws");
    if (static_ && aws)
        check_error(c, "spec.aws",
                    "only one of static, aws may be set, found both");
    else if (!static_ && !aws)
        check_error(c, "spec", "expected exactly one of static, aws");
    if (optional_map(c, spec, "static", "spec.static"))
        check_static_hosts(c, static_);
    optional_map(c, spec, "aws", "spec.aws");
    const gwf_node *tls = optional_map(c, spec, "tls", "spec.tls");
    if (tls && aws)
        check_error(c, "spec.tls",
                    "only a static Backend may set tls (this one is aws)");
    if (tls)
        check_backend_tls(c, tls);

    const char *type = optional_string(c, spec, "type", "spec.type");
    if (!type)
        return;
    char quoted[128];
    gwf_quote(quoted, sizeof(quoted), type, strlen(type));
    if (strcmp(type, "Static") != 0 && strcmp(type, "AWS") != 0)
        check_error(c, "spec.type", "unknown type %s (expected Static or AWS)",
                    quoted);
    else if (static_ && !aws && strcmp(type, "Static") != 0)
        check_error(c, "spec.type",
                    "type %s does not match spec.static (expected Static)",
                    quoted);
    else if (aws && !static_ && strcmp(type, "AWS") != 0)
        check_error(c, "spec.type",
                    "type %s does not match spec.aws (expected AWS)", quoted);
}

static void
check_secret(check *c)
{
    const gwf_node *root = c->doc->root;
    const gwf_node *data = optional_map(c, root, "data", "data");
    const gwf_node *string_data =
        optional_map(c, root, "stringData", "stringData");
    if (!field_of(root, "data") && !field_of(root, "stringData"))
        check_error(c, NULL, "expected at least one of data, stringData");
    optional_string(c, root, "type", "type");

    for (size_t i = 0; i < gwf_node_size(data); i++) {
        field_path p;
        path_key(&p, "data", gwf_node_key_at(data, i));
        const gwf_node *value = gwf_node_value_at(data, i);
        size_t len;
        const char *s = gwf_node_str(value, &len);
        if (!expect_type(c, value, GWF_NODE_STRING, p.text))
            continue;
        if (!is_base64(s, len))
            check_error(c, p.text,
                        "invalid base64 (expected standard base64 with "
                        "'=' padding; use stringData for plain text)");
    }
    for (size_t i = 0; i < gwf_node_size(string_data); i++) {
        field_path p;
        path_key(&p, "stringData", gwf_node_key_at(string_data, i));
        expect_type(c, gwf_node_value_at(string_data, i), GWF_NODE_STRING,
                    p.text);
    }
}

/* ------------------------------------------------------------------ */
/* Documents                                                           */

static const struct kind_info {
    const char *kind;
    const char *api_version;
    bool has_spec;
    void (*validate)(check *c);
} kinds[] = {
    {"GatewayExtension", GWF_API_VERSION_GATEWAY, true, check_extension},
    {"TrafficPolicy", GWF_API_VERSION_GATEWAY, true, check_traffic_policy},
    {"DirectResponse", GWF_API_VERSION_GATEWAY, true, check_direct_response},
    {"Backend", GWF_API_VERSION_GATEWAY, true, check_backend},
    {"Secret", GWF_API_VERSION_CORE, false, check_secret},
};

static void
check_metadata(check *c)
{
    const gwf_node *metadata =
        required_map(c, c->doc->root, "metadata", "metadata");
    if (!metadata)
        return;
    char quoted[128];
    const char *name = required_string(c, metadata, "name", "metadata.name");
    if (name && !is_dns_subdomain(name)) {
        gwf_quote(quoted, sizeof(quoted), name, strlen(name));
        check_error(c, "metadata.name",
                    "invalid name %s (expected a DNS-1123 subdomain: "
                    "lowercase letters, digits, '-' and '.', starting and "
                    "ending with a letter or digit, at most 253 characters)",
                    quoted);
    }
    const char *ns =
        optional_string(c, metadata, "namespace", "metadata.namespace");
    if (ns && !is_dns_label(ns, strlen(ns), 63)) {
        gwf_quote(quoted, sizeof(quoted), ns, strlen(ns));
        check_error(c, "metadata.namespace",
                    "invalid namespace %s (expected a DNS-1123 label: "
                    "lowercase letters, digits and '-', starting and "
                    "ending with a letter or digit, at most 63 characters)",
                    quoted);
    }
}

static const struct kind_info *
find_kind(const char *kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return &kinds[i];
    return NULL;
}

/* Checks one document; returns the number of errors found. */
static unsigned
check_document(const gwf_manifests *m, const gwf_doc *doc, gwf_diag *d)
{
    check c = {.m = m, .d = d, .doc = doc};
    char quoted[128];
    const char *api_version =
        required_string(&c, doc->root, "apiVersion", "apiVersion");
    const char *kind = required_string(&c, doc->root, "kind", "kind");
    check_metadata(&c);
    if (!kind)
        return c.errors;

    const struct kind_info *info = find_kind(kind);
    if (!info) {
        gwf_quote(quoted, sizeof(quoted), kind, strlen(kind));
        check_error(&c, "kind",
                    "unknown kind %s (expected one of GatewayExtension, "
                    "TrafficPolicy, DirectResponse, Backend, Secret)",
                    quoted);
        return c.errors;
    }
    if (api_version && strcmp(api_version, info->api_version) != 0) {
        gwf_quote(quoted, sizeof(quoted), api_version, strlen(api_version));
        check_error(&c, "apiVersion",
                    "unsupported apiVersion %s for kind %s (expected \"%s\")",
                    quoted, info->kind, info->api_version);
    }
    if (info->has_spec && !required_map(&c, doc->root, "spec", "spec"))
        return c.errors;
    info->validate(&c);
    return c.errors;
}

static int
build_index(gwf_manifests *m)
{
    doc_rec **index =
        malloc((m->doc_count ? m->doc_count : 1) * sizeof(*index));
    if (!index)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < m->doc_count; i++)
        if (m->docs[i]->pub.kind && m->docs[i]->pub.name)
            index[n++] = m->docs[i];
    qsort(index, n, sizeof(*index), compare_doc_ptr);
    free(m->index);
    m->index = index;
    m->index_count = n;
    m->index_valid = true;
    return 0;
}

static void
report_duplicates(const gwf_manifests *m, gwf_diag *d)
{
    size_t first = 0;
    for (size_t i = 1; i < m->index_count; i++) {
        const doc_rec *a = m->index[first], *b = m->index[i];
        if (strcmp(a->pub.kind, b->pub.kind) != 0 ||
            strcmp(a->pub.namespace_, b->pub.namespace_) != 0 ||
            strcmp(a->pub.name, b->pub.name) != 0) {
            first = i;
            continue;
        }
        gwf_doc_errorf(d, &b->pub, "metadata.name",
                       "duplicate %.*s %.*s/%.*s (first defined at %s:%u)",
                       MAX_LABEL_KIND, b->pub.kind, MAX_LABEL_NAME,
                       b->pub.namespace_, MAX_LABEL_NAME, b->pub.name,
                       a->pub.file, a->pub.line);
    }
}

int
gwf_manifests_validate(gwf_manifests *m, gwf_diag *d)
{
    size_t before = d->count;
    if (build_index(m) != 0) {
        gwf_diag_addf(d, "out of memory while validating manifests");
        return errors_since(d, before);
    }
    for (size_t i = 0; i < m->doc_count; i++)
        check_document(m, &m->docs[i]->pub, d);
    report_duplicates(m, d);
    return errors_since(d, before);
}

/* ------------------------------------------------------------------ */
/* Plans                                                               */

typedef struct planner {
    const gwf_manifests *m;
    gwf_diag *d;
    gwf_plan_entry *entries;
    size_t count, cap;
    bool failed;
} planner;

static void
planner_oom(planner *p)
{
    if (!p->failed)
        gwf_diag_addf(p->d, "out of memory while building the plan");
    p->failed = true;
}

static gwf_plan_entry *
plan_add(planner *p)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        gwf_plan_entry *grown = realloc(p->entries, cap * sizeof(*grown));
        if (!grown) {
            planner_oom(p);
            return NULL;
        }
        p->entries = grown;
        p->cap = cap;
    }
    gwf_plan_entry *e = &p->entries[p->count++];
    memset(e, 0, sizeof(*e));
    return e;
}

static char *
json_of(planner *p, const gwf_node *n)
{
    char *json = gwf_node_to_json(n);
    if (!json)
        planner_oom(p);
    return json;
}

/* Fills the config part of an entry from a document node. */
static void
plan_config(planner *p, gwf_plan_entry *e, const char *plugin,
            const gwf_doc *doc, const char *field)
{
    e->plugin_name = plugin;
    e->config_doc = doc;
    e->config_field = field;
    e->config_json = json_of(p, gwf_node_find(doc->root, field, NULL));
}

static void
plan_route(planner *p, gwf_plan_entry *e, const gwf_doc *policy,
           const char *field)
{
    e->route_doc = policy;
    e->route_field = field;
    e->route_json = json_of(p, gwf_node_find(policy->root, field, NULL));
}

/* Finds a referenced document and checks it; NULL when it is missing
 * or invalid (reported). */
static const gwf_doc *
plan_resolve(planner *p, const char *kind, const char *ref)
{
    const char *ns, *name;
    size_t ns_len, name_len;
    char quoted[128];
    if (!split_ref(ref, &ns, &ns_len, &name, &name_len)) {
        gwf_quote(quoted, sizeof(quoted), ref ? ref : "",
                  ref ? strlen(ref) : 0);
        gwf_diag_addf(p->d,
                      "invalid %s reference %s (expected NAME or "
                      "NAMESPACE/NAME)",
                      kind, quoted);
        return NULL;
    }
    const doc_rec *r = lookup(p->m, kind, ns, ns_len, name, name_len);
    if (!r) {
        gwf_diag_addf(p->d, "%s %.*s/%.*s not found", kind, (int)ns_len, ns,
                      (int)name_len, name);
        return NULL;
    }
    if (check_document(p->m, &r->pub, p->d) != 0)
        return NULL;
    return &r->pub;
}

/* The extension an extensionRef under `field` of a (checked) policy
 * points at. */
static const gwf_doc *
policy_extension(const planner *p, const gwf_doc *policy, const char *field)
{
    char path[128];
    snprintf(path, sizeof(path), "%s.extensionRef", field);
    const gwf_node *ref = gwf_node_find(policy->root, path, NULL);
    const char *name = plain_string(gwf_node_get(ref, "name"));
    const char *ns = plain_string(field_of(ref, "namespace"));
    if (!ns)
        ns = policy->namespace_;
    const doc_rec *r = name ? lookup(p->m, "GatewayExtension", ns, strlen(ns),
                                     name, strlen(name))
                            : NULL;
    return r ? &r->pub : NULL;
}

static void
plan_policy_ref(planner *p, const gwf_doc *policy, const char *field,
                ext_type type)
{
    const gwf_doc *ext = policy_extension(p, policy, field);
    gwf_plan_entry *e;
    if (!ext)
        return; /* cannot happen for a checked policy */
    if (check_document(p->m, ext, p->d) != 0 || !(e = plan_add(p)))
        return;
    plan_config(p, e, ext_types[type].plugin, ext, ext_types[type].path);
    plan_route(p, e, policy, field);
}

static void
plan_policy(planner *p, const gwf_doc *policy)
{
    const gwf_node *spec = policy->spec;
    const gwf_node *ext_auth = field_of(spec, "extAuth");
    const gwf_node *rate_limit = field_of(spec, "rateLimit");

    if (field_of(spec, "jwtAuth"))
        plan_policy_ref(p, policy, "spec.jwtAuth", EXT_JWT);
    if (ext_auth && !ext_auth_disabled(ext_auth))
        plan_policy_ref(p, policy, "spec.extAuth", EXT_AUTH);

    const gwf_node *local = field_of(rate_limit, "local");
    gwf_plan_entry *e;
    if (local && (e = plan_add(p))) {
        e->plugin_name = "rate_limit";
        e->config_doc = policy;
        e->config_field = "spec.rateLimit.local";
        char *local_json = json_of(p, local);
        if (local_json) {
            size_t size = strlen(local_json) + sizeof("{\"local\":}");
            e->config_json = malloc(size);
            if (e->config_json)
                snprintf(e->config_json, size, "{\"local\":%s}", local_json);
            else
                planner_oom(p);
            free(local_json);
        }
    }
    if (field_of(rate_limit, "global"))
        plan_policy_ref(p, policy, "spec.rateLimit.global", EXT_RATE_LIMIT);
}

static void
plan_extension(planner *p, const gwf_doc *ext)
{
    ext_type type = ((const doc_rec *)ext)->ext;
    gwf_plan_entry *e;
    if (type == EXT_INVALID || !(e = plan_add(p)))
        return;
    if (type != EXT_PLUGIN) {
        plan_config(p, e, ext_types[type].plugin, ext, ext_types[type].path);
        return;
    }
    const gwf_node *plugin = field_of(ext->spec, "plugin");
    const gwf_node *config = field_of(plugin, "config");
    const char *path = plain_string(field_of(plugin, "path"));
    e->plugin_name = plain_string(field_of(plugin, "name"));
    e->config_doc = ext;
    e->config_field = "spec.plugin.config";
    e->config_json = config ? json_of(p, config) : strdup("{}");
    if (!e->config_json)
        planner_oom(p);
    if (!path)
        return;
    const doc_rec *r = (const doc_rec *)ext;
    if (path[0] != '/' && !r->base_dir) {
        gwf_doc_errorf(p->d, ext, "spec.plugin.path",
                       "cannot make the relative path absolute: the "
                       "current directory is unknown");
        return;
    }
    e->plugin_path = join_clean(path[0] == '/' ? "" : r->base_dir, path);
    if (!e->plugin_path)
        planner_oom(p);
}

static void
plan_backend(planner *p, const gwf_doc *backend)
{
    gwf_plan_entry *e;
    /* A static backend only tells the data plane where to connect: no
     * plugin runs for it. */
    if (!field_of(backend->spec, "aws") || !(e = plan_add(p)))
        return;
    plan_config(p, e, "lambda_signer", backend, "spec.aws");
}

int
gwf_manifests_plan(const gwf_manifests *m, const gwf_plan_request *req,
                   gwf_plan *out, gwf_diag *d)
{
    size_t before = d->count;
    planner p = {.m = m, .d = d};
    const gwf_doc *doc;
    out->entries = NULL;
    out->count = 0;
    if (!m || !req)
        return 0;

    if (req->policy && (doc = plan_resolve(&p, "TrafficPolicy", req->policy)))
        plan_policy(&p, doc);
    for (size_t i = 0; i < req->extension_count; i++) {
        doc = plan_resolve(&p, "GatewayExtension", req->extensions[i]);
        if (doc)
            plan_extension(&p, doc);
    }
    if (req->direct_response &&
        (doc = plan_resolve(&p, "DirectResponse", req->direct_response))) {
        gwf_plan_entry *e = plan_add(&p);
        if (e)
            plan_config(&p, e, "direct_response", doc, "spec");
    }
    if (req->backend && (doc = plan_resolve(&p, "Backend", req->backend)))
        plan_backend(&p, doc);

    gwf_plan plan = {p.entries, p.count};
    if (d->count != before) {
        gwf_plan_free(&plan);
        return errors_since(d, before);
    }
    *out = plan;
    return 0;
}

void
gwf_plan_free(gwf_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->count; i++) {
        free(p->entries[i].plugin_path);
        free(p->entries[i].config_json);
        free(p->entries[i].route_json);
    }
    free(p->entries);
    p->entries = NULL;
    p->count = 0;
}
