/* keytab.c - fixed-capacity open-addressed table of per-key payloads (see keytab.h).
 *
 * Layout: two parallel arrays of cap entries, slot heads and payloads:
 *
 *     slots: [ {hash, key} | {0, NULL} | {hash, key} | ... ]
 *     vals:  [ payload 0   | payload 1 | payload 2   | ... ]   (size bytes each)
 *
 * A key's probe starts at hash % cap and walks forward (wrapping) until it meets the key (same
 * hash, same string) or an empty slot (absent; claimed there when claiming), at most cap slots.
 * Invariant: slots are never emptied, so a key's probe sequence never crosses a hole between its
 * start and its slot, and a find that meets an empty slot can stop.
 *
 * Why a table of its own: the per-endpoint learners (slo-class-scorer's speed fits, the
 * predicted-latency producer's queue-wait lines) each had a copy of this table that stored only
 * the 64-bit hash, so two addresses with one hash would have shared a fit; the key is kept here.
 * Alternatives rejected: a chained hash map (a malloc per entry, and these tables never shrink);
 * a caller-typed macro template (a generic payload pointer is enough at two call sites).
 */
#include "core/keytab.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"

void sy_keytab_init(struct sy_keytab *t, size_t cap, size_t size)
{
    t->cap = cap ? cap : 1;
    t->size = size;
    t->n = 0;
    t->slots = sy_xcalloc(t->cap, sizeof *t->slots);
    t->vals = sy_xcalloc(t->cap, size ? size : 1);
}

void sy_keytab_fini(struct sy_keytab *t)
{
    for (size_t i = 0; t->slots && i < t->cap; i++)
        free(t->slots[i].key);
    free(t->slots);
    free(t->vals);
    memset(t, 0, sizeof *t);
}

/* The index of key's slot, or of the empty slot where its probe ends (*found false); t->cap when
 * the probe visits every slot without meeting either (the table is full and key absent). */
static size_t probe(const struct sy_keytab *t, const char *key, uint64_t h, bool *found)
{
    *found = false;
    for (size_t i = 0, at = (size_t)(h % t->cap); i < t->cap; i++, at = (at + 1) % t->cap) {
        const struct sy_keytab_slot *s = &t->slots[at];
        if (!s->key)
            return at;
        if (s->hash == h && !strcmp(s->key, key)) {
            *found = true;
            return at;
        }
    }
    return t->cap;
}

void *sy_keytab_find(const struct sy_keytab *t, const char *key)
{
    if (!key)
        return NULL;
    bool found;
    size_t at = probe(t, key, sy_fnv1a64_str(key), &found);
    return found ? t->vals + at * t->size : NULL;
}

void *sy_keytab_claim(struct sy_keytab *t, const char *key)
{
    if (!key)
        return NULL;
    uint64_t h = sy_fnv1a64_str(key);
    bool found;
    size_t at = probe(t, key, h, &found);
    if (at == t->cap)
        return NULL;
    if (!found) {
        t->slots[at].hash = h;
        t->slots[at].key = sy_xstrdup(key);
        t->n++;
    }
    return t->vals + at * t->size;
}
