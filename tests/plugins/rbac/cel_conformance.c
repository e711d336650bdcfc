/*
 * cel_conformance.c - the C side of the CEL conformance runner
 * (run_conformance.py): reads one line per expression on stdin, "C:"
 * (type-checked) or "U:" (the case's disable_check: type errors left to
 * evaluation) and the expression in hex, compiles and evaluates it with no
 * request (no attribute is present), and writes one JSON line per expression:
 *   {"compile_error": "..."}   the expression did not compile
 *   {"error": "..."}           evaluation erred
 *   {"t": KIND, "v": VALUE}    its value: int, uint and double as
 *                              decimal text, string and bytes as hex,
 *                              lists as [values], maps as [[k, v], ...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cel.h"

static int
no_header(void *ctx, const char *name, size_t len, gwf_view *out, char *sc,
          size_t size, size_t *used)
{
    (void)ctx, (void)name, (void)len, (void)out, (void)sc, (void)size;
    *used = 0;
    return 0;
}

static int
no_attr(void *ctx, cel_attr a, gwf_view *out)
{
    (void)ctx, (void)a, (void)out;
    return 0;
}

static int
no_claim(void *ctx, const char *name, size_t len, gwf_value_type *t,
         gwf_view *out)
{
    (void)ctx, (void)name, (void)len, (void)t, (void)out;
    return 0;
}

static void
hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", (unsigned char)p[i]);
}

static void
print_value(cel_value v)
{
    switch (v.kind) {
    case CEL_ERROR:
        printf("{\"error\": \"");
        for (size_t i = 0; i < v.v.s.len; i++)
            if (v.v.s.ptr[i] != '"' && v.v.s.ptr[i] != '\\')
                putchar(v.v.s.ptr[i]);
        printf("\"}");
        return;
    case CEL_NULL:
        printf("{\"t\": \"null\"}");
        return;
    case CEL_BOOL:
        printf("{\"t\": \"bool\", \"v\": %s}", v.v.b ? "true" : "false");
        return;
    case CEL_INT:
        printf("{\"t\": \"int\", \"v\": \"%lld\"}", (long long)v.v.i);
        return;
    case CEL_UINT:
        printf("{\"t\": \"uint\", \"v\": \"%llu\"}", (unsigned long long)v.v.u);
        return;
    case CEL_DOUBLE:
        printf("{\"t\": \"double\", \"v\": \"%.17g\"}", v.v.d);
        return;
    case CEL_STRING:
    case CEL_BYTES:
        printf("{\"t\": \"%s\", \"v\": \"",
               v.kind == CEL_STRING ? "string" : "bytes");
        hex(v.v.s.ptr, v.v.s.len);
        printf("\"}");
        return;
    case CEL_LIST:
        printf("{\"t\": \"list\", \"v\": [");
        for (size_t i = 0; i < v.v.l.n; i++) {
            if (i)
                printf(", ");
            print_value(v.v.l.items[i]);
        }
        printf("]}");
        return;
    case CEL_MAP:
        if (v.src != CEL_MAP_LITERAL) {
            printf("{\"error\": \"request map\"}");
            return;
        }
        printf("{\"t\": \"map\", \"v\": [");
        for (size_t i = 0; i < v.v.l.n; i++) {
            if (i)
                printf(", ");
            printf("[");
            print_value(v.v.l.items[2 * i]);
            printf(", ");
            print_value(v.v.l.items[2 * i + 1]);
            printf("]");
        }
        printf("]}");
        return;
    case CEL_TIMESTAMP:
    case CEL_DURATION:
        printf("{\"t\": \"%s\", \"v\": [\"%lld\", %d]}",
               v.kind == CEL_TIMESTAMP ? "timestamp" : "duration",
               (long long)v.v.t.sec, (int)v.v.t.ns);
        return;
    case CEL_TYPE: {
        printf("{\"t\": \"type\", \"v\": \"%s\"}",
               v.v.i >= 0 && v.v.i <= CEL_TYPE ? cel_type_name((cel_kind)v.v.i)
                                               : "?");
        return;
    }
    default:
        printf("{\"error\": \"dyn\"}");
        return;
    }
}

static int
unhex(const char *s, char *out, size_t *len)
{
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned x;
        if (sscanf(s + i, "%2x", &x) != 1)
            return -1;
        out[o++] = (char)x;
    }
    out[o] = '\0';
    *len = o;
    return 0;
}

int
main(void)
{
    static char line[4 * CEL_MAX_EXPR_LEN + 8];
    static char src[2 * CEL_MAX_EXPR_LEN + 8];
    cel_activation act = {no_header, no_attr, no_claim, NULL, NULL};
    cel_scratch sc;

    if (cel_scratch_init(&sc, CEL_SCRATCH_SIZE) != 0)
        return 2;
    while (fgets(line, sizeof(line), stdin)) {
        size_t len;
        cel_program p;
        cel_error err;
        line[strcspn(line, "\r\n")] = '\0';
        if ((line[0] != 'C' && line[0] != 'U') || line[1] != ':' ||
            unhex(line + 2, src, &len) != 0)
            return 2;
        if (cel_compile_ex(src, len, line[0] == 'C', &p, &err) != 0) {
            printf("{\"compile_error\": \"");
            for (const char *c = err.msg; *c; c++)
                if (*c != '"' && *c != '\\')
                    putchar(*c);
            printf("\"}\n");
        } else {
            cel_value v = cel_eval_value(&p, &act, &sc);
            print_value(v);
            printf("\n");
            cel_program_free(&p);
        }
        fflush(stdout);
    }
    cel_scratch_free(&sc);
    return 0;
}
