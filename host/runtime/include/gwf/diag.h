/*
 * gwf/diag.h - a list of human-readable error lines.
 *
 * The manifest loader, the validator and the planner do not stop at the
 * first problem: they report every error they can find, so an operator
 * fixes a whole file in one round. Each error is one line of text
 * ("FILE:LINE: Kind namespace/name: field: message"); this collector keeps
 * them in order. It never prints anything; the caller decides where the
 * lines go (stderr, the nginx log, a test assertion).
 *
 * Out of memory never loses the fact that an error happened: the line's
 * text may be dropped, but `count` still grows, so "number of errors added"
 * stays right and a failure is never reported as a success.
 */
#ifndef GWF_DIAG_H
#define GWF_DIAG_H

#include <stddef.h>

typedef struct gwf_diag {
    /* lines[i] is a NUL-terminated line without trailing newline, or NULL
     * when its text was dropped for lack of memory. Only the first
     * min(count, cap) slots exist: see gwf_diag_line() for safe access. */
    char **lines;
    /* count: lines added so far (dropped ones included); cap: slots
     * allocated in `lines`. */
    size_t count, cap;
} gwf_diag;

/* Makes `d` empty. Allocates nothing. */
void gwf_diag_init(gwf_diag *d);

/* Frees every line and the array, and leaves `d` empty (ready for reuse). */
void gwf_diag_free(gwf_diag *d);

/* Appends one line formatted like printf. The text must not end with a
 * newline; control characters in it (a newline inside a quoted value,
 * say) are replaced by '?' so that one error is always one line. Never
 * fails loudly: on OOM the text is dropped but count still grows. */
void gwf_diag_addf(gwf_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns line i (0 <= i < count) or, when its text was dropped for lack
 * of memory, a fixed placeholder. The pointer is owned by `d`; it stays
 * valid until the next gwf_diag_addf or gwf_diag_free. Returns NULL when
 * i >= count. */
const char *gwf_diag_line(const gwf_diag *d, size_t i);

#endif
