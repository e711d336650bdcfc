/*
 * support.h - what several SDK tests share: a fake host whose slots record
 * what they were called with, and text to log.
 *
 * The logging, config-error and header helpers of gwf/sdk.h reach the
 * host only through the gwf_host table, so the tests hand them this fake
 * table. Each fake instance and stream carries a pointer to its test's
 * recorder: there is no state shared between tests.
 */
#ifndef GWF_TEST_SDK_SUPPORT_H
#define GWF_TEST_SDK_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <gwf/sdk.h>

/* Which host slot was called last. */
enum host_call {
    CALL_NONE,
    CALL_LOG,
    CALL_STREAM_LOG,
    CALL_CONFIG_ERROR,
    CALL_HEADER_GET,
    CALL_HEADER_SET,
    CALL_HEADER_ADD,
    CALL_HEADER_REMOVE,
    CALL_SEND_LOCAL_REPLY
};

/* Room for a whole log line and then some, so a cut is visible. */
#define RECORD_MAX 4096

struct record {
    enum host_call last_call;
    int calls;
    /* The lowest level log_enabled reports as on. */
    gwf_log_level min_level;
    /* What the last call was given. */
    gwf_instance *inst;
    gwf_stream *stream;
    gwf_log_level level;
    int field_was_null;
    char field[RECORD_MAX];
    char msg[RECORD_MAX];
    size_t msg_len;
    gwf_message_kind which;
    char name[RECORD_MAX];
    size_t name_len;
    char value[RECORD_MAX];
    size_t value_len;
    size_t index;
    uint32_t status;
    const gwf_header *headers;
    size_t header_count;
    int body_was_null;
    char body[RECORD_MAX];
    size_t body_len;
    const char *details;
    /* What header_get hands back. */
    gwf_view header_value;
};

struct fake_instance {
    gwf_instance base; /* first: the host slots cast back to this */
    struct record *rec;
};

struct fake_stream {
    gwf_stream base; /* first: the host slots cast back to this */
    struct record *rec;
    /* What stream_instance returns; NULL plays a dead handle. */
    gwf_instance *inst;
};

/* One test's world: a host table (tests may clear slots), an instance
 * and a live stream of that instance, and the recorder they share. */
struct fixture {
    gwf_host host;
    struct fake_instance inst;
    struct fake_stream stream;
    struct record rec;
};

/* cmocka setup and teardown: a fresh struct fixture in `*state`, whose
 * host has every slot above filled and logs every level. */
int setup_host(void **state);
int teardown_host(void **state);

/* A string of `len` bytes cycling through the alphabet, so that a cut in
 * the wrong place shows up as a mismatch, not just a wrong length.
 * malloc'd: the caller frees it. */
char *make_text(size_t len);

#endif
