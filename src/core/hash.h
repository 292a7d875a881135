/* hash.h - FNV-1a 64, the small non-cryptographic hash for in-process tables.
 *
 * For tables that live in one process only (bucket and slot choice); nothing that crosses a wire
 * or must match llm-d (prefix block hashes are xxh64, see src/prefix/hash.h).
 */
#ifndef SY_CORE_HASH_H
#define SY_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SY_FNV1A64_BASIS 0xcbf29ce484222325ULL /* FNV-1a 64 offset basis (14695981039346656037) */
#define SY_FNV1A64_PRIME 0x100000001b3ULL      /* FNV 64 prime (1099511628211) */

/* FNV-1a 64 of the n bytes at p (p may be NULL when n is 0). Borrows p. */
uint64_t sy_fnv1a64(const void *p, size_t n);
/* FNV-1a 64 of the NUL-terminated string s (NULL hashes as ""). Borrows s. */
uint64_t sy_fnv1a64_str(const char *s);

#endif
