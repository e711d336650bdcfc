/*
 * loader.c - finding, opening and checking plugin shared objects.
 *
 * A plugin is named ("jwt_auth": looked up as <dir>/jwt_auth.so along the
 * search path: the runtime option, then GWF_PLUGIN_PATH, then the install
 * directory) or given by path (anything with a '/'). It is opened with
 * RTLD_NOW | RTLD_LOCAL, so an unresolved symbol fails here and not in the
 * middle of a request, and two plugins never see each other's symbols.
 *
 * The entry struct is checked before anything in it is trusted: its size,
 * then the ABI major (a different major is refused, never just warned
 * about), then the name. The host then works on a normalised copy, so a
 * plugin built against an older minor (a shorter struct) simply has NULL
 * for the hooks it does not know about.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The smallest entry any 0.x plugin can have: up to and including
 * stream_destroy. Later fields are optional by construction. */
#define ENTRY_MIN_SIZE (offsetof(gwf_plugin, stream_destroy) + sizeof(void *))

static bool
valid_plugin_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

static bool
is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find <dir>/<name>.so along the search path; NULL (with an error naming
 * every directory tried) if it is nowhere. */
static char *
find_by_name(gwf_runtime *rt, const char *name, gwf_diag *d)
{
    char candidate[PATH_MAX];
    size_t tried = 0;
    char list[2048] = "";
    for (size_t i = 0; i < rt->search_count; i++) {
        const char *dir = rt->search_dirs[i];
        int n = snprintf(candidate, sizeof candidate, "%s/%s.so", dir, name);
        if (n < 0 || (size_t)n >= sizeof candidate)
            continue;
        if (is_file(candidate))
            return rt_strdup(candidate);
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", tried ? ", " : "",
                 dir);
        tried++;
    }
    gwf_diag_addf(d,
                  "plugin \"%s\": %s.so not found in the plugin search path "
                  "(%s); set GWF_PLUGIN_PATH or give spec.plugin.path",
                  name, name, tried ? list : "empty");
    return NULL;
}

static rt_plugin *
find_loaded(gwf_runtime *rt, const char *real)
{
    for (rt_plugin *p = rt->plugins; p; p = p->next)
        if (strcmp(p->path, real) == 0)
            return p;
    return NULL;
}

/* Check the entry and make the normalised copy. */
static int
check_entry(const char *path, const gwf_plugin *entry, gwf_plugin *out,
            gwf_diag *d)
{
    /* size, abi_major and abi_minor lead every entry of every major, so
     * the version can be read before anything else is trusted. */
    if (entry->size >= offsetof(gwf_plugin, name) &&
        entry->abi_major != GWF_ABI_VERSION_MAJOR) {
        gwf_diag_addf(d,
                      "plugin %s: built for gwf ABI %u.%u, but this host "
                      "implements ABI %d.%d; the major versions must match "
                      "(rebuild the plugin against this gwf)",
                      path, entry->abi_major, entry->abi_minor,
                      GWF_ABI_VERSION_MAJOR, GWF_ABI_VERSION_MINOR);
        return -1;
    }
    /* While the major is 0 the ABI is not frozen: a newer minor may add
     * a slot or a rule the plugin relies on, so only plugins built for
     * this host's minor or an older one are taken (an older one gets
     * its own minor's behaviour where the ABI says so). */
    if (entry->size >= offsetof(gwf_plugin, name) &&
        GWF_ABI_VERSION_MAJOR == 0 &&
        entry->abi_minor > GWF_ABI_VERSION_MINOR) {
        gwf_diag_addf(d,
                      "plugin %s: built for gwf ABI %u.%u, but this host "
                      "implements ABI %d.%d; while the major is 0 a plugin "
                      "must be built for this minor or an older one "
                      "(rebuild the plugin against this gwf, or upgrade "
                      "gwf)",
                      path, entry->abi_major, entry->abi_minor,
                      GWF_ABI_VERSION_MAJOR, GWF_ABI_VERSION_MINOR);
        return -1;
    }
    if (entry->size < ENTRY_MIN_SIZE) {
        gwf_diag_addf(d,
                      "plugin %s: invalid entry: its size is %u bytes, "
                      "smaller than the %zu an ABI %d.x entry needs",
                      path, entry->size, (size_t)ENTRY_MIN_SIZE,
                      GWF_ABI_VERSION_MAJOR);
        return -1;
    }
    if (!entry->name || !valid_plugin_name(entry->name)) {
        gwf_diag_addf(d,
                      "plugin %s: invalid entry: the name must be 1-64 "
                      "characters of [a-z0-9_-]",
                      path);
        return -1;
    }
    memset(out, 0, sizeof *out);
    size_t n = entry->size < sizeof *out ? entry->size : sizeof *out;
    memcpy(out, entry, n);
    out->size = (uint32_t)sizeof *out;
    if (!out->version)
        out->version = "";
    if (!out->description)
        out->description = "";
    return 0;
}

rt_plugin *
rt_plugin_load(gwf_runtime *rt, const char *name_or_path, gwf_diag *d)
{
    char *path;
    if (strchr(name_or_path, '/')) {
        path = rt_strdup(name_or_path);
        if (!path)
            goto oom;
        if (!is_file(path)) {
            gwf_diag_addf(d, "plugin %s: no such file", path);
            free(path);
            return NULL;
        }
    } else {
        if (!valid_plugin_name(name_or_path)) {
            gwf_diag_addf(d,
                          "plugin \"%s\": a plugin name is 1-64 characters "
                          "of [a-z0-9_-]",
                          name_or_path);
            return NULL;
        }
        path = find_by_name(rt, name_or_path, d);
        if (!path)
            return NULL;
    }

    char real[PATH_MAX];
    if (!realpath(path, real)) {
        gwf_diag_addf(d, "plugin %s: %s", path, strerror(errno));
        free(path);
        return NULL;
    }
    free(path);
    rt_plugin *p = find_loaded(rt, real);
    if (p)
        return p;

    void *handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        gwf_diag_addf(d, "plugin %s: cannot load: %s", real,
                      why ? why : "unknown error");
        return NULL;
    }
    dlerror();
    const gwf_plugin *entry = dlsym(handle, "gwf_plugin_entry");
    if (!entry) {
        gwf_diag_addf(d,
                      "plugin %s: not a gwf plugin: it does not export the "
                      "symbol gwf_plugin_entry",
                      real);
        dlclose(handle);
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        dlclose(handle);
        goto oom;
    }
    if (check_entry(real, entry, &p->entry, d) < 0) {
        free(p);
        dlclose(handle);
        return NULL;
    }
    /* A plugin found by name must be the plugin of that name, or a stray
     * file in the search path could stand in for it. */
    if (!strchr(name_or_path, '/') && strcmp(p->entry.name, name_or_path)) {
        gwf_diag_addf(d,
                      "plugin %s: looked up as \"%s\" but it calls itself "
                      "\"%s\"",
                      real, name_or_path, p->entry.name);
        free(p);
        dlclose(handle);
        return NULL;
    }
    p->path = rt_strdup(real);
    if (!p->path) {
        free(p);
        dlclose(handle);
        goto oom;
    }
    p->handle = handle;
    p->next = rt->plugins;
    rt->plugins = p;
    return p;
oom:
    gwf_diag_addf(d, "plugin %s: out of memory", name_or_path);
    return NULL;
}

void
rt_plugins_unload(gwf_runtime *rt)
{
    rt_plugin *p = rt->plugins;
    while (p) {
        rt_plugin *next = p->next;
        /* Sanitizer builds keep plugins mapped so leak reports can still
         * name the plugin's frames. */
        if (!getenv("GWF_NO_DLCLOSE"))
            dlclose(p->handle);
        free(p->path);
        free(p);
        p = next;
    }
    rt->plugins = NULL;
}

const gwf_plugin *
gwf_runtime_load_plugin(gwf_runtime *rt, const char *name_or_path,
                        char **path_out, gwf_errors *err)
{
    gwf_diag d;
    gwf_diag_init(&d);
    rt_plugin *p = rt_plugin_load(rt, name_or_path, &d);
    rt_diag_to_errors(&d, err);
    if (!p)
        return NULL;
    if (path_out)
        *path_out = rt_strdup(p->path);
    return &p->entry;
}
