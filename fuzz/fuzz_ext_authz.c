/*
 * fuzz_ext_authz.c - libFuzzer harness for what the ext_authz plugin reads
 * from an authorization server: the gRPC CheckResponse (with and without
 * its gRPC frame) and an HTTP check answer.
 *
 * The first byte picks the reader (its value modulo 3); the rest is its
 * input:
 *   0  a CheckResponse message, to ea_check_response_decode; with
 *      maxAnswerHeaders at its default when the byte is 0, else the
 *      byte / 3 (1-85), so that the bound is met often
 *   1  a gRPC response body (5-byte frame + message), to ea_grpc_verdict,
 *      as if the call ended with status 200 and grpc-status 0
 *   2  an HTTP answer: two bytes of status (big-endian, taken modulo
 *      700), "name: value" lines ending in '\n', an empty line, the body;
 *      to ea_http_verdict_from under a config that names some headers
 *
 * Beyond "no crash, no leak, no UB", every verdict must be one the filter
 * can apply as is: a deny carries a status 200-599, and every header it
 * hands to the host is a valid name and value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ext_authz.h"

static void
check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void
check_pairs(const ea_pairs *p)
{
    for (size_t i = 0; i < p->count; i++) {
        check(gwf_is_header_name(p->items[i].name, strlen(p->items[i].name)));
        check(
            gwf_is_header_value(p->items[i].value, strlen(p->items[i].value)));
    }
}

static void
check_verdict(const ea_verdict *v)
{
    check(v->kind == EA_VERDICT_ALLOW || v->kind == EA_VERDICT_DENY ||
          v->kind == EA_VERDICT_ERROR);
    if (v->kind == EA_VERDICT_DENY)
        check(v->status >= 200 && v->status <= 599);
    if (v->kind == EA_VERDICT_ERROR)
        check(v->error != NULL);
    check_pairs(&v->to_upstream_set);
    check_pairs(&v->to_upstream_add);
    check_pairs(&v->to_client);
    for (size_t i = 0; i < v->to_upstream_remove.count; i++)
        check(gwf_is_header_name(v->to_upstream_remove.items[i],
                                 strlen(v->to_upstream_remove.items[i])));
}

static void
fuzz_http(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"x-user", "www-authenticate",
                                        "set-cookie"};
    ea_config cfg;
    ea_pairs headers = {0};
    ea_verdict v;
    long status;
    size_t i = 2;

    if (size < 2)
        return;
    memset(&cfg, 0, sizeof(cfg));
    for (size_t n = 0; n < 3; n++) {
        ea_names_add(&cfg.headers_to_backend, names[n], strlen(names[n]));
        ea_names_add(&cfg.headers_on_success, names[n], strlen(names[n]));
    }
    if (data[0] & 1)
        ea_names_add(&cfg.headers_to_client, "x-reason", 8);
    status = ((long)data[0] << 8 | data[1]) % 700;
    while (i < size) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
        const uint8_t *colon = memchr(data + i, ':', len);

        if (len == 0) {
            i++;
            break;
        }
        if (colon && colon > data + i) {
            size_t name_len = (size_t)(colon - (data + i));
            /* As client.c takes them from libcurl: any bytes but LF. */
            if (ea_pairs_add(&headers, (const char *)data + i, name_len,
                             (const char *)colon + 1, len - name_len - 1) != 0)
                break;
        }
        i += len + (nl ? 1 : 0);
    }
    ea_http_verdict_from(&cfg, status, &headers,
                         (const char *)data + (i < size ? i : size),
                         i < size ? size - i : 0, &v);
    check_verdict(&v);
    if (status == 200)
        check(v.kind != EA_VERDICT_DENY);
    if (status >= 500 || status < 200)
        check(v.kind == EA_VERDICT_ERROR);
    ea_verdict_free(&v);
    ea_pairs_free(&headers);
    ea_names_free(&cfg.headers_to_backend);
    ea_names_free(&cfg.headers_on_success);
    ea_names_free(&cfg.headers_to_client);
}

static void
fuzz_grpc_body(const uint8_t *data, size_t size)
{
    ea_config cfg;
    ea_call call;
    ea_verdict v;

    memset(&cfg, 0, sizeof(cfg));
    cfg.mode = EA_MODE_GRPC;
    ea_answer_limit_set(&cfg.answer_limit, EA_DEFAULT_MAX_ANSWER_HEADERS);
    memset(&call, 0, sizeof(call));
    call.status = 200;
    ea_pairs_add(&call.trailers, "grpc-status", 11, "0", 1);
    gwf_strbuf_append(&call.body, (const char *)data, size);
    ea_grpc_verdict(&cfg, &call, CURLE_OK, &v);
    check_verdict(&v);
    ea_verdict_free(&v);
    ea_pairs_free(&call.trailers);
    gwf_strbuf_free(&call.body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ea_answer_limit limit;
    ea_verdict v;

    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        ea_answer_limit_set(&limit, data[0] ? data[0] / 3u
                                            : EA_DEFAULT_MAX_ANSWER_HEADERS);
        ea_check_response_decode(data + 1, size - 1, &limit, &v);
        check_verdict(&v);
        ea_verdict_free(&v);
        break;
    case 1:
        fuzz_grpc_body(data + 1, size - 1);
        break;
    default:
        fuzz_http(data + 1, size - 1);
        break;
    }
    return 0;
}
