/*
 * diag.c - error collection for the manifest loader.
 *
 * The slot array grows geometrically. A slot is reserved before the text
 * is formatted, and if either allocation fails the line is still counted:
 * callers compute "errors added" as a difference of counts, and that
 * number must never be smaller than the truth.
 */
#include <gwf/diag.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char dropped_line[] = "(error message dropped: out of memory)";

void
gwf_diag_init(gwf_diag *d)
{
    d->lines = NULL;
    d->count = 0;
    d->cap = 0;
}

void
gwf_diag_free(gwf_diag *d)
{
    size_t slots = d->count < d->cap ? d->count : d->cap;

    for (size_t i = 0; i < slots; i++)
        free(d->lines[i]);
    free(d->lines);
    gwf_diag_init(d);
}

/* Makes sure slot d->count exists; new slots are NULL so that a gap left
 * by an earlier failed growth reads as "dropped". */
static int
reserve_slot(gwf_diag *d)
{
    if (d->count < d->cap)
        return 0;
    size_t new_cap = d->cap ? d->cap * 2 : 16;
    while (new_cap <= d->count)
        new_cap *= 2;
    char **grown = realloc(d->lines, new_cap * sizeof(*grown));
    if (!grown)
        return -1;
    for (size_t i = d->cap; i < new_cap; i++)
        grown[i] = NULL;
    d->lines = grown;
    d->cap = new_cap;
    return 0;
}

static char *format_line(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static char *
format_line(const char *fmt, va_list ap)
{
    va_list measure;
    va_copy(measure, ap);
    int len = vsnprintf(NULL, 0, fmt, measure);
    va_end(measure);
    if (len < 0)
        return NULL;
    char *text = malloc((size_t)len + 1);
    if (!text)
        return NULL;
    vsnprintf(text, (size_t)len + 1, fmt, ap);
    for (char *c = text; *c; c++) {
        unsigned char byte = (unsigned char)*c;
        if (byte < 0x20 || byte == 0x7f)
            *c = '?';
    }
    return text;
}

void
gwf_diag_addf(gwf_diag *d, const char *fmt, ...)
{
    if (reserve_slot(d) != 0) {
        d->count++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    d->lines[d->count] = format_line(fmt, ap);
    va_end(ap);
    d->count++;
}

const char *
gwf_diag_line(const gwf_diag *d, size_t i)
{
    if (i >= d->count)
        return NULL;
    if (i >= d->cap || !d->lines[i])
        return dropped_line;
    return d->lines[i];
}
