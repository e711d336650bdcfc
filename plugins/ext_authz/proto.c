/*
 * proto.c - see proto.h. The reader checks every length against the end
 * of its buffer before it moves: a malformed message is an error, never a
 * read out of bounds.
 */
#include "proto.h"

void
pb_put_varint(gwf_strbuf *b, uint64_t v)
{
    char buf[10];
    size_t n = 0;

    do {
        buf[n] = (char)(v & 0x7f);
        v >>= 7;
        if (v)
            buf[n] |= (char)0x80;
        n++;
    } while (v);
    gwf_strbuf_append(b, buf, n);
}

static void
put_tag(gwf_strbuf *b, uint32_t field, int wire)
{
    pb_put_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void
pb_put_uint(gwf_strbuf *b, uint32_t field, uint64_t v)
{
    put_tag(b, field, PB_VARINT);
    pb_put_varint(b, v);
}

void
pb_put_bytes(gwf_strbuf *b, uint32_t field, const void *data, size_t len)
{
    put_tag(b, field, PB_LEN);
    pb_put_varint(b, len);
    if (len)
        gwf_strbuf_append(b, data, len);
}

void
pb_put_map_entry(gwf_strbuf *b, uint32_t field, const char *key, size_t key_len,
                 const char *value, size_t value_len)
{
    gwf_strbuf entry = {0};

    pb_put_bytes(&entry, 1, key, key_len);
    pb_put_bytes(&entry, 2, value, value_len);
    if (entry.failed)
        b->failed = 1;
    else
        pb_put_bytes(b, field, entry.data, entry.len);
    gwf_strbuf_free(&entry);
}

static int
get_varint(pb_reader *r, uint64_t *v)
{
    uint64_t out = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t byte;

        if (r->p >= r->end)
            return -1;
        byte = *r->p++;
        out |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = out;
            return 0;
        }
    }
    return -1;
}

int
pb_next(pb_reader *r, pb_field *f)
{
    uint64_t key, len;

    if (r->p >= r->end)
        return 0;
    if (get_varint(r, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->data = NULL;
    f->len = 0;
    f->varint = 0;
    switch (f->wire) {
    case PB_VARINT:
        return get_varint(r, &f->varint) == 0 ? 1 : -1;
    case PB_FIXED64:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 1;
    case PB_FIXED32:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 1;
    case PB_LEN:
        if (get_varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    default:
        return -1; /* groups and unknown wire types */
    }
}
