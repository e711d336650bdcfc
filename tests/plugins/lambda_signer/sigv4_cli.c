/*
 * sigv4_cli.c - the signer as a filter, for the differential test
 * against botocore (test_botocore_diff.py).
 *
 * Reads one JSON object per line on stdin:
 *   {"method", "target", "host", "headers": [[name, value], ...],
 *    "body" (text), "normalize", "content_sha256", "unsigned_payload",
 *    "presign", "expires", "time" (unix seconds), "region", "service",
 *    "access_key", "secret_key", "token" (optional)}
 * and writes one per line on stdout:
 *   {"creq", "sts", "signature", "authorization", "target"} or
 *   {"error": why}.
 * One key cache lives for the whole run, as on a worker.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

static const char *
str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static gwf_view
view(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return (gwf_view){json_string_value(v), json_string_length(v)};
}

int
main(void)
{
    sigv4_key_cache cache = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t err;
        json_t *in = json_loadb(line, (size_t)n, 0, &err);
        if (!in) {
            printf("{\"error\": \"bad json\"}\n");
            fflush(stdout);
            continue;
        }
        json_t *hs = json_object_get(in, "headers");
        size_t count = json_array_size(hs);
        gwf_header *headers = calloc(count + 1, sizeof *headers);
        for (size_t i = 0; i < count; i++) {
            json_t *h = json_array_get(hs, i);
            json_t *name = json_array_get(h, 0), *value = json_array_get(h, 1);
            headers[i].name =
                (gwf_view){json_string_value(name), json_string_length(name)};
            headers[i].value =
                (gwf_view){json_string_value(value), json_string_length(value)};
        }
        sigv4_request req = {
            .method = view(in, "method"),
            .target = view(in, "target"),
            .headers = headers,
            .header_count = count,
            .host = view(in, "host"),
            .payload = view(in, "body"),
        };
        sigv4_params params = {
            .region = str(in, "region"),
            .service = str(in, "service"),
            .unix_seconds = json_integer_value(json_object_get(in, "time")),
            .normalize_path = json_is_true(json_object_get(in, "normalize")),
            .content_sha256_header =
                json_is_true(json_object_get(in, "content_sha256")),
            .unsigned_payload =
                json_is_true(json_object_get(in, "unsigned_payload")),
            .presign = json_is_true(json_object_get(in, "presign")),
            .expires =
                (uint32_t)json_integer_value(json_object_get(in, "expires")),
        };
        sigv4_credentials creds = {str(in, "access_key"), str(in, "secret_key"),
                                   str(in, "token")};
        sigv4_result res;
        const char *why;
        json_t *out;
        if (sigv4_sign(&req, &params, &creds, &cache, &res, &why) == 0) {
            out = json_pack(
                "{s:s%, s:s%, s:s, s:s, s:s%}", "creq",
                res.canonical_request.data, res.canonical_request.len, "sts",
                res.string_to_sign.data, res.string_to_sign.len, "signature",
                res.signature, "authorization",
                res.authorization.data ? res.authorization.data : "", "target",
                res.presigned_target.data ? res.presigned_target.data : "",
                res.presigned_target.len);
            sigv4_result_free(&res);
        } else {
            out = json_pack("{s:s}", "error", why);
        }
        char *text = json_dumps(out, JSON_COMPACT);
        printf("%s\n", text ? text : "{\"error\": \"dump\"}");
        fflush(stdout);
        free(text);
        json_decref(out);
        free(headers);
        json_decref(in);
    }
    free(line);
    sigv4_key_cache_clear(&cache);
    return 0;
}
