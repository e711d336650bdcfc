/*
 * test_proto.c - the protobuf wire primitives and gRPC framing of
 * gwf/sdk_proto.h.
 *
 * Bytes are written out by hand from the protobuf encoding spec, so the
 * writer is checked against the format and not against the reader; the
 * reader is given every shape of cut or malformed input it must refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <gwf/sdk_proto.h>

#define READER(bytes)                                                          \
    {                                                                          \
        (bytes), (bytes) + sizeof(bytes)                                       \
    }

static void
assert_bytes(const gwf_strbuf *b, const uint8_t *want, size_t len)
{
    assert_false(b->failed);
    assert_int_equal(b->len, len);
    assert_memory_equal(b->data, want, len);
}

static void
test_varint_writer_uses_one_to_ten_bytes(void **state)
{
    (void)state;
    gwf_strbuf b = {0};
    static const uint8_t want[] = {
        0x00,                   /* 0 */
        0x7f,                   /* 127 */
        0x80, 0x01,             /* 128 */
        0xac, 0x02,             /* 300 */
        0xff, 0xff, 0xff, 0xff, /* UINT64_MAX: 10 bytes */
        0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    };

    gwf_pb_put_varint(&b, 0);
    gwf_pb_put_varint(&b, 127);
    gwf_pb_put_varint(&b, 128);
    gwf_pb_put_varint(&b, 300);
    gwf_pb_put_varint(&b, UINT64_MAX);
    assert_bytes(&b, want, sizeof(want));
    gwf_strbuf_free(&b);
}

static void
test_varint_reader_takes_ten_bytes_and_uint64_max(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0x01};
    gwf_pb_reader r = READER(in);
    gwf_pb_field f;

    assert_int_equal(gwf_pb_next(&r, &f), 1);
    assert_int_equal(f.number, 1);
    assert_int_equal(f.wire, GWF_PB_VARINT);
    assert_true(f.varint == UINT64_MAX);
    assert_null(f.data);
    assert_int_equal(f.len, 0);
    assert_int_equal(gwf_pb_next(&r, &f), 0);
}

static void
test_varint_of_eleven_bytes_is_malformed(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x08, 0x80, 0x80, 0x80, 0x80, 0x80,
                                 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    gwf_pb_reader r = READER(in);
    gwf_pb_field f;

    assert_int_equal(gwf_pb_next(&r, &f), -1);
}

static void
test_varint_cut_by_the_end_is_malformed(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x08, 0x80, 0x80};
    gwf_pb_reader r = READER(in);
    gwf_pb_field f;

    assert_int_equal(gwf_pb_next(&r, &f), -1);
}

static void
test_field_number_zero_and_above_uint32_are_malformed(void **state)
{
    (void)state;
    static const uint8_t zero[] = {0x00, 0x01};
    /* key (2^32 << 3) | 0: field number 2^32 */
    static const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01};
    /* key (2^32-1 << 3) | 0: the largest number, accepted */
    static const uint8_t max[] = {0xf8, 0xff, 0xff, 0xff, 0x7f, 0x05};
    gwf_pb_reader r0 = READER(zero), rb = READER(big), rm = READER(max);
    gwf_pb_field f;

    assert_int_equal(gwf_pb_next(&r0, &f), -1);
    assert_int_equal(gwf_pb_next(&rb, &f), -1);
    assert_int_equal(gwf_pb_next(&rm, &f), 1);
    assert_int_equal(f.number, UINT32_MAX);
    assert_int_equal(f.varint, 5);
}

static void
test_fixed_and_length_delimited_fields_point_into_the_buffer(void **state)
{
    (void)state;
    static const uint8_t in[] = {
        0x09, 1,    2,   3,   4,   5, 6, 7, 8, /* 1: fixed64 */
        0x15, 9,    10,  11,  12,              /* 2: fixed32 */
        0x1a, 0x03, 'a', 'b', 'c',             /* 3: len 3 */
        0x22, 0x00,                            /* 4: len 0 */
    };
    gwf_pb_reader r = READER(in);
    gwf_pb_field f;

    assert_int_equal(gwf_pb_next(&r, &f), 1);
    assert_int_equal(f.wire, GWF_PB_FIXED64);
    assert_ptr_equal(f.data, in + 1);
    assert_int_equal(f.len, 8);
    assert_int_equal(gwf_pb_next(&r, &f), 1);
    assert_int_equal(f.number, 2);
    assert_int_equal(f.wire, GWF_PB_FIXED32);
    assert_ptr_equal(f.data, in + 10);
    assert_int_equal(f.len, 4);
    assert_int_equal(gwf_pb_next(&r, &f), 1);
    assert_int_equal(f.number, 3);
    assert_int_equal(f.wire, GWF_PB_LEN);
    assert_ptr_equal(f.data, in + 16);
    assert_int_equal(f.len, 3);
    assert_int_equal(f.varint, 0);
    assert_int_equal(gwf_pb_next(&r, &f), 1);
    assert_int_equal(f.number, 4);
    assert_int_equal(f.len, 0);
    assert_int_equal(gwf_pb_next(&r, &f), 0);
}

static void
test_groups_and_unknown_wire_types_are_malformed(void **state)
{
    (void)state;
    static const uint8_t wires[] = {3, 4, 6, 7};

    for (size_t i = 0; i < sizeof(wires); i++) {
        uint8_t in[2] = {(uint8_t)(0x08 | wires[i]), 0x00};
        gwf_pb_reader r = READER(in);
        gwf_pb_field f;
        assert_int_equal(gwf_pb_next(&r, &f), -1);
    }
}

static void
test_cut_fields_are_malformed(void **state)
{
    (void)state;
    static const uint8_t len_cut[] = {0x0a, 0x04, 'a', 'b', 'c'};
    static const uint8_t len_missing[] = {0x0a};
    static const uint8_t fixed64_cut[] = {0x09, 1, 2, 3, 4, 5, 6, 7};
    static const uint8_t fixed32_cut[] = {0x0d, 1, 2, 3};
    /* a length of 2^64-1: must not wrap the pointer */
    static const uint8_t len_huge[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0x01, 'x'};
    gwf_pb_reader r1 = READER(len_cut), r2 = READER(len_missing),
                  r3 = READER(fixed64_cut), r4 = READER(fixed32_cut),
                  r5 = READER(len_huge);
    gwf_pb_field f;

    assert_int_equal(gwf_pb_next(&r1, &f), -1);
    assert_int_equal(gwf_pb_next(&r2, &f), -1);
    assert_int_equal(gwf_pb_next(&r3, &f), -1);
    assert_int_equal(gwf_pb_next(&r4, &f), -1);
    assert_int_equal(gwf_pb_next(&r5, &f), -1);
}

static void
test_empty_reader_is_at_the_end(void **state)
{
    (void)state;
    gwf_pb_reader r = {NULL, NULL};
    gwf_pb_field f;

    assert_int_equal(gwf_pb_next(&r, &f), 0);
}

static void
test_field_writers_encode_tag_and_value(void **state)
{
    (void)state;
    gwf_strbuf b = {0};
    static const uint8_t want[] = {
        0x08, 0x96, 0x01,      /* 1: 150 */
        0x12, 0x02, 'h',  'i', /* 2: "hi" */
        0x1a, 0x00,            /* 3: "" (NULL data) */
        0x80, 0x01, 0x00,      /* 16: varint 0 (two-byte key) */
        0x85, 0x01,            /* tag 16, fixed32 */
    };

    gwf_pb_put_uint(&b, 1, 150);
    gwf_pb_put_bytes(&b, 2, "hi", 2);
    gwf_pb_put_bytes(&b, 3, NULL, 0);
    gwf_pb_put_uint(&b, 16, 0);
    gwf_pb_put_tag(&b, 16, GWF_PB_FIXED32);
    assert_bytes(&b, want, sizeof(want));
    gwf_strbuf_free(&b);
}

static void
test_nested_writers_read_back_level_by_level(void **state)
{
    (void)state;
    gwf_strbuf inner = {0}, middle = {0}, outer = {0}, empty = {0};
    static const uint8_t want[] = {
        0x0a, 0x06, /* 1: middle */
        0x12, 0x04, /*   2: inner */
        0x18, 0x07, /*     3: 7 */
        0x22, 0x00, /*     4: empty message */
        0x2a, 0x0a, /* 5: map entry */
        0x0a, 0x03, 'k', 'e', 'y', 0x12, 0x03, 'v', 'a', 'l',
    };
    gwf_pb_reader r, rm, ri;
    gwf_pb_field f, fm, fi;

    gwf_pb_put_uint(&inner, 3, 7);
    gwf_pb_put_message(&inner, 4, &empty);
    gwf_pb_put_message(&middle, 2, &inner);
    gwf_pb_put_message(&outer, 1, &middle);
    gwf_pb_put_map_entry(&outer, 5, "key", 3, "val", 3);
    assert_bytes(&outer, want, sizeof(want));

    r.p = (const uint8_t *)outer.data;
    r.end = r.p + outer.len;
    assert_int_equal(gwf_pb_next(&r, &f), 1);
    rm.p = f.data;
    rm.end = f.data + f.len;
    assert_int_equal(gwf_pb_next(&rm, &fm), 1);
    assert_int_equal(fm.number, 2);
    ri.p = fm.data;
    ri.end = fm.data + fm.len;
    assert_int_equal(gwf_pb_next(&ri, &fi), 1);
    assert_int_equal(fi.varint, 7);
    assert_int_equal(gwf_pb_next(&ri, &fi), 1);
    assert_int_equal(fi.number, 4);
    assert_int_equal(fi.len, 0);
    assert_int_equal(gwf_pb_next(&ri, &fi), 0);
    assert_int_equal(gwf_pb_next(&rm, &fm), 0);
    assert_int_equal(gwf_pb_next(&r, &f), 1);
    assert_int_equal(f.number, 5);
    assert_int_equal(gwf_pb_next(&r, &f), 0);
    gwf_strbuf_free(&inner);
    gwf_strbuf_free(&middle);
    gwf_strbuf_free(&outer);
}

static void
test_failed_submessage_fails_its_parent_and_writes_nothing(void **state)
{
    (void)state;
    gwf_strbuf sub = {0}, parent = {0};

    gwf_pb_put_uint(&parent, 1, 1);
    sub.failed = 1;
    gwf_pb_put_message(&parent, 2, &sub);
    assert_true(parent.failed);
    assert_int_equal(parent.len, 2);
    gwf_strbuf_free(&parent);
}

static void
test_frame_prefixes_flag_zero_and_big_endian_length(void **state)
{
    (void)state;
    gwf_strbuf msg = {0}, out = {0}, none = {0};
    static const uint8_t want[] = {0, 0, 0, 0, 2, 0x08, 0x01, 0, 0, 0, 0, 0};
    uint8_t *big;

    gwf_pb_put_uint(&msg, 1, 1);
    assert_int_equal(gwf_grpc_frame(&out, &msg), 0);
    assert_int_equal(gwf_grpc_frame(&out, &none), 0);
    assert_bytes(&out, want, sizeof(want));
    gwf_strbuf_free(&out);

    /* 0x010203 bytes: every byte of the length is placed */
    big = calloc(1, 0x010203);
    assert_non_null(big);
    gwf_strbuf_free(&msg);
    gwf_strbuf_append(&msg, (const char *)big, 0x010203);
    assert_int_equal(gwf_grpc_frame(&out, &msg), 0);
    assert_int_equal(out.len, 5 + 0x010203);
    assert_memory_equal(out.data, "\x00\x00\x01\x02\x03", 5);
    free(big);
    gwf_strbuf_free(&msg);
    gwf_strbuf_free(&out);
}

static void
test_frame_of_a_failed_message_fails_and_appends_nothing(void **state)
{
    (void)state;
    gwf_strbuf msg = {0}, out = {0};

    msg.failed = 1;
    assert_int_equal(gwf_grpc_frame(&out, &msg), -1);
    assert_int_equal(out.len, 0);
    assert_false(out.failed);
}

static void
test_unframe_returns_the_one_message(void **state)
{
    (void)state;
    static const uint8_t in[] = {0, 0, 0, 0, 2, 0x08, 0x01};
    static const uint8_t empty[] = {0, 0, 0, 0, 0};
    const uint8_t *msg = NULL;
    size_t len = 99;

    assert_int_equal(gwf_grpc_unframe(in, sizeof(in), &msg, &len),
                     GWF_GRPC_FRAME_OK);
    assert_ptr_equal(msg, in + 5);
    assert_int_equal(len, 2);
    assert_int_equal(gwf_grpc_unframe(empty, sizeof(empty), &msg, &len),
                     GWF_GRPC_FRAME_OK);
    assert_int_equal(len, 0);
}

static void
test_unframe_refuses_short_compressed_cut_and_trailing(void **state)
{
    (void)state;
    static const uint8_t short_prefix[] = {0, 0, 0, 0};
    static const uint8_t compressed[] = {1, 0, 0, 0, 1, 0x08};
    static const uint8_t cut[] = {0, 0, 0, 0, 3, 0x08, 0x01};
    static const uint8_t trailing[] = {0, 0, 0, 0, 1, 0x08, 0x01};
    /* a length of 2^32-1: no overflow in the comparison */
    static const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0xff, 0x08};
    const uint8_t *msg = NULL;
    size_t len = 0;

    assert_int_equal(
        gwf_grpc_unframe(short_prefix, sizeof(short_prefix), &msg, &len),
        GWF_GRPC_FRAME_NOT_UNCOMPRESSED);
    assert_int_equal(
        gwf_grpc_unframe(compressed, sizeof(compressed), &msg, &len),
        GWF_GRPC_FRAME_NOT_UNCOMPRESSED);
    assert_int_equal(gwf_grpc_unframe(cut, sizeof(cut), &msg, &len),
                     GWF_GRPC_FRAME_BAD_LENGTH);
    assert_int_equal(gwf_grpc_unframe(trailing, sizeof(trailing), &msg, &len),
                     GWF_GRPC_FRAME_BAD_LENGTH);
    assert_int_equal(gwf_grpc_unframe(huge, sizeof(huge), &msg, &len),
                     GWF_GRPC_FRAME_BAD_LENGTH);
    assert_null(msg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_writer_uses_one_to_ten_bytes),
        cmocka_unit_test(test_varint_reader_takes_ten_bytes_and_uint64_max),
        cmocka_unit_test(test_varint_of_eleven_bytes_is_malformed),
        cmocka_unit_test(test_varint_cut_by_the_end_is_malformed),
        cmocka_unit_test(test_field_number_zero_and_above_uint32_are_malformed),
        cmocka_unit_test(
            test_fixed_and_length_delimited_fields_point_into_the_buffer),
        cmocka_unit_test(test_groups_and_unknown_wire_types_are_malformed),
        cmocka_unit_test(test_cut_fields_are_malformed),
        cmocka_unit_test(test_empty_reader_is_at_the_end),
        cmocka_unit_test(test_field_writers_encode_tag_and_value),
        cmocka_unit_test(test_nested_writers_read_back_level_by_level),
        cmocka_unit_test(
            test_failed_submessage_fails_its_parent_and_writes_nothing),
        cmocka_unit_test(test_frame_prefixes_flag_zero_and_big_endian_length),
        cmocka_unit_test(
            test_frame_of_a_failed_message_fails_and_appends_nothing),
        cmocka_unit_test(test_unframe_returns_the_one_message),
        cmocka_unit_test(
            test_unframe_refuses_short_compressed_cut_and_trailing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
