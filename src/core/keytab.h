/* keytab.h - a fixed-capacity table of per-key payloads, keyed by strings (endpoint addresses).
 *
 * Open addressing with linear probing from FNV-1a 64(key) % cap; each used slot keeps the key's
 * hash and an owned copy of the key, so two keys with one hash are still two slots. Slots are
 * claimed for good (no removal): the table is sized for the keys it will ever see (a pool's
 * endpoints), and once every slot is taken, new keys are refused (NULL) while the keys already
 * held are still found. Not thread-safe: the owner guards it (and its payloads) with its lock.
 */
#ifndef SY_CORE_KEYTAB_H
#define SY_CORE_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

struct sy_keytab_slot {
    uint64_t hash; /* sy_fnv1a64_str(key) */
    char *key;     /* owned copy, NULL = empty */
};

struct sy_keytab {
    size_t cap;                   /* slots, fixed at init */
    size_t size;                  /* bytes of one payload */
    size_t n;                     /* slots in use */
    struct sy_keytab_slot *slots; /* [cap], owned */
    unsigned char *vals;          /* [cap * size] payloads, zeroed until first claimed, owned */
};

/* Embeds an empty table of cap slots (0 counts as 1) with a zeroed payload of size bytes each
 * (payload i at i x size bytes from a malloc'd base: aligned for any type only when size is a
 * multiple of alignof(max_align_t)). Release with sy_keytab_fini. */
void sy_keytab_init(struct sy_keytab *t, size_t cap, size_t size);
void sy_keytab_fini(struct sy_keytab *t);
/* The payload of key, or NULL when key is NULL or not in the table. Borrows key; the pointer
 * lives as long as the table. */
void *sy_keytab_find(const struct sy_keytab *t, const char *key);
/* The payload of key, claiming a slot (zeroed payload, copy of key) when it is new; NULL when key
 * is NULL, or new and the table is full. Borrows key. */
void *sy_keytab_claim(struct sy_keytab *t, const char *key);

#endif
