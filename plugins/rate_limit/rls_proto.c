/*
 * rls_proto.c - Envoy's rate limit service protocol (RLS v3) on the wire:
 * the RateLimitRequest the plugin sends and the RateLimitResponse it
 * reads, encoded by hand with the public field numbers of
 * envoy.service.ratelimit.v3 and envoy.extensions.common.ratelimit.v3:
 *
 *   RateLimitRequest: domain = 1, descriptors = 2 (RateLimitDescriptor:
 *     entries = 1 (Entry: key = 1, value = 2)), hits_addend = 3
 *   RateLimitResponse: overall_code = 1 (UNKNOWN 0, OK 1, OVER_LIMIT 2),
 *     statuses = 2 (DescriptorStatus: code = 1, current_limit = 2
 *       (RateLimit: requests_per_unit = 1, unit = 2, name = 3),
 *       limit_remaining = 3, duration_until_reset = 4 (Duration:
 *       seconds = 1)),
 *     response_headers_to_add = 3, request_headers_to_add = 4
 *       (HeaderValue: key = 1, value = 2, raw_value = 3),
 *     raw_body = 5
 *
 * Hand-written rather than generated: two messages and a dozen fields,
 * on the SDK's wire primitives and gRPC framing (gwf/sdk_proto.h), whose
 * reader only ever looks at bytes within its bounds and is easy to fuzz
 * (fuzz/fuzz_rls.c). What the answer holds is bounded (statuses,
 * headers, bytes: rate_limit.h) so that a hostile service costs little;
 * a header the host would refuse makes the whole answer malformed, which
 * failOpen then decides, as any other failure of the service.
 */
#include "rate_limit.h"

#include <gwf/sdk_proto.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
rl_rls_encode(gwf_strbuf *out, const char *domain, const rl_entry *entries,
              size_t count, uint32_t hits)
{
    gwf_strbuf msg = {0}, desc = {0}, entry = {0};

    gwf_pb_put_bytes(&msg, 1, domain, strlen(domain));
    for (size_t i = 0; i < count; i++) {
        entry.len = 0;
        gwf_pb_put_bytes(&entry, 1, entries[i].key, entries[i].key_len);
        gwf_pb_put_bytes(&entry, 2, entries[i].value, entries[i].value_len);
        gwf_pb_put_message(&desc, 1, &entry);
    }
    gwf_pb_put_message(&msg, 2, &desc);
    gwf_pb_put_uint(&msg, 3, hits);
    if (desc.failed || entry.failed || gwf_grpc_frame(out, &msg) != 0)
        out->failed = 1;
    gwf_strbuf_free(&msg);
    gwf_strbuf_free(&desc);
    gwf_strbuf_free(&entry);
}

/* ---- reading ---------------------------------------------------------- */

static char *
dup_bytes(const uint8_t *data, size_t len)
{
    char *out = malloc(len + 1);

    if (out) {
        if (len)
            memcpy(out, data, len);
        out[len] = '\0';
    }
    return out;
}

static uint32_t
unit_window(uint64_t unit)
{
    switch (unit) {
    case 1:
        return 1; /* SECOND */
    case 2:
        return 60; /* MINUTE */
    case 3:
        return 3600; /* HOUR */
    case 4:
        return 86400; /* DAY */
    case 5:
        return 30 * 86400; /* MONTH, as Envoy counts it */
    case 6:
        return 365 * 86400; /* YEAR */
    case 7:
        return 7 * 86400; /* WEEK */
    default:
        return 0;
    }
}

static int
decode_limit(const gwf_pb_field *f, rl_rls_status *st, rl_rls_answer *a)
{
    gwf_pb_reader r = {f->data, f->data + f->len};
    gwf_pb_field g;
    int rc;

    st->has_limit = 1;
    while ((rc = gwf_pb_next(&r, &g)) == 1) {
        if (g.number == 1 && g.wire == GWF_PB_VARINT)
            st->requests_per_unit = (uint32_t)g.varint;
        else if (g.number == 2 && g.wire == GWF_PB_VARINT)
            st->window_seconds = unit_window(g.varint);
        else if (g.number == 3 && g.wire == GWF_PB_LEN) {
            free(st->name); /* a later occurrence replaces it */
            st->name = NULL;
            /* It is written into x-ratelimit-limit. */
            if (!gwf_is_header_value((const char *)g.data, g.len) ||
                memchr(g.data, '"', g.len)) {
                a->error = "current_limit.name cannot be a header value";
                return -1;
            }
            st->name = dup_bytes(g.data, g.len);
            if (!st->name) {
                a->error = "out of memory";
                return -1;
            }
        }
    }
    if (rc < 0)
        a->error = "malformed current_limit";
    return rc;
}

static int
decode_status(const gwf_pb_field *f, rl_rls_answer *a)
{
    gwf_pb_reader r = {f->data, f->data + f->len};
    rl_rls_status *st;
    gwf_pb_field g;
    int rc;

    if (a->status_count >= RL_RLS_MAX_STATUSES) {
        a->error = "more than 256 descriptor statuses";
        return -1;
    }
    if (!a->statuses) {
        a->statuses = calloc(RL_RLS_MAX_STATUSES, sizeof(*a->statuses));
        if (!a->statuses) {
            a->error = "out of memory";
            return -1;
        }
    }
    st = &a->statuses[a->status_count++];
    while ((rc = gwf_pb_next(&r, &g)) == 1) {
        if (g.number == 1 && g.wire == GWF_PB_VARINT)
            st->code = g.varint > 2 ? RL_RLS_UNKNOWN : (int)g.varint;
        else if (g.number == 2 && g.wire == GWF_PB_LEN) {
            if (decode_limit(&g, st, a) != 0)
                return -1;
        } else if (g.number == 3 && g.wire == GWF_PB_VARINT)
            st->remaining = (uint32_t)g.varint;
        else if (g.number == 4 && g.wire == GWF_PB_LEN) {
            gwf_pb_reader dr = {g.data, g.data + g.len};
            gwf_pb_field d;
            int drc;
            while ((drc = gwf_pb_next(&dr, &d)) == 1)
                if (d.number == 1 && d.wire == GWF_PB_VARINT)
                    st->reset_seconds = (int64_t)d.varint;
            if (drc < 0) {
                a->error = "malformed duration_until_reset";
                return -1;
            }
        }
    }
    if (rc < 0)
        a->error = "malformed descriptor status";
    return rc;
}

/* HeaderValue {key, value | raw_value} into the list. */
static int
decode_header(const gwf_pb_field *f, rl_rls_header **list, size_t *count,
              rl_rls_answer *a)
{
    gwf_pb_reader r = {f->data, f->data + f->len};
    const uint8_t *key = NULL, *value = NULL;
    size_t key_len = 0, value_len = 0;
    rl_rls_header *h;
    gwf_pb_field g;
    int rc;

    while ((rc = gwf_pb_next(&r, &g)) == 1) {
        if (g.wire != GWF_PB_LEN)
            continue;
        if (g.number == 1) {
            key = g.data;
            key_len = g.len;
        } else if (g.number == 2 || g.number == 3) {
            value = g.data;
            value_len = g.len;
        }
    }
    if (rc < 0) {
        a->error = "malformed header";
        return -1;
    }
    if (!gwf_is_header_name((const char *)key, key_len) ||
        !gwf_is_header_value((const char *)value, value_len)) {
        a->error = "a header to add has an invalid name or value";
        return -1;
    }
    if (*count >= RL_RLS_MAX_HEADERS) {
        a->error = "more than 64 headers to add";
        return -1;
    }
    if (!*list) {
        *list = calloc(RL_RLS_MAX_HEADERS, sizeof(**list));
        if (!*list) {
            a->error = "out of memory";
            return -1;
        }
    }
    h = &(*list)[*count];
    h->name = dup_bytes(key, key_len);
    h->value = dup_bytes(value ? value : (const uint8_t *)"", value_len);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        h->name = h->value = NULL;
        a->error = "out of memory";
        return -1;
    }
    (*count)++;
    return 0;
}

int
rl_rls_decode(const uint8_t *data, size_t len, rl_rls_answer *a)
{
    gwf_pb_reader r = {data, data + len};
    gwf_pb_field f;
    int rc;

    memset(a, 0, sizeof(*a));
    if (len > RL_RLS_MAX_ANSWER) {
        a->error = "the RateLimitResponse is too large";
        return -1;
    }
    while ((rc = gwf_pb_next(&r, &f)) == 1) {
        int frc = 0;

        if (f.number == 1 && f.wire == GWF_PB_VARINT)
            a->overall_code = f.varint > 2 ? RL_RLS_UNKNOWN : (int)f.varint;
        else if (f.number == 2 && f.wire == GWF_PB_LEN)
            frc = decode_status(&f, a);
        else if (f.number == 3 && f.wire == GWF_PB_LEN)
            frc = decode_header(&f, &a->response_headers,
                                &a->response_header_count, a);
        else if (f.number == 4 && f.wire == GWF_PB_LEN)
            frc = decode_header(&f, &a->request_headers,
                                &a->request_header_count, a);
        else if (f.number == 5 && f.wire == GWF_PB_LEN) {
            free(a->raw_body);
            a->raw_body = dup_bytes(f.data, f.len);
            a->raw_body_len = f.len;
            if (!a->raw_body) {
                a->error = "out of memory";
                frc = -1;
            }
        }
        if (frc != 0)
            return -1;
    }
    if (rc < 0) {
        a->error = "malformed RateLimitResponse";
        return -1;
    }
    if (a->overall_code == RL_RLS_UNKNOWN) {
        /* Envoy treats UNKNOWN (or a code it does not know) as an error
         * of the service. */
        a->error = "overall_code is neither OK nor OVER_LIMIT";
        return -1;
    }
    return 0;
}

int
rl_rls_decode_frame(const uint8_t *data, size_t len, rl_rls_answer *a)
{
    const uint8_t *msg = NULL;
    size_t msg_len = 0;

    memset(a, 0, sizeof(*a));
    switch (gwf_grpc_unframe(data, len, &msg, &msg_len)) {
    case GWF_GRPC_FRAME_OK:
        return rl_rls_decode(msg, msg_len, a);
    case GWF_GRPC_FRAME_BAD_LENGTH:
        a->error = "the RateLimitResponse frame is cut or followed by more";
        return -1;
    default:
        a->error = "no uncompressed RateLimitResponse in the answer";
        return -1;
    }
}

static void
free_headers(rl_rls_header *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(list[i].name);
        free(list[i].value);
    }
    free(list);
}

void
rl_rls_answer_free(rl_rls_answer *a)
{
    for (size_t i = 0; i < a->status_count; i++)
        free(a->statuses[i].name);
    free(a->statuses);
    free_headers(a->response_headers, a->response_header_count);
    free_headers(a->request_headers, a->request_header_count);
    free(a->raw_body);
    memset(a, 0, sizeof(*a));
}

int
rl_rls_draft03(const rl_rls_answer *a, gwf_strbuf *limit, char remaining[24],
               char reset[24])
{
    const rl_rls_status *min = NULL;
    gwf_strbuf policy = {0};

    /* The status with the fewest requests left (the first of equals)
     * speaks for the headers; every status with a window adds its quota
     * policy ", <limit>;w=<seconds>[;name="<name>"]", as Envoy writes
     * them. */
    for (size_t i = 0; i < a->status_count; i++) {
        const rl_rls_status *st = &a->statuses[i];
        if (!st->has_limit)
            continue;
        if (!min || st->remaining < min->remaining)
            min = st;
        if (st->window_seconds) {
            gwf_strbuf_appendf(&policy, ", %" PRIu32 ";w=%" PRIu32,
                               st->requests_per_unit, st->window_seconds);
            if (st->name && st->name[0])
                gwf_strbuf_appendf(&policy, ";name=\"%s\"", st->name);
        }
    }
    if (!min) {
        gwf_strbuf_free(&policy);
        return 0;
    }
    gwf_strbuf_appendf(limit, "%" PRIu32, min->requests_per_unit);
    if (policy.len)
        gwf_strbuf_append(limit, policy.data, policy.len);
    if (policy.failed)
        limit->failed = 1;
    gwf_strbuf_free(&policy);
    snprintf(remaining, 24, "%" PRIu32, min->remaining);
    snprintf(reset, 24, "%" PRId64, min->reset_seconds);
    return 1;
}
