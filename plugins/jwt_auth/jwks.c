/*
 * jwks.c - JSON Web Key Sets (RFC 7517, 7518 section 6, RFC 8037): turn
 * the operator's (or the identity provider's) keys into OpenSSL keys once,
 * so that a request only pays for the signature check.
 *
 * Why OpenSSL 3 EVP and not libjwt: libjwt 1.10 (Debian 12) knows neither
 * PS* nor EdDSA, has no notion of a key set (kid, use, key_ops, a key's
 * own alg), and would re-import the key from PEM on every verification.
 * Everything it would add for the other algorithms is a thin wrapper over
 * the same EVP calls, so one code path over EVP for all of them is both
 * smaller and faster, and the key-selection rules stay in one place.
 *
 * Keys that can never be used for verification are skipped, not fatal:
 * a provider's JWKS often carries encryption keys next to signing keys.
 *
 * A local key may also be a PEM public key, as kgateway accepts one in
 * jwks.local (it turns the first PEM block into a one-key JWKS before
 * Envoy sees it): "PUBLIC KEY" (SubjectPublicKeyInfo: RSA, EC, Ed25519)
 * or "RSA PUBLIC KEY" (PKCS#1). Like kgateway, such a key is bound to
 * one algorithm: RS256 for RSA, ES256 for EC, EdDSA for Ed25519, and it
 * has no kid.
 */
#include "jwt_auth.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
set_msg(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (!buf || size == 0 || buf[0])
        return; /* keep the first message */
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static const struct {
    const char *name;
    jwt_alg alg;
} alg_names[] = {
    {"HS256", JWT_ALG_HS256}, {"HS384", JWT_ALG_HS384},
    {"HS512", JWT_ALG_HS512}, {"RS256", JWT_ALG_RS256},
    {"RS384", JWT_ALG_RS384}, {"RS512", JWT_ALG_RS512},
    {"PS256", JWT_ALG_PS256}, {"PS384", JWT_ALG_PS384},
    {"PS512", JWT_ALG_PS512}, {"ES256", JWT_ALG_ES256},
    {"ES384", JWT_ALG_ES384}, {"ES512", JWT_ALG_ES512},
    {"EdDSA", JWT_ALG_EDDSA},
};

jwt_alg
jwt_alg_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
        if (strlen(alg_names[i].name) == len &&
            memcmp(alg_names[i].name, name, len) == 0)
            return alg_names[i].alg;
    }
    return JWT_ALG_UNKNOWN;
}

const char *
jwt_alg_name(jwt_alg alg)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
        if (alg_names[i].alg == alg)
            return alg_names[i].name;
    }
    return "unknown";
}

int
jwt_key_allows(const jwt_key *key, jwt_alg alg)
{
    if (alg == JWT_ALG_UNKNOWN)
        return 0;
    if (key->alg != JWT_ALG_UNKNOWN)
        return key->alg == alg;
    switch (key->kty) {
    case JWT_KTY_OCT:
        return alg >= JWT_ALG_HS256 && alg <= JWT_ALG_HS512;
    case JWT_KTY_RSA:
        return alg >= JWT_ALG_RS256 && alg <= JWT_ALG_PS512;
    case JWT_KTY_EC:
        return (alg == JWT_ALG_ES256 &&
                key->curve_nid == NID_X9_62_prime256v1) ||
               (alg == JWT_ALG_ES384 && key->curve_nid == NID_secp384r1) ||
               (alg == JWT_ALG_ES512 && key->curve_nid == NID_secp521r1);
    case JWT_KTY_OKP:
        return alg == JWT_ALG_EDDSA;
    }
    return 0;
}

/* A base64url member of `jwk` decoded; NULL when absent or invalid. */
static unsigned char *
member_bytes(const json_t *jwk, const char *name, size_t *len)
{
    const json_t *v = json_object_get(jwk, name);
    unsigned char *out;

    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    if (jwt_b64url_decode(json_string_value(v), json_string_length(v), &out,
                          len) != 0)
        return NULL;
    return out;
}

static BIGNUM *
member_bn(const json_t *jwk, const char *name)
{
    size_t len;
    unsigned char *bytes = member_bytes(jwk, name, &len);
    BIGNUM *bn;

    if (!bytes)
        return NULL;
    bn = BN_bin2bn(bytes, (int)len, NULL);
    free(bytes);
    return bn;
}

static EVP_PKEY *
pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;

    if (!params)
        return NULL;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static const char *
load_rsa(jwt_key *key, const json_t *jwk)
{
    BIGNUM *n = member_bn(jwk, "n"), *e = member_bn(jwk, "e");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    const char *why = NULL;

    if (!n || !e)
        why = "RSA key needs base64url \"n\" and \"e\"";
    else if (BN_num_bits(n) < 1024)
        why = "RSA modulus shorter than 1024 bits";
    else if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
             !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        why = "out of memory";
    else if (!(key->pkey = pkey_from_params("RSA", bld)))
        why = "OpenSSL refused the RSA key";
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return why;
}

static const char *
load_ec(jwt_key *key, const json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *group;
    unsigned char *x = NULL, *y = NULL, *point = NULL;
    size_t x_len = 0, y_len = 0, n;
    OSSL_PARAM_BLD *bld = NULL;
    const char *why = NULL;

    if (crv && strcmp(crv, "P-256") == 0) {
        group = "prime256v1", key->curve_nid = NID_X9_62_prime256v1, n = 32;
    } else if (crv && strcmp(crv, "P-384") == 0) {
        group = "secp384r1", key->curve_nid = NID_secp384r1, n = 48;
    } else if (crv && strcmp(crv, "P-521") == 0) {
        group = "secp521r1", key->curve_nid = NID_secp521r1, n = 66;
    } else {
        return "EC key needs \"crv\" P-256, P-384 or P-521";
    }
    key->ec_coord_len = n;
    x = member_bytes(jwk, "x", &x_len);
    y = member_bytes(jwk, "y", &y_len);
    /* RFC 7518 6.2.1.2: each coordinate is exactly the field size. */
    if (!x || !y || x_len != n || y_len != n) {
        why = "EC key needs \"x\" and \"y\" of the curve's size";
        goto done;
    }
    point = malloc(1 + 2 * n);
    bld = OSSL_PARAM_BLD_new();
    if (!point || !bld) {
        why = "out of memory";
        goto done;
    }
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, n);
    memcpy(point + 1 + n, y, n);
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                         0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                          1 + 2 * n)) {
        why = "out of memory";
        goto done;
    }
    /* fromdata decodes the point, which refuses a point not on the curve
     * (the invalid-curve attack). */
    if (!(key->pkey = pkey_from_params("EC", bld)))
        why = "EC point is not on the curve";
done:
    OSSL_PARAM_BLD_free(bld);
    free(point);
    free(x);
    free(y);
    return why;
}

static const char *
load_okp(jwt_key *key, const json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    unsigned char *x;
    size_t x_len;

    if (!crv || strcmp(crv, "Ed25519") != 0)
        return "OKP key needs \"crv\" Ed25519";
    x = member_bytes(jwk, "x", &x_len);
    if (!x || x_len != 32) {
        free(x);
        return "Ed25519 key needs a 32-byte \"x\"";
    }
    key->curve_nid = NID_ED25519;
    key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
    free(x);
    return key->pkey ? NULL : "OpenSSL refused the Ed25519 key";
}

static const char *
load_oct(jwt_key *key, const json_t *jwk)
{
    key->secret = member_bytes(jwk, "k", &key->secret_len);
    return key->secret ? NULL : "oct key needs a base64url \"k\"";
}

/* Why this JWK may not verify anything, or NULL. RFC 7517 4.2 and 4.3. */
static const char *
usage_refusal(const json_t *jwk)
{
    const json_t *use = json_object_get(jwk, "use");
    const json_t *ops = json_object_get(jwk, "key_ops");

    if (use &&
        (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0))
        return "\"use\" is not \"sig\"";
    if (ops) {
        size_t i;
        const json_t *op;
        if (!json_is_array(ops))
            return "\"key_ops\" is not a list";
        json_array_foreach(ops, i, op)
        {
            if (json_is_string(op) &&
                strcmp(json_string_value(op), "verify") == 0)
                return NULL;
        }
        return "\"key_ops\" lacks \"verify\"";
    }
    return NULL;
}

static void
key_clear(jwt_key *key)
{
    for (int a = 0; a <= JWT_ALG_EDDSA; a++) {
        EVP_PKEY_CTX_free(key->prepared[a]);
        EVP_MD_free(key->md[a]);
    }
    free(key->kid);
    EVP_PKEY_free(key->pkey);
    if (key->secret)
        OPENSSL_clear_free(key->secret, key->secret_len);
    memset(key, 0, sizeof(*key));
}

static const char *
alg_digest_name(jwt_alg alg)
{
    switch (alg) {
    case JWT_ALG_RS256:
    case JWT_ALG_PS256:
    case JWT_ALG_ES256:
        return "SHA256";
    case JWT_ALG_RS384:
    case JWT_ALG_PS384:
    case JWT_ALG_ES384:
        return "SHA384";
    case JWT_ALG_RS512:
    case JWT_ALG_PS512:
    case JWT_ALG_ES512:
        return "SHA512";
    default:
        return NULL;
    }
}

/* Set up the verify contexts of an RSA or EC key (see jwt_key). A
 * failure only loses the fast path: token.c falls back to
 * EVP_DigestVerify. */
static void
key_prepare(jwt_key *key)
{
    for (int a = JWT_ALG_RS256; a <= JWT_ALG_ES512; a++) {
        jwt_alg alg = (jwt_alg)a;
        EVP_PKEY_CTX *ctx;
        EVP_MD *md;
        int ok;

        if (!jwt_key_allows(key, alg))
            continue;
        md = EVP_MD_fetch(NULL, alg_digest_name(alg), NULL);
        ctx = md ? EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL) : NULL;
        ok = ctx && EVP_PKEY_verify_init(ctx) > 0 &&
             EVP_PKEY_CTX_set_signature_md(ctx, md) > 0;
        if (ok && alg >= JWT_ALG_PS256 && alg <= JWT_ALG_PS512)
            ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) >
                     0 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
        if (!ok) {
            EVP_PKEY_CTX_free(ctx);
            EVP_MD_free(md);
            continue;
        }
        key->prepared[a] = ctx;
        key->md[a] = md;
    }
}

/* Fill `key` from `jwk`; NULL on success, else why it was skipped. */
static const char *
key_load(jwt_key *key, const json_t *jwk)
{
    const char *kty, *why;
    const json_t *alg = json_object_get(jwk, "alg");
    const json_t *kid = json_object_get(jwk, "kid");

    memset(key, 0, sizeof(*key));
    if (!json_is_object(jwk))
        return "a key is not an object";
    if ((why = usage_refusal(jwk)))
        return why;
    if (alg) {
        if (!json_is_string(alg))
            return "\"alg\" is not a string";
        key->alg =
            jwt_alg_from_name(json_string_value(alg), json_string_length(alg));
        /* A key bound to an algorithm we do not know (RSA-OAEP, ES521,
         * ...) must not fall back to its kty: that would widen it. */
        if (key->alg == JWT_ALG_UNKNOWN)
            return "\"alg\" is not a signature algorithm we verify";
    }
    if (kid) {
        if (!json_is_string(kid))
            return "\"kid\" is not a string";
        key->kid = strdup(json_string_value(kid));
        if (!key->kid)
            return "out of memory";
    }
    kty = json_string_value(json_object_get(jwk, "kty"));
    if (!kty)
        why = "\"kty\" is missing";
    else if (strcmp(kty, "RSA") == 0)
        key->kty = JWT_KTY_RSA, why = load_rsa(key, jwk);
    else if (strcmp(kty, "EC") == 0)
        key->kty = JWT_KTY_EC, why = load_ec(key, jwk);
    else if (strcmp(kty, "OKP") == 0)
        key->kty = JWT_KTY_OKP, why = load_okp(key, jwk);
    else if (strcmp(kty, "oct") == 0)
        key->kty = JWT_KTY_OCT, why = load_oct(key, jwk);
    else
        why = "\"kty\" is not RSA, EC, OKP or oct";
    /* A key whose alg contradicts its type can never verify. */
    if (!why && key->alg != JWT_ALG_UNKNOWN) {
        jwt_alg bound = key->alg;
        key->alg = JWT_ALG_UNKNOWN;
        if (!jwt_key_allows(key, bound))
            why = "\"alg\" does not fit the key type";
        key->alg = bound;
    }
    if (why)
        key_clear(key);
    else if (key->kty == JWT_KTY_RSA || key->kty == JWT_KTY_EC)
        key_prepare(key);
    return why;
}

jwt_jwks *
jwt_jwks_from_json(const json_t *doc, char *err, size_t err_size, char *warn,
                   size_t warn_size)
{
    const json_t *keys, *jwk;
    json_t *single = NULL;
    jwt_jwks *set;
    size_t i;

    if (err && err_size)
        err[0] = 0;
    if (warn && warn_size)
        warn[0] = 0;
    if (!json_is_object(doc)) {
        set_msg(err, err_size, "expected a JWKS object {\"keys\": [...]}");
        return NULL;
    }
    keys = json_object_get(doc, "keys");
    if (!keys && json_object_get(doc, "kty")) {
        single = json_array(); /* a bare JWK: a set of one */
        if (!single || json_array_append(single, (json_t *)doc) != 0) {
            json_decref(single);
            set_msg(err, err_size, "out of memory");
            return NULL;
        }
        keys = single;
    }
    if (!json_is_array(keys)) {
        set_msg(err, err_size, "expected \"keys\" to be a list of JWKs");
        return NULL;
    }
    set = calloc(1, sizeof(*set));
    if (set && json_array_size(keys) > 0)
        set->keys = calloc(json_array_size(keys), sizeof(*set->keys));
    if (!set || (json_array_size(keys) > 0 && !set->keys)) {
        free(set);
        json_decref(single);
        set_msg(err, err_size, "out of memory");
        return NULL;
    }
    json_array_foreach(keys, i, jwk)
    {
        const char *why = key_load(&set->keys[set->count], jwk);
        if (why)
            set_msg(warn, warn_size, "key %zu skipped: %s", i, why);
        else
            set->count++;
    }
    json_decref(single);
    if (set->count == 0) {
        set_msg(err, err_size, "no usable signature key%s%s",
                warn && warn[0] ? " (" : "", warn && warn[0] ? warn : "");
        if (warn && warn[0])
            strncat(err, ")", err_size - strlen(err) - 1);
        jwt_jwks_free(set);
        return NULL;
    }
    return set;
}

jwt_jwks *
jwt_jwks_parse(const char *json, size_t len, char *err, size_t err_size,
               char *warn, size_t warn_size)
{
    json_error_t jerr;
    json_t *doc;
    jwt_jwks *set;

    if (len > JWT_MAX_JWKS_LEN) {
        if (err && err_size)
            snprintf(err, err_size, "JWKS larger than %d bytes",
                     JWT_MAX_JWKS_LEN);
        return NULL;
    }
    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        if (err && err_size)
            snprintf(err, err_size, "invalid JSON: %s (line %d, column %d)",
                     jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    set = jwt_jwks_from_json(doc, err, err_size, warn, warn_size);
    json_decref(doc);
    return set;
}

/* The key of a DER SubjectPublicKeyInfo or PKCS#1 RSAPublicKey, as
 * kgateway reads a PEM block; NULL for anything else. */
static EVP_PKEY *
pem_block_key(const char *label, const unsigned char *der, long der_len)
{
    const unsigned char *at = der;

    if (strcmp(label, "PUBLIC KEY") == 0)
        return d2i_PUBKEY(NULL, &at, der_len);
    if (strcmp(label, "RSA PUBLIC KEY") == 0)
        return d2i_PublicKey(EVP_PKEY_RSA, NULL, &at, der_len);
    return NULL;
}

/* Fill `key` from `pkey` (taken over); NULL or why it cannot verify. */
static const char *
key_from_pkey(jwt_key *key, EVP_PKEY *pkey)
{
    char group[64] = "";
    size_t group_len = 0;

    memset(key, 0, sizeof(*key));
    key->pkey = pkey;
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey) < 1024)
            return "RSA modulus shorter than 1024 bits";
        key->kty = JWT_KTY_RSA, key->alg = JWT_ALG_RS256;
        break;
    case EVP_PKEY_EC:
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                            group, sizeof(group), &group_len))
            return "EC key without a named curve";
        key->kty = JWT_KTY_EC, key->alg = JWT_ALG_ES256;
        if (strcmp(group, "prime256v1") == 0)
            key->curve_nid = NID_X9_62_prime256v1, key->ec_coord_len = 32;
        else if (strcmp(group, "secp384r1") == 0)
            key->curve_nid = NID_secp384r1, key->ec_coord_len = 48;
        else if (strcmp(group, "secp521r1") == 0)
            key->curve_nid = NID_secp521r1, key->ec_coord_len = 66;
        else
            return "EC key not on P-256, P-384 or P-521";
        /* kgateway binds every PEM EC key to ES256, which only a P-256
         * key can verify. */
        if (key->curve_nid != NID_X9_62_prime256v1)
            return "a PEM EC key is used for ES256 (as kgateway binds it), "
                   "which needs a P-256 key";
        break;
    case EVP_PKEY_ED25519:
        key->kty = JWT_KTY_OKP, key->alg = JWT_ALG_EDDSA;
        key->curve_nid = NID_ED25519;
        break;
    default:
        return "only RSA, EC and Ed25519 public keys are supported in PEM";
    }
    if (key->kty != JWT_KTY_OKP)
        key_prepare(key);
    return NULL;
}

jwt_jwks *
jwt_jwks_from_pem(const char *text, size_t len, char *err, size_t err_size)
{
    BIO *bio = NULL;
    char *label = NULL, *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    EVP_PKEY *pkey = NULL;
    jwt_jwks *set = NULL;
    const char *why = "out of memory";

    if (err && err_size)
        err[0] = 0;
    if (len > JWT_MAX_JWKS_LEN || len > (size_t)INT32_MAX) {
        set_msg(err, err_size, "PEM larger than %d bytes", JWT_MAX_JWKS_LEN);
        return NULL;
    }
    bio = BIO_new_mem_buf(text, (int)len);
    if (!bio)
        goto done;
    /* Lines before the first BEGIN line are skipped, and only the first
     * block counts, as in kgateway (Go's pem.Decode). */
    if (!PEM_read_bio(bio, &label, &header, &der, &der_len)) {
        why = "no PEM block";
        goto done;
    }
    pkey = pem_block_key(label, der, der_len);
    if (!pkey) {
        why = strcmp(label, "PUBLIC KEY") == 0 ||
                      strcmp(label, "RSA PUBLIC KEY") == 0
                  ? "the PEM block is not a valid public key"
                  : "expected a PEM block \"PUBLIC KEY\" or \"RSA PUBLIC "
                    "KEY\"";
        goto done;
    }
    set = calloc(1, sizeof(*set));
    if (set)
        set->keys = calloc(1, sizeof(*set->keys));
    if (!set || !set->keys) {
        free(set);
        set = NULL;
        EVP_PKEY_free(pkey);
        goto done;
    }
    why = key_from_pkey(&set->keys[0], pkey);
    if (why) {
        key_clear(&set->keys[0]);
        jwt_jwks_free(set);
        set = NULL;
    } else {
        set->count = 1;
    }
done:
    if (!set)
        set_msg(err, err_size, "%s", why);
    OPENSSL_free(label);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(bio);
    ERR_clear_error();
    return set;
}

int
jwt_text_is_pem(const char *text, size_t len)
{
    static const char begin[] = "-----BEGIN";

    for (size_t i = 0;
         len >= sizeof(begin) - 1 && i <= len - (sizeof(begin) - 1); i++) {
        if (memcmp(text + i, begin, sizeof(begin) - 1) == 0)
            return 1;
    }
    return 0;
}

jwt_jwks *
jwt_jwks_parse_local(const char *text, size_t len, char *err, size_t err_size,
                     char *warn, size_t warn_size)
{
    char pem_err[160];
    jwt_jwks *set;

    if (!jwt_text_is_pem(text, len))
        return jwt_jwks_parse(text, len, err, err_size, warn, warn_size);
    /* kgateway tries PEM first and then the JSON forms. */
    set = jwt_jwks_from_pem(text, len, pem_err, sizeof(pem_err));
    if (set) {
        if (warn && warn_size)
            warn[0] = 0;
        return set;
    }
    set = jwt_jwks_parse(text, len, err, err_size, warn, warn_size);
    if (!set && err && err_size) {
        /* Text with a BEGIN line was meant as PEM: say why that failed. */
        err[0] = 0;
        set_msg(err, err_size, "%s (and the text is not a JWKS either)",
                pem_err);
    }
    return set;
}

void
jwt_jwks_free(jwt_jwks *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++)
        key_clear(&set->keys[i]);
    free(set->keys);
    free(set);
}
