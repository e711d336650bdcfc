/*
 * util.c - byte buffers and string copies used across the runtime.
 *
 * Buffers grow geometrically and never shrink; every failure is reported
 * to the caller (-1) and leaves the buffer as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int
buf_reserve(gwf_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return -1;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int
gwf_buf_append(gwf_buf *b, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    if (buf_reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int
gwf_buf_set(gwf_buf *b, const char *data, size_t len)
{
    /* `data` may point into b itself (a plugin passing back the view it
     * got from body_get), so copy through a fresh block. */
    if (len == 0) {
        b->len = 0;
        return 0;
    }
    char *copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    free(b->data);
    b->data = copy;
    b->len = len;
    b->cap = len;
    return 0;
}

void
gwf_buf_free(gwf_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *
rt_strndup(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *
rt_strdup(const char *s)
{
    return s ? rt_strndup(s, strlen(s)) : NULL;
}
