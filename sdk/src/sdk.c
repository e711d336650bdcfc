/*
 * sdk.c - the helpers of gwf/sdk.h.
 *
 * Everything here runs inside a plugin and reaches the host only through
 * the table the ABI hands over, so linking the SDK adds no host symbol to
 * a plugin. The functions are small on purpose: plugins call them on the
 * request path, and a plugin author should be able to read one and trust
 * it. Every length computation is checked for overflow, and nothing reads
 * a view beyond its `len` or assumes it is NUL-terminated.
 */
#include <gwf/sdk.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Log lines are cut at this many bytes (sdk.h promises 1 KiB). */
#define SDK_LOG_MAX 1024

/* ------------------------------------------------------------------------
 * Views
 * --------------------------------------------------------------------- */

static unsigned char
ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

int
gwf_view_eq(gwf_view v, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (v.len != n)
        return 0;
    /* memcmp with a NULL pointer is undefined even for 0 bytes. */
    return n == 0 || memcmp(v.ptr, s, n) == 0;
}

int
gwf_view_ieq(gwf_view v, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (v.len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)v.ptr[i]) !=
            ascii_lower((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * Logging and config errors
 *
 * Messages are formatted into a stack buffer: logging happens on workers,
 * often on error paths, and should neither allocate nor fail.
 * --------------------------------------------------------------------- */

/* Format into buf[SDK_LOG_MAX] and return the length kept (cut at the
 * buffer's end), or 0 when the format itself failed. */
static size_t
format_line(char *buf, const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, SDK_LOG_MAX, fmt, ap);

    if (n < 0)
        return 0;
    if ((size_t)n >= SDK_LOG_MAX)
        return SDK_LOG_MAX - 1;
    return (size_t)n;
}

void
gwf_logf(gwf_instance *inst, gwf_log_level level, const char *fmt, ...)
{
    char line[SDK_LOG_MAX];
    va_list ap;
    size_t len;

    if (!inst || !inst->host || !inst->host->log)
        return;
    if (inst->host->log_enabled && !inst->host->log_enabled(inst, level))
        return;
    va_start(ap, fmt);
    len = format_line(line, fmt, ap);
    va_end(ap);
    inst->host->log(inst, level, line, len);
}

void
gwf_stream_logf(gwf_stream *s, gwf_log_level level, const char *fmt, ...)
{
    char line[SDK_LOG_MAX];
    gwf_instance *inst;
    va_list ap;
    size_t len;

    if (!s || !s->host || !s->host->stream_log)
        return;
    /* Skip the formatting when the level is off. A dead handle (after a
     * reply) yields no instance: then let the host decide. */
    inst = s->host->stream_instance ? s->host->stream_instance(s) : NULL;
    if (inst && s->host->log_enabled && !s->host->log_enabled(inst, level))
        return;
    va_start(ap, fmt);
    len = format_line(line, fmt, ap);
    va_end(ap);
    s->host->stream_log(s, level, line, len);
}

gwf_status
gwf_config_errorf(gwf_instance *inst, const char *field, const char *fmt, ...)
{
    char line[SDK_LOG_MAX];
    va_list ap;
    size_t len;

    if (!inst || !inst->host || !inst->host->config_error)
        return GWF_ERR_BAD_ARGUMENT;
    va_start(ap, fmt);
    len = format_line(line, fmt, ap);
    va_end(ap);
    inst->host->config_error(inst, field, line, len);
    return GWF_ERR_BAD_ARGUMENT;
}

/* ------------------------------------------------------------------------
 * Durations
 *
 * The grammar is Go's time.ParseDuration without the sign: one or more
 * `number unit` terms, where a number is digits with an optional fraction
 * ("1.5", ".5", "1.") and a unit one of ns, us (or µs/μs), ms, s, m, h.
 * A lone "0" is accepted too. The result is exact (fractions are
 * truncated to whole nanoseconds, never rounded through a double) and at
 * most INT64_MAX, so it can be added to a gwf_host.now() reading.
 * --------------------------------------------------------------------- */

#define NS_PER_US UINT64_C(1000)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)

static const struct duration_unit {
    const char *name;
    uint64_t ns;
} duration_units[] = {
    {"ns", 1},
    {"us", NS_PER_US},
    {"\xc2\xb5s", NS_PER_US}, /* U+00B5 MICRO SIGN */
    {"\xce\xbcs", NS_PER_US}, /* U+03BC GREEK SMALL LETTER MU */
    {"ms", NS_PER_MS},
    {"s", NS_PER_S},
    {"m", 60 * NS_PER_S},
    {"h", 3600 * NS_PER_S},
};

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The unit spelled by text[0..len), or 0 when unknown. */
static uint64_t
duration_unit_ns(const char *text, size_t len)
{
    size_t count = sizeof(duration_units) / sizeof(duration_units[0]);

    for (size_t i = 0; i < count; i++) {
        if (strlen(duration_units[i].name) == len &&
            memcmp(duration_units[i].name, text, len) == 0)
            return duration_units[i].ns;
    }
    return 0;
}

/* floor(0.d1 d2 ... dn * unit) for the fraction digits frac[0..n), exact.
 * Horner's rule from the last digit: t = d_i * unit + floor(t / 10), and
 * the answer is floor(t / 10). Nested floor divisions by integers equal
 * one floor division, and t stays below 10 * unit, so nothing overflows
 * however many digits there are. */
static uint64_t
duration_fraction_ns(const char *frac, size_t n, uint64_t unit)
{
    uint64_t t = 0;

    for (size_t i = n; i-- > 0;)
        t = (uint64_t)(frac[i] - '0') * unit + t / 10;
    return t / 10;
}

/* How many decimal digits `v` has (1 to 20). */
static size_t
u64_digits(uint64_t v)
{
    size_t n = 1;

    for (;;) {
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

size_t
gwf_u64_text(char out[20], uint64_t v)
{
    /* Two digits a step from a table, written in place from the last
     * one once the length is known (a rate limit decision formats a few
     * numbers: its key's window, its commands' lengths, a retry-after). */
    static const char pairs[201] = "00010203040506070809"
                                   "10111213141516171819"
                                   "20212223242526272829"
                                   "30313233343536373839"
                                   "40414243444546474849"
                                   "50515253545556575859"
                                   "60616263646566676869"
                                   "70717273747576777879"
                                   "80818283848586878889"
                                   "90919293949596979899";
    size_t len = u64_digits(v), n = len;

    while (v >= 100) {
        size_t at = (size_t)(v % 100) * 2;
        v /= 100;
        out[--n] = pairs[at + 1];
        out[--n] = pairs[at];
    }
    if (v >= 10) {
        out[--n] = pairs[v * 2 + 1];
        out[--n] = pairs[v * 2];
    } else {
        out[--n] = (char)('0' + v);
    }
    return len;
}

int
gwf_parse_duration(const char *text, size_t len, uint64_t *ns)
{
    const uint64_t max = INT64_MAX;
    uint64_t total = 0;
    size_t i = 0;

    if (!text || len == 0 || !ns)
        return -1;
    if (len == 1 && text[0] == '0') {
        *ns = 0;
        return 0;
    }
    while (i < len) {
        uint64_t whole = 0, unit, term;
        size_t whole_digits = 0, frac_start, frac_digits = 0, unit_start;
        int whole_overflow = 0;

        for (; i < len && is_digit(text[i]); i++, whole_digits++) {
            uint64_t d = (uint64_t)(text[i] - '0');
            if (whole > (max - d) / 10)
                whole_overflow = 1;
            else
                whole = whole * 10 + d;
        }
        frac_start = i;
        if (i < len && text[i] == '.') {
            frac_start = ++i;
            for (; i < len && is_digit(text[i]); i++)
                frac_digits++;
        }
        if (whole_digits == 0 && frac_digits == 0)
            return -1; /* no number, or a lone "." */
        if (whole_overflow)
            return -1;

        unit_start = i;
        while (i < len && !is_digit(text[i]) && text[i] != '.')
            i++;
        unit = duration_unit_ns(text + unit_start, i - unit_start);
        if (unit == 0)
            return -1; /* missing or unknown unit */

        if (whole > max / unit)
            return -1;
        term = whole * unit;
        /* The fraction is below one unit, and whole*unit + unit - 1 may
         * still exceed max: check the sum, not just the product. */
        {
            uint64_t frac =
                duration_fraction_ns(text + frac_start, frac_digits, unit);
            if (term > max - frac)
                return -1;
            term += frac;
        }
        if (total > max - term)
            return -1;
        total += term;
    }
    *ns = total;
    return 0;
}

/* ------------------------------------------------------------------------
 * Header syntax (RFC 9110, section 5)
 * --------------------------------------------------------------------- */

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int
is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int
gwf_is_header_name(const char *name, size_t len)
{
    if (!name || len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)name[i]))
            return 0;
    }
    return 1;
}

/* field-vchar / SP / HTAB (RFC 9110 5.5): visible ASCII, space, tab and
 * obs-text (0x80-0xff). Every other control byte and DEL is refused, not
 * only CR, LF and NUL: a recipient may read any of them as the end of a
 * line or of a string, or mangle them; none has a meaning in a value. */
static int
is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

int
gwf_is_header_value(const char *value, size_t len)
{
    if (len == 0)
        return 1;
    if (!value)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_field_byte((unsigned char)value[i]))
            return 0;
    }
    return 1;
}

static const char *const hop_by_hop_headers[] = {
    "connection", "keep-alive",        "proxy-connection", "te",
    "trailer",    "transfer-encoding", "upgrade",
};

int
gwf_is_hop_by_hop_header(const char *name, size_t len)
{
    if (!name)
        return 0;
    gwf_view v = {name, len};
    for (size_t i = 0;
         i < sizeof(hop_by_hop_headers) / sizeof(hop_by_hop_headers[0]); i++)
        if (gwf_view_ieq(v, hop_by_hop_headers[i]))
            return 1;
    return 0;
}

static int
bytes_ieq(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (ascii_lower((unsigned char)a[i]) !=
            ascii_lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int
gwf_header_list_contains(const char *list, size_t list_len, const char *token,
                         size_t token_len)
{
    if (!list || !token || token_len == 0)
        return 0;
    size_t i = 0;
    while (i < list_len) {
        size_t end = i;
        while (end < list_len && list[end] != ',')
            end++;
        size_t first = i, last = end;
        while (first < last && is_ows(list[first]))
            first++;
        while (last > first && is_ows(list[last - 1]))
            last--;
        if (last - first == token_len &&
            bytes_ieq(list + first, token, token_len))
            return 1;
        i = end + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * String builder
 *
 * `data` is kept NUL-terminated whenever it is not NULL, so a finished
 * buffer can be handed to anything that wants a C string. Once an
 * allocation fails the buffer stops changing and `failed` stays set: the
 * caller checks once at the end instead of after every append.
 * --------------------------------------------------------------------- */

/* Make room for `extra` more bytes plus the terminating NUL. */
static int
strbuf_reserve(gwf_strbuf *b, size_t extra)
{
    size_t need, cap;
    char *data;

    if (b->failed)
        return -1;
    if (extra > SIZE_MAX - 1 - b->len)
        goto fail;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    data = realloc(b->data, cap);
    if (!data)
        goto fail;
    b->data = data;
    b->cap = cap;
    return 0;
fail:
    b->failed = 1;
    return -1;
}

void
gwf_strbuf_append(gwf_strbuf *b, const char *data, size_t len)
{
    if (strbuf_reserve(b, len) != 0)
        return;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void
gwf_strbuf_appendf(gwf_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    /* First try the room there is; vsnprintf says how much it needed. */
    if (strbuf_reserve(b, 0) != 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        goto fail;
    if ((size_t)n >= b->cap - b->len) {
        if (strbuf_reserve(b, (size_t)n) != 0) {
            b->data[b->len] = '\0'; /* cut the partial first write */
            return;
        }
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            goto fail;
    }
    b->len += (size_t)n;
    return;
fail:
    /* A format error leaves the text as it was (the partial write is
     * cut off again) and marks the buffer failed. */
    b->data[b->len] = '\0';
    b->failed = 1;
}

void
gwf_strbuf_free(gwf_strbuf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

/* -- base64 --------------------------------------------------------------- */

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int
gwf_base64_decode(const char *in, size_t len, char **out, size_t *out_len)
{
    if (len % 4 != 0)
        return -1;
    char *buf = malloc(len / 4 * 3 + 1);
    if (!buf)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(c)) < 0) {
                free(buf);
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        buf[o++] = (char)(w >> 16);
        if (pad < 2)
            buf[o++] = (char)(w >> 8 & 0xff);
        if (pad < 1)
            buf[o++] = (char)(w & 0xff);
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
}
