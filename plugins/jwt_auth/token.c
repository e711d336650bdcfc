/*
 * token.c - compact JWS (RFC 7515 7.1): split, decode strictly, verify.
 *
 * Strictness is the point. A token is exactly three base64url parts
 * without padding or stray bits (so one token has one spelling, which the
 * verified-token cache relies on); the header is a JSON object without
 * duplicate members whose "alg" names a signature algorithm we implement
 * ("none" is not one); "crit" and "b64" are refused because we implement
 * no JWS extension (RFC 7515 4.1.11). The signature check is OpenSSL 3
 * EVP for every algorithm (see jwks.c for why not libjwt); ECDSA's JOSE
 * form (r || s, each the coordinate size) is converted to DER first, and
 * RSASSA-PSS requires the salt length to equal the hash length (RFC 7518
 * 3.5), which OpenSSL would otherwise auto-detect and accept. RSA and
 * ECDSA keys come with verify contexts prepared at load (jwks.c), which
 * halves the per-token overhead over the bare signature check.
 */
#include "jwt_auth.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

/* Where Envoy's jwt_authn has a word for the failure, it is Envoy's
 * (jwt_verify_lib's status texts): kgateway's users and e2e tests match
 * on them ("Jwt verification fails", "Jwt is expired"). */
static const char *const result_texts[] = {
    [JWT_OK] = "ok",
    [JWT_ERR_MALFORMED] = "malformed token",
    [JWT_ERR_TOO_LARGE] = "token too large",
    [JWT_ERR_ALG] = "algorithm not allowed",
    [JWT_ERR_UNSUPPORTED] = "unsupported token header",
    [JWT_ERR_NO_KEY] = "Jwks doesn't have key to match kid or alg from Jwt",
    [JWT_ERR_SIGNATURE] = "Jwt verification fails",
    [JWT_ERR_EXPIRED] = "Jwt is expired",
    [JWT_ERR_NOT_YET_VALID] = "Jwt not yet valid",
    [JWT_ERR_NO_EXPIRATION] = "token has no expiration",
    [JWT_ERR_LIFETIME] = "token lifetime too long",
    [JWT_ERR_ISSUER] = "Jwt issuer is not configured",
    [JWT_ERR_AUDIENCE] = "audience not allowed",
    [JWT_ERR_KEYS_UNAVAILABLE] = "Jwks remote fetch is failed",
    [JWT_ERR_AMBIGUOUS] = "more than one token",
    [JWT_ERR_UNREAD] = "the request could not be read",
    [JWT_ERR_UNCHANGED] = "the request could not be changed",
};

const char *
jwt_result_text(jwt_result r)
{
    if ((size_t)r < sizeof(result_texts) / sizeof(result_texts[0]) &&
        result_texts[r])
        return result_texts[r];
    return "invalid token";
}

/* -- base64url ---------------------------------------------------------- */

static int
b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int
jwt_b64url_decode(const char *in, size_t len, unsigned char **out,
                  size_t *out_len)
{
    size_t full = len / 4, rest = len % 4, n = 0;
    unsigned char *buf;
    uint32_t acc = 0;

    if (rest == 1)
        return -1;
    buf = malloc(full * 3 + 3);
    if (!buf)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0)
            goto fail;
        acc = (acc << 6) | (uint32_t)v;
        if (i % 4 == 3) {
            buf[n++] = (unsigned char)(acc >> 16);
            buf[n++] = (unsigned char)(acc >> 8);
            buf[n++] = (unsigned char)acc;
            acc = 0;
        }
    }
    /* The unused low bits of the last character must be zero, so that a
     * token has exactly one encoding. */
    if (rest == 2) {
        if (acc & 0xf)
            goto fail;
        buf[n++] = (unsigned char)(acc >> 4);
    } else if (rest == 3) {
        if (acc & 0x3)
            goto fail;
        buf[n++] = (unsigned char)(acc >> 10);
        buf[n++] = (unsigned char)(acc >> 2);
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return 0;
fail:
    free(buf);
    return -1;
}

size_t
jwt_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = 0, i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[n++] = digits[v >> 18];
        out[n++] = digits[(v >> 12) & 63];
        out[n++] = digits[(v >> 6) & 63];
        out[n++] = digits[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[n++] = digits[v >> 18];
        out[n++] = digits[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[n++] = digits[v >> 18];
        out[n++] = digits[(v >> 12) & 63];
        out[n++] = digits[(v >> 6) & 63];
    }
    out[n] = 0;
    return n;
}

/* -- Parsing ------------------------------------------------------------ */

void
jwt_jws_clear(jwt_jws *jws)
{
    json_decref(jws->header);
    free(jws->payload);
    free(jws->signature);
    memset(jws, 0, sizeof(*jws));
}

jwt_result
jwt_jws_parse(const char *token, size_t len, jwt_jws *jws)
{
    const char *dot1, *dot2;
    unsigned char *header_bytes = NULL;
    size_t header_len;
    const json_t *alg, *kid;
    json_error_t jerr;

    memset(jws, 0, sizeof(*jws));
    if (len > JWT_MAX_TOKEN_LEN)
        return JWT_ERR_TOO_LARGE;
    dot1 = memchr(token, '.', len);
    if (!dot1)
        return JWT_ERR_MALFORMED;
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return JWT_ERR_MALFORMED;
    if (dot1 == token)
        return JWT_ERR_MALFORMED; /* no header */

    if (jwt_b64url_decode(token, (size_t)(dot1 - token), &header_bytes,
                          &header_len) != 0)
        return JWT_ERR_MALFORMED;
    jws->header = json_loadb((const char *)header_bytes, header_len,
                             JSON_REJECT_DUPLICATES, &jerr);
    free(header_bytes);
    if (!json_is_object(jws->header))
        goto malformed;
    if (jwt_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &jws->payload,
                          &jws->payload_len) != 0 ||
        jwt_b64url_decode(dot2 + 1, (size_t)(token + len - dot2 - 1),
                          &jws->signature, &jws->signature_len) != 0)
        goto malformed;

    alg = json_object_get(jws->header, "alg");
    if (!json_is_string(alg))
        goto malformed;
    if (json_object_get(jws->header, "crit") ||
        json_object_get(jws->header, "b64")) {
        jwt_jws_clear(jws);
        return JWT_ERR_UNSUPPORTED;
    }
    jws->alg =
        jwt_alg_from_name(json_string_value(alg), json_string_length(alg));
    if (jws->alg == JWT_ALG_UNKNOWN) {
        jwt_jws_clear(jws);
        return JWT_ERR_ALG; /* "none" included */
    }
    if (jws->signature_len == 0)
        goto malformed;
    kid = json_object_get(jws->header, "kid");
    if (kid) {
        if (!json_is_string(kid))
            goto malformed;
        jws->kid = json_string_value(kid);
        jws->kid_len = json_string_length(kid);
    }
    jws->signing_input = token;
    jws->signing_input_len = (size_t)(dot2 - token);
    return JWT_OK;
malformed:
    jwt_jws_clear(jws);
    return JWT_ERR_MALFORMED;
}

/* -- Verification ------------------------------------------------------- */

static const EVP_MD *
alg_md(jwt_alg alg)
{
    switch (alg) {
    case JWT_ALG_HS256:
    case JWT_ALG_RS256:
    case JWT_ALG_PS256:
    case JWT_ALG_ES256:
        return EVP_sha256();
    case JWT_ALG_HS384:
    case JWT_ALG_RS384:
    case JWT_ALG_PS384:
    case JWT_ALG_ES384:
        return EVP_sha384();
    case JWT_ALG_HS512:
    case JWT_ALG_RS512:
    case JWT_ALG_PS512:
    case JWT_ALG_ES512:
        return EVP_sha512();
    default:
        return NULL; /* EdDSA hashes internally */
    }
}

static jwt_result
verify_hmac(const jwt_jws *jws, const jwt_key *key)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const EVP_MD *md = alg_md(jws->alg);

    if (!HMAC(md, key->secret, (int)key->secret_len,
              (const unsigned char *)jws->signing_input, jws->signing_input_len,
              mac, &mac_len))
        return JWT_ERR_SIGNATURE;
    /* Lengths are public; the bytes are compared in constant time. */
    if (mac_len != jws->signature_len ||
        CRYPTO_memcmp(mac, jws->signature, mac_len) != 0)
        return JWT_ERR_SIGNATURE;
    return JWT_OK;
}

/* JOSE's r || s to DER. NULL (and nothing to free) when the length is not
 * exactly twice the coordinate size. */
static unsigned char *
ecdsa_der(const jwt_jws *jws, size_t coord, int *der_len)
{
    ECDSA_SIG *sig;
    BIGNUM *r, *s;
    unsigned char *der = NULL;

    if (jws->signature_len != 2 * coord)
        return NULL;
    sig = ECDSA_SIG_new();
    r = BN_bin2bn(jws->signature, (int)coord, NULL);
    s = BN_bin2bn(jws->signature + coord, (int)coord, NULL);
    if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return NULL;
    }
    *der_len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    if (*der_len <= 0)
        return NULL;
    return der;
}

/* The fast path: hash with the prefetched digest, verify with a copy of
 * the key's prepared context (a copy, because a context is not safe to
 * use from two threads at once). -1 when the key has no prepared context
 * for this alg. */
static int
verify_prepared(const jwt_jws *jws, const jwt_key *key,
                const unsigned char *sig, size_t sig_len)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_PKEY_CTX *ctx;
    int ok;

    if (!key->prepared[jws->alg])
        return -1;
    if (EVP_Digest(jws->signing_input, jws->signing_input_len, digest,
                   &digest_len, key->md[jws->alg], NULL) != 1)
        return 0;
    ctx = EVP_PKEY_CTX_dup(key->prepared[jws->alg]);
    if (!ctx)
        return 0;
    ok = EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static jwt_result
verify_pkey(const jwt_jws *jws, const jwt_key *key)
{
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    const unsigned char *sig = jws->signature;
    size_t sig_len = jws->signature_len;
    unsigned char *der = NULL;
    jwt_result res = JWT_ERR_SIGNATURE;

    if (key->kty == JWT_KTY_EC) {
        int der_len = 0;
        der = ecdsa_der(jws, key->ec_coord_len, &der_len);
        if (!der)
            goto done;
        sig = der;
        sig_len = (size_t)der_len;
    }
    switch (verify_prepared(jws, key, sig, sig_len)) {
    case 1:
        res = JWT_OK;
        goto done;
    case 0:
        goto done;
    default:
        break; /* no prepared context (EdDSA): the general path */
    }
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestVerifyInit(ctx, &pctx, alg_md(jws->alg), NULL,
                                     key->pkey) <= 0)
        goto done;
    /* PKCS#1 v1.5 is OpenSSL's default padding for RSA keys; only PSS
     * needs setting up (each parameter set costs a provider round trip,
     * which shows in the RS256 benchmark). */
    if (key->kty == JWT_KTY_RSA && jws->alg >= JWT_ALG_PS256 &&
        jws->alg <= JWT_ALG_PS512) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <=
                0 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, alg_md(jws->alg)) <= 0)
            goto done;
    }
    if (EVP_DigestVerify(ctx, sig, sig_len,
                         (const unsigned char *)jws->signing_input,
                         jws->signing_input_len) == 1)
        res = JWT_OK;
done:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    return res;
}

jwt_result
jwt_jws_verify_key(const jwt_jws *jws, const jwt_key *key)
{
    if (!jwt_key_allows(key, jws->alg))
        return JWT_ERR_ALG;
    if (key->kty == JWT_KTY_OCT)
        return verify_hmac(jws, key);
    return verify_pkey(jws, key);
}

jwt_result
jwt_jws_verify(const jwt_jws *jws, const jwt_jwks *set)
{
    jwt_result best = JWT_ERR_NO_KEY;

    if (!set)
        return JWT_ERR_NO_KEY;
    for (size_t i = 0; i < set->count; i++) {
        const jwt_key *key = &set->keys[i];
        jwt_result r;
        /* Envoy's rule (jwt_verify_lib), which kgateway's users rely on:
         * a token's kid selects the keys with that kid, and a key without
         * kid (a PEM key has none) may verify any token. */
        if (jws->kid && key->kid) {
            if (strlen(key->kid) != jws->kid_len ||
                memcmp(key->kid, jws->kid, jws->kid_len) != 0)
                continue;
        } else if (!jwt_key_allows(key, jws->alg)) {
            continue;
        }
        r = jwt_jws_verify_key(jws, key);
        if (r == JWT_OK)
            return JWT_OK;
        /* A bad signature says more than "alg not allowed". */
        if (best == JWT_ERR_NO_KEY || r == JWT_ERR_SIGNATURE)
            best = r;
    }
    return best;
}
