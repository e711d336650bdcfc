/*
 * support.c - the fake host of the SDK tests (support.h): every slot the
 * SDK's helpers call records its arguments in the test's struct record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "support.h"

static struct record *
inst_record(gwf_instance *inst)
{
    return ((struct fake_instance *)inst)->rec;
}

static struct record *
stream_record(gwf_stream *s)
{
    return ((struct fake_stream *)s)->rec;
}

static void
copy_bytes(char *dst, size_t *dst_len, const char *src, size_t len)
{
    assert_true(len < RECORD_MAX);
    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
    if (dst_len)
        *dst_len = len;
}

static void
note_call(struct record *rec, enum host_call call)
{
    rec->last_call = call;
    rec->calls++;
}

static void
fake_log(gwf_instance *inst, gwf_log_level level, const char *msg, size_t len)
{
    struct record *rec = inst_record(inst);

    note_call(rec, CALL_LOG);
    rec->inst = inst;
    rec->level = level;
    copy_bytes(rec->msg, &rec->msg_len, msg, len);
}

static void
fake_stream_log(gwf_stream *s, gwf_log_level level, const char *msg, size_t len)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_STREAM_LOG);
    rec->stream = s;
    rec->level = level;
    copy_bytes(rec->msg, &rec->msg_len, msg, len);
}

static int32_t
fake_log_enabled(gwf_instance *inst, gwf_log_level level)
{
    return level >= inst_record(inst)->min_level;
}

static void
fake_config_error(gwf_instance *inst, const char *field, const char *msg,
                  size_t len)
{
    struct record *rec = inst_record(inst);

    note_call(rec, CALL_CONFIG_ERROR);
    rec->inst = inst;
    rec->field_was_null = field == NULL;
    if (field)
        copy_bytes(rec->field, NULL, field, strlen(field));
    copy_bytes(rec->msg, &rec->msg_len, msg, len);
}

static gwf_instance *
fake_stream_instance(gwf_stream *s)
{
    return ((struct fake_stream *)s)->inst;
}

static gwf_status
fake_header_get(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len, size_t index, gwf_view *value)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_HEADER_GET);
    rec->stream = s;
    rec->which = which;
    rec->index = index;
    copy_bytes(rec->name, &rec->name_len, name, name_len);
    *value = rec->header_value;
    return GWF_OK;
}

static gwf_status
fake_header_set(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len, const char *value, size_t value_len)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_HEADER_SET);
    rec->stream = s;
    rec->which = which;
    copy_bytes(rec->name, &rec->name_len, name, name_len);
    copy_bytes(rec->value, &rec->value_len, value, value_len);
    return GWF_OK;
}

static gwf_status
fake_header_add(gwf_stream *s, gwf_message_kind which, const char *name,
                size_t name_len, const char *value, size_t value_len)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_HEADER_ADD);
    rec->stream = s;
    rec->which = which;
    copy_bytes(rec->name, &rec->name_len, name, name_len);
    copy_bytes(rec->value, &rec->value_len, value, value_len);
    /* Distinct from the other slots, to see the status passed back. */
    return GWF_ERR_LIMIT;
}

static gwf_status
fake_header_remove(gwf_stream *s, gwf_message_kind which, const char *name,
                   size_t name_len)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_HEADER_REMOVE);
    rec->stream = s;
    rec->which = which;
    copy_bytes(rec->name, &rec->name_len, name, name_len);
    return GWF_OK;
}

static gwf_status
fake_send_local_reply(gwf_stream *s, uint32_t status, const gwf_header *headers,
                      size_t header_count, const char *body, size_t body_len,
                      const char *details)
{
    struct record *rec = stream_record(s);

    note_call(rec, CALL_SEND_LOCAL_REPLY);
    rec->stream = s;
    rec->status = status;
    rec->headers = headers;
    rec->header_count = header_count;
    rec->body_was_null = body == NULL;
    if (body)
        copy_bytes(rec->body, &rec->body_len, body, body_len);
    else
        rec->body_len = body_len;
    rec->details = details;
    return GWF_OK;
}

int
setup_host(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    f->host.size = sizeof(f->host);
    f->host.abi_major = GWF_ABI_VERSION_MAJOR;
    f->host.abi_minor = GWF_ABI_VERSION_MINOR;
    f->host.name = "sdk-test";
    f->host.log = fake_log;
    f->host.stream_log = fake_stream_log;
    f->host.log_enabled = fake_log_enabled;
    f->host.config_error = fake_config_error;
    f->host.stream_instance = fake_stream_instance;
    f->host.header_get = fake_header_get;
    f->host.header_set = fake_header_set;
    f->host.header_add = fake_header_add;
    f->host.header_remove = fake_header_remove;
    f->host.send_local_reply = fake_send_local_reply;
    f->inst.base.host = &f->host;
    f->inst.rec = &f->rec;
    f->stream.base.host = &f->host;
    f->stream.rec = &f->rec;
    f->stream.inst = &f->inst.base;
    f->rec.min_level = GWF_LOG_DEBUG;
    *state = f;
    return 0;
}

int
teardown_host(void **state)
{
    free(*state);
    return 0;
}

/* A string of `len` bytes cycling through the alphabet, so that a cut in
 * the wrong place shows up as a mismatch, not just a wrong length. */
char *
make_text(size_t len)
{
    char *text = malloc(len + 1);

    assert_non_null(text);
    for (size_t i = 0; i < len; i++)
        text[i] = (char)('a' + i % 26);
    text[len] = '\0';
    return text;
}
