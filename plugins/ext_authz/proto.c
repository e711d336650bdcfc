/*
 * proto.c - see proto.h. It reads with the SDK's gwf_pb_next, which
 * checks every length against the end of its buffer before it moves: a
 * malformed message is an error, never a read out of bounds.
 *
 * google.protobuf.Struct is read with protobuf's merge rules, so that the
 * JSON says what any protobuf library would have read: a map key seen
 * again replaces the earlier entry, a Value's kinds are a oneof (the last
 * one wins; a struct_value or list_value after one of its own kind is
 * merged into it), a known field with another wire type is skipped like
 * an unknown field. What JSON cannot say is refused: a NaN or infinite
 * number, a string or key that is not UTF-8 (proto3 strings must be).
 */
#include "proto.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- google.protobuf.Struct -> JSON --------------------------------------
 *
 * Struct: fields = 1 (map<string, Value>: key = 1, value = 2).
 * Value: null_value = 1, number_value = 2 (double), string_value = 3,
 *   bool_value = 4, struct_value = 5, list_value = 6.
 * ListValue: values = 1. */

static int struct_fields(pb_struct_reader *r, const uint8_t *data, size_t len,
                         json_t *object, unsigned depth);
static int list_values(pb_struct_reader *r, const uint8_t *data, size_t len,
                       json_t *array, unsigned depth);

static int
struct_fail(pb_struct_reader *r, const char *why)
{
    r->why = why;
    return -1;
}

/* A double as JSON: an integer when it is one that a double holds
 * exactly (|x| <= 2^53), so that 42 reads as 42, else a real written
 * with 17 significant digits (exact). */
static int
number_json(pb_struct_reader *r, const uint8_t *p, json_t **out)
{
    uint64_t bits = 0;
    double d;

    for (int i = 7; i >= 0; i--)
        bits = bits << 8 | p[i];
    memcpy(&d, &bits, sizeof(d));
    if (!isfinite(d))
        return struct_fail(r, "dynamic_metadata has a number that is NaN "
                              "or infinite (not JSON)");
    if (d >= -9007199254740992.0 && d <= 9007199254740992.0 &&
        d == (double)(json_int_t)d)
        *out = json_integer((json_int_t)d);
    else
        *out = json_real(d);
    return 0;
}

/* Merge one encoded Value into `*value` (NULL: none yet). `depth` is
 * that of the Struct or ListValue holding it. */
static int
value_merge(pb_struct_reader *r, const uint8_t *data, size_t len,
            json_t **value, unsigned depth)
{
    gwf_pb_reader in = {data, data + len};
    gwf_pb_field f;
    int rc;

    while ((rc = gwf_pb_next(&in, &f)) == 1) {
        json_t *next = NULL;
        int is_struct = f.number == 5;

        if (f.number == 1 && f.wire == GWF_PB_VARINT) {
            next = json_null();
        } else if (f.number == 2 && f.wire == GWF_PB_FIXED64) {
            if (number_json(r, f.data, &next) != 0)
                return -1;
        } else if (f.number == 3 && f.wire == GWF_PB_LEN) {
            /* NULL also for text that is not UTF-8 */
            next = json_stringn((const char *)f.data, f.len);
            if (!next)
                return struct_fail(r, "dynamic_metadata has a string that "
                                      "is not UTF-8");
        } else if (f.number == 4 && f.wire == GWF_PB_VARINT) {
            next = json_boolean(f.varint != 0);
        } else if ((f.number == 5 || f.number == 6) && f.wire == GWF_PB_LEN) {
            if (depth >= PB_STRUCT_MAX_DEPTH)
                return struct_fail(r, "dynamic_metadata is nested deeper "
                                      "than 32 levels");
            if (!*value ||
                !(is_struct ? json_is_object(*value) : json_is_array(*value))) {
                next = is_struct ? json_object() : json_array();
                if (!next)
                    return struct_fail(r, "out of memory");
                json_decref(*value);
                *value = next;
            }
            if (is_struct ? struct_fields(r, f.data, f.len, *value, depth + 1)
                          : list_values(r, f.data, f.len, *value, depth + 1))
                return -1;
            continue;
        } else {
            continue; /* unknown, or a known number with another wire type */
        }
        if (!next)
            return struct_fail(r, "out of memory");
        json_decref(*value);
        *value = next;
    }
    return rc < 0 ? struct_fail(r, "dynamic_metadata is not a valid Struct")
                  : 0;
}

static int
count_value(pb_struct_reader *r)
{
    if (++r->values > PB_STRUCT_MAX_VALUES)
        return struct_fail(r, "dynamic_metadata has more than 16384 values");
    return 0;
}

static int
struct_fields(pb_struct_reader *r, const uint8_t *data, size_t len,
              json_t *object, unsigned depth)
{
    gwf_pb_reader in = {data, data + len};
    gwf_pb_field f;
    int rc;

    while ((rc = gwf_pb_next(&in, &f)) == 1) {
        gwf_pb_reader entry;
        gwf_pb_field ef;
        const char *key = "";
        size_t key_len = 0;
        json_t *value = NULL;
        int erc;

        if (f.number != 1 || f.wire != GWF_PB_LEN)
            continue;
        if (count_value(r) != 0)
            return -1;
        entry.p = f.data;
        entry.end = f.data + f.len;
        while ((erc = gwf_pb_next(&entry, &ef)) == 1) {
            if (ef.wire != GWF_PB_LEN)
                continue;
            if (ef.number == 1) {
                key = (const char *)ef.data;
                key_len = ef.len;
            } else if (ef.number == 2 &&
                       value_merge(r, ef.data, ef.len, &value, depth) != 0) {
                json_decref(value);
                return -1;
            }
        }
        if (erc < 0) {
            json_decref(value);
            return struct_fail(r, "dynamic_metadata is not a valid Struct");
        }
        /* A Value with no kind set reads as null. */
        if (!value && !(value = json_null()))
            return struct_fail(r, "out of memory");
        /* Steals `value` even when it fails (a key not UTF-8). */
        if (json_object_setn_new(object, key, key_len, value) != 0)
            return struct_fail(r, "dynamic_metadata has a key that is not "
                                  "UTF-8");
    }
    return rc < 0 ? struct_fail(r, "dynamic_metadata is not a valid Struct")
                  : 0;
}

static int
list_values(pb_struct_reader *r, const uint8_t *data, size_t len, json_t *array,
            unsigned depth)
{
    gwf_pb_reader in = {data, data + len};
    gwf_pb_field f;
    int rc;

    while ((rc = gwf_pb_next(&in, &f)) == 1) {
        json_t *value = NULL;

        if (f.number != 1 || f.wire != GWF_PB_LEN)
            continue;
        if (count_value(r) != 0)
            return -1;
        if (value_merge(r, f.data, f.len, &value, depth) != 0) {
            json_decref(value);
            return -1;
        }
        if (!value && !(value = json_null()))
            return struct_fail(r, "out of memory");
        if (json_array_append_new(array, value) != 0)
            return struct_fail(r, "out of memory");
    }
    return rc < 0 ? struct_fail(r, "dynamic_metadata is not a valid Struct")
                  : 0;
}

int
pb_struct_merge(pb_struct_reader *r, const uint8_t *data, size_t len)
{
    if (!r->object && !(r->object = json_object()))
        return struct_fail(r, "out of memory");
    return struct_fields(r, data, len, r->object, 1);
}

int
pb_struct_dump(pb_struct_reader *r, char **json, size_t *json_len)
{
    char *text;
    size_t len;

    *json = NULL;
    *json_len = 0;
    text = json_dumps(r->object, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return struct_fail(r, "out of memory");
    len = strlen(text);
    if (len > PB_STRUCT_MAX_JSON) {
        free(text);
        return struct_fail(r, "dynamic_metadata is over 1 MiB as JSON");
    }
    *json = text;
    *json_len = len;
    return 0;
}

void
pb_struct_reader_free(pb_struct_reader *r)
{
    json_decref(r->object);
    memset(r, 0, sizeof(*r));
}
