/*
 * bench_sigv4.c - how fast the signer signs, against the cost of the raw
 * crypto a signature needs.
 *
 * For each request shape (a Lambda invocation as the plugin builds it, a
 * GET with a query and a dozen headers, a PUT with a 4 KiB body), it
 * measures:
 *   - sign: sigv4_sign with a warm key cache (the plugin's steady state:
 *     the key is derived once a day), everything included (canonical
 *     request, string to sign, signature, Authorization header);
 *   - floor: only the hashing a signature cannot avoid, on inputs of the
 *     same lengths: SHA-256 of the body, SHA-256 of the canonical
 *     request, HMAC-SHA256 of the string to sign with the derived key,
 *     done as cheaply as OpenSSL allows (SHA-256 fetched once, one
 *     reused digest context, the HMAC key's inner and outer states
 *     computed once and continued, no hashing of an empty body);
 *   - naive floor: the same three operations with OpenSSL's one-shot
 *     SHA256() and HMAC() (which look the algorithm up on every call);
 * and prints signatures per second, the floors' operations per second
 * and the ratio sign/floor (the target is <= 2x). Sign and floor run
 * interleaved in ROUNDS rounds and each keeps its best round, so a
 * neighbour's burst on a shared machine skews the ratio less. The same
 * requests are written to requests.jsonl (argv[1], optional) for
 * bench_botocore.py.
 *
 *   bench_sigv4 [REQUESTS_JSONL]
 *
 * Environment: BENCH_SIGV4_N=iterations per round (default 40000),
 * BENCH_SIGV4_ONLY=shape name (one shape only; with a small N, under
 * valgrind --tool=callgrind --toggle-collect=sigv4_sign or
 * --toggle-collect=floor_once, for instruction counts per signature).
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigv4.h"

#define ROUNDS 5

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct shape {
    const char *name;
    const char *method;
    const char *target;
    gwf_header headers[16];
    size_t header_count;
    size_t body_len;
    const char *service;
} shape;

static const sigv4_credentials creds = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};

#define H(n, v)                                                                \
    {                                                                          \
        {n, sizeof n - 1},                                                     \
        {                                                                      \
            v, sizeof v - 1                                                    \
        }                                                                      \
    }

static shape shapes[] = {
    {"lambda-invoke",
     "POST",
     "/2015-03-31/functions/orders:prod/invocations",
     {H("x-amz-invocation-type", "RequestResponse")},
     1,
     300,
     "lambda"},
    {"get-query-12-headers",
     "GET",
     "/api/v1/items/42?limit=10&offset=20&sort=name&filter=a%20b&tag=x&tag=y",
     {H("accept", "application/json"), H("accept-encoding", "gzip, br"),
      H("accept-language", "en-GB,en;q=0.9"), H("cache-control", "no-cache"),
      H("user-agent", "bench/1.0 (linux)"), H("x-request-id", "0f3a9c7e"),
      H("x-forwarded-for", "192.0.2.1"), H("x-custom-a", "  some   value "),
      H("x-custom-b", "b"), H("x-custom-b", "c"), H("cookie", "a=1; b=2"),
      H("if-none-match", "\"abc\"")},
     12,
     0,
     "execute-api"},
    {"put-4k-body",
     "PUT",
     "/bucket/path/to/object.bin",
     {H("content-type", "application/octet-stream"),
      H("content-length", "4096")},
     2,
     4096,
     "s3"},
};

typedef struct floor_state {
    EVP_MD *md;
    EVP_MD_CTX *inner, *outer, *work;
} floor_state;

/* The hashing one signature cannot avoid (see the top of the file). Not
 * inlined, so callgrind can count it on its own. */
__attribute__((noinline)) static void
floor_once(floor_state *f, const char *body, size_t body_len, const char *creq,
           size_t creq_len, const char *sts, size_t sts_len)
{
    unsigned char md[32];
    unsigned int md_len = 32;
    if (body_len > 0) { /* the empty hash is a constant */
        EVP_DigestInit_ex(f->work, f->md, NULL);
        EVP_DigestUpdate(f->work, body, body_len);
        EVP_DigestFinal_ex(f->work, md, &md_len);
    }
    EVP_DigestInit_ex(f->work, f->md, NULL);
    EVP_DigestUpdate(f->work, creq, creq_len);
    EVP_DigestFinal_ex(f->work, md, &md_len);
    EVP_MD_CTX_copy_ex(f->work, f->inner);
    EVP_DigestUpdate(f->work, sts, sts_len);
    EVP_DigestFinal_ex(f->work, md, &md_len);
    EVP_MD_CTX_copy_ex(f->work, f->outer);
    EVP_DigestUpdate(f->work, md, 32);
    EVP_DigestFinal_ex(f->work, md, &md_len);
}

static void
write_jsonl(FILE *f, const shape *s, const char *body)
{
    fprintf(f,
            "{\"name\": \"%s\", \"method\": \"%s\", \"target\": \"%s\", "
            "\"service\": \"%s\", \"body_len\": %zu, \"headers\": [",
            s->name, s->method, s->target, s->service, s->body_len);
    for (size_t i = 0; i < s->header_count; i++) {
        fprintf(f, "%s[\"%.*s\", \"", i ? ", " : "",
                (int)s->headers[i].name.len, s->headers[i].name.ptr);
        for (size_t k = 0; k < s->headers[i].value.len; k++) {
            char c = s->headers[i].value.ptr[k];
            if (c == '"' || c == '\\')
                fputc('\\', f);
            fputc(c, f);
        }
        fprintf(f, "\"]");
    }
    fprintf(f, "]}\n");
    (void)body;
}

int
main(int argc, char **argv)
{
    FILE *out = argc > 1 ? fopen(argv[1], "w") : NULL;
    char *body = malloc(4096);
    memset(body, 'b', 4096);
    printf("%-22s %14s %14s %14s %7s\n", "request", "signatures/s",
           "floor ops/s", "naive floor/s", "ratio");
    const char *n_env = getenv("BENCH_SIGV4_N");
    const char *only = getenv("BENCH_SIGV4_ONLY");
    const int n = n_env && atoi(n_env) > 0 ? atoi(n_env) : 40000;
    EVP_MD *md_sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *inner = EVP_MD_CTX_new(), *outer = EVP_MD_CTX_new(),
               *work = EVP_MD_CTX_new();
    floor_state fl = {md_sha, inner, outer, work};
    unsigned char pad[64];
    memset(pad, 0x36, 64);
    EVP_DigestInit_ex(inner, md_sha, NULL);
    EVP_DigestUpdate(inner, pad, 64);
    memset(pad, 0x5c, 64);
    EVP_DigestInit_ex(outer, md_sha, NULL);
    EVP_DigestUpdate(outer, pad, 64);
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        shape *s = &shapes[k];
        if (only && strcmp(only, s->name) != 0)
            continue;
        if (out)
            write_jsonl(out, s, body);
        sigv4_request req = {
            .method = gwf_cstr(s->method),
            .target = gwf_cstr(s->target),
            .headers = s->headers,
            .header_count = s->header_count,
            .host = gwf_cstr("service.eu-west-3.amazonaws.com"),
            .payload = {body, s->body_len},
        };
        sigv4_params params = {.region = "eu-west-3",
                               .service = s->service,
                               .unix_seconds = 1767225600,
                               .normalize_path = strcmp(s->service, "s3"),
                               .content_sha256_header =
                                   !strcmp(s->service, "s3")};
        sigv4_key_cache cache = {0};
        sigv4_result res;
        const char *why;
        if (sigv4_sign(&req, &params, &creds, &cache, &res, &why) != 0)
            return 1;
        size_t creq_len = res.canonical_request.len;
        size_t sts_len = res.string_to_sign.len;
        char *creq = strdup(res.canonical_request.data);
        char *sts = strdup(res.string_to_sign.data);
        sigv4_result_free(&res);

        double sign_s = 1e9, floor_s = 1e9, t0;
        for (int r = 0; r < ROUNDS; r++) {
            t0 = now_s();
            for (int i = 0; i < n; i++) {
                sigv4_sign(&req, &params, &creds, &cache, &res, &why);
                sigv4_result_free(&res);
            }
            double t = (now_s() - t0) / n;
            sign_s = t < sign_s ? t : sign_s;
            t0 = now_s();
            for (int i = 0; i < n; i++)
                floor_once(&fl, body, s->body_len, creq, creq_len, sts,
                           sts_len);
            t = (now_s() - t0) / n;
            floor_s = t < floor_s ? t : floor_s;
        }
        unsigned char md[32], key[32] = {1};
        unsigned int md_len = 32;
        t0 = now_s();
        for (int i = 0; i < n; i++) {
            SHA256((const unsigned char *)body, s->body_len, md);
            SHA256((const unsigned char *)creq, creq_len, md);
            HMAC(EVP_sha256(), key, 32, (const unsigned char *)sts, sts_len, md,
                 &md_len);
        }
        double naive_s = (now_s() - t0) / n;
        printf("%-22s %14.0f %14.0f %14.0f %6.2fx\n", s->name, 1 / sign_s,
               1 / floor_s, 1 / naive_s, sign_s / floor_s);
        free(creq);
        free(sts);
        sigv4_key_cache_clear(&cache);
    }
    EVP_MD_CTX_free(inner);
    EVP_MD_CTX_free(outer);
    EVP_MD_CTX_free(work);
    EVP_MD_free(md_sha);
    free(body);
    if (out)
        fclose(out);
    return 0;
}
