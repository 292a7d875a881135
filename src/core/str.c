/* str.c - string views and value parsers (see str.h). */
#include "core/str.h"
#include "core/alloc.h"
#include "core/err.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sy_str sy_str_c(const char *s)
{
    struct sy_str v = {s ? s : "", s ? strlen(s) : 0};
    return v;
}

char *sy_str_dup(struct sy_str s)
{
    return sy_xstrndup(s.p, s.len);
}

int sy_parse_hostport(const char *s, char *host, size_t hostcap, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (!s || !*s)
        return SY_EINVAL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return SY_EINVAL;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon)
            return SY_EINVAL;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hostcap)
        return SY_EINVAL;
    uint64_t p;
    if (sy_parse_u64(colon + 1, 0, 65535, &p) != 0)
        return SY_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

int sy_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return SY_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return SY_EINVAL;
    *out = v;
    return 0;
}

int sy_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return SY_EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return SY_EINVAL;
    *out = v;
    return 0;
}

/* Splits "12.5ms" into number and unit; the number may be fractional. */
static int split_unit(const char *s, double *num, const char **unit)
{
    if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
        return SY_EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || !isfinite(v) || v < 0 || end == s)
        return SY_EINVAL;
    *num = v;
    *unit = end;
    return 0;
}

int sy_parse_duration_ns(const char *s, uint64_t *out)
{
    double v;
    const char *u;
    if (split_unit(s, &v, &u) != 0)
        return SY_EINVAL;
    double mult;
    if (*u == '\0' || strcmp(u, "ms") == 0)
        mult = 1e6;
    else if (strcmp(u, "ns") == 0)
        mult = 1;
    else if (strcmp(u, "us") == 0)
        mult = 1e3;
    else if (strcmp(u, "s") == 0)
        mult = 1e9;
    else if (strcmp(u, "m") == 0)
        mult = 60e9;
    else if (strcmp(u, "h") == 0)
        mult = 3600e9;
    else
        return SY_EINVAL;
    double r = v * mult;
    if (r > 1.8e19)
        return SY_EINVAL;
    *out = (uint64_t)r;
    return 0;
}

int sy_parse_size(const char *s, uint64_t *out)
{
    double v;
    const char *u;
    if (split_unit(s, &v, &u) != 0)
        return SY_EINVAL;
    static const struct {
        const char *name;
        double mult;
    } units[] = {{"", 1},         {"B", 1},    {"K", 1e3},           {"KB", 1e3},
                 {"KiB", 1024.0}, {"M", 1e6},  {"MB", 1e6},          {"MiB", 1048576.0},
                 {"G", 1e9},      {"GB", 1e9}, {"GiB", 1073741824.0}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(u, units[i].name) == 0) {
            double r = v * units[i].mult;
            if (r > 1.8e19)
                return SY_EINVAL;
            *out = (uint64_t)r;
            return 0;
        }
    }
    return SY_EINVAL;
}

int sy_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return SY_EINVAL;
}

size_t sy_utf8_seq_len(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    unsigned char c = u[0];
    if (c < 0x80)
        return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < k || u[1] < lo || u[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((u[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

bool sy_utf8_valid(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        size_t k = sy_utf8_seq_len(p + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}
