/*
 * proto.h - google.protobuf.Struct (a CheckResponse's dynamic_metadata)
 * read into JSON. The wire format itself (varints, length-delimited
 * fields, the bounded field reader, gRPC framing) is the SDK's
 * (gwf/sdk_proto.h), shared with rate_limit's RLS client. Hand-written
 * rather than libprotobuf-c: the two messages use a handful of fields,
 * and a reader that only ever looks at bytes within its bounds is easy
 * to fuzz.
 */
#ifndef EA_PROTO_H
#define EA_PROTO_H

#include <gwf/sdk.h>
#include <gwf/sdk_proto.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* google.protobuf.Struct, read into JSON. The bounds make the work and
 * the memory linear in the answer and small: a Struct or ListValue
 * nested deeper than PB_STRUCT_MAX_DEPTH, more than PB_STRUCT_MAX_VALUES
 * values in all, or JSON text longer than PB_STRUCT_MAX_JSON bytes is
 * refused like any malformed message. */
#define PB_STRUCT_MAX_DEPTH 32
#define PB_STRUCT_MAX_VALUES 16384
#define PB_STRUCT_MAX_JSON (1024 * 1024)

typedef struct pb_struct_reader {
    json_t *object;  /* the fields so far (owned), NULL before the first */
    size_t values;   /* counted against PB_STRUCT_MAX_VALUES */
    const char *why; /* after a failure: what was wrong (static) */
} pb_struct_reader;

/* Merge one encoded Struct into `r->object` (created on first use), as
 * protobuf merges a message field that occurs again: a key seen before
 * is replaced. 0, or -1 with `r->why` set: malformed (bad wire data, a
 * string or key that is not UTF-8, a number that is NaN or infinite,
 * too deep or too many values) or out of memory. */
int pb_struct_merge(pb_struct_reader *r, const uint8_t *data, size_t len);
/* The JSON text of `r->object` (compact, keys sorted) into `*json`
 * (malloc'ed, NUL-terminated; the caller frees it) and `*json_len`.
 * 0, or -1 with `r->why` set (too long, out of memory). */
int pb_struct_dump(pb_struct_reader *r, char **json, size_t *json_len);
/* Free what `r` holds; it may be reused after. */
void pb_struct_reader_free(pb_struct_reader *r);

#endif
