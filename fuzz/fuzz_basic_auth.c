/*
 * fuzz_basic_auth.c - libFuzzer harness for what the basic_auth plugin
 * parses (plugins/basic_auth): htpasswd files from the config, and the
 * Authorization header of a request.
 *
 * The input is split at its first NUL byte (none: all of it is both):
 * the part before is an htpasswd file (lines added one by one, as
 * filter.c does with a Secret), the part after is an Authorization
 * value. Invariants: a line is accepted only with a user and a known
 * hash format; an accepted user is found again by name after
 * ba_users_finish; a credential parsed as OK has a non-empty user and a
 * colon right after it, inside the decoded bytes; verifying the parsed
 * password against every user never crashes (bcrypt lines of the corpus
 * use cost 4 so a run stays fast: a fuzzed cost above 4 is skipped).
 * Everything is freed (LeakSanitizer reports leaks as crashes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
    if (!cond)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *end = text + size;
    const char *nul = memchr(text, '\0', size);
    const char *file_end = nul ? nul : end;
    const char *auth = nul ? nul + 1 : text;
    size_t auth_len = (size_t)(end - auth);
    ba_users us = {0};
    char err[512], *decoded = NULL;
    size_t decoded_len = 0, user_len = 0;
    const char *p = text;
    int rc;

    while (p < file_end) {
        const char *nl = memchr(p, '\n', (size_t)(file_end - p));
        const char *stop = nl ? nl : file_end;
        rc = ba_users_add_line(&us, p, (size_t)(stop - p), err, sizeof(err));
        check(rc == 0 || rc == -1 || rc == -2);
        if (rc == 0)
            check(us.v[us.n - 1].name_len > 0 &&
                  us.v[us.n - 1].name_len < (size_t)(stop - p));
        p = nl ? nl + 1 : file_end;
    }
    if (ba_users_finish(&us, err, sizeof(err)) == 0)
        for (size_t i = 0; i < us.n; i++)
            check(ba_users_find(&us, us.v[i].name, us.v[i].name_len) ==
                  &us.v[i]);

    rc = ba_parse_authorization(auth, auth_len, &decoded, &decoded_len,
                                &user_len);
    if (rc == BA_CRED_OK) {
        check(decoded && user_len > 0 && user_len < decoded_len &&
              decoded[user_len] == ':');
        for (size_t i = 0; i < us.n; i++) {
            const ba_user *u = &us.v[i];
            if (u->kind == BA_HASH_BCRYPT && memcmp(u->hash + 4, "04", 2))
                continue;
            (void)ba_user_verify(&us, u, decoded + user_len + 1,
                                 decoded_len - user_len - 1);
        }
        ba_wipe_free(decoded, decoded_len);
    } else {
        check(decoded == NULL);
    }
    ba_users_free(&us);
    return 0;
}
