/*
 * log.c - how the runtime speaks: log lines through the data plane's
 * sink, and error lists (gwf_errors) built from diagnostics.
 *
 * They sit at the bottom of the runtime (internal.h, "Layers") because
 * every layer above, from the loader to the host table, reports through
 * them; nothing here calls back into those layers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* -- Errors and logs ---------------------------------------------------- */

void
gwf_errors_free(gwf_errors *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->count; i++)
        free(e->lines[i]);
    free(e->lines);
    e->lines = NULL;
    e->count = 0;
}

void
rt_diag_to_errors(gwf_diag *d, gwf_errors *err)
{
    if (err && d->count) {
        char **lines =
            realloc(err->lines, (err->count + d->count) * sizeof *lines);
        if (lines) {
            err->lines = lines;
            for (size_t i = 0; i < d->count; i++)
                err->lines[err->count++] = rt_strdup(gwf_diag_line(d, i));
        }
    }
    gwf_diag_free(d);
}

void
rt_log(gwf_runtime *rt, gwf_log_level level, const char *instance,
       const char *fmt, ...)
{
    if (level < rt->opts.log_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    if (rt->opts.log) {
        rt->opts.log(rt->opts.log_ctx, level, instance, msg, len);
        return;
    }
    static const char *const names[] = {"debug", "info", "warn", "error"};
    int lv = level >= GWF_LOG_DEBUG && level <= GWF_LOG_ERROR ? level : 3;
    fprintf(stderr, "gwf %s %s: %.*s\n", names[lv], instance, (int)len, msg);
}
