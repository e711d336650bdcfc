/*
 * gwf/sdk.h - small helpers a plugin author links with (libgwf-sdk).
 *
 * Everything here is a convenience over gwf/abi.h: NUL-terminated names
 * instead of {ptr, len}, printf-style logging and config errors, a
 * bounded string builder and a few parsers plugins keep needing
 * (durations, header names). Nothing here calls the host except through
 * the table the ABI hands over, so a plugin built with the SDK still
 * exports one symbol and links no host code.
 */
#ifndef GWF_SDK_H
#define GWF_SDK_H

#include <gwf/abi.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GWF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GWF_PRINTF(f, a)
#endif

/* A view of a C string. */
static inline gwf_view
gwf_cstr(const char *s)
{
    gwf_view v = {s, s ? strlen(s) : 0};
    return v;
}

/* 1 when the view equals the C string, byte for byte. */
int gwf_view_eq(gwf_view v, const char *s);
/* 1 when the view equals the C string, ASCII case-insensitively. */
int gwf_view_ieq(gwf_view v, const char *s);

/* printf-style logging through the host. Messages are cut to 1023
 * bytes. [any] / [worker] as the underlying host calls. */
void gwf_logf(gwf_instance *inst, gwf_log_level level, const char *fmt, ...)
    GWF_PRINTF(3, 4);
void gwf_stream_logf(gwf_stream *s, gwf_log_level level, const char *fmt, ...)
    GWF_PRINTF(3, 4);

/* printf-style config_error. [main] Returns GWF_ERR_BAD_ARGUMENT so that
 * `return gwf_config_errorf(inst, "status", "must be 200-599");` reads
 * naturally. */
gwf_status gwf_config_errorf(gwf_instance *inst, const char *field,
                             const char *fmt, ...) GWF_PRINTF(3, 4);

/* Header helpers with NUL-terminated names. */
static inline gwf_status
gwf_header_get(gwf_stream *s, gwf_message_kind which, const char *name,
               gwf_view *value)
{
    return s->host->header_get(s, which, name, strlen(name), 0, value);
}

static inline gwf_status
gwf_header_set(gwf_stream *s, gwf_message_kind which, const char *name,
               const char *value)
{
    return s->host->header_set(s, which, name, strlen(name), value,
                               strlen(value));
}

static inline gwf_status
gwf_header_add(gwf_stream *s, gwf_message_kind which, const char *name,
               const char *value)
{
    return s->host->header_add(s, which, name, strlen(name), value,
                               strlen(value));
}

static inline gwf_status
gwf_header_remove(gwf_stream *s, gwf_message_kind which, const char *name)
{
    return s->host->header_remove(s, which, name, strlen(name));
}

/* What a host's answer to a read says about the value: 1 it is there,
 * 0 it is absent (GWF_ERR_NOT_FOUND: the client's doing), -1 the host
 * could not answer (out of memory, ...). Not the same as absent: a
 * plugin that took it for absent would let through what its policy
 * refuses, so -1 fails closed (or goes to the plugin's failure mode). */
static inline int
gwf_presence(gwf_status st)
{
    if (st == GWF_OK)
        return 1;
    return st == GWF_ERR_NOT_FOUND ? 0 : -1;
}

/* Local reply with a C-string body and no extra headers. */
static inline gwf_status
gwf_reply(gwf_stream *s, uint32_t status, const char *body, const char *details)
{
    return s->host->send_local_reply(s, status, NULL, 0, body,
                                     body ? strlen(body) : 0, details);
}

/* Parse a duration such as "1.5s", "250ms", "2m", "1h", "100us", "10ns"
 * or a sum "1m30s" into nanoseconds. 0 on success, -1 if malformed or
 * out of range (above INT64_MAX ns, about 292 years). */
int gwf_parse_duration(const char *text, size_t len, uint64_t *ns);

/* `v` in decimal at `out` (1 to 20 digits, no NUL); returns how many.
 * Without printf: for numbers formatted on every request (keys, lengths,
 * header values). */
size_t gwf_u64_text(char out[20], uint64_t v);

/* Decode standard base64 with '=' padding (RFC 4648 section 4), as a
 * Kubernetes Secret's `data` holds it: the length must be a multiple of 4
 * and '=' may only end it. On success returns 0 with `*out` a malloc'd,
 * NUL-terminated copy (the caller frees it; it may hold NUL bytes before
 * `*out_len`); -1 if malformed or out of memory. */
int gwf_base64_decode(const char *in, size_t len, char **out, size_t *out_len);

/* 1 when `name` is a valid HTTP field name (RFC 9110 token). */
int gwf_is_header_name(const char *name, size_t len);
/* 1 when `value` is a valid HTTP field value (RFC 9110 field-value):
 * visible ASCII, SP, HTAB and obs-text (0x80-0xff); no other control
 * byte (0x00-0x1f but HTAB, 0x7f). Empty is valid. Leading and trailing
 * SP/HTAB are accepted: they are not part of the value, and the host
 * strips them when the value is set. The host refuses what this refuses
 * (GWF_ERR_BAD_ARGUMENT), so a plugin may check a peer's answer with it
 * before changing anything. */
int gwf_is_header_value(const char *value, size_t len);

/* 1 when `name` is hop-by-hop (RFC 9110 7.6.1): connection, keep-alive,
 * proxy-connection, te, trailer, transfer-encoding or upgrade, in any
 * case. A proxy never passes these from one connection to the next; a
 * plugin that turns a peer's answer into a response drops them, and the
 * headers the answer's Connection names (gwf_header_list_contains). */
int gwf_is_hop_by_hop_header(const char *name, size_t len);
/* 1 when the comma-separated list `list` (a Connection value) has the
 * element `token`, compared case-insensitively, white space around
 * elements and empty elements ignored. */
int gwf_header_list_contains(const char *list, size_t list_len,
                             const char *token, size_t token_len);

/* A growable string, for building messages and bodies. Start from
 * `gwf_strbuf b = {0};`. `data` is NUL-terminated once anything was
 * appended (NULL before). On allocation failure it stops growing and sets
 * `failed`; check once at the end. gwf_strbuf_free frees and resets. */
typedef struct gwf_strbuf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} gwf_strbuf;

void gwf_strbuf_append(gwf_strbuf *b, const char *data, size_t len);
void gwf_strbuf_appendf(gwf_strbuf *b, const char *fmt, ...) GWF_PRINTF(2, 3);
void gwf_strbuf_free(gwf_strbuf *b);

#ifdef __cplusplus
}
#endif

#endif /* GWF_SDK_H */
