/* str.h - non-owning string views and small parsers for values from config and the command line.
 *
 * Parsers return 0 or SY_EINVAL and never allocate.
 */
#ifndef SY_CORE_STR_H
#define SY_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>

struct sy_str {
    const char *p; /* borrowed; not NUL-terminated in general */
    size_t len;    /* bytes */
};

#define SY_STR_LIT(s) ((struct sy_str){(s), sizeof(s) - 1}) /* view of a string literal */

struct sy_str sy_str_c(const char *s); /* view of a C string (NULL -> empty) */
/* Bytewise equality, then ASCII case-insensitive. Inline so that strlen of a literal folds to a
 * constant and most mismatches end at the length test (header and JSON member matching run per
 * header and member per request). */
static inline bool sy_str_eq(struct sy_str a, struct sy_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}
static inline bool sy_str_eq_c(struct sy_str a, const char *b)
{
    return sy_str_eq(a, (struct sy_str){b, strlen(b)});
}
static inline bool sy_str_case_eq(struct sy_str a, struct sy_str b)
{
    return a.len == b.len && strncasecmp(a.p, b.p, a.len) == 0;
}
static inline bool sy_str_case_eq_c(struct sy_str a, const char *b)
{
    return sy_str_case_eq(a, (struct sy_str){b, strlen(b)});
}
char *sy_str_dup(struct sy_str s); /* caller frees */

/* Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF) starting at p, or 0 when the bytes there are not one (n > 0). */
size_t sy_utf8_seq_len(const char *p, size_t n);
/* Whether p[0..n) is well-formed UTF-8 (an ASCII fast path runs 8 bytes at a time). */
bool sy_utf8_valid(const char *p, size_t n);

/* "host:port" (host may be a name, IPv4, or [IPv6]). host receives a NUL-terminated copy. */
int sy_parse_hostport(const char *s, char *host, size_t hostcap, uint16_t *port);
/* Durations: "50ms", "2s", "1m", "100us", "1500" (milliseconds). Result in nanoseconds. */
int sy_parse_duration_ns(const char *s, uint64_t *out);
/* Sizes: "32MiB", "1MB", "512KiB", "4096" (bytes). */
int sy_parse_size(const char *s, uint64_t *out);
/* Non-negative integer with bounds. */
int sy_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Finite double. */
int sy_parse_double(const char *s, double *out);
/* "true|false|yes|no|on|off|1|0". */
int sy_parse_bool(const char *s, bool *out);

#endif
