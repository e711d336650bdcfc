/*
 * format.c - gwf/sdk_format.h: Envoy's substitution format strings,
 * compiled once and rendered per request.
 *
 * A compiled format is a flat list of parts: literal bytes, or one
 * command with the mode it renders in (plain text, inside a JSON string,
 * or as a typed JSON value). The JSON form is flattened into the same
 * list at compile time: the object's constant JSON (braces, keys, numbers,
 * the quotes and escaped literal text of each format string) becomes
 * literal parts, so rendering either form is one walk that appends to the
 * caller's buffer. Every string a part needs (literals, header names,
 * time formats) lives in one arena owned by the format, addressed by
 * offset because the arena grows while compiling.
 *
 * Rendering allocates nothing of its own: a value is appended raw to the
 * output, then cut to its max length and, in JSON, escaped in place (the
 * escaped copy is written after the raw bytes and moved down), so even an
 * escape never needs a second buffer. The exception is a FILTER_STATE of
 * type JSON rendered as a typed JSON value: jansson re-encodes it, so that
 * a malformed value cannot break the JSON around it (it renders null).
 *
 * A value the host could not read (out of memory) is not a missing one:
 * "-", null or nothing would say the request had none (and a header
 * rendered from it would be left out), so the whole rendering fails.
 */
#define _DEFAULT_SOURCE /* gmtime_r, gethostname */
#include <gwf/sdk_format.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A max length (":N") above this is refused: nothing a header or body
 * could hold. */
#define FMT_MAX_LENGTH_LIMIT (1u << 30)
/* value_set refuses longer keys, so a longer one could never be found. */
#define FMT_KEY_MAX 256
#define FMT_NONE SIZE_MAX

enum fmt_op {
    OP_LITERAL,
    OP_REQ,
    OP_REQ_WITHOUT_QUERY,
    OP_RESP,
    OP_REMOTE_ADDRESS,
    OP_REMOTE_ADDRESS_WITHOUT_PORT,
    OP_REMOTE_PORT,
    OP_LOCAL_ADDRESS,
    OP_LOCAL_ADDRESS_WITHOUT_PORT,
    OP_LOCAL_PORT,
    OP_START_TIME,
    OP_PROTOCOL,
    OP_REQUEST_HEADERS_BYTES,
    OP_RESPONSE_CODE,
    OP_ROUTE_NAME,
    OP_FILTER_STATE,
    OP_HOSTNAME /* compiled into a literal */
};

enum fmt_mode {
    MODE_TEXT,           /* as is; missing is "-" */
    MODE_JSON_IN_STRING, /* escaped, inside quotes already written */
    MODE_JSON_TYPED      /* a whole JSON value; missing is null */
};

/* What a command produced, raw, at the end of the output. */
enum fmt_value {
    V_MISSING, /* nothing was appended */
    V_STRING,  /* text */
    V_NUMBER,  /* decimal digits: a JSON number as it is */
    V_JSON,    /* JSON text (FILTER_STATE serialized) */
    V_UNREAD   /* the host could not read it: the rendering fails */
};

/* A conversion of a START_TIME format. */
enum time_kind {
    TS_LITERAL,   /* arena bytes */
    TS_STRFTIME,  /* one strftime conversion, NUL-terminated in the arena */
    TS_EPOCH,     /* %s */
    TS_FRACTION,  /* %f, %Nf, %ENf, %E*f: digits of the second */
    TS_SECONDS_FR /* %ENS, %E*S: "SS" and a fraction */
};
#define TS_ALL_DIGITS 255 /* the '*' of %E*S / %E*f: trailing zeros cut */

typedef struct time_seg {
    uint8_t kind;
    uint8_t digits;
    size_t off, len;
} time_seg;

typedef struct fmt_part {
    uint8_t op;
    uint8_t mode;
    uint8_t plain;           /* FILTER_STATE(key:PLAIN) */
    size_t max_len;          /* FMT_NONE: no bound */
    size_t a_off, a_len;     /* literal bytes, header name or key */
    size_t b_off, b_len;     /* the alternative header (b_len 0: none) */
    size_t t_first, t_count; /* START_TIME: its segments */
} fmt_part;

struct gwf_format {
    fmt_part *parts;
    size_t count, cap;
    time_seg *tsegs;
    size_t tcount, tcap;
    gwf_strbuf arena;
    int constant;
};

/* ------------------------------------------------------------------------
 * UTF-8 and JSON escaping
 * --------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. Overlong
 * forms, surrogates and code points above U+10FFFF are not valid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
    uint32_t cp;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2, cp = p[0] & 0x1fu;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3, cp = p[0] & 0x0fu;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4, cp = p[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

/* Replace out[start..len) with its JSON string escaping (in quotes when
 * `quote`). The escaped copy is built after the raw bytes, through a
 * small staging buffer (the output may move while it grows, so the raw
 * bytes are always read through out->data), then moved down. */
static void
escape_tail(gwf_strbuf *out, size_t start, int quote)
{
    static const char hex[] = "0123456789abcdef";
    size_t end = out->len, i = start, n = 0;
    char stage[256];

    if (quote)
        stage[n++] = '"';
    while (i < end) {
        if (n > sizeof stage - 8) {
            gwf_strbuf_append(out, stage, n);
            n = 0;
            if (out->failed)
                return;
        }
        unsigned char c = (unsigned char)out->data[i];
        if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)out->data + i, end - i);
            if (l == 0) {
                memcpy(stage + n, "\xef\xbf\xbd", 3); /* U+FFFD */
                n += 3;
                i++;
            } else {
                memcpy(stage + n, out->data + i, l);
                n += l;
                i += l;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"':
            memcpy(stage + n, "\\\"", 2), n += 2;
            break;
        case '\\':
            memcpy(stage + n, "\\\\", 2), n += 2;
            break;
        case '\n':
            memcpy(stage + n, "\\n", 2), n += 2;
            break;
        case '\r':
            memcpy(stage + n, "\\r", 2), n += 2;
            break;
        case '\t':
            memcpy(stage + n, "\\t", 2), n += 2;
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(stage + n, "\\u00", 4);
                stage[n + 4] = hex[c >> 4];
                stage[n + 5] = hex[c & 15];
                n += 6;
            } else {
                stage[n++] = (char)c;
            }
        }
    }
    if (quote)
        stage[n++] = '"';
    gwf_strbuf_append(out, stage, n);
    if (out->failed)
        return;
    size_t escaped = out->len - end;
    memmove(out->data + start, out->data + end, escaped);
    out->len = start + escaped;
    out->data[out->len] = '\0';
}

/* Cut what was appended since `start` to `max` bytes (Envoy cuts bytes,
 * not characters; in JSON a cut character becomes U+FFFD). */
static void
cut_tail(gwf_strbuf *out, size_t start, size_t max)
{
    if (max == FMT_NONE || out->failed || out->len - start <= max)
        return;
    out->len = start + max;
    out->data[out->len] = '\0';
}

/* ------------------------------------------------------------------------
 * Compiling
 * --------------------------------------------------------------------- */

typedef struct compiler {
    gwf_cfg *c;
    gwf_format *f;
    const char *field; /* the path errors name */
    int failed;
} compiler;

static int
fail_at(compiler *k, size_t pos, const char *what)
{
    gwf_cfg_fail(k->c, k->field,
                 "expected an Envoy format string, found %s at byte %zu", what,
                 pos);
    k->failed = 1;
    return -1;
}

static int
no_memory(compiler *k)
{
    if (!k->failed)
        gwf_cfg_no_memory(k->c, k->field);
    k->failed = 1;
    return -1;
}

/* Copy bytes into the arena; their offset. */
static size_t
arena_add(gwf_format *f, const char *data, size_t len)
{
    size_t off = f->arena.len;
    gwf_strbuf_append(&f->arena, data, len);
    return off;
}

static fmt_part *
new_part(compiler *k, enum fmt_op op, enum fmt_mode mode)
{
    gwf_format *f = k->f;
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        fmt_part *parts = realloc(f->parts, cap * sizeof *parts);
        if (!parts) {
            no_memory(k);
            return NULL;
        }
        f->parts = parts;
        f->cap = cap;
    }
    fmt_part *p = &f->parts[f->count++];
    memset(p, 0, sizeof *p);
    p->op = (uint8_t)op;
    p->mode = (uint8_t)mode;
    p->max_len = FMT_NONE;
    return p;
}

/* Literal text, escaped for a JSON string when `escape`. Joins the
 * previous literal when that one ends the arena. */
static void
add_literal(compiler *k, const char *text, size_t len, int escape)
{
    gwf_format *f = k->f;
    size_t off = f->arena.len;
    fmt_part *last = f->count ? &f->parts[f->count - 1] : NULL;

    gwf_strbuf_append(&f->arena, text, len);
    if (escape)
        escape_tail(&f->arena, off, 0);
    if (f->arena.failed) {
        no_memory(k);
        return;
    }
    if (last && last->op == OP_LITERAL && last->a_off + last->a_len == off) {
        last->a_len += f->arena.len - off;
        return;
    }
    fmt_part *p = new_part(k, OP_LITERAL, MODE_TEXT);
    if (p) {
        p->a_off = off;
        p->a_len = f->arena.len - off;
    }
}

static time_seg *
new_time_seg(compiler *k, enum time_kind kind)
{
    gwf_format *f = k->f;
    if (f->tcount == f->tcap) {
        size_t cap = f->tcap ? f->tcap * 2 : 8;
        time_seg *segs = realloc(f->tsegs, cap * sizeof *segs);
        if (!segs) {
            no_memory(k);
            return NULL;
        }
        f->tsegs = segs;
        f->tcap = cap;
    }
    time_seg *t = &f->tsegs[f->tcount++];
    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)kind;
    return t;
}

/* The strftime conversions a START_TIME format may use: glibc's, minus
 * the E and O modifiers (Envoy's %E<n>S is handled apart). */
static int
is_strftime_conversion(char c)
{
    return c && strchr("aAbBcCdDeFgGhHIjklmMnprRStTuUVwWxXyYzZ", c) != NULL;
}

/* Compile START_TIME's format `fmt` (at byte `pos` of the string) into
 * time segments of part `p`. */
static int
compile_time(compiler *k, fmt_part *p, const char *fmt, size_t len, size_t pos)
{
    size_t i = 0;
    p->t_first = k->f->tcount;
    while (i < len) {
        time_seg *t;
        if (fmt[i] != '%') {
            size_t j = i;
            while (j < len && fmt[j] != '%')
                j++;
            if (!(t = new_time_seg(k, TS_LITERAL)))
                return -1;
            t->off = arena_add(k->f, fmt + i, j - i);
            t->len = j - i;
            i = j;
            continue;
        }
        if (i + 1 >= len)
            return fail_at(k, pos + i,
                           "a START_TIME format that ends with '%'");
        char c = fmt[i + 1];
        if (c == '%') {
            if (!(t = new_time_seg(k, TS_LITERAL)))
                return -1;
            t->off = arena_add(k->f, "%", 1);
            t->len = 1;
            i += 2;
        } else if (c == 's') {
            if (!new_time_seg(k, TS_EPOCH))
                return -1;
            i += 2;
        } else if (c == 'f' ||
                   (c >= '1' && c <= '9' && i + 2 < len && fmt[i + 2] == 'f')) {
            if (!(t = new_time_seg(k, TS_FRACTION)))
                return -1;
            t->digits = c == 'f' ? 9 : (uint8_t)(c - '0');
            i += c == 'f' ? 2 : 3;
        } else if (c == 'E' && i + 3 < len &&
                   ((fmt[i + 2] >= '0' && fmt[i + 2] <= '9') ||
                    fmt[i + 2] == '*') &&
                   (fmt[i + 3] == 'S' || fmt[i + 3] == 'f')) {
            if (!(t = new_time_seg(k, fmt[i + 3] == 'S' ? TS_SECONDS_FR
                                                        : TS_FRACTION)))
                return -1;
            t->digits =
                fmt[i + 2] == '*' ? TS_ALL_DIGITS : (uint8_t)(fmt[i + 2] - '0');
            i += 4;
        } else if (is_strftime_conversion(c)) {
            char conv[3] = {'%', c, '\0'};
            if (!(t = new_time_seg(k, TS_STRFTIME)))
                return -1;
            t->off = arena_add(k->f, conv, 3);
            t->len = 2;
            i += 2;
        } else {
            return fail_at(k, pos + i,
                           "a START_TIME conversion gwf does not support");
        }
    }
    p->t_count = k->f->tcount - p->t_first;
    return k->f->arena.failed ? no_memory(k) : 0;
}

/* The syntax of one command: %NAME(arg):max% */
typedef struct command {
    const char *name;
    size_t name_len;
    const char *arg; /* NULL: no "(...)" */
    size_t arg_len, arg_pos;
    size_t max_len;
    size_t end; /* just past the closing '%' */
} command;

static int
is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Read the command at text[at] ('%', not "%%"). 0, or -1 with the error
 * reported (when `k`) or not (a NULL `k` only asks "is it one?"). */
static int
scan_command(compiler *k, const char *text, size_t len, size_t at, command *cmd)
{
    size_t i = at + 1;

    memset(cmd, 0, sizeof *cmd);
    cmd->max_len = FMT_NONE;
    cmd->name = text + i;
    while (i < len && is_name_char(text[i]))
        i++;
    cmd->name_len = (size_t)(text + i - cmd->name);
    if (cmd->name_len == 0)
        return k ? fail_at(k, at,
                           "a '%' that starts no command (write %% for a "
                           "literal '%')")
                 : -1;
    if (i < len && text[i] == '(') {
        const char *close = memchr(text + i, ')', len - i);
        if (!close)
            return k ? fail_at(k, i, "a '(' with no ')'") : -1;
        cmd->arg = text + i + 1;
        cmd->arg_pos = i + 1;
        cmd->arg_len = (size_t)(close - cmd->arg);
        i = (size_t)(close - text) + 1;
    }
    if (i < len && text[i] == ':') {
        size_t colon = i++, max = 0;
        if (i >= len || text[i] < '0' || text[i] > '9')
            return k ? fail_at(k, colon, "a ':' with no max length after it")
                     : -1;
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            max = max * 10 + (size_t)(text[i++] - '0');
            if (max > FMT_MAX_LENGTH_LIMIT)
                return k ? fail_at(k, colon, "a max length above 1073741824")
                         : -1;
        }
        cmd->max_len = max;
    }
    if (i >= len || text[i] != '%')
        return k ? fail_at(k, at, "a command with no closing '%'") : -1;
    cmd->end = i + 1;
    return 0;
}

static const struct {
    const char *name;
    enum fmt_op op;
} commands[] = {
    {"REQ", OP_REQ},
    {"REQ_WITHOUT_QUERY", OP_REQ_WITHOUT_QUERY},
    {"RESP", OP_RESP},
    {"DOWNSTREAM_REMOTE_ADDRESS", OP_REMOTE_ADDRESS},
    {"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", OP_REMOTE_ADDRESS_WITHOUT_PORT},
    {"DOWNSTREAM_DIRECT_REMOTE_ADDRESS", OP_REMOTE_ADDRESS},
    {"DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT",
     OP_REMOTE_ADDRESS_WITHOUT_PORT},
    {"DOWNSTREAM_REMOTE_PORT", OP_REMOTE_PORT},
    {"DOWNSTREAM_LOCAL_ADDRESS", OP_LOCAL_ADDRESS},
    {"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", OP_LOCAL_ADDRESS_WITHOUT_PORT},
    {"DOWNSTREAM_LOCAL_PORT", OP_LOCAL_PORT},
    {"START_TIME", OP_START_TIME},
    {"PROTOCOL", OP_PROTOCOL},
    {"REQUEST_HEADERS_BYTES", OP_REQUEST_HEADERS_BYTES},
    {"RESPONSE_CODE", OP_RESPONSE_CODE},
    {"ROUTE_NAME", OP_ROUTE_NAME},
    {"FILTER_STATE", OP_FILTER_STATE},
    {"HOSTNAME", OP_HOSTNAME},
};

/* A header name: a token, or ':' and a token (a pseudo-header). */
static int
valid_header_name(const char *name, size_t len)
{
    if (len > 0 && name[0] == ':')
        name++, len--;
    return len > 0 && gwf_is_header_name(name, len);
}

/* Lower-cased into the arena (header lookups ignore case, but one form
 * keeps the pseudo-headers simple for every host). */
static size_t
arena_add_lower(gwf_format *f, const char *s, size_t len)
{
    size_t off = arena_add(f, s, len);
    for (size_t i = 0; !f->arena.failed && i < len; i++) {
        char c = f->arena.data[off + i];
        if (c >= 'A' && c <= 'Z')
            f->arena.data[off + i] = (char)(c - 'A' + 'a');
    }
    return off;
}

static int
compile_header_arg(compiler *k, fmt_part *p, const command *cmd, size_t at,
                   const char *label)
{
    char what[128];
    const char *q;
    size_t main_len, alt_len = 0;

    if (!cmd->arg || cmd->arg_len == 0) {
        snprintf(what, sizeof what, "%%%s%% with no header name: %%%s(name)%%",
                 label, label);
        return fail_at(k, at, what);
    }
    q = memchr(cmd->arg, '?', cmd->arg_len);
    main_len = q ? (size_t)(q - cmd->arg) : cmd->arg_len;
    if (q) {
        alt_len = cmd->arg_len - main_len - 1;
        if (memchr(q + 1, '?', alt_len)) {
            snprintf(what, sizeof what,
                     "%%%s%% with more than one alternative header", label);
            return fail_at(k, at, what);
        }
    }
    if (!valid_header_name(cmd->arg, main_len) ||
        (q && !valid_header_name(q + 1, alt_len))) {
        snprintf(what, sizeof what,
                 "%%%s%% with a header name that is not "
                 "a token",
                 label);
        return fail_at(k, cmd->arg_pos, what);
    }
    p->a_off = arena_add_lower(k->f, cmd->arg, main_len);
    p->a_len = main_len;
    if (q) {
        p->b_off = arena_add_lower(k->f, q + 1, alt_len);
        p->b_len = alt_len;
    }
    return 0;
}

static int
compile_filter_state_arg(compiler *k, fmt_part *p, const command *cmd,
                         size_t at)
{
    const char *colon;
    size_t key_len;

    if (!cmd->arg || cmd->arg_len == 0)
        return fail_at(k, at,
                       "%FILTER_STATE% with no key: %FILTER_STATE(key)%");
    colon = memchr(cmd->arg, ':', cmd->arg_len);
    key_len = colon ? (size_t)(colon - cmd->arg) : cmd->arg_len;
    if (key_len == 0 || key_len > FMT_KEY_MAX)
        return fail_at(k, cmd->arg_pos,
                       "a FILTER_STATE key that is empty or over 256 bytes");
    if (colon) {
        const char *ser = colon + 1;
        size_t ser_len = cmd->arg_len - key_len - 1;
        if (memchr(ser, ':', ser_len))
            return fail_at(k, (size_t)(colon - cmd->arg) + cmd->arg_pos,
                           "a FILTER_STATE field (gwf's values have no "
                           "fields)");
        if (ser_len == 5 && memcmp(ser, "PLAIN", 5) == 0)
            p->plain = 1;
        else if (!(ser_len == 5 && memcmp(ser, "TYPED", 5) == 0))
            return fail_at(k, (size_t)(ser - cmd->arg) + cmd->arg_pos,
                           "a FILTER_STATE serialization other than PLAIN "
                           "or TYPED");
    }
    p->a_off = arena_add(k->f, cmd->arg, key_len);
    p->a_len = key_len;
    return 0;
}

/* The machine's name, for %HOSTNAME%: read at compile time, as Envoy
 * does once at startup. */
static void
add_hostname(compiler *k, enum fmt_mode mode)
{
    char name[256];
    size_t len;

    if (gethostname(name, sizeof name) != 0)
        name[0] = '\0';
    name[sizeof name - 1] = '\0';
    len = strlen(name);
    if (len == 0) {
        add_literal(k, mode == MODE_JSON_TYPED ? "null" : "-",
                    mode == MODE_JSON_TYPED ? 4 : 1, 0);
        return;
    }
    if (mode == MODE_JSON_TYPED)
        add_literal(k, "\"", 1, 0);
    add_literal(k, name, len, mode != MODE_TEXT);
    if (mode == MODE_JSON_TYPED)
        add_literal(k, "\"", 1, 0);
}

/* Compile the command at text[at] into a part rendering in `mode`;
 * `*end` is where the text goes on. */
static int
compile_command(compiler *k, const char *text, size_t len, size_t at,
                enum fmt_mode mode, size_t *end)
{
    command cmd;
    enum fmt_op op = OP_LITERAL;
    char what[160];
    fmt_part *p;

    if (scan_command(k, text, len, at, &cmd) != 0)
        return -1;
    *end = cmd.end;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strlen(commands[i].name) == cmd.name_len &&
            memcmp(commands[i].name, cmd.name, cmd.name_len) == 0)
            op = commands[i].op;
    if (op == OP_LITERAL) {
        snprintf(what, sizeof what,
                 "a command gwf does not know or support: %%%.*s%%",
                 (int)(cmd.name_len > 100 ? 100 : cmd.name_len), cmd.name);
        return fail_at(k, at, what);
    }
    if (cmd.arg && op != OP_REQ && op != OP_REQ_WITHOUT_QUERY &&
        op != OP_RESP && op != OP_START_TIME && op != OP_FILTER_STATE) {
        snprintf(what, sizeof what, "%%%.*s%% with an argument; it takes none",
                 (int)cmd.name_len, cmd.name);
        return fail_at(k, at, what);
    }
    if (op == OP_HOSTNAME) {
        add_hostname(k, mode);
        return k->failed ? -1 : 0;
    }
    if (!(p = new_part(k, op, mode)))
        return -1;
    p->max_len = cmd.max_len;
    switch (op) {
    case OP_REQ:
    case OP_REQ_WITHOUT_QUERY:
    case OP_RESP: {
        char label[32];
        snprintf(label, sizeof label, "%.*s", (int)cmd.name_len, cmd.name);
        return compile_header_arg(k, p, &cmd, at, label);
    }
    case OP_FILTER_STATE:
        return compile_filter_state_arg(k, p, &cmd, at);
    case OP_START_TIME:
        if (!cmd.arg || cmd.arg_len == 0) {
            /* Envoy's default: 2026-01-01T00:00:00.000Z */
            static const char def[] = "%Y-%m-%dT%H:%M:%E3SZ";
            return compile_time(k, p, def, sizeof def - 1, at);
        }
        return compile_time(k, p, cmd.arg, cmd.arg_len, cmd.arg_pos);
    default:
        return 0;
    }
}

/* Compile `text` into parts: literals (escaped unless MODE_TEXT) and
 * commands rendering in `mode`. */
static int
compile_text(compiler *k, const char *text, size_t len, enum fmt_mode mode)
{
    size_t i = 0;
    int escape = mode != MODE_TEXT;

    while (i < len && !k->failed) {
        if (text[i] != '%') {
            const char *pct = memchr(text + i, '%', len - i);
            size_t j = pct ? (size_t)(pct - text) : len;
            add_literal(k, text + i, j - i, escape);
            i = j;
        } else if (i + 1 < len && text[i + 1] == '%') {
            add_literal(k, "%", 1, 0);
            i += 2;
        } else if (compile_command(k, text, len, i, mode, &i) != 0) {
            return -1;
        }
    }
    return k->failed ? -1 : 0;
}

static void
finish(gwf_format *f)
{
    f->constant = 1;
    for (size_t i = 0; i < f->count; i++)
        if (f->parts[i].op != OP_LITERAL)
            f->constant = 0;
}

gwf_status
gwf_format_compile(gwf_cfg *c, const char *path, const char *field,
                   const char *text, gwf_format **out)
{
    char where[GWF_CFG_PATH_MAX];
    compiler k = {c, NULL, gwf_cfg_member(where, path, field), 0};

    if (!text || !out)
        return gwf_cfg_fail(c, where, "is required: expected a string");
    if (!(k.f = calloc(1, sizeof *k.f)))
        return gwf_cfg_no_memory(c, where);
    if (compile_text(&k, text, strlen(text), MODE_TEXT) != 0) {
        gwf_format_free(k.f);
        return gwf_cfg_status(c) != GWF_OK ? gwf_cfg_status(c)
                                           : GWF_ERR_BAD_ARGUMENT;
    }
    finish(k.f);
    *out = k.f;
    return GWF_OK;
}

/* -- The JSON form ----------------------------------------------------- */

static int compile_json_value(compiler *k, const json_t *v, const char *path);

static int
compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
compile_json_object(compiler *k, const json_t *obj, const char *path)
{
    size_t n = json_object_size(obj), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *key;
    json_t *value;
    int rc = 0;

    if (!keys)
        return no_memory(k);
    json_object_foreach((json_t *)obj, key, value)
    {
        keys[i++] = key;
    }
    qsort(keys, n, sizeof *keys, compare_keys);
    add_literal(k, "{", 1, 0);
    for (i = 0; i < n && rc == 0; i++) {
        char member[GWF_CFG_PATH_MAX];
        if (i)
            add_literal(k, ",", 1, 0);
        add_literal(k, "\"", 1, 0);
        add_literal(k, keys[i], strlen(keys[i]), 1);
        add_literal(k, "\":", 2, 0);
        rc = compile_json_value(k, json_object_get(obj, keys[i]),
                                gwf_cfg_member(member, path, keys[i]));
    }
    add_literal(k, "}", 1, 0);
    free(keys);
    return rc || k->failed ? -1 : 0;
}

/* A string value: a typed value when it is exactly one command, else a
 * JSON string with the commands rendered inside. */
static int
compile_json_string(compiler *k, const json_t *v, const char *path)
{
    const char *text = json_string_value(v);
    size_t len = json_string_length(v), end;
    const char *saved = k->field;
    command cmd;
    int rc;

    k->field = path;
    if (len > 1 && text[0] == '%' && text[1] != '%' &&
        scan_command(NULL, text, len, 0, &cmd) == 0 && cmd.end == len) {
        rc = compile_command(k, text, len, 0, MODE_JSON_TYPED, &end);
    } else {
        add_literal(k, "\"", 1, 0);
        rc = compile_text(k, text, len, MODE_JSON_IN_STRING);
        add_literal(k, "\"", 1, 0);
    }
    k->field = saved;
    return rc || k->failed ? -1 : 0;
}

static int
compile_json_value(compiler *k, const json_t *v, const char *path)
{
    if (json_is_object(v))
        return compile_json_object(k, v, path);
    if (json_is_string(v))
        return compile_json_string(k, v, path);
    if (json_is_array(v)) {
        int rc = 0;
        add_literal(k, "[", 1, 0);
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
            char item[GWF_CFG_PATH_MAX];
            if (i)
                add_literal(k, ",", 1, 0);
            rc = compile_json_value(k, json_array_get(v, i),
                                    gwf_cfg_item(item, path, i));
        }
        add_literal(k, "]", 1, 0);
        return rc || k->failed ? -1 : 0;
    }
    /* Numbers, booleans and null are kept as they are. */
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return no_memory(k);
    add_literal(k, text, strlen(text), 0);
    free(text);
    return k->failed ? -1 : 0;
}

gwf_status
gwf_format_compile_json(gwf_cfg *c, const char *path, const char *field,
                        const json_t *obj, gwf_format **out)
{
    char where[GWF_CFG_PATH_MAX];
    compiler k = {c, NULL, gwf_cfg_member(where, path, field), 0};

    if (!obj || !out)
        return gwf_cfg_fail(c, where, "is required: expected an object");
    if (!json_is_object(obj))
        return gwf_cfg_fail(c, where,
                            "expected an object of format strings, found %s",
                            gwf_json_kind(obj));
    if (!(k.f = calloc(1, sizeof *k.f)))
        return gwf_cfg_no_memory(c, where);
    if (compile_json_object(&k, obj, where) == 0)
        add_literal(&k, "\n", 1, 0); /* Envoy ends a JSON line so */
    if (k.failed) {
        gwf_format_free(k.f);
        return gwf_cfg_status(c) != GWF_OK ? gwf_cfg_status(c)
                                           : GWF_ERR_BAD_ARGUMENT;
    }
    finish(k.f);
    *out = k.f;
    return GWF_OK;
}

/* ------------------------------------------------------------------------
 * Rendering
 * --------------------------------------------------------------------- */

static const char *
arena_at(const gwf_format *f, size_t off)
{
    return f->arena.data ? f->arena.data + off : "";
}

/* What a host answer means for a value: 1 there, 0 missing, -1 the host
 * could not read it. Missing is no such header, attribute or value, a
 * response that does not exist yet (Envoy's "-" before it), a name no
 * header can have, a host without the call; anything else (out of
 * memory, an internal error) is a failure, not an absence. */
static int
presence(gwf_status st)
{
    switch (st) {
    case GWF_OK:
        return 1;
    case GWF_ERR_NOT_FOUND:
    case GWF_ERR_WRONG_PHASE:
    case GWF_ERR_BAD_ARGUMENT:
    case GWF_ERR_UNIMPLEMENTED:
        return 0;
    default:
        return -1;
    }
}

/* Attribute `a`: presence()'s answer, an empty text being missing. */
static int
attr(gwf_stream *s, gwf_attribute a, gwf_view *v)
{
    int r;

    if (!s || !s->host->attribute)
        return 0;
    r = presence(s->host->attribute(s, a, v));
    return r > 0 && v->len == 0 ? 0 : r;
}

static enum fmt_value
render_header(const gwf_format *f, const fmt_part *p, gwf_stream *s,
              gwf_strbuf *out)
{
    gwf_message_kind which = p->op == OP_RESP ? GWF_RESPONSE : GWF_REQUEST;
    gwf_view v;
    int r;

    if (!s)
        return V_MISSING;
    r = presence(
        s->host->header_get(s, which, arena_at(f, p->a_off), p->a_len, 0, &v));
    if (r == 0 && p->b_len) /* the alternative, when the first is absent */
        r = presence(s->host->header_get(s, which, arena_at(f, p->b_off),
                                         p->b_len, 0, &v));
    if (r <= 0)
        return r < 0 ? V_UNREAD : V_MISSING;
    if (p->op == OP_REQ_WITHOUT_QUERY && v.len) {
        const char *q = memchr(v.ptr, '?', v.len);
        if (q)
            v.len = (size_t)(q - v.ptr);
    }
    gwf_strbuf_append(out, v.ptr, v.len);
    return V_STRING;
}

static enum fmt_value
render_address(enum fmt_op op, gwf_stream *s, gwf_strbuf *out)
{
    int remote = op == OP_REMOTE_ADDRESS ||
                 op == OP_REMOTE_ADDRESS_WITHOUT_PORT || op == OP_REMOTE_PORT;
    gwf_view addr, port;
    int has_port =
        attr(s, remote ? GWF_ATTR_REMOTE_PORT : GWF_ATTR_LOCAL_PORT, &port);
    int has_addr;

    if (has_port < 0)
        return V_UNREAD; /* not an address without its port */

    /* A port is a JSON number in a typed value: only digits pass. */
    for (size_t i = 0; has_port && i < port.len; i++)
        if (port.ptr[i] < '0' || port.ptr[i] > '9' || port.len > 5)
            has_port = 0;

    if (op == OP_REMOTE_PORT || op == OP_LOCAL_PORT) {
        unsigned number = 0;
        if (!has_port)
            return V_MISSING;
        for (size_t i = 0; i < port.len; i++)
            number = number * 10 + (unsigned)(port.ptr[i] - '0');
        gwf_strbuf_appendf(out, "%u", number); /* "08" is no JSON number */
        return V_NUMBER;
    }
    has_addr = attr(
        s, remote ? GWF_ATTR_REMOTE_ADDRESS : GWF_ATTR_LOCAL_ADDRESS, &addr);
    if (has_addr <= 0)
        return has_addr < 0 ? V_UNREAD : V_MISSING;
    if (op == OP_REMOTE_ADDRESS_WITHOUT_PORT ||
        op == OP_LOCAL_ADDRESS_WITHOUT_PORT || !has_port) {
        gwf_strbuf_append(out, addr.ptr, addr.len);
        return V_STRING;
    }
    /* ip:port, [v6]:port: Envoy's form. */
    int v6 = memchr(addr.ptr, ':', addr.len) != NULL;
    if (v6)
        gwf_strbuf_append(out, "[", 1);
    gwf_strbuf_append(out, addr.ptr, addr.len);
    gwf_strbuf_append(out, v6 ? "]:" : ":", v6 ? 2 : 1);
    gwf_strbuf_append(out, port.ptr, port.len);
    return V_STRING;
}

/* The request's start, in ns since the epoch (realtime clock): the
 * host's GWF_ATTR_START_TIME when it has one, else its clock now (a
 * format rendered in a request hook runs right after the start). 1, 0
 * none, -1 the host could not read it. */
static int
start_time_ns(gwf_stream *s, int64_t *ns)
{
    gwf_view v;
    gwf_instance *inst;
    int r;

    if (!s)
        return 0;
    if ((r = attr(s, GWF_ATTR_START_TIME, &v)) < 0)
        return -1;
    if (r && v.len < 20) {
        int64_t t = 0;
        size_t i = 0;
        for (; i < v.len && v.ptr[i] >= '0' && v.ptr[i] <= '9'; i++) {
            int digit = v.ptr[i] - '0';
            if (t > (INT64_MAX - digit) / 10)
                break; /* past INT64_MAX: not a time, use the clock */
            t = t * 10 + digit;
        }
        if (i == v.len) {
            *ns = t;
            return 1;
        }
    }
    if (!s->host->stream_instance || !s->host->now ||
        !(inst = s->host->stream_instance(s)))
        return 0;
    *ns = s->host->now(inst, GWF_CLOCK_REALTIME);
    return 1;
}

static void
append_fraction(gwf_strbuf *out, uint32_t nanos, unsigned digits)
{
    char frac[10];
    snprintf(frac, sizeof frac, "%09" PRIu32, nanos);
    if (digits == TS_ALL_DIGITS) {
        digits = 9;
        while (digits > 0 && frac[digits - 1] == '0')
            digits--;
    }
    gwf_strbuf_append(out, frac, digits > 9 ? 9 : digits);
}

static enum fmt_value
render_time(const gwf_format *f, const fmt_part *p, gwf_stream *s,
            gwf_strbuf *out)
{
    int64_t ns;
    struct tm tm;
    time_t secs;
    uint32_t nanos;
    int r = start_time_ns(s, &ns);

    if (r <= 0)
        return r < 0 ? V_UNREAD : V_MISSING;
    secs = (time_t)(ns / 1000000000);
    nanos = (uint32_t)(ns % 1000000000);
    if (ns < 0 && nanos) {
        secs--;
        nanos = (uint32_t)(ns % 1000000000 + 1000000000);
    }
    if (!gmtime_r(&secs, &tm))
        return V_MISSING;
    for (size_t i = 0; i < p->t_count; i++) {
        const time_seg *t = &f->tsegs[p->t_first + i];
        char buf[128];
        size_t n;
        switch (t->kind) {
        case TS_LITERAL:
            gwf_strbuf_append(out, arena_at(f, t->off), t->len);
            break;
        case TS_STRFTIME:
            n = strftime(buf, sizeof buf, arena_at(f, t->off), &tm);
            gwf_strbuf_append(out, buf, n);
            break;
        case TS_EPOCH:
            gwf_strbuf_appendf(out, "%lld", (long long)secs);
            break;
        case TS_FRACTION:
            append_fraction(out, nanos, t->digits);
            break;
        case TS_SECONDS_FR:
            gwf_strbuf_appendf(out, "%02d", tm.tm_sec);
            if (t->digits != 0 && (t->digits != TS_ALL_DIGITS || nanos)) {
                gwf_strbuf_append(out, ".", 1);
                append_fraction(out, nanos, t->digits);
            }
            break;
        }
    }
    return V_STRING;
}

/* Envoy's names: "HTTP/2", "HTTP/3" where hosts say "HTTP/2.0". */
static enum fmt_value
render_protocol(gwf_stream *s, gwf_strbuf *out)
{
    gwf_view v;
    int r = attr(s, GWF_ATTR_PROTOCOL, &v);

    if (r <= 0)
        return r < 0 ? V_UNREAD : V_MISSING;
    if (gwf_view_eq(v, "HTTP/2.0") || gwf_view_eq(v, "HTTP/3.0"))
        v.len = 6;
    gwf_strbuf_append(out, v.ptr, v.len);
    return V_STRING;
}

/* Envoy's HeaderMap::byteSize: every name and value, pseudo-headers
 * included (Host is :authority there, so it is counted once). */
static enum fmt_value
render_headers_bytes(gwf_stream *s, gwf_strbuf *out)
{
    static const char *const pseudo[] = {":method", ":path", ":scheme",
                                         ":authority"};
    uint64_t total = 0;
    gwf_view name, value;
    size_t count;

    if (!s)
        return V_MISSING;
    count = s->host->header_count(s, GWF_REQUEST);
    for (size_t i = 0; i < count; i++) {
        int r = presence(s->host->header_at(s, GWF_REQUEST, i, &name, &value));
        if (r < 0)
            return V_UNREAD; /* a line unread: not a smaller request */
        if (r > 0 && !gwf_view_ieq(name, "host"))
            total += name.len + value.len;
    }
    for (size_t i = 0; i < 4; i++) {
        int r = presence(s->host->header_get(s, GWF_REQUEST, pseudo[i],
                                             strlen(pseudo[i]), 0, &value));
        if (r < 0)
            return V_UNREAD;
        if (r > 0)
            total += strlen(pseudo[i]) + value.len;
    }
    gwf_strbuf_appendf(out, "%" PRIu64, total);
    return V_NUMBER;
}

static enum fmt_value
render_response_code(gwf_stream *s, const gwf_format_vars *vars,
                     gwf_strbuf *out)
{
    uint32_t code = vars ? vars->response_code : 0;
    gwf_view v;
    int r = code == 0 && s ? presence(s->host->header_get(s, GWF_RESPONSE,
                                                          ":status", 7, 0, &v))
                           : 0;

    if (r < 0)
        return V_UNREAD;
    if (r > 0) {
        for (size_t i = 0; i < v.len && i < 3; i++)
            if (v.ptr[i] >= '0' && v.ptr[i] <= '9')
                code = code * 10 + (uint32_t)(v.ptr[i] - '0');
    }
    gwf_strbuf_appendf(out, "%" PRIu32, code); /* 0: none, as Envoy says */
    return V_NUMBER;
}

static enum fmt_value
render_filter_state(const gwf_format *f, const fmt_part *p, gwf_stream *s,
                    gwf_strbuf *out)
{
    gwf_value_type type;
    gwf_view v;
    size_t start = out->len;
    int r;

    if (!s || !s->host->value_get)
        return V_MISSING;
    r = presence(
        s->host->value_get(s, arena_at(f, p->a_off), p->a_len, &type, &v));
    if (r <= 0)
        return r < 0 ? V_UNREAD : V_MISSING;
    switch (type) {
    case GWF_VALUE_INT: {
        int64_t n;
        if (v.len != sizeof n)
            return V_MISSING;
        memcpy(&n, v.ptr, sizeof n);
        gwf_strbuf_appendf(out, "%" PRId64, n);
        return p->plain ? V_STRING : V_NUMBER;
    }
    case GWF_VALUE_BOOL: {
        int on = v.len == 1 && v.ptr[0];
        gwf_strbuf_append(out, on ? "true" : "false", on ? 4 : 5);
        return p->plain ? V_STRING : V_JSON;
    }
    case GWF_VALUE_JSON:
        gwf_strbuf_append(out, v.ptr, v.len);
        return p->plain ? V_STRING : V_JSON;
    default: /* STRING, BYTES */
        gwf_strbuf_append(out, v.ptr, v.len);
        if (p->plain || p->mode == MODE_JSON_TYPED)
            return V_STRING;
        /* Serialized, as Envoy's default: a JSON string. */
        escape_tail(out, start, 1);
        return V_JSON;
    }
}

static enum fmt_value
produce(const gwf_format *f, const fmt_part *p, gwf_stream *s,
        const gwf_format_vars *vars, gwf_strbuf *out)
{
    gwf_view v;
    int r;

    switch ((enum fmt_op)p->op) {
    case OP_REQ:
    case OP_REQ_WITHOUT_QUERY:
    case OP_RESP:
        return render_header(f, p, s, out);
    case OP_REMOTE_ADDRESS:
    case OP_REMOTE_ADDRESS_WITHOUT_PORT:
    case OP_REMOTE_PORT:
    case OP_LOCAL_ADDRESS:
    case OP_LOCAL_ADDRESS_WITHOUT_PORT:
    case OP_LOCAL_PORT:
        return render_address((enum fmt_op)p->op, s, out);
    case OP_START_TIME:
        return render_time(f, p, s, out);
    case OP_PROTOCOL:
        return render_protocol(s, out);
    case OP_REQUEST_HEADERS_BYTES:
        return render_headers_bytes(s, out);
    case OP_RESPONSE_CODE:
        return render_response_code(s, vars, out);
    case OP_ROUTE_NAME:
        if ((r = attr(s, GWF_ATTR_ROUTE_NAME, &v)) <= 0)
            return r < 0 ? V_UNREAD : V_MISSING;
        gwf_strbuf_append(out, v.ptr, v.len);
        return V_STRING;
    case OP_FILTER_STATE:
        return render_filter_state(f, p, s, out);
    default:
        return V_MISSING;
    }
}

/* A JSON value appended at `start` is re-encoded by jansson, so that what
 * a plugin stored cannot break the document; null when it is not JSON. */
static void
normalize_json_tail(gwf_strbuf *out, size_t start)
{
    json_t *v =
        json_loadb(out->data + start, out->len - start, JSON_DECODE_ANY, NULL);
    char *text =
        v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS)
          : NULL;
    out->len = start;
    out->data[start] = '\0';
    if (text)
        gwf_strbuf_append(out, text, strlen(text));
    else if (v)
        out->failed = 1;
    else
        gwf_strbuf_append(out, "null", 4);
    free(text);
    json_decref(v);
}

static void
render_part(const gwf_format *f, const fmt_part *p, gwf_stream *s,
            const gwf_format_vars *vars, gwf_strbuf *out)
{
    size_t start = out->len;
    enum fmt_value kind = produce(f, p, s, vars, out);

    if (kind == V_UNREAD)
        out->failed = 1; /* gwf_format_render: GWF_ERR_NO_MEMORY */
    if (out->failed)
        return;
    if (kind == V_MISSING) {
        if (vars && vars->missing_empty && p->mode != MODE_JSON_TYPED)
            return;
        if (p->mode == MODE_JSON_TYPED)
            gwf_strbuf_append(out, "null", 4);
        else
            gwf_strbuf_append(out, "-", 1);
        return;
    }
    switch ((enum fmt_mode)p->mode) {
    case MODE_TEXT:
        cut_tail(out, start, p->max_len);
        break;
    case MODE_JSON_IN_STRING:
        cut_tail(out, start, p->max_len);
        escape_tail(out, start, 0);
        break;
    case MODE_JSON_TYPED:
        if (kind == V_STRING) {
            cut_tail(out, start, p->max_len);
            escape_tail(out, start, 1);
        } else if (kind == V_JSON) {
            normalize_json_tail(out, start);
        }
        break;
    }
}

gwf_status
gwf_format_render_vars(const gwf_format *f, gwf_stream *s,
                       const gwf_format_vars *vars, gwf_strbuf *out)
{
    if (!f || !out)
        return GWF_ERR_BAD_ARGUMENT;
    gwf_strbuf_append(out, "", 0); /* a rendering is never NULL */
    for (size_t i = 0; i < f->count && !out->failed; i++) {
        const fmt_part *p = &f->parts[i];
        if (p->op == OP_LITERAL)
            gwf_strbuf_append(out, arena_at(f, p->a_off), p->a_len);
        else
            render_part(f, p, s, vars, out);
    }
    return out->failed ? GWF_ERR_NO_MEMORY : GWF_OK;
}

gwf_status
gwf_format_render(const gwf_format *f, gwf_stream *s, gwf_strbuf *out)
{
    return gwf_format_render_vars(f, s, NULL, out);
}

int
gwf_format_is_constant(const gwf_format *f)
{
    return f && f->constant;
}

void
gwf_format_free(gwf_format *f)
{
    if (!f)
        return;
    free(f->parts);
    free(f->tsegs);
    gwf_strbuf_free(&f->arena);
    free(f);
}
