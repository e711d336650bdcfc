/*
 * test_sigv4_vectors.c - every case of the AWS SigV4 test suite
 * (tests/vectors/sigv4, from aws-c-auth), signed with the Authorization
 * header and presigned, compared byte for byte at each step: canonical
 * request, string to sign, signature, and the signed request's
 * Authorization header or request line.
 *
 * The cases are discovered from the directory at run time: each becomes
 * two cmocka tests, "<case>/header" and "<case>/query". A missing or
 * empty vector directory fails.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigv4.h"

static const char *vectors_dir;

typedef struct vector_case {
    char name[320];
    int presign;
    char label[300];
} vector_case;

static char *
read_file(const char *dir, const char *file, size_t *len_out)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[len] = '\0';
    fclose(f);
    if (len_out)
        *len_out = (size_t)len;
    return buf;
}

/* request.txt: request line, "Name:value" lines (a line starting with
 * white space continues the previous value), blank line, body. */
typedef struct parsed_request {
    gwf_view method, target, body, host;
    gwf_header headers[32];
    size_t header_count;
    char *values[32]; /* folded values we own */
} parsed_request;

static void
parse_request(char *text, size_t len, parsed_request *r)
{
    memset(r, 0, sizeof *r);
    char *end = text + len;
    char *line = text;
    char *eol = memchr(line, '\n', (size_t)(end - line));
    assert_non_null(eol);
    char *sp1 = memchr(line, ' ', (size_t)(eol - line));
    char *sp2 = NULL;
    for (char *p = eol - 1; p > sp1; p--)
        if (*p == ' ') {
            sp2 = p;
            break;
        }
    assert_non_null(sp1);
    assert_non_null(sp2);
    r->method = (gwf_view){line, (size_t)(sp1 - line)};
    r->target = (gwf_view){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    line = eol + 1;
    while (line < end) {
        eol = memchr(line, '\n', (size_t)(end - line));
        char *stop = eol ? eol : end;
        if (stop == line) {
            line = stop + 1;
            break;
        }
        if ((*line == ' ' || *line == '\t') && r->header_count > 0) {
            size_t k = r->header_count - 1;
            gwf_view old = r->headers[k].value;
            size_t add = (size_t)(stop - line);
            char *v = malloc(old.len + 1 + add);
            memcpy(v, old.ptr, old.len);
            v[old.len] = '\n';
            memcpy(v + old.len + 1, line, add);
            free(r->values[k]);
            r->values[k] = v;
            r->headers[k].value = (gwf_view){v, old.len + 1 + add};
        } else {
            char *colon = memchr(line, ':', (size_t)(stop - line));
            assert_non_null(colon);
            size_t k = r->header_count++;
            r->headers[k].name = (gwf_view){line, (size_t)(colon - line)};
            r->headers[k].value =
                (gwf_view){colon + 1, (size_t)(stop - colon - 1)};
        }
        line = stop + 1;
    }
    if (line < end)
        r->body = (gwf_view){line, (size_t)(end - line)};
    for (size_t i = 0; i < r->header_count; i++)
        if (gwf_view_ieq(r->headers[i].name, "host"))
            r->host = r->headers[i].value;
}

static void
free_request(parsed_request *r)
{
    for (size_t i = 0; i < 32; i++)
        free(r->values[i]);
}

static int64_t
parse_timestamp(const char *iso)
{
    struct tm tm = {0};
    assert_non_null(strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm));
    return (int64_t)timegm(&tm);
}

static void
assert_text_equal(const char *what, const char *got, size_t got_len,
                  const char *want)
{
    if (got_len != strlen(want) || memcmp(got, want, got_len) != 0) {
        print_error("%s differs\n--- got\n%.*s\n--- want\n%s\n", what,
                    (int)got_len, got, want);
        fail();
    }
}

/* The value of the line starting with `prefix` in `text`. */
static char *
line_after(const char *text, const char *prefix)
{
    const char *p = text;
    while (p && *p) {
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            const char *v = p + strlen(prefix);
            const char *e = strchr(v, '\n');
            size_t n = e ? (size_t)(e - v) : strlen(v);
            char *out = malloc(n + 1);
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static void
run_case(void **state)
{
    vector_case *vc = *state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", vectors_dir, vc->name);
    const char *variant = vc->presign ? "query" : "header";
    char file[64];

    size_t req_len;
    char *req_text = read_file(dir, "request.txt", &req_len);
    char *context = read_file(dir, "context.json", NULL);
    assert_non_null(req_text);
    assert_non_null(context);
    json_error_t jerr;
    json_t *ctx = json_loads(context, 0, &jerr);
    assert_non_null(ctx);

    parsed_request r;
    parse_request(req_text, req_len, &r);

    json_t *c = json_object_get(ctx, "credentials");
    json_t *token = json_object_get(c, "token");
    sigv4_credentials creds = {
        json_string_value(json_object_get(c, "access_key_id")),
        json_string_value(json_object_get(c, "secret_access_key")),
        token ? json_string_value(token) : NULL,
    };
    int sign_body = json_is_true(json_object_get(ctx, "sign_body"));
    sigv4_params params = {
        .region = json_string_value(json_object_get(ctx, "region")),
        .service = json_string_value(json_object_get(ctx, "service")),
        .unix_seconds = parse_timestamp(
            json_string_value(json_object_get(ctx, "timestamp"))),
        .normalize_path = json_is_true(json_object_get(ctx, "normalize")),
        .content_sha256_header = sign_body && !vc->presign,
        .token_mode = json_is_true(json_object_get(ctx, "omit_session_token"))
                          ? SIGV4_TOKEN_AFTER
                          : SIGV4_TOKEN_SIGNED,
        .presign = vc->presign,
        .expires = (uint32_t)json_integer_value(
            json_object_get(ctx, "expiration_in_seconds")),
    };
    sigv4_request req = {
        .method = r.method,
        .target = r.target,
        .headers = r.headers,
        .header_count = r.header_count,
        .host = r.host,
        .payload = r.body,
    };
    sigv4_key_cache cache = {0};
    sigv4_result res;
    const char *why = NULL;
    assert_int_equal(sigv4_sign(&req, &params, &creds, &cache, &res, &why), 0);

    snprintf(file, sizeof file, "%s-canonical-request.txt", variant);
    char *want = read_file(dir, file, NULL);
    assert_non_null(want);
    assert_text_equal("canonical request", res.canonical_request.data,
                      res.canonical_request.len, want);
    free(want);

    snprintf(file, sizeof file, "%s-string-to-sign.txt", variant);
    want = read_file(dir, file, NULL);
    assert_text_equal("string to sign", res.string_to_sign.data,
                      res.string_to_sign.len, want);
    free(want);

    snprintf(file, sizeof file, "%s-signature.txt", variant);
    want = read_file(dir, file, NULL);
    assert_text_equal("signature", res.signature, strlen(res.signature), want);
    free(want);

    snprintf(file, sizeof file, "%s-signed-request.txt", variant);
    char *signed_req = read_file(dir, file, NULL);
    assert_non_null(signed_req);
    if (vc->presign) {
        /* The request line: METHOD SP presigned target SP HTTP/1.1 */
        char *eol = strchr(signed_req, '\n');
        *eol = '\0';
        char *sp1 = strchr(signed_req, ' ');
        char *sp2 = strrchr(signed_req, ' ');
        *sp2 = '\0';
        assert_text_equal("presigned target", res.presigned_target.data,
                          res.presigned_target.len, sp1 + 1);
    } else {
        char *authz = line_after(signed_req, "Authorization:");
        assert_non_null(authz);
        assert_text_equal("authorization", res.authorization.data,
                          res.authorization.len, authz);
        free(authz);
    }
    free(signed_req);

    sigv4_result_free(&res);
    sigv4_key_cache_clear(&cache);
    free_request(&r);
    json_decref(ctx);
    free(context);
    free(req_text);
}

/* The classic suite's format (tests/vectors/sigv4-botocore): NAME.req
 * (with X-Amz-Date, and X-Amz-Security-Token when the token is added
 * after signing), NAME.creq, NAME.sts, NAME.authz; all cases normalise
 * the path; clock and credentials as in the aws-c-auth set. */
static const char *botocore_dir;

static char *
line_value(const char *text, const char *prefix)
{
    return line_after(text, prefix);
}

static void
run_botocore_case(void **state)
{
    vector_case *vc = *state;
    char dir[1024], file[512];
    snprintf(dir, sizeof dir, "%s/%s", botocore_dir, vc->name);
    const char *base = strrchr(vc->name, '/');
    base = base ? base + 1 : vc->name;

    size_t req_len;
    snprintf(file, sizeof file, "%s.req", base);
    char *req_text = read_file(dir, file, &req_len);
    snprintf(file, sizeof file, "%s.creq", base);
    char *want_creq = read_file(dir, file, NULL);
    snprintf(file, sizeof file, "%s.sts", base);
    char *want_sts = read_file(dir, file, NULL);
    snprintf(file, sizeof file, "%s.authz", base);
    char *want_authz = read_file(dir, file, NULL);
    assert_non_null(req_text);
    assert_non_null(want_creq);
    assert_non_null(want_sts);
    assert_non_null(want_authz);

    parsed_request r;
    parse_request(req_text, req_len, &r);
    /* The token: signed (in the canonical request), or sent after. */
    char *token = line_value(want_creq, "x-amz-security-token:");
    int after = 0;
    if (!token) {
        for (size_t i = 0; i < r.header_count; i++)
            if (gwf_view_ieq(r.headers[i].name, "x-amz-security-token")) {
                token = strndup(r.headers[i].value.ptr, r.headers[i].value.len);
                after = 1;
            }
    }
    sigv4_credentials creds = {
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token};
    sigv4_params params = {
        .region = "us-east-1",
        .service = "service",
        .unix_seconds = parse_timestamp("2015-08-30T12:36:00Z"),
        .normalize_path = 1,
        .token_mode = after ? SIGV4_TOKEN_AFTER : SIGV4_TOKEN_SIGNED,
    };
    sigv4_request req = {
        .method = r.method,
        .target = r.target,
        .headers = r.headers,
        .header_count = r.header_count,
        .host = r.host,
        .payload = r.body,
    };
    sigv4_key_cache cache = {0};
    sigv4_result res;
    const char *why = NULL;
    assert_int_equal(sigv4_sign(&req, &params, &creds, &cache, &res, &why), 0);
    assert_text_equal("canonical request", res.canonical_request.data,
                      res.canonical_request.len, want_creq);
    assert_text_equal("string to sign", res.string_to_sign.data,
                      res.string_to_sign.len, want_sts);
    assert_text_equal("authorization", res.authorization.data,
                      res.authorization.len, want_authz);
    sigv4_result_free(&res);
    sigv4_key_cache_clear(&cache);
    free_request(&r);
    free(token);
    free(want_creq);
    free(want_sts);
    free(want_authz);
    free(req_text);
}

/* Cases of the classic suite: directories DIR/NAME holding NAME.req, at
 * the top or one level down. */
static size_t
find_botocore_cases(const char *root, const char *sub, vector_case *cases,
                    size_t n, size_t max)
{
    char path[1024];
    snprintf(path, sizeof path, "%s%s%s", root, *sub ? "/" : "", sub);
    DIR *d = opendir(path);
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.')
            continue;
        char probe[2048];
        snprintf(probe, sizeof probe, "%s/%s/%s.req", path, e->d_name,
                 e->d_name);
        FILE *f = fopen(probe, "r");
        char name[300];
        snprintf(name, sizeof name, "%s%s%s", sub, *sub ? "/" : "", e->d_name);
        if (f) {
            fclose(f);
            snprintf(cases[n].name, sizeof cases[n].name, "%s", name);
            n++;
        } else if (!*sub) {
            n = find_botocore_cases(root, e->d_name, cases, n, max);
        }
    }
    closedir(d);
    return n;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(((const vector_case *)a)->name,
                  ((const vector_case *)b)->name);
}

int
main(int argc, char **argv)
{
    vectors_dir = argc > 1 ? argv[1] : getenv("SIGV4_VECTORS");
    botocore_dir = argc > 2 ? argv[2] : NULL;
    if (!vectors_dir) {
        fprintf(stderr, "usage: %s VECTOR_DIR [BOTOCORE_VECTOR_DIR]\n",
                argv[0]);
        return 1;
    }
    DIR *d = opendir(vectors_dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", vectors_dir);
        return 1;
    }
    vector_case *cases = calloc(256, sizeof *cases);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 128) {
        if (e->d_name[0] == '.')
            continue;
        char probe[1024];
        snprintf(probe, sizeof probe, "%s/%s/context.json", vectors_dir,
                 e->d_name);
        FILE *f = fopen(probe, "r");
        if (!f)
            continue;
        fclose(f);
        snprintf(cases[n].name, sizeof cases[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    /* The suite has 38 cases: fewer means a broken copy, not a pass. */
    if (n < 38) {
        fprintf(stderr, "only %zu vector cases in %s (expected 38)\n", n,
                vectors_dir);
        return 1;
    }
    qsort(cases, n, sizeof *cases, name_cmp);
    struct CMUnitTest *tests = calloc(2 * n, sizeof *tests);
    for (size_t i = 0; i < n; i++) {
        cases[n + i] = cases[i];
        cases[i].presign = 0;
        cases[n + i].presign = 1;
        snprintf(cases[i].label, sizeof cases[i].label, "%s/header",
                 cases[i].name);
        snprintf(cases[n + i].label, sizeof cases[n + i].label, "%s/query",
                 cases[i].name);
        tests[2 * i] = (struct CMUnitTest){cases[i].label, run_case, NULL, NULL,
                                           &cases[i]};
        tests[2 * i + 1] = (struct CMUnitTest){cases[n + i].label, run_case,
                                               NULL, NULL, &cases[n + i]};
    }
    int failed =
        _cmocka_run_group_tests("sigv4_vectors", tests, 2 * n, NULL, NULL);
    free(tests);
    free(cases);
    if (!botocore_dir)
        return failed;

    vector_case *bcases = calloc(128, sizeof *bcases);
    size_t bn = find_botocore_cases(botocore_dir, "", bcases, 0, 128);
    if (bn < 34) {
        fprintf(stderr, "only %zu classic cases in %s (expected 34)\n", bn,
                botocore_dir);
        free(bcases);
        return 1;
    }
    qsort(bcases, bn, sizeof *bcases, name_cmp);
    struct CMUnitTest *btests = calloc(bn, sizeof *btests);
    for (size_t i = 0; i < bn; i++)
        btests[i] = (struct CMUnitTest){bcases[i].name, run_botocore_case, NULL,
                                        NULL, &bcases[i]};
    failed += _cmocka_run_group_tests("sigv4_botocore_vectors", btests, bn,
                                      NULL, NULL);
    free(btests);
    free(bcases);
    return failed;
}
