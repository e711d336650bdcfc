/*
 * cel_lex.c - CEL's tokens: punctuation, identifiers and reserved words,
 * int / uint / double literals, and string and bytes literals in every
 * form CEL writes them ('...', "...", '''...''', """...""", the r / R
 * raw prefix and the b / B bytes prefix) with their escapes (\a \b \f
 * \n \r \t \v \\ \' \" \` \? \xHH \uHHHH \UHHHHHHHH and three octal
 * digits). A string's \x, \u, \U and octal escapes give code points
 * (encoded as UTF-8); a bytes literal's \x and octal escapes give bytes.
 * A mistake is a CEL_T_ERROR token with its reason.
 */
#include "cel.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cel_position(const char *src, size_t len, size_t offset, uint32_t *line,
             uint32_t *column)
{
    uint32_t l = 1, c = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *column = c;
}

void
cel_fail(cel_error *err, const char *src, size_t len, size_t offset,
         const char *fmt, ...)
{
    va_list ap;

    if (err->msg[0])
        return; /* the first mistake stays */
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    cel_position(src, len, offset, &err->line, &err->column);
}

static int
is_ident_start(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_ident_char(int c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t
utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static void
lex_error(cel_token *t, size_t offset, const char *why)
{
    free(t->text);
    t->text = NULL;
    t->kind = CEL_T_ERROR;
    t->offset = (uint32_t)offset;
    t->error = why;
}

/* A quoted literal starting at lx->pos (the quote), with the prefix
 * flags. The decoded bytes are never longer than the source. */
static void
lex_string(cel_lexer *lx, cel_token *t, int raw, int bytes)
{
    const char *s = lx->src;
    size_t n = lx->len, p = lx->pos;
    char q = s[p];
    int triple = p + 2 < n && s[p + 1] == q && s[p + 2] == q;
    size_t o = 0;
    char *out = malloc(n - p + 4);

    if (!out) {
        lex_error(t, p, "out of memory");
        return;
    }
    t->text = out;
    p += triple ? 3 : 1;
    for (;;) {
        if (p >= n) {
            lex_error(t, lx->pos, "unterminated string literal");
            lx->pos = n;
            return;
        }
        if (s[p] == q &&
            (!triple || (p + 2 < n && s[p + 1] == q && s[p + 2] == q))) {
            p += triple ? 3 : 1;
            break;
        }
        if (!triple && (s[p] == '\n' || s[p] == '\r')) {
            lex_error(t, p, "newline in a single-quoted string literal");
            lx->pos = n;
            return;
        }
        if (s[p] != '\\' || raw) {
            out[o++] = s[p++];
            continue;
        }
        /* an escape */
        size_t at = p;
        if (p + 1 >= n) {
            lex_error(t, at, "unterminated escape sequence");
            lx->pos = n;
            return;
        }
        char e = s[p + 1];
        p += 2;
        switch (e) {
        case 'a':
            out[o++] = '\a';
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'v':
            out[o++] = '\v';
            break;
        case '\\':
        case '\'':
        case '"':
        case '`':
        case '?':
            out[o++] = e;
            break;
        case 'x':
        case 'X':
        case 'u':
        case 'U': {
            int digits = (e == 'x' || e == 'X') ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            if ((e == 'u' || e == 'U') && bytes) {
                lex_error(t, at,
                          "\\u and \\U escapes are not allowed in "
                          "bytes literals");
                lx->pos = n;
                return;
            }
            for (int i = 0; i < digits; i++) {
                int h = p < n ? hexval((unsigned char)s[p]) : -1;
                if (h < 0) {
                    lex_error(t, at, "invalid hex escape sequence");
                    lx->pos = n;
                    return;
                }
                cp = cp * 16 + (uint32_t)h;
                p++;
            }
            if (bytes) {
                out[o++] = (char)cp;
            } else {
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                    lex_error(t, at,
                              "escape is not a valid Unicode code "
                              "point");
                    lx->pos = n;
                    return;
                }
                o += utf8_put(out + o, cp);
            }
            break;
        }
        case '0':
        case '1':
        case '2':
        case '3': {
            uint32_t cp = (uint32_t)(e - '0');
            for (int i = 0; i < 2; i++) {
                if (p >= n || s[p] < '0' || s[p] > '7') {
                    lex_error(t, at, "invalid octal escape sequence");
                    lx->pos = n;
                    return;
                }
                cp = cp * 8 + (uint32_t)(s[p] - '0');
                p++;
            }
            if (bytes)
                out[o++] = (char)cp;
            else
                o += utf8_put(out + o, cp);
            break;
        }
        default:
            lex_error(t, at, "invalid escape sequence");
            lx->pos = n;
            return;
        }
    }
    out[o] = '\0'; /* for messages; the value is text_len bytes */
    t->kind = bytes ? CEL_T_BYTES : CEL_T_STRING;
    t->text_len = o;
    t->len = (uint32_t)(p - t->offset);
    lx->pos = p;
}

static void
lex_number(cel_lexer *lx, cel_token *t)
{
    const char *s = lx->src;
    size_t n = lx->len, p = lx->pos;
    int is_double = 0;
    char buf[128];

    if (s[p] == '0' && p + 1 < n && (s[p + 1] == 'x' || s[p + 1] == 'X')) {
        uint64_t v = 0;
        size_t start = p;
        p += 2;
        if (p >= n || hexval((unsigned char)s[p]) < 0) {
            lex_error(t, start, "invalid hex literal");
            lx->pos = n;
            return;
        }
        while (p < n && hexval((unsigned char)s[p]) >= 0) {
            if (v > UINT64_MAX / 16) {
                lex_error(t, start, "integer literal out of range");
                lx->pos = n;
                return;
            }
            v = v * 16 + (uint64_t)hexval((unsigned char)s[p]);
            p++;
        }
        t->u = v;
        t->kind = CEL_T_INT;
    } else {
        size_t start = p;
        while (p < n && isdigit((unsigned char)s[p]))
            p++;
        if (p + 1 < n && s[p] == '.' && isdigit((unsigned char)s[p + 1])) {
            is_double = 1;
            p++;
            while (p < n && isdigit((unsigned char)s[p]))
                p++;
        }
        if (p < n && (s[p] == 'e' || s[p] == 'E')) {
            size_t q = p + 1;
            if (q < n && (s[q] == '+' || s[q] == '-'))
                q++;
            if (q < n && isdigit((unsigned char)s[q])) {
                is_double = 1;
                p = q;
                while (p < n && isdigit((unsigned char)s[p]))
                    p++;
            }
        }
        if (p - start >= sizeof(buf)) {
            lex_error(t, start, "number literal too long");
            lx->pos = n;
            return;
        }
        memcpy(buf, s + start, p - start);
        buf[p - start] = '\0';
        errno = 0;
        if (is_double) {
            t->d = strtod(buf, NULL);
            t->kind = CEL_T_DOUBLE;
        } else {
            t->u = strtoull(buf, NULL, 10);
            if (errno == ERANGE) {
                lex_error(t, start, "integer literal out of range");
                lx->pos = n;
                return;
            }
            t->kind = CEL_T_INT;
        }
    }
    if (t->kind == CEL_T_INT && p < n && (s[p] == 'u' || s[p] == 'U')) {
        t->kind = CEL_T_UINT;
        p++;
    }
    if (p < n && (is_ident_char((unsigned char)s[p]) || s[p] == '.') &&
        !(s[p] == '.' && !is_double)) {
        lex_error(t, t->offset, "malformed number literal");
        lx->pos = n;
        return;
    }
    t->len = (uint32_t)(p - t->offset);
    lx->pos = p;
}

static const char *const reserved[] = {
    "as",        "break",  "const",  "continue", "else",  "for",
    "function",  "if",     "import", "let",      "loop",  "package",
    "namespace", "return", "var",    "void",     "while", NULL};

void
cel_lex_next(cel_lexer *lx, cel_token *t)
{
    const char *s = lx->src;
    size_t n = lx->len;

    memset(t, 0, sizeof(*t));
    for (;;) {
        while (lx->pos < n &&
               (s[lx->pos] == ' ' || s[lx->pos] == '\t' || s[lx->pos] == '\n' ||
                s[lx->pos] == '\r' || s[lx->pos] == '\f'))
            lx->pos++;
        if (lx->pos + 1 < n && s[lx->pos] == '/' && s[lx->pos + 1] == '/') {
            while (lx->pos < n && s[lx->pos] != '\n')
                lx->pos++;
            continue;
        }
        break;
    }
    t->offset = (uint32_t)lx->pos;
    if (lx->pos >= n) {
        t->kind = CEL_T_EOF;
        return;
    }
    size_t p = lx->pos;
    unsigned char c = (unsigned char)s[p];
    unsigned char d = p + 1 < n ? (unsigned char)s[p + 1] : 0;

    /* prefixed strings: r"", b"", rb"", br"" in any case */
    if (c == 'r' || c == 'R' || c == 'b' || c == 'B') {
        int raw = 0, bytes = 0;
        size_t q = p;
        for (int i = 0; i < 2 && q < n; i++) {
            char x = s[q];
            if ((x == 'r' || x == 'R') && !raw)
                raw = 1;
            else if ((x == 'b' || x == 'B') && !bytes)
                bytes = 1;
            else
                break;
            q++;
        }
        if (q < n && (s[q] == '"' || s[q] == '\'')) {
            lx->pos = q;
            lex_string(lx, t, raw, bytes);
            return;
        }
    }
    if (c == '"' || c == '\'') {
        lex_string(lx, t, 0, 0);
        return;
    }
    if (isdigit(c) || (c == '.' && isdigit(d))) {
        lex_number(lx, t);
        return;
    }
    if (is_ident_start(c)) {
        size_t q = p;
        while (q < n && is_ident_char((unsigned char)s[q]))
            q++;
        t->len = (uint32_t)(q - p);
        lx->pos = q;
        t->kind = CEL_T_IDENT;
        if (t->len == 4 && memcmp(s + p, "true", 4) == 0)
            t->kind = CEL_T_TRUE;
        else if (t->len == 5 && memcmp(s + p, "false", 5) == 0)
            t->kind = CEL_T_FALSE;
        else if (t->len == 4 && memcmp(s + p, "null", 4) == 0)
            t->kind = CEL_T_NULL;
        else if (t->len == 2 && memcmp(s + p, "in", 2) == 0)
            t->kind = CEL_T_IN;
        for (size_t i = 0; reserved[i]; i++)
            if (strlen(reserved[i]) == t->len &&
                memcmp(reserved[i], s + p, t->len) == 0)
                t->reserved = 1;
        return;
    }
    t->len = 1;
    switch (c) {
    case '(':
        t->kind = CEL_T_LPAREN;
        break;
    case ')':
        t->kind = CEL_T_RPAREN;
        break;
    case '[':
        t->kind = CEL_T_LBRACKET;
        break;
    case ']':
        t->kind = CEL_T_RBRACKET;
        break;
    case '{':
        t->kind = CEL_T_LBRACE;
        break;
    case '}':
        t->kind = CEL_T_RBRACE;
        break;
    case '.':
        t->kind = CEL_T_DOT;
        break;
    case ',':
        t->kind = CEL_T_COMMA;
        break;
    case ':':
        t->kind = CEL_T_COLON;
        break;
    case '?':
        t->kind = CEL_T_QUESTION;
        break;
    case '+':
        t->kind = CEL_T_PLUS;
        break;
    case '-':
        t->kind = CEL_T_MINUS;
        break;
    case '*':
        t->kind = CEL_T_STAR;
        break;
    case '/':
        t->kind = CEL_T_SLASH;
        break;
    case '%':
        t->kind = CEL_T_PERCENT;
        break;
    case '!':
        if (d == '=') {
            t->kind = CEL_T_NE;
            t->len = 2;
        } else {
            t->kind = CEL_T_NOT;
        }
        break;
    case '=':
        if (d == '=') {
            t->kind = CEL_T_EQ;
            t->len = 2;
        } else {
            lex_error(t, p, "unexpected '=' (did you mean '=='?)");
        }
        break;
    case '<':
        t->kind = d == '=' ? CEL_T_LE : CEL_T_LT;
        t->len = d == '=' ? 2 : 1;
        break;
    case '>':
        t->kind = d == '=' ? CEL_T_GE : CEL_T_GT;
        t->len = d == '=' ? 2 : 1;
        break;
    case '&':
        if (d == '&') {
            t->kind = CEL_T_AND;
            t->len = 2;
        } else {
            lex_error(t, p, "unexpected '&' (did you mean '&&'?)");
        }
        break;
    case '|':
        if (d == '|') {
            t->kind = CEL_T_OR;
            t->len = 2;
        } else {
            lex_error(t, p, "unexpected '|' (did you mean '||'?)");
        }
        break;
    default:
        lex_error(t, p, "unexpected character");
        break;
    }
    lx->pos = p + t->len;
}
