/*
 * bench_jwt.c - what jwt_auth pays per token: the full parse + verify of
 * a typical JWT (RS256 with RSA-2048, ES256, EdDSA), a verified-token
 * cache hit, and, measured in the same run, the signature check alone as
 * `openssl speed` does it (a context set up once, a ready digest). The
 * ratio is what parsing, hashing the token, key choice and JOSE handling
 * add; the target is <= 1.3x. run.sh also prints `openssl speed` for
 * the same operations.
 *
 * Keys are generated here with OpenSSL and exported as a JWKS, tokens
 * are signed here: nothing to download, nothing secret stored.
 *
 * Usage: bench_jwt [seconds-per-case]   (default 1)
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt_auth.h"

#define TARGET_RATIO 1.3

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
b64(const unsigned char *in, size_t len, char *out)
{
    jwt_b64url_encode(in, len, out);
}

static void
bn_b64(EVP_PKEY *pkey, const char *name, char *out)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int n;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
        abort();
    n = BN_bn2bin(bn, buf);
    b64(buf, (size_t)n, out);
    BN_free(bn);
}

/* The public JWK of `pkey` with kid "k". */
static char *
public_jwk(EVP_PKEY *pkey, jwt_alg alg)
{
    static char jwk[4096];
    char a[1024], b[1024];

    if (alg == JWT_ALG_RS256) {
        bn_b64(pkey, OSSL_PKEY_PARAM_RSA_N, a);
        bn_b64(pkey, OSSL_PKEY_PARAM_RSA_E, b);
        snprintf(jwk, sizeof(jwk),
                 "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"%s\","
                 "\"e\":\"%s\"}]}",
                 a, b);
    } else if (alg == JWT_ALG_ES256) {
        unsigned char pt[65];
        size_t len = 0;
        if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pt,
                                             sizeof(pt), &len) ||
            len != 65)
            abort();
        b64(pt + 1, 32, a);
        b64(pt + 33, 32, b);
        snprintf(jwk, sizeof(jwk),
                 "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"k\",\"crv\":"
                 "\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
                 a, b);
    } else {
        unsigned char raw[32];
        size_t len = sizeof(raw);
        if (!EVP_PKEY_get_raw_public_key(pkey, raw, &len))
            abort();
        b64(raw, len, a);
        snprintf(jwk, sizeof(jwk),
                 "{\"keys\":[{\"kty\":\"OKP\",\"kid\":\"k\",\"crv\":"
                 "\"Ed25519\",\"x\":\"%s\"}]}",
                 a);
    }
    return jwk;
}

/* A signed token; `sig_der`/`sig_der_len` receive the signature as
 * OpenSSL verifies it (DER for ECDSA). */
static char *
sign_token(EVP_PKEY *pkey, jwt_alg alg, unsigned char *sig_der,
           size_t *sig_der_len)
{
    static char token[4096];
    const char *payload =
        "{\"iss\":\"https://issuer.example\",\"sub\":\"user-1234567890\","
        "\"aud\":\"api\",\"iat\":1767225600,\"exp\":1767229200,"
        "\"scope\":\"read write\",\"groups\":[\"a\",\"b\"]}";
    char header[128], h64[256], p64[512], s64[1024];
    unsigned char sig[1024], jose[132];
    size_t sig_len = sizeof(sig), n;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    snprintf(header, sizeof(header),
             "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"k\"}",
             jwt_alg_name(alg));
    b64((const unsigned char *)header, strlen(header), h64);
    b64((const unsigned char *)payload, strlen(payload), p64);
    n = (size_t)snprintf(token, sizeof(token), "%s.%s", h64, p64);
    if (EVP_DigestSignInit(ctx, NULL,
                           alg == JWT_ALG_EDDSA ? NULL : EVP_sha256(), NULL,
                           pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)token, n) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    memcpy(sig_der, sig, sig_len);
    *sig_der_len = sig_len;
    if (alg == JWT_ALG_ES256) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        const BIGNUM *r, *s;
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, jose, 32);
        BN_bn2binpad(s, jose + 32, 32);
        ECDSA_SIG_free(es);
        b64(jose, 64, s64);
    } else {
        b64(sig, sig_len, s64);
    }
    snprintf(token + n, sizeof(token) - n, ".%s", s64);
    return token;
}

/* What one measured operation needs. */
typedef struct bench_case {
    const char *token;
    size_t token_len;
    size_t signing_input_len;
    const unsigned char *der;
    size_t der_len;
    jwt_alg alg;
    jwt_jwks *set;
    EVP_MD_CTX *md;
    EVP_PKEY_CTX *pkey_ctx; /* RSA, ECDSA: set up once, as openssl speed */
    unsigned char digest[32];
    jwt_cache *cache;
} bench_case;

/* Calls per second of `op` for about `seconds`. */
static double
rate(double seconds, void (*op)(bench_case *), bench_case *bc)
{
    double start = now_s(), end = start + seconds, t;
    long count = 0;

    do {
        for (int i = 0; i < 64; i++)
            op(bc);
        count += 64;
    } while ((t = now_s()) < end);
    return (double)count / (t - start);
}

/* Our whole path: parse, choose the key, verify. */
static void
op_ours(bench_case *bc)
{
    jwt_jws jws;

    if (jwt_jws_parse(bc->token, bc->token_len, &jws) != JWT_OK ||
        jwt_jws_verify(&jws, bc->set) != JWT_OK)
        abort();
    jwt_jws_clear(&jws);
}

/* What `openssl speed` measures: RSA and ECDSA verify a ready digest
 * with a context set up once (EVP_PKEY_verify); Ed25519 verifies the
 * message in one EVP_DigestVerify. */
static void
op_bare(bench_case *bc)
{
    if (bc->alg == JWT_ALG_EDDSA) {
        EVP_DigestVerifyInit(bc->md, NULL, NULL, NULL, bc->set->keys[0].pkey);
        if (EVP_DigestVerify(bc->md, bc->der, bc->der_len,
                             (const unsigned char *)bc->token,
                             bc->signing_input_len) != 1)
            abort();
        return;
    }
    if (EVP_PKEY_verify(bc->pkey_ctx, bc->der, bc->der_len, bc->digest, 32) !=
        1)
        abort();
}

static void
op_cache_hit(bench_case *bc)
{
    if (!jwt_cache_get(bc->cache, bc->token, bc->token_len, 0, 1767225600))
        abort();
}

static int
bench_alg(const char *label, EVP_PKEY *pkey, jwt_alg alg, double seconds)
{
    unsigned char der[1024];
    size_t der_len;
    const char *jwk;
    bench_case bc = {0};
    double ours = 0, bare = 0, ratio;

    bc.token = sign_token(pkey, alg, der, &der_len);
    bc.token_len = strlen(bc.token);
    bc.signing_input_len = (size_t)(strrchr(bc.token, '.') - bc.token);
    bc.der = der;
    bc.der_len = der_len;
    bc.alg = alg;
    jwk = public_jwk(pkey, alg);
    bc.set = jwt_jwks_parse(jwk, strlen(jwk), NULL, 0, NULL, 0);
    bc.md = EVP_MD_CTX_new();
    if (!bc.set || !bc.md)
        abort();
    if (alg != JWT_ALG_EDDSA) {
        unsigned int n = 0;
        EVP_Digest(bc.token, bc.signing_input_len, bc.digest, &n, EVP_sha256(),
                   NULL);
        bc.pkey_ctx = EVP_PKEY_CTX_new(bc.set->keys[0].pkey, NULL);
        if (!bc.pkey_ctx || EVP_PKEY_verify_init(bc.pkey_ctx) <= 0 ||
            EVP_PKEY_CTX_set_signature_md(bc.pkey_ctx, EVP_sha256()) <= 0)
            abort();
    }
    /* Alternate short rounds of both, so that other load on the machine
     * (and frequency changes) hit both figures alike. */
    for (int round = 0; round < 10; round++) {
        ours += rate(seconds / 10, op_ours, &bc) / 10;
        bare += rate(seconds / 10, op_bare, &bc) / 10;
    }
    ratio = bare / ours;
    printf("%-8s verify: ours %10.0f/s (%7.2f us)  openssl-speed-like %8.0f/s "
           "(%7.2f us)  ratio %.2fx %s\n",
           label, ours, 1e6 / ours, bare, 1e6 / bare, ratio,
           ratio <= TARGET_RATIO ? "ok" : "ABOVE TARGET");
    EVP_MD_CTX_free(bc.md);
    EVP_PKEY_CTX_free(bc.pkey_ctx);
    jwt_jwks_free(bc.set);
    return ratio <= TARGET_RATIO;
}

int
main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    unsigned char der[1024];
    size_t der_len;
    int ok = 1;

    if (!rsa || !ec || !ed || seconds <= 0)
        return 2;
    ok &= bench_alg("RS256", rsa, JWT_ALG_RS256, seconds);
    ok &= bench_alg("ES256", ec, JWT_ALG_ES256, seconds);
    ok &= bench_alg("EdDSA", ed, JWT_ALG_EDDSA, seconds);
    {
        bench_case bc = {0};
        double hits;
        bc.token = sign_token(rsa, JWT_ALG_RS256, der, &der_len);
        bc.token_len = strlen(bc.token);
        bc.cache = jwt_cache_new(1024, free);
        if (!bc.cache)
            abort();
        jwt_cache_put(bc.cache, bc.token, bc.token_len, 0, 2000000000,
                      strdup("rendered claims"));
        hits = rate(seconds, op_cache_hit, &bc);
        printf("cache hit (RS256 token, %zu bytes): %10.0f/s (%7.3f us)\n",
               bc.token_len, hits, 1e6 / hits);
        jwt_cache_free(bc.cache);
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    return ok ? 0 : 1;
}
