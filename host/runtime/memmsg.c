/*
 * memmsg.c - an HTTP message held in memory, behind gwf_message_ops.
 *
 * Local replies live here while the response hooks of earlier plugins
 * run on them, and the CLI and the test host keep their requests and
 * upstream responses here. Data planes with their own message structs
 * (nginx) implement gwf_message_ops over those instead.
 *
 * Pseudo-headers map onto fields of the struct: ":method", ":path",
 * ":scheme", ":status"; ":authority" is the Host header. Lookups are a
 * linear scan: messages carry tens of headers, not thousands.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static bool
name_is(const char *name, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && strncasecmp(name, lit, n) == 0;
}

static char **
pseudo_slot(gwf_memmsg *m, const char *name, size_t len)
{
    if (name_is(name, len, ":method"))
        return &m->method;
    if (name_is(name, len, ":path"))
        return &m->path;
    if (name_is(name, len, ":scheme"))
        return &m->scheme;
    return NULL;
}

/* ":authority" is the Host header; other pseudo names are handled above. */
static void
real_name(const char **name, size_t *len)
{
    if (name_is(*name, *len, ":authority")) {
        *name = "host";
        *len = 4;
    }
}

/* A field's texts: its own allocation, unless they live in the block. */
static void
field_free(gwf_memmsg_field *f)
{
    if (!f->in_block)
        free(f->name); /* and the value with it */
}

/* Does this read answer GWF_ERR_NO_MEMORY (fail_reads_of)? */
static bool
read_fails(const gwf_memmsg *m, const char *name, size_t len, size_t index)
{
    return m->fail_reads_of && index >= m->fail_reads_from &&
           name_is(name, len, m->fail_reads_of);
}

/* Does this write answer GWF_ERR_NO_MEMORY (fail_writes_of)? Pseudo
 * names as given, and ":authority" as "host" too. */
static bool
write_fails(const gwf_memmsg *m, const char *name, size_t len)
{
    if (!m->fail_writes_of)
        return false;
    if (name_is(name, len, m->fail_writes_of))
        return true;
    return name_is(name, len, ":authority") &&
           strcmp(m->fail_writes_of, "host") == 0;
}

static gwf_status
mm_get(void *msg, const char *name, size_t len, size_t index, gwf_view *value)
{
    gwf_memmsg *m = msg;
    if (read_fails(m, name, len, index))
        return GWF_ERR_NO_MEMORY;
    char **slot = pseudo_slot(m, name, len);
    if (slot) {
        if (!*slot || index > 0)
            return GWF_ERR_NOT_FOUND;
        value->ptr = *slot;
        value->len = strlen(*slot);
        return GWF_OK;
    }
    if (name_is(name, len, ":status")) {
        if (!m->status || index > 0)
            return GWF_ERR_NOT_FOUND;
        snprintf(m->status_text, sizeof m->status_text, "%03u",
                 m->status % 1000);
        value->ptr = m->status_text;
        value->len = 3;
        return GWF_OK;
    }
    real_name(&name, &len);
    if (read_fails(m, name, len, index)) /* "host" for ":authority" */
        return GWF_ERR_NO_MEMORY;
    for (size_t i = 0; i < m->count; i++) {
        gwf_memmsg_field *f = &m->fields[i];
        if (f->name_len == len && strncasecmp(f->name, name, len) == 0 &&
            index-- == 0) {
            value->ptr = f->value;
            value->len = f->value_len;
            return GWF_OK;
        }
    }
    return GWF_ERR_NOT_FOUND;
}

static size_t
mm_count(void *msg)
{
    return ((gwf_memmsg *)msg)->count;
}

static gwf_status
mm_at(void *msg, size_t index, gwf_view *name, gwf_view *value)
{
    gwf_memmsg *m = msg;
    if (index >= m->count)
        return GWF_ERR_NOT_FOUND;
    if (m->fail_reads_of) {
        /* The same value of the same name fails read by position. */
        const gwf_memmsg_field *f = &m->fields[index];
        size_t nth = 0;
        for (size_t i = 0; i < index; i++)
            nth += m->fields[i].name_len == f->name_len &&
                   strncasecmp(m->fields[i].name, f->name, f->name_len) == 0;
        if (read_fails(m, f->name, f->name_len, nth))
            return GWF_ERR_NO_MEMORY;
    }
    name->ptr = m->fields[index].name;
    name->len = m->fields[index].name_len;
    value->ptr = m->fields[index].value;
    value->len = m->fields[index].value_len;
    return GWF_OK;
}

static gwf_status
mm_remove(void *msg, const char *name, size_t len)
{
    gwf_memmsg *m = msg;
    if (len && name[0] == ':' && !name_is(name, len, ":authority"))
        return GWF_ERR_BAD_ARGUMENT;
    if (write_fails(m, name, len))
        return GWF_ERR_NO_MEMORY;
    real_name(&name, &len);
    size_t kept = 0;
    for (size_t i = 0; i < m->count; i++) {
        gwf_memmsg_field *f = &m->fields[i];
        if (f->name_len == len && strncasecmp(f->name, name, len) == 0) {
            field_free(f);
            continue;
        }
        m->fields[kept++] = *f;
    }
    m->count = kept;
    return GWF_OK;
}

static gwf_status
mm_add(void *msg, const char *name, size_t len, const char *value,
       size_t value_len)
{
    gwf_memmsg *m = msg;
    if (len == 0 || (name[0] == ':' && !name_is(name, len, ":authority")))
        return GWF_ERR_BAD_ARGUMENT;
    if (write_fails(m, name, len))
        return GWF_ERR_NO_MEMORY;
    real_name(&name, &len);
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        gwf_memmsg_field *fields = realloc(m->fields, cap * sizeof *fields);
        if (!fields)
            return GWF_ERR_NO_MEMORY;
        m->fields = fields;
        m->cap = cap;
    }
    gwf_memmsg_field *f = &m->fields[m->count];
    /* Name and value in one allocation, each NUL-terminated: a reply's
     * headers are copied on every request that sends one. */
    if (len > SIZE_MAX / 2 - 2 || value_len > SIZE_MAX / 2)
        return GWF_ERR_NO_MEMORY;
    char *block = malloc(len + value_len + 2);
    if (!block)
        return GWF_ERR_NO_MEMORY;
    memcpy(block, name, len);
    block[len] = '\0';
    if (value_len)
        memcpy(block + len + 1, value, value_len);
    block[len + 1 + value_len] = '\0';
    f->name = block;
    f->value = block + len + 1;
    f->name_len = len;
    f->value_len = value_len;
    f->in_block = false;
    m->count++;
    return GWF_OK;
}

static gwf_status
mm_set(void *msg, const char *name, size_t len, const char *value,
       size_t value_len)
{
    gwf_memmsg *m = msg;
    if (write_fails(m, name, len))
        return GWF_ERR_NO_MEMORY;
    char **slot = pseudo_slot(m, name, len);
    if (slot) {
        char *copy = rt_strndup(value, value_len);
        if (!copy)
            return GWF_ERR_NO_MEMORY;
        free(*slot);
        *slot = copy;
        return GWF_OK;
    }
    if (name_is(name, len, ":status")) {
        unsigned status = 0;
        for (size_t i = 0; i < value_len; i++) {
            if (value[i] < '0' || value[i] > '9')
                return GWF_ERR_BAD_ARGUMENT;
            status = status * 10 + (unsigned)(value[i] - '0');
            if (status > 999)
                return GWF_ERR_BAD_ARGUMENT;
        }
        if (status < 100)
            return GWF_ERR_BAD_ARGUMENT;
        m->status = status;
        return GWF_OK;
    }
    /* Drop every line of that name, then append the one value. */
    real_name(&name, &len);
    gwf_status st = mm_remove(m, name, len);
    if (st != GWF_OK)
        return st;
    return mm_add(m, name, len, value, value_len);
}

void
gwf_memmsg_clear(gwf_memmsg *m)
{
    for (size_t i = 0; i < m->count; i++)
        field_free(&m->fields[i]);
    free(m->fields);
    free(m->block);
    free(m->method);
    free(m->path);
    free(m->scheme);
    memset(m, 0, sizeof *m);
}

void
rt_memmsg_reset(gwf_memmsg *m)
{
    if (!m->count && !m->method && !m->path && !m->scheme) {
        /* Nothing to free (a stream's reply, mostly): the status only. */
        m->status = 0;
        memset(m->status_text, 0, sizeof m->status_text);
        return;
    }
    for (size_t i = 0; i < m->count; i++)
        field_free(&m->fields[i]);
    free(m->method);
    free(m->path);
    free(m->scheme);
    gwf_memmsg_field *fields = m->fields;
    size_t cap = m->cap;
    char *block = m->block;
    size_t block_cap = m->block_cap;
    memset(m, 0, sizeof *m);
    m->fields = fields;
    m->cap = cap;
    m->block = block;
    m->block_cap = block_cap;
}

gwf_status
rt_memmsg_load(gwf_memmsg *m, const gwf_header *headers, size_t count)
{
    if (m->count)
        return GWF_ERR_BAD_ARGUMENT; /* the block is reused: only when empty */
    /* Every text and its NUL, summed without wrapping: each length is
     * memory the caller holds, so none exceeds SIZE_MAX / 2. */
    size_t need = 0;
    for (size_t i = 0; i < count; i++) {
        size_t one = headers[i].name.len + headers[i].value.len + 2;
        if (headers[i].name.len > SIZE_MAX / 4 ||
            headers[i].value.len > SIZE_MAX / 4 || need > SIZE_MAX / 2 - one)
            return GWF_ERR_NO_MEMORY;
        need += one;
    }
    if (count > m->cap) {
        gwf_memmsg_field *fields = realloc(m->fields, count * sizeof *fields);
        if (!fields)
            return GWF_ERR_NO_MEMORY;
        m->fields = fields;
        m->cap = count;
    }
    if (need > m->block_cap) {
        /* Nothing points into the block: the message is empty. */
        char *block = malloc(need);
        if (!block)
            return GWF_ERR_NO_MEMORY;
        free(m->block);
        m->block = block;
        m->block_cap = need;
    }
    char *p = m->block;
    for (size_t i = 0; i < count; i++) {
        const gwf_header *h = &headers[i];
        gwf_memmsg_field *f = &m->fields[i];
        f->name = p;
        f->name_len = h->name.len;
        memcpy(p, h->name.ptr, h->name.len);
        p += h->name.len;
        *p++ = '\0';
        f->value = p;
        f->value_len = h->value.len;
        if (h->value.len)
            memcpy(p, h->value.ptr, h->value.len);
        p += h->value.len;
        *p++ = '\0';
        f->in_block = true;
    }
    m->count = count;
    return GWF_OK;
}

const gwf_message_ops gwf_memmsg_ops = {
    .get = mm_get,
    .count = mm_count,
    .at = mm_at,
    .set = mm_set,
    .add = mm_add,
    .remove = mm_remove,
};

/* Replace one of method, path, scheme with a copy of `src`'s. */
static int
copy_line_part(char **dst, const char *src)
{
    if (!src)
        return 0;
    char *copy = rt_strdup(src);
    if (!copy)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

int
gwf_memmsg_copy(gwf_memmsg *dst, const gwf_memmsg *src)
{
    if (copy_line_part(&dst->method, src->method) != 0 ||
        copy_line_part(&dst->path, src->path) != 0 ||
        copy_line_part(&dst->scheme, src->scheme) != 0)
        return -1;
    dst->status = src->status;
    for (size_t i = 0; i < src->count; i++) {
        const gwf_memmsg_field *f = &src->fields[i];
        if (mm_add(dst, f->name, f->name_len, f->value, f->value_len) != GWF_OK)
            return -1;
    }
    return 0;
}
