/*
 * proto.c - gwf/sdk_proto.h: protobuf wire-format primitives and gRPC's
 * message framing, shared by the plugins that call Envoy's gRPC services.
 *
 * The reader is the part that sees hostile bytes, so it is written to be
 * checked by eye and by the fuzzers (fuzz/fuzz_ext_authz.c,
 * fuzz/fuzz_rls.c): a varint stops at 10 bytes, and every length is
 * compared with what is left of the buffer, as an unsigned difference,
 * before the reader moves, so no addition can overflow and no read can
 * pass `end`.
 */
#include <gwf/sdk_proto.h>

/* ---- writing ---------------------------------------------------------- */

void
gwf_pb_put_varint(gwf_strbuf *b, uint64_t v)
{
    char out[10];
    size_t n = 0;

    do {
        out[n] = (char)(v & 0x7f);
        v >>= 7;
        if (v)
            out[n] = (char)(out[n] | 0x80);
        n++;
    } while (v);
    gwf_strbuf_append(b, out, n);
}

void
gwf_pb_put_tag(gwf_strbuf *b, uint32_t field, int wire)
{
    gwf_pb_put_varint(b, ((uint64_t)field << 3) | (uint64_t)(wire & 7));
}

void
gwf_pb_put_uint(gwf_strbuf *b, uint32_t field, uint64_t v)
{
    gwf_pb_put_tag(b, field, GWF_PB_VARINT);
    gwf_pb_put_varint(b, v);
}

void
gwf_pb_put_bytes(gwf_strbuf *b, uint32_t field, const void *data, size_t len)
{
    gwf_pb_put_tag(b, field, GWF_PB_LEN);
    gwf_pb_put_varint(b, len);
    if (len)
        gwf_strbuf_append(b, data, len);
}

void
gwf_pb_put_message(gwf_strbuf *b, uint32_t field, const gwf_strbuf *sub)
{
    if (sub->failed)
        b->failed = 1;
    else
        gwf_pb_put_bytes(b, field, sub->data, sub->len);
}

void
gwf_pb_put_map_entry(gwf_strbuf *b, uint32_t field, const char *key,
                     size_t key_len, const char *value, size_t value_len)
{
    gwf_strbuf entry = {0};

    gwf_pb_put_bytes(&entry, 1, key, key_len);
    gwf_pb_put_bytes(&entry, 2, value, value_len);
    gwf_pb_put_message(b, field, &entry);
    gwf_strbuf_free(&entry);
}

/* ---- reading ---------------------------------------------------------- */

/* At most 10 bytes (shift 0, 7, ..., 63): an 11th is malformed, as in
 * protobuf. The bits of a 10th byte beyond 64 are dropped, as protobuf
 * does. */
static int
get_varint(gwf_pb_reader *r, uint64_t *v)
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
gwf_pb_next(gwf_pb_reader *r, gwf_pb_field *f)
{
    uint64_t key, n;

    if (r->p >= r->end)
        return 0;
    if (get_varint(r, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->varint = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case GWF_PB_VARINT:
        return get_varint(r, &f->varint) == 0 ? 1 : -1;
    case GWF_PB_FIXED64:
        n = 8;
        break;
    case GWF_PB_FIXED32:
        n = 4;
        break;
    case GWF_PB_LEN:
        if (get_varint(r, &n) != 0)
            return -1;
        break;
    default:
        return -1; /* groups and unknown wire types */
    }
    if (n > (uint64_t)(r->end - r->p))
        return -1;
    f->data = r->p;
    f->len = (size_t)n;
    r->p += n;
    return 1;
}

/* ---- gRPC framing ----------------------------------------------------- */

int
gwf_grpc_frame(gwf_strbuf *out, const gwf_strbuf *msg)
{
    if (msg->failed || msg->len > UINT32_MAX)
        return -1;
    char prefix[5] = {0, (char)(msg->len >> 24), (char)(msg->len >> 16),
                      (char)(msg->len >> 8), (char)msg->len};
    gwf_strbuf_append(out, prefix, 5);
    if (msg->len)
        gwf_strbuf_append(out, msg->data, msg->len);
    return out->failed ? -1 : 0;
}

int
gwf_grpc_unframe(const uint8_t *body, size_t len, const uint8_t **msg,
                 size_t *msg_len)
{
    size_t n;

    if (len < 5 || body[0] != 0)
        return GWF_GRPC_FRAME_NOT_UNCOMPRESSED;
    n = ((size_t)body[1] << 24) | ((size_t)body[2] << 16) |
        ((size_t)body[3] << 8) | body[4];
    if (n != len - 5)
        return GWF_GRPC_FRAME_BAD_LENGTH;
    *msg = body + 5;
    *msg_len = n;
    return GWF_GRPC_FRAME_OK;
}
