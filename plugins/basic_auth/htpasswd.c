/*
 * htpasswd.c - the user table of basic_auth: htpasswd lines as Apache's
 * `htpasswd` writes them, checked when the config loads, and the
 * password check of a request.
 *
 * Formats. kgateway documents SHA-1 only ("{SHA}" + base64 of the
 * SHA-1), which is also all Envoy's basic_auth filter accepts; the
 * issue asks for what htpasswd writes by default too, so this file also
 * takes APR1-MD5 ("$apr1$", htpasswd -m, its default), md5crypt ("$1$",
 * `openssl passwd -1`) and bcrypt ("$2a$", "$2b$", "$2y$", htpasswd -B).
 * Plain text (htpasswd -p) and crypt(3) DES (-d) are refused by name:
 * the first stores the password itself, the second keeps 8 characters of
 * it. SHA-256/512-crypt ("$5$", "$6$") are refused as unsupported.
 *
 * APR1 is md5crypt with another magic string; libxcrypt knows "$1$" but
 * not "$apr1$", so both are computed here on OpenSSL's MD5 (the
 * algorithm as Poul-Henning Kamp published it, written from its
 * description). bcrypt goes to libxcrypt's crypt_rn. Whatever the format,
 * the hash derived from the presented password is compared with the
 * stored one by CRYPTO_memcmp, so the time taken does not depend on how
 * many leading bytes match.
 *
 * Cost. A SHA-1 check is a microsecond; APR1 is 1000 MD5 rounds (~0.1 ms);
 * bcrypt at cost 10 is ~50 ms of a core. filter.c caches verified
 * credentials so that a client sending the same credential again does not
 * pay again, but a wrong password is never cached: every guess costs a
 * full verification. That is why bcrypt costs above BA_BCRYPT_MAX_COST
 * are refused here.
 */
#include "basic_auth.h"

#include <gwf/sdk.h>

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char itoa64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int
is_itoa64(char c)
{
    return c && strchr(itoa64, c) != NULL;
}

static int
all_itoa64(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_itoa64(s[i]))
            return 0;
    return 1;
}

/* -- md5crypt ----------------------------------------------------------------
 */

static void
to64(char **p, unsigned long v, int n)
{
    while (n-- > 0) {
        *(*p)++ = itoa64[v & 0x3f];
        v >>= 6;
    }
}

int
ba_md5crypt(const EVP_MD *md5_in, const char *pw, size_t pw_len,
            const char *salt, size_t salt_len, const char *magic, char out[23])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *alt = EVP_MD_CTX_new();
    EVP_MD *fetched = md5_in ? NULL : EVP_MD_fetch(NULL, "MD5", NULL);
    const EVP_MD *md5 = md5_in ? md5_in : fetched;
    unsigned char fin[16];
    size_t magic_len = strlen(magic);
    int ok = ctx && alt && md5;
    char *p = out;

    if (salt_len > 8)
        salt_len = 8;
    /* alt = MD5(pw salt pw) */
    ok = ok && EVP_DigestInit_ex(alt, md5, NULL) &&
         EVP_DigestUpdate(alt, pw, pw_len) &&
         EVP_DigestUpdate(alt, salt, salt_len) &&
         EVP_DigestUpdate(alt, pw, pw_len) &&
         EVP_DigestFinal_ex(alt, fin, NULL);
    ok = ok && EVP_DigestInit_ex(ctx, md5, NULL) &&
         EVP_DigestUpdate(ctx, pw, pw_len) &&
         EVP_DigestUpdate(ctx, magic, magic_len) &&
         EVP_DigestUpdate(ctx, salt, salt_len);
    for (size_t left = pw_len; ok && left > 0; left -= left > 16 ? 16 : left)
        ok = EVP_DigestUpdate(ctx, fin, left > 16 ? 16 : left);
    memset(fin, 0, sizeof(fin));
    /* One byte per bit of the length: a zero byte for a 1 bit, the
     * password's first byte for a 0 bit (a quirk of the original). */
    for (size_t i = pw_len; ok && i; i >>= 1)
        ok = (i & 1) ? EVP_DigestUpdate(ctx, fin, 1)
                     : EVP_DigestUpdate(ctx, pw, 1);
    ok = ok && EVP_DigestFinal_ex(ctx, fin, NULL);
    for (int i = 0; ok && i < 1000; i++) {
        ok = EVP_DigestInit_ex(ctx, md5, NULL);
        if (i & 1)
            ok = ok && EVP_DigestUpdate(ctx, pw, pw_len);
        else
            ok = ok && EVP_DigestUpdate(ctx, fin, 16);
        if (i % 3)
            ok = ok && EVP_DigestUpdate(ctx, salt, salt_len);
        if (i % 7)
            ok = ok && EVP_DigestUpdate(ctx, pw, pw_len);
        if (i & 1)
            ok = ok && EVP_DigestUpdate(ctx, fin, 16);
        else
            ok = ok && EVP_DigestUpdate(ctx, pw, pw_len);
        ok = ok && EVP_DigestFinal_ex(ctx, fin, NULL);
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_CTX_free(alt);
    EVP_MD_free(fetched);
    if (!ok) {
        OPENSSL_cleanse(fin, sizeof(fin));
        return -1;
    }
    to64(&p, ((unsigned long)fin[0] << 16) | (fin[6] << 8) | fin[12], 4);
    to64(&p, ((unsigned long)fin[1] << 16) | (fin[7] << 8) | fin[13], 4);
    to64(&p, ((unsigned long)fin[2] << 16) | (fin[8] << 8) | fin[14], 4);
    to64(&p, ((unsigned long)fin[3] << 16) | (fin[9] << 8) | fin[15], 4);
    to64(&p, ((unsigned long)fin[4] << 16) | (fin[10] << 8) | fin[5], 4);
    to64(&p, fin[11], 2);
    *p = '\0';
    OPENSSL_cleanse(fin, sizeof(fin));
    return 0;
}

/* -- Parsing ------------------------------------------------------------------
 */

/* "$<magic>salt$hash22": the salt (1-8 itoa64 characters) and hash. */
static int
check_md5crypt(const char *h, size_t len, size_t magic_len, char *err,
               size_t err_len)
{
    const char *salt = h + magic_len, *end = h + len;
    const char *dollar = memchr(salt, '$', (size_t)(end - salt));

    if (!dollar || dollar == salt || dollar - salt > 8 ||
        !all_itoa64(salt, (size_t)(dollar - salt)) ||
        end - (dollar + 1) != 22 || !all_itoa64(dollar + 1, 22)) {
        snprintf(err, err_len,
                 "malformed %.*s hash: expected %.*s<salt of 1-8 "
                 "characters>$<22 characters>",
                 (int)magic_len, h, (int)magic_len, h);
        return -1;
    }
    return 0;
}

/* "$2?$NN$" + 53 characters (22 of salt, 31 of hash). */
static int
check_bcrypt(const char *h, size_t len, char *err, size_t err_len)
{
    int cost;

    if (len != 60 || h[6] != '$' || h[4] < '0' || h[4] > '9' || h[5] < '0' ||
        h[5] > '9' || !all_itoa64(h + 7, 53)) {
        snprintf(err, err_len,
                 "malformed bcrypt hash: expected $2y$<cost>$"
                 "<53 characters>");
        return -1;
    }
    cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > BA_BCRYPT_MAX_COST) {
        snprintf(err, err_len,
                 "bcrypt cost %d is out of range: expected 4 to %d (each "
                 "request with a new credential pays the whole cost)",
                 cost, BA_BCRYPT_MAX_COST);
        return -1;
    }
    return 0;
}

static int
classify(ba_user *u, char *err, size_t err_len)
{
    const char *h = u->hash;
    size_t len = u->hash_len;

    if (len >= 5 && memcmp(h, "{SHA}", 5) == 0) {
        char *raw = NULL;
        size_t raw_len = 0;
        if (gwf_base64_decode(h + 5, len - 5, &raw, &raw_len) != 0 ||
            raw_len != 20) {
            free(raw);
            snprintf(err, err_len,
                     "malformed {SHA} hash: expected the base64 "
                     "of a 20-byte SHA-1 digest");
            return -1;
        }
        memcpy(u->sha1, raw, 20);
        free(raw);
        u->kind = BA_HASH_SHA1;
        return 0;
    }
    if (len >= 6 && memcmp(h, "$apr1$", 6) == 0) {
        u->kind = BA_HASH_APR1;
        return check_md5crypt(h, len, 6, err, err_len);
    }
    if (len >= 3 && memcmp(h, "$1$", 3) == 0) {
        u->kind = BA_HASH_MD5CRYPT;
        return check_md5crypt(h, len, 3, err, err_len);
    }
    if (len >= 4 && h[0] == '$' && h[1] == '2' && h[3] == '$' &&
        (h[2] == 'a' || h[2] == 'b' || h[2] == 'y')) {
        u->kind = BA_HASH_BCRYPT;
        return check_bcrypt(h, len, err, err_len);
    }
    if (len >= 3 && h[0] == '$' && (h[1] == '5' || h[1] == '6') &&
        h[2] == '$') {
        snprintf(err, err_len,
                 "unsupported password hash SHA-%s-crypt: use "
                 "{SHA} (htpasswd -s), $apr1$ (htpasswd -m) or "
                 "bcrypt (htpasswd -B)",
                 h[1] == '5' ? "256" : "512");
        return -1;
    }
    if (len == 13 && all_itoa64(h, 13))
        snprintf(err, err_len,
                 "unsupported password hash crypt(3) DES "
                 "(htpasswd -d): use {SHA} (htpasswd -s), "
                 "$apr1$ (htpasswd -m) or bcrypt (htpasswd -B)");
    else
        snprintf(err, err_len,
                 "unsupported password hash (plain text or an unknown "
                 "scheme): use {SHA} (htpasswd -s), $apr1$ (htpasswd -m) or "
                 "bcrypt (htpasswd -B)");
    return -1;
}

int
ba_users_add_line(ba_users *us, const char *line, size_t len, char *err,
                  size_t err_len)
{
    const char *colon = memchr(line, ':', len);
    ba_user u = {0};

    if (len > BA_MAX_LINE_LEN) {
        snprintf(err, err_len, "line longer than %d bytes", BA_MAX_LINE_LEN);
        return -1;
    }
    if (!colon || colon == line) {
        snprintf(err, err_len, "expected \"user:hash\"");
        return -1;
    }
    u.name_len = (size_t)(colon - line);
    u.hash_len = len - u.name_len - 1;
    if (u.name_len > BA_MAX_USER_LEN) {
        snprintf(err, err_len, "user name longer than %d bytes",
                 BA_MAX_USER_LEN);
        return -1;
    }
    if (memchr(line, '\0', len)) {
        snprintf(err, err_len, "a NUL byte in the line");
        return -1;
    }
    if (u.hash_len == 0) {
        snprintf(err, err_len, "user \"%.*s\" has no password hash",
                 (int)u.name_len, line);
        return -1;
    }
    if (!us->sha1)
        us->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (!us->md5)
        us->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    if (!us->sha1 || !us->md5)
        return -2;
    if (us->n == us->cap) {
        size_t cap = us->cap ? us->cap * 2 : 8;
        ba_user *v = realloc(us->v, cap * sizeof(*v));
        if (!v)
            return -2;
        us->v = v;
        us->cap = cap;
    }
    u.name = strndup(line, u.name_len);
    u.hash = strndup(colon + 1, u.hash_len);
    if (!u.name || !u.hash) {
        free(u.name);
        free(u.hash);
        return -2;
    }
    if (classify(&u, err, err_len) != 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "user \"%.*s\": %s", (int)u.name_len, u.name,
                 err);
        snprintf(err, err_len, "%s", msg);
        free(u.name);
        ba_wipe_free(u.hash, u.hash_len);
        return -1;
    }
    us->v[us->n++] = u;
    return 0;
}

static int
user_cmp(const void *a, const void *b)
{
    const ba_user *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);

    if (c)
        return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* How slow a user's hash is to verify, in rank order: SHA-1, then
 * md5crypt (1000 MD5s), then bcrypt by cost (2^cost rounds). */
static int
cost_rank(const ba_user *u)
{
    switch (u->kind) {
    case BA_HASH_SHA1:
        return 0;
    case BA_HASH_APR1:
    case BA_HASH_MD5CRYPT:
        return 1;
    case BA_HASH_BCRYPT:
        return 2 + (u->hash[4] - '0') * 10 + (u->hash[5] - '0');
    }
    return 0;
}

int
ba_users_finish(ba_users *us, char *err, size_t err_len)
{
    if (us->n > 1)
        qsort(us->v, us->n, sizeof(*us->v), user_cmp);
    for (size_t i = 1; i < us->n; i++)
        if (user_cmp(&us->v[i - 1], &us->v[i]) == 0) {
            snprintf(err, err_len, "user \"%s\" is listed twice",
                     us->v[i].name);
            return -1;
        }
    us->decoy = 0;
    for (size_t i = 1; i < us->n; i++)
        if (cost_rank(&us->v[i]) > cost_rank(&us->v[us->decoy]))
            us->decoy = i;
    return 0;
}

const ba_user *
ba_users_find(const ba_users *us, const char *name, size_t len)
{
    ba_user key = {.name = (char *)name, .name_len = len};

    if (!us->n)
        return NULL;
    return bsearch(&key, us->v, us->n, sizeof(*us->v), user_cmp);
}

void
ba_users_free(ba_users *us)
{
    for (size_t i = 0; i < us->n; i++) {
        free(us->v[i].name);
        ba_wipe_free(us->v[i].hash, us->v[i].hash_len);
    }
    free(us->v);
    EVP_MD_free(us->sha1);
    EVP_MD_free(us->md5);
    memset(us, 0, sizeof(*us));
}

/* -- Verification -------------------------------------------------------------
 */

static int
verify_md5crypt(const EVP_MD *md5, const ba_user *u, const char *pw, size_t len,
                size_t magic_len)
{
    const char *salt = u->hash + magic_len;
    const char *dollar = strchr(salt, '$');
    char out[23];
    int match;

    if (!dollar || ba_md5crypt(md5, pw, len, salt, (size_t)(dollar - salt),
                               magic_len == 6 ? "$apr1$" : "$1$", out) != 0)
        return 0;
    match = CRYPTO_memcmp(out, dollar + 1, 22) == 0;
    OPENSSL_cleanse(out, sizeof(out));
    return match;
}

static int
verify_bcrypt(const ba_user *u, const char *pw, size_t len)
{
    struct crypt_data *data;
    char *copy;
    const char *out;
    int match = 0;

    if (memchr(pw, '\0', len))
        return 0;
    data = calloc(1, sizeof(*data));
    copy = strndup(pw, len);
    if (data && copy) {
        /* crypt_rn, libxcrypt's own: sanitizers intercept crypt_r with
         * another library's idea of struct crypt_data. */
        out = crypt_rn(copy, u->hash, data, (int)sizeof(*data));
        match = out && strlen(out) == u->hash_len &&
                CRYPTO_memcmp(out, u->hash, u->hash_len) == 0;
    }
    if (data) {
        OPENSSL_cleanse(data, sizeof(*data));
        free(data);
    }
    ba_wipe_free(copy, copy ? len : 0);
    return match;
}

/* SHA-1 of `pw` in `work` (reinitialised: no allocation once it held a
 * SHA-1), or in a context of its own when `work` is NULL. */
static int
verify_sha1(const ba_users *us, EVP_MD_CTX *work, const ba_user *u,
            const char *pw, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int ok, match;

    if (!us->sha1)
        return 0;
    if (work)
        ok = EVP_DigestInit_ex2(work, us->sha1, NULL) &&
             EVP_DigestUpdate(work, pw, len) &&
             EVP_DigestFinal_ex(work, md, &md_len);
    else
        ok = EVP_Digest(pw, len, md, &md_len, us->sha1, NULL);
    match = ok && md_len == 20 && CRYPTO_memcmp(md, u->sha1, 20) == 0;
    OPENSSL_cleanse(md, sizeof(md));
    return match;
}

int
ba_user_verify(const ba_users *us, const ba_user *u, const char *pw, size_t len)
{
    return ba_user_verify_in(us, NULL, u, pw, len);
}

int
ba_user_verify_in(const ba_users *us, EVP_MD_CTX *work, const ba_user *u,
                  const char *pw, size_t len)
{
    switch (u->kind) {
    case BA_HASH_SHA1:
        return verify_sha1(us, work, u, pw, len);
    case BA_HASH_APR1:
        return verify_md5crypt(us->md5, u, pw, len, 6);
    case BA_HASH_MD5CRYPT:
        return verify_md5crypt(us->md5, u, pw, len, 3);
    case BA_HASH_BCRYPT:
        return verify_bcrypt(u, pw, len);
    }
    return 0;
}
