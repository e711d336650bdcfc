/*
 * fuzz_api_key_auth.c - libFuzzer harness for what the api_key_auth
 * plugin reads from a request (plugins/api_key_auth/extract.c): query
 * strings and Cookie headers, and removing the key from them.
 *
 * The input: byte 0 chooses the name looked for (one of a few, including
 * names that need escapes); the rest is used both as a
 * request target and as a Cookie value. Invariants: a value found lies
 * inside the input; after removal the name is no longer found, the
 * result is never longer than the target (a query) or twice the value (a
 * cookie), and removing again changes nothing; percent-decoding never
 * grows. Everything is freed (LeakSanitizer reports leaks as crashes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_key_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int cond)
{
    if (!cond)
        abort();
}

/* The config refuses empty names, so none here. */
static const char *const names[] = {"api_key", "k", "token", "a b", "%", "k=v"};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *name, *in, *v = NULL;
    const char *list[1];
    size_t len, name_len, v_len = 0, out_len = 0, again_len = 0;
    char *out = NULL, *again = NULL;
    int rc;

    if (size < 1)
        return 0;
    name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
    name_len = strlen(name);
    list[0] = name;
    in = (const char *)data + 1;
    len = size - 1;

    /* Query strings. */
    if (ak_query_find(in, len, name, name_len, &v, &v_len))
        check(v >= in && v + v_len <= in + len);
    rc = ak_query_remove(in, len, list, 1, &out, &out_len);
    check(rc == 0 || rc == 1 || rc == -1);
    if (rc == 1) {
        check(out_len <= len);
        check(ak_query_find(out, out_len, name, name_len, &v, &v_len) == 0);
        check(ak_query_remove(out, out_len, list, 1, &again, &again_len) != 1);
        free(out);
    }

    /* Cookies. */
    if (ak_cookie_find(in, len, name, name_len, &v, &v_len))
        check(v >= in && v + v_len <= in + len);
    out = NULL;
    rc = ak_cookie_remove(in, len, list, 1, &out, &out_len);
    check(rc == 0 || rc == 1 || rc == -1);
    if (rc == 1) {
        check(out_len <= 2 * len);
        check(ak_cookie_find(out, out_len, name, name_len, &v, &v_len) == 0);
        free(out);
    }

    /* Percent-decoding. */
    out = NULL;
    if (ak_percent_decode(in, len, &out, &out_len) == 0) {
        check(out_len <= len);
        free(out);
    }
    return 0;
}
