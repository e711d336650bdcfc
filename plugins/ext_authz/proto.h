/*
 * proto.h - the protobuf wire format, as much as the Check call needs:
 * varints and length-delimited fields to encode a CheckRequest, and a
 * bounded reader to decode a CheckResponse. Hand-written rather than
 * libprotobuf-c: the two messages use a handful of fields, and a reader
 * that only ever looks at bytes within its bounds is easy to fuzz.
 */
#ifndef EA_PROTO_H
#define EA_PROTO_H

#include <gwf/sdk.h>
#include <stddef.h>
#include <stdint.h>

enum { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2, PB_FIXED32 = 5 };

void pb_put_varint(gwf_strbuf *b, uint64_t v);
void pb_put_uint(gwf_strbuf *b, uint32_t field, uint64_t v);
void pb_put_bytes(gwf_strbuf *b, uint32_t field, const void *data, size_t len);
/* A map<string,string> entry. */
void pb_put_map_entry(gwf_strbuf *b, uint32_t field, const char *key,
                      size_t key_len, const char *value, size_t value_len);

typedef struct pb_reader {
    const uint8_t *p;
    const uint8_t *end;
} pb_reader;

typedef struct pb_field {
    uint32_t number;
    int wire;
    uint64_t varint;     /* PB_VARINT */
    const uint8_t *data; /* PB_LEN */
    size_t len;
} pb_field;

/* The next field: 1, 0 at the end, -1 if malformed. */
int pb_next(pb_reader *r, pb_field *f);

#endif
