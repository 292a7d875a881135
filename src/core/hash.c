/* hash.c - FNV-1a 64 (see hash.h).
 *
 * FNV-1a: h = basis; for each byte: h = (h ^ byte) * prime, modulo 2^64. One definition for the
 * in-process tables (session bindings, the per-endpoint keyed tables) that had a copy each.
 * Checked against the published test vectors (tests/unit/core/test_hash.c).
 *
 * Alternatives rejected: xxh64 (already linked for prefix hashing) is faster on long input, but
 * the keys hashed here are short (endpoint addresses, session ids) and FNV-1a needs no library
 * call or seed handling; the cost is one multiply a byte.
 */
#include "core/hash.h"

uint64_t sy_fnv1a64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = SY_FNV1A64_BASIS;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * SY_FNV1A64_PRIME;
    return h;
}

uint64_t sy_fnv1a64_str(const char *s)
{
    uint64_t h = SY_FNV1A64_BASIS;
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * SY_FNV1A64_PRIME;
    return h;
}
