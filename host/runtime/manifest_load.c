/*
 * manifest_load.c - the set of documents, and loading files into it.
 *
 * Loading turns files into parsed trees (node.c) and the trees into
 * gwf_doc records; a `kind: List` or a top-level array is unpacked into
 * its items. Loading checks only what is needed to index a document;
 * shapes and references are manifest_validate.c's job, plans are
 * manifest_plan.c's.
 *
 * Lookups go through a sorted index built by gwf_manifests_validate
 * (binary search); before that, or after another load, they fall back to
 * a linear scan. Sorting is also how duplicates are found, so validating
 * a huge hostile file stays O(n log n).
 */
#include "manifest_internal.h"

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

const struct ext_type_info manifest_ext_types[EXT_TYPE_COUNT] = {
    {"extAuth", "ExtAuth", "ext_authz", "spec.extAuth"},
    {"rateLimit", "RateLimit", "rate_limit", "spec.rateLimit"},
    {"jwt", "JWT", "jwt_auth", "spec.jwt"},
    {"plugin", "Plugin", NULL, "spec.plugin"},
};

/* Operators point gwf at the directories they `kubectl apply`: beside
 * the kinds below they hold Deployments, ServiceAccounts and the like.
 * Those are skipped with a note, never refused. The runtime itself
 * configures plugins from the first five; the Gateway API translator
 * reads the rest (their shapes are its to check; kgateway's listener and
 * backend policies only so that what they target fails closed until
 * they are applied). */
const char *const manifest_read_kinds[] = {"GatewayExtension",
                                           "TrafficPolicy",
                                           "DirectResponse",
                                           "Backend",
                                           "Secret",
                                           "GatewayClass",
                                           "Gateway",
                                           "HTTPRoute",
                                           "GRPCRoute",
                                           "ReferenceGrant",
                                           "Namespace",
                                           "Service",
                                           "EndpointSlice",
                                           "ConfigMap",
                                           "HTTPListenerPolicy",
                                           "ListenerPolicy",
                                           "BackendConfigPolicy",
                                           NULL};

static bool
kind_is_read(const char *kind)
{
    for (size_t i = 0; manifest_read_kinds[i]; i++)
        if (strcmp(manifest_read_kinds[i], kind) == 0)
            return true;
    return false;
}

/* The one type a GatewayExtension configures, or EXT_INVALID when it
 * sets none or several of them. */
static ext_type
extension_type(const gwf_doc *doc)
{
    ext_type found = EXT_INVALID;
    for (int t = 0; t < EXT_TYPE_COUNT; t++) {
        if (!manifest_field_of(doc->spec, manifest_ext_types[t].field))
            continue;
        if (found != EXT_INVALID)
            return EXT_INVALID;
        found = (ext_type)t;
    }
    return found;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

int
manifest_errors_since(const gwf_diag *d, size_t before)
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
const char *
manifest_plain_string(const gwf_node *n)
{
    size_t len;
    const char *s = gwf_node_str(n, &len);
    if (!s || memchr(s, '\0', len))
        return NULL;
    return s;
}

/* The value under key, with an explicit null treated as absent (as in
 * Kubernetes, `field:` with nothing after it means "not set"). */
const gwf_node *
manifest_field_of(const gwf_node *map, const char *key)
{
    const gwf_node *n = gwf_node_get(map, key);
    return gwf_node_type_of(n) == GWF_NODE_NULL ? NULL : n;
}

/* Joins two slash-separated paths and drops "." and empty components.
 * ".." is kept: resolving it lexically would be wrong across symlinks.
 * Returns a malloc'd absolute path, or NULL on OOM. */
char *
manifest_join_clean(const char *dir, const char *rel)
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
        result = manifest_join_clean("", dir);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)))
            result = manifest_join_clean(cwd, dir);
    }
    free(dir);
    return result;
}

/* Splits "name" or "namespace/name". Returns false when malformed. */
bool
manifest_split_ref(const char *ref, const char **ns, size_t *ns_len,
                   const char **name, size_t *name_len)
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
    gwf_diag_free(&m->notes);
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

int
manifest_compare_doc_ptr(const void *a, const void *b)
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

const doc_rec *
manifest_lookup(const gwf_manifests *m, const char *kind, const char *ns,
                size_t ns_len, const char *name, size_t name_len)
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
    if (!m || !kind || !manifest_split_ref(ref, &ns, &ns_len, &name, &name_len))
        return NULL;
    const doc_rec *r = manifest_lookup(m, kind, ns, ns_len, name, name_len);
    return r ? &r->pub : NULL;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

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
    r->pub.kind = manifest_plain_string(gwf_node_get(root, "kind"));
    r->pub.api_version =
        manifest_plain_string(gwf_node_get(root, "apiVersion"));
    r->pub.name = manifest_plain_string(gwf_node_get(metadata, "name"));
    r->pub.namespace_ =
        manifest_plain_string(gwf_node_get(metadata, "namespace"));
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
    const char *kind = manifest_plain_string(gwf_node_get(n, "kind"));
    if (kind && !kind_is_read(kind)) {
        const char *name = manifest_plain_string(
            gwf_node_get(gwf_node_get(n, "metadata"), "name"));
        char quoted[128];
        gwf_quote(quoted, sizeof(quoted), kind, strlen(kind));
        gwf_diag_addf(&l->m->notes,
                      "%s:%u: document %u: skipped kind %s%s%.*s (gwf does "
                      "not read this kind)",
                      l->f->name, gwf_node_line(n), index, quoted,
                      name ? " " : "", MAX_LABEL_NAME, name ? name : "");
        return;
    }
    if (add_doc(l->m, l->f, n, index) != 0) {
        load_error(l, gwf_node_line(n), "document %u: out of memory", index);
        return;
    }
    /* kgateway deprecated spec.type of these kinds: the block set decides
     * (validation still refuses a type that contradicts it, as
     * kgateway's own validation does). */
    const gwf_node *type = gwf_node_get(gwf_node_get(n, "spec"), "type");
    if (type && kind &&
        (strcmp(kind, "GatewayExtension") == 0 ||
         strcmp(kind, "Backend") == 0)) {
        const char *name = manifest_plain_string(
            gwf_node_get(gwf_node_get(n, "metadata"), "name"));
        gwf_diag_addf(&l->m->notes,
                      "%s:%u: %s %.*s: spec.type is deprecated in kgateway "
                      "and has no effect (the block that is set decides)",
                      l->f->name, gwf_node_line(type), kind, MAX_LABEL_NAME,
                      name ? name : "");
    }
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
        const char *kind = manifest_plain_string(gwf_node_get(n, "kind"));
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
        return manifest_errors_since(d, before);
    manifest_file *f = add_file(m, name);
    if (!f) {
        gwf_tree_free(tree);
        gwf_diag_addf(d, "%s: out of memory", name);
        return manifest_errors_since(d, before);
    }
    f->tree = tree;
    file_loader loader = {.m = m, .f = f, .d = d};
    for (size_t i = 0; i < gwf_tree_doc_count(tree); i++)
        add_documents(&loader, gwf_tree_doc(tree, i));
    return manifest_errors_since(d, before);
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
        return manifest_errors_since(d, before);
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
    return manifest_errors_since(d, before);
}

const gwf_diag *
gwf_manifests_notes(const gwf_manifests *m)
{
    return m ? &m->notes : NULL;
}
