/*
 * fuzz_rls.c - libFuzzer harness for what the rate_limit plugin reads
 * from a rate limit service (RLS v3): the RateLimitResponse, with and
 * without its gRPC frame, and the x-ratelimit-* values made from it.
 *
 * The first byte picks the reader (its value modulo 2); the rest is its
 * input:
 *   0  a RateLimitResponse message, to rl_rls_decode
 *   1  a gRPC response body (5-byte frame + message), to
 *      rl_rls_decode_frame
 *
 * Beyond "no crash, no leak, no UB", an answer that decodes must be one
 * the filter can apply as is: overall_code OK or OVER_LIMIT, the lists
 * within their bounds, every header a valid name and value, and the
 * x-ratelimit-* values valid header values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rate_limit.h"

static void
check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void
check_headers(const rl_rls_header *list, size_t count)
{
    check(count <= RL_RLS_MAX_HEADERS);
    for (size_t i = 0; i < count; i++) {
        check(gwf_is_header_name(list[i].name, strlen(list[i].name)));
        check(gwf_is_header_value(list[i].value, strlen(list[i].value)));
    }
}

static void
check_answer(const rl_rls_answer *a)
{
    gwf_strbuf limit = {0};
    char remaining[24], reset[24];

    check(a->overall_code == RL_RLS_OK || a->overall_code == RL_RLS_OVER_LIMIT);
    check(a->status_count <= RL_RLS_MAX_STATUSES);
    check_headers(a->response_headers, a->response_header_count);
    check_headers(a->request_headers, a->request_header_count);
    if (rl_rls_draft03(a, &limit, remaining, reset) && !limit.failed) {
        check(gwf_is_header_value(limit.data, limit.len));
        check(gwf_is_header_value(remaining, strlen(remaining)));
        check(gwf_is_header_value(reset, strlen(reset)));
    }
    gwf_strbuf_free(&limit);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rl_rls_answer a;
    int rc;

    if (size < 1)
        return 0;
    if (data[0] % 2 == 0)
        rc = rl_rls_decode(data + 1, size - 1, &a);
    else
        rc = rl_rls_decode_frame(data + 1, size - 1, &a);
    if (rc == 0)
        check_answer(&a);
    else
        check(a.error != NULL);
    rl_rls_answer_free(&a);
    return 0;
}
