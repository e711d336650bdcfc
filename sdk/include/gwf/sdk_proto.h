/*
 * gwf/sdk_proto.h - the protobuf wire format and gRPC's message framing,
 * as much as a plugin that speaks a unary gRPC call needs.
 *
 * Plugins that call Envoy's services (ext_authz's Check, rate_limit's
 * RLS ShouldRateLimit) encode a request and decode an answer of a few
 * fields each. They do it by hand rather than with libprotobuf-c, and
 * share these primitives: a writer that appends varints, tags and
 * length-delimited fields to a gwf_strbuf, a reader that walks the
 * fields of a message, and the 5-byte frame around each gRPC message.
 * What a message means (its field numbers, what to keep) stays in the
 * plugin.
 *
 * The reader is for hostile input: it only ever looks at bytes between
 * its `p` and `end`, checks every length against what is left before it
 * moves, and calls malformed what protobuf would (a varint longer than
 * 10 bytes, field number 0 or above 2^32-1, a group or unknown wire type,
 * a field cut by the end of the buffer). It allocates nothing: a field's
 * bytes point into the caller's buffer.
 */
#ifndef GWF_SDK_PROTO_H
#define GWF_SDK_PROTO_H

#include <gwf/sdk.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wire types. Groups (3, 4) are not supported: the reader calls them
 * malformed. */
enum {
    GWF_PB_VARINT = 0,
    GWF_PB_FIXED64 = 1,
    GWF_PB_LEN = 2,
    GWF_PB_FIXED32 = 5
};

/* ---- writing -----------------------------------------------------------
 *
 * Every writer appends to `b` and, as gwf_strbuf does, sets `b->failed`
 * on allocation failure instead of returning it: check once at the end. */

/* `v` as a base-128 varint (1 to 10 bytes). */
void gwf_pb_put_varint(gwf_strbuf *b, uint64_t v);
/* The key of field `field` with wire type `wire`. */
void gwf_pb_put_tag(gwf_strbuf *b, uint32_t field, int wire);
/* A varint field (uint32, uint64, enum, bool). */
void gwf_pb_put_uint(gwf_strbuf *b, uint32_t field, uint64_t v);
/* A length-delimited field (string, bytes, a message already encoded):
 * tag, length, then `len` bytes of `data` (which may be NULL when `len`
 * is 0). */
void gwf_pb_put_bytes(gwf_strbuf *b, uint32_t field, const void *data,
                      size_t len);
/* A submessage built in its own buffer `sub` (not modified, not freed):
 * when `sub->failed`, `b->failed` is set and nothing is written; else
 * as gwf_pb_put_bytes with sub's bytes (an empty `sub` writes an empty
 * message). */
void gwf_pb_put_message(gwf_strbuf *b, uint32_t field, const gwf_strbuf *sub);
/* One entry of a map<string, string> field: a submessage of key = 1,
 * value = 2. */
void gwf_pb_put_map_entry(gwf_strbuf *b, uint32_t field, const char *key,
                          size_t key_len, const char *value, size_t value_len);

/* ---- reading ---------------------------------------------------------- */

/* The bytes still to read: set `p` and `end` to a message's first byte
 * and one past its last. A submessage is read with a reader of its own
 * over the field's `data` and `len`. */
typedef struct gwf_pb_reader {
    const uint8_t *p;
    const uint8_t *end;
} gwf_pb_reader;

/* One field as read. */
typedef struct gwf_pb_field {
    uint32_t number;     /* 1 .. 2^32-1 */
    int wire;            /* GWF_PB_VARINT, _FIXED64, _LEN or _FIXED32 */
    uint64_t varint;     /* GWF_PB_VARINT's value; 0 for the others */
    const uint8_t *data; /* _LEN, _FIXED64 (8 bytes), _FIXED32 (4 bytes): */
    size_t len;          /* the bytes, inside the reader's buffer; else */
                         /* NULL and 0 */
} gwf_pb_field;

/* Read the next field of `r` into `*f` and move past it: 1, 0 at the
 * end of the buffer, -1 if the rest is malformed (then `r` and `*f` are
 * unspecified: stop reading). */
int gwf_pb_next(gwf_pb_reader *r, gwf_pb_field *f);

/* ---- gRPC framing ------------------------------------------------------
 *
 * Each gRPC message travels as a 5-byte prefix (1 byte compressed flag,
 * 4 bytes big-endian length) and the message. gwf never compresses. */

/* Append `msg` to `out` as one uncompressed gRPC message. 0, or -1 with
 * nothing appended when `msg->failed` or `msg` is 4 GiB or more; -1 too
 * when `out` failed while appending (`out->failed` set). */
int gwf_grpc_frame(gwf_strbuf *out, const gwf_strbuf *msg);

/* What gwf_grpc_unframe found. */
enum {
    GWF_GRPC_FRAME_OK = 0,
    /* fewer than 5 bytes, or the compressed flag is not 0 */
    GWF_GRPC_FRAME_NOT_UNCOMPRESSED = -1,
    /* the prefix's length is not that of the bytes after it: the message
     * is cut, or another follows */
    GWF_GRPC_FRAME_BAD_LENGTH = -2
};

/* `body` (`len` bytes) as exactly one uncompressed gRPC message: on
 * GWF_GRPC_FRAME_OK, `*msg` points into `body` at the message and
 * `*msg_len` is its length; else one of the errors above. */
int gwf_grpc_unframe(const uint8_t *body, size_t len, const uint8_t **msg,
                     size_t *msg_len);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_PROTO_H */
