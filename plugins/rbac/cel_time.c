/*
 * cel_time.c - CEL's timestamps and durations: reading and writing their
 * text forms, the calendar fields the accessors return, and fixed time
 * zone offsets.
 *
 * A timestamp is seconds since the Unix epoch and nanoseconds (0..1e9-1),
 * restricted to CEL's range, 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999999999Z. A duration is seconds and nanoseconds
 * of the same sign, limited as CEL's language definition says to one
 * int64 of nanoseconds (about +-292 years; what Go's time.Duration
 * holds). Every operation that would leave a range is an error for the
 * caller to report; sums are done in 128 bits, so nothing here
 * overflows.
 *
 * Time zones: a fixed offset ("+05:30", "-08:00", "02:00") or "UTC"
 * only. IANA names ("Europe/Paris") need the tz database, which gwf does
 * not read: cel_tz_parse refuses them, and the checker turns that into a
 * config error for a literal argument.
 *
 * The calendar is the proleptic Gregorian one, computed from a day count
 * with the usual era-of-400-years arithmetic.
 */
#include "cel.h"

#include <stdio.h>
#include <string.h>

static int
digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a civil date (month 1-12). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int
leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
cel_ts_valid(int64_t sec)
{
    return sec >= CEL_TS_MIN && sec <= CEL_TS_MAX;
}

int
cel_dur_split(cel_i128 total_ns, int64_t *sec, int32_t *ns)
{
    if (total_ns < (cel_i128)INT64_MIN || total_ns > (cel_i128)INT64_MAX)
        return -1;
    *sec = (int64_t)(total_ns / 1000000000); /* both truncate to zero */
    *ns = (int32_t)(total_ns % 1000000000);
    return 0;
}

int
cel_ts_parse(const char *s, size_t len, int64_t *sec, int32_t *ns)
{
    int y, mo, d, h, mi, se, frac = 0, off = 0;
    size_t i = 19;

    /* YYYY-MM-DDTHH:MM:SS */
    if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
        s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
        s[16] != ':' || digits(s + 17, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return -1;
    if (s[i] == '.') {
        size_t n = 0;
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (n < 9)
                frac = frac * 10 + (s[i] - '0');
            n++;
            i++;
        }
        if (n == 0 || n > 9)
            return -1;
        for (; n < 9; n++)
            frac *= 10;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
                (int64_t)off * 60;
    if (!cel_ts_valid(t))
        return -1;
    *sec = t;
    *ns = frac;
    return 0;
}

/* Go's time.ParseDuration: [-+]?(number unit)+ or "0"; number is digits
 * with an optional fraction; unit ns us µs ms s m h. */
int
cel_dur_parse(const char *s, size_t len, int64_t *sec, int32_t *ns)
{
    static const struct {
        const char *name;
        size_t len;
        int64_t ns;
    } units[] = {{"ns", 2, 1},           {"us", 2, 1000},
                 {"\xc2\xb5s", 3, 1000}, /* µs (U+00B5) */
                 {"\xce\xbcs", 3, 1000}, /* μs (U+03BC) */
                 {"ms", 2, 1000000},     {"s", 1, 1000000000},
                 {"m", 1, 60000000000},  {"h", 1, 3600000000000}};
    cel_i128 total = 0; /* ns, positive */
    const cel_i128 bound = (cel_i128)INT64_MAX + 1;
    size_t i = 0;
    int neg = 0;

    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i + 1 == len && s[i] == '0') {
        *sec = 0;
        *ns = 0;
        return 0;
    }
    if (i == len)
        return -1;
    while (i < len) {
        cel_i128 whole = 0;
        int64_t frac = 0, scale = 1;
        size_t nd = 0, nf = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (whole > bound)
                return -1; /* past any int64 of nanoseconds */
            whole = whole * 10 + (s[i++] - '0');
            nd++;
        }
        if (i < len && s[i] == '.') {
            i++;
            while (i < len && s[i] >= '0' && s[i] <= '9') {
                if (scale < 1000000000000000000LL) { /* 18 digits kept */
                    frac = frac * 10 + (s[i] - '0');
                    scale *= 10;
                }
                i++;
                nf++;
            }
        }
        if (nd == 0 && nf == 0)
            return -1;
        size_t u;
        for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
            if (len - i >= units[u].len &&
                memcmp(s + i, units[u].name, units[u].len) == 0 &&
                /* "m" is not the start of "ms" */
                !(units[u].len == 1 && s[i] == 'm' && i + 1 < len &&
                  s[i + 1] == 's'))
                break;
        if (u == sizeof(units) / sizeof(units[0]))
            return -1;
        i += units[u].len;
        /* whole <= 2^64 and unit <= 3.6e12: the product fits 128 bits */
        total += whole * units[u].ns + (cel_i128)frac * units[u].ns / scale;
        if (total > bound)
            return -1;
    }
    if (!neg && total == bound)
        return -1;
    return cel_dur_split(neg ? -total : total, sec, ns);
}

size_t
cel_ts_format(int64_t sec, int32_t ns, char *out, size_t size)
{
    int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    int64_t rem = sec - days * 86400, y;
    int m, d;
    size_t o;

    civil_from_days(days, &y, &m, &d);
    o = (size_t)snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m,
                         d, (int)(rem / 3600), (int)(rem / 60 % 60),
                         (int)(rem % 60));
    if (ns) {
        char f[16];
        int n = snprintf(f, sizeof(f), "%09d", (int)ns);
        while (n > 0 && f[n - 1] == '0')
            n--;
        o += (size_t)snprintf(out + o, size - o, ".%.*s", n, f);
    }
    o += (size_t)snprintf(out + o, size - o, "Z");
    return o;
}

size_t
cel_dur_format(int64_t sec, int32_t ns, char *out, size_t size)
{
    int neg = sec < 0 || ns < 0;
    uint64_t s = neg ? (uint64_t)(-(sec + 0)) : (uint64_t)sec;
    int32_t n = ns < 0 ? -ns : ns;
    size_t o = (size_t)snprintf(out, size, "%s%llu", neg ? "-" : "",
                                (unsigned long long)s);
    if (n) {
        char f[16];
        int k = snprintf(f, sizeof(f), "%09d", (int)n);
        while (k > 0 && f[k - 1] == '0')
            k--;
        o += (size_t)snprintf(out + o, size - o, ".%.*s", k, f);
    }
    o += (size_t)snprintf(out + o, size - o, "s");
    return o;
}

int
cel_tz_parse(const char *s, size_t len, int *minutes)
{
    int h, m, sign = 1;
    size_t i = 0;

    if (len == 3 && memcmp(s, "UTC", 3) == 0) {
        *minutes = 0;
        return 0;
    }
    if (len == 6 && (s[0] == '+' || s[0] == '-')) {
        sign = s[0] == '-' ? -1 : 1;
        i = 1;
    } else if (len != 5) {
        return -1;
    }
    if (digits(s + i, 2, &h) || s[i + 2] != ':' || digits(s + i + 3, 2, &m) ||
        h > 23 || m > 59)
        return -1;
    *minutes = sign * (h * 60 + m);
    return 0;
}

void
cel_civil(int64_t sec, int tz_min, cel_civil_time *c)
{
    int64_t t = sec + (int64_t)tz_min * 60;
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t rem = t - days * 86400;

    civil_from_days(days, &c->year, &c->month, &c->mday);
    c->yday = (int)(days - days_from_civil(c->year, 1, 1));
    /* 1970-01-01 was a Thursday (4) */
    c->wday = (int)(((days % 7) + 11) % 7);
    c->hour = (int)(rem / 3600);
    c->min = (int)(rem / 60 % 60);
    c->sec = (int)(rem % 60);
}
