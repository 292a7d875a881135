/* decode.c - a bounded, hand-rolled msgpack reader for vLLM's KVEventBatch (see decode.h).
 *
 * Why hand-rolled rather than msgpack-c's unpacker: msgpack-c builds a tree of msgpack_object in a
 * zone (one allocation per message at best, proportional to the token count), then we would walk
 * it again. The KVEventBatch schema is small and fixed, so a cursor over the bytes that decodes
 * exactly the fields we need (and skips the rest with a depth bound) is both faster and simpler to
 * bound: every read checks the remaining length first, nesting in skipped values is capped at
 * SY_KV_MAX_DEPTH, array lengths are checked against the bytes left (each element takes >= 1
 * byte) before anything is sized from them.
 *
 *   payload := array(2..n)[ts, events, dp_rank?, ...ignored]  |  map{ts, events,
 * data_parallel_rank} events  := array of event event   := array[tag:str, fields...]  (positional;
 * missing trailing fields = nil) | map{"type": tag, name: value...}  (any key order; unknown keys
 * ignored)
 *
 * All-or-nothing: every event of the batch is decoded first (hashes and token ids appended to the
 * decoder's two buffers, events to its event array, at most SY_KV_MAX_* per batch), and only then
 * is the callback called for each, so a malformed batch changes nothing in the index. (A first
 * version validated in one pass and decoded again in a second: half the throughput.) Unknown
 * event tags (a newer vLLM) are skipped, not errors.
 *
 * Threading: a decoder belongs to one thread (its scratch buffers).
 */
#include "kvevents/decode.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

struct cur {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
};

#define NEED(c, n)                                                                                 \
    do {                                                                                           \
        if ((size_t)((c)->end - (c)->p) < (size_t)(n))                                             \
            return SY_EPARSE;                                                                      \
    } while (0)

static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

uint64_t sy_kv_fold_hash(const uint8_t *p, size_t len)
{
    if (len > 8) {
        p += len - 8;
        len = 8;
    }
    return be(p, len);
}

void sy_kv_decoder_init(struct sy_kv_decoder *d)
{
    memset(d, 0, sizeof *d);
}

void sy_kv_decoder_fini(struct sy_kv_decoder *d)
{
    free(d->hashes);
    free(d->tokens);
    free(d->evs);
    memset(d, 0, sizeof *d);
}

/* Grows *buf to hold n entries of size sz (n already checked against the bound). */
static int reserve(void **buf, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < n)
        nc *= 2;
    void *nb = realloc(*buf, nc * sz);
    if (!nb)
        return SY_ENOMEM;
    *buf = nb;
    *cap = nc;
    return 0;
}

static bool is_nil(const struct cur *c)
{
    return c->p < c->end && *c->p == 0xc0;
}

/* Array header; *n is checked against the bytes left. */
static int rd_array(struct cur *c, size_t *n)
{
    NEED(c, 1);
    uint8_t t = *c->p++;
    size_t v;
    if ((t & 0xf0) == 0x90) {
        v = t & 0x0f;
    } else if (t == 0xdc) {
        NEED(c, 2);
        v = (size_t)be(c->p, 2), c->p += 2;
    } else if (t == 0xdd) {
        NEED(c, 4);
        v = (size_t)be(c->p, 4), c->p += 4;
    } else {
        return SY_EPARSE;
    }
    if (v > (size_t)(c->end - c->p))
        return SY_EPARSE;
    *n = v;
    return 0;
}

static int rd_map(struct cur *c, size_t *n)
{
    NEED(c, 1);
    uint8_t t = *c->p++;
    size_t v;
    if ((t & 0xf0) == 0x80) {
        v = t & 0x0f;
    } else if (t == 0xde) {
        NEED(c, 2);
        v = (size_t)be(c->p, 2), c->p += 2;
    } else if (t == 0xdf) {
        NEED(c, 4);
        v = (size_t)be(c->p, 4), c->p += 4;
    } else {
        return SY_EPARSE;
    }
    if (v > (size_t)(c->end - c->p) / 2)
        return SY_EPARSE;
    *n = v;
    return 0;
}

/* A string (str family only). */
static int rd_str(struct cur *c, struct sy_str *s)
{
    NEED(c, 1);
    uint8_t t = *c->p++;
    size_t n;
    if ((t & 0xe0) == 0xa0) {
        n = t & 0x1f;
    } else if (t == 0xd9) {
        NEED(c, 1);
        n = *c->p++;
    } else if (t == 0xda) {
        NEED(c, 2);
        n = (size_t)be(c->p, 2), c->p += 2;
    } else if (t == 0xdb) {
        NEED(c, 4);
        n = (size_t)be(c->p, 4), c->p += 4;
    } else {
        return SY_EPARSE;
    }
    NEED(c, n);
    *s = (struct sy_str){(const char *)c->p, n};
    c->p += n;
    return 0;
}

/* A string or nil (-> empty). */
static int rd_opt_str(struct cur *c, struct sy_str *s)
{
    if (is_nil(c)) {
        c->p++;
        *s = (struct sy_str){"", 0};
        return 0;
    }
    return rd_str(c, s);
}

/* Any integer as int64 (uint64 above INT64_MAX is cast, as llm-d does for hashes). Sets *is_uint
 * for the unsigned encodings so callers can range-check. */
static int rd_int(struct cur *c, uint64_t *u, bool *neg)
{
    NEED(c, 1);
    uint8_t t = *c->p++;
    *neg = false;
    if (t <= 0x7f) {
        *u = t;
        return 0;
    }
    if (t >= 0xe0) {
        *u = (uint64_t)(int64_t)(int8_t)t;
        *neg = true;
        return 0;
    }
    size_t n;
    bool sgn;
    switch (t) {
    case 0xcc: n = 1, sgn = false; break;
    case 0xcd: n = 2, sgn = false; break;
    case 0xce: n = 4, sgn = false; break;
    case 0xcf: n = 8, sgn = false; break;
    case 0xd0: n = 1, sgn = true; break;
    case 0xd1: n = 2, sgn = true; break;
    case 0xd2: n = 4, sgn = true; break;
    case 0xd3: n = 8, sgn = true; break;
    default: return SY_EPARSE;
    }
    NEED(c, n);
    uint64_t v = be(c->p, n);
    c->p += n;
    if (sgn && n < 8 && (v >> (n * 8 - 1)) & 1)
        v |= ~(uint64_t)0 << (n * 8); /* sign-extend */
    *neg = sgn && (int64_t)v < 0;
    *u = v;
    return 0;
}

/* A block hash: integer (cast to uint64) or bin/str bytes folded (sy_kv_fold_hash). */
static int rd_hash(struct cur *c, uint64_t *h)
{
    NEED(c, 1);
    uint8_t t = *c->p;
    size_t n;
    if (t == 0xc4 || t == 0xc5 || t == 0xc6) {
        size_t w = t == 0xc4 ? 1 : t == 0xc5 ? 2 : 4;
        c->p++;
        NEED(c, w);
        n = (size_t)be(c->p, w);
        c->p += w;
        NEED(c, n);
        *h = sy_kv_fold_hash(c->p, n);
        c->p += n;
        return 0;
    }
    bool neg;
    return rd_int(c, h, &neg);
}

static int rd_float(struct cur *c, double *d)
{
    NEED(c, 1);
    uint8_t t = *c->p;
    if (t == 0xcb) {
        NEED(c, 9);
        uint64_t v = be(c->p + 1, 8);
        memcpy(d, &v, sizeof *d);
        c->p += 9;
        return 0;
    }
    if (t == 0xca) {
        NEED(c, 5);
        uint32_t v = (uint32_t)be(c->p + 1, 4);
        float f;
        memcpy(&f, &v, sizeof f);
        *d = f;
        c->p += 5;
        return 0;
    }
    uint64_t u;
    bool neg;
    int rc = rd_int(c, &u, &neg);
    if (rc)
        return rc;
    *d = neg ? (double)(int64_t)u : (double)u;
    return 0;
}

/* Skips one value of any type. */
static int skip(struct cur *c, int depth)
{
    if (depth > SY_KV_MAX_DEPTH)
        return SY_EPARSE;
    NEED(c, 1);
    uint8_t t = *c->p;
    size_t n, i;
    int rc;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
        c->p++;
        return 0;
    }
    if ((t & 0xe0) == 0xa0 || t == 0xd9 || t == 0xda || t == 0xdb) {
        struct sy_str s;
        return rd_str(c, &s);
    }
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
        if ((rc = rd_array(c, &n)))
            return rc;
        for (i = 0; i < n; i++)
            if ((rc = skip(c, depth + 1)))
                return rc;
        return 0;
    }
    if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
        if ((rc = rd_map(c, &n)))
            return rc;
        for (i = 0; i < 2 * n; i++)
            if ((rc = skip(c, depth + 1)))
                return rc;
        return 0;
    }
    c->p++;
    switch (t) {
    case 0xcc:
    case 0xd0: n = 1; break;
    case 0xcd:
    case 0xd1: n = 2; break;
    case 0xce:
    case 0xd2:
    case 0xca: n = 4; break;
    case 0xcf:
    case 0xd3:
    case 0xcb: n = 8; break;
    case 0xd4: n = 2; break; /* fixext 1: type + 1 */
    case 0xd5: n = 3; break;
    case 0xd6: n = 5; break;
    case 0xd7: n = 9; break;
    case 0xd8: n = 17; break;
    case 0xc4:
    case 0xc5:
    case 0xc6: {
        size_t w = t == 0xc4 ? 1 : t == 0xc5 ? 2 : 4;
        NEED(c, w);
        n = (size_t)be(c->p, w);
        c->p += w;
        break;
    }
    case 0xc7:
    case 0xc8:
    case 0xc9: {
        size_t w = t == 0xc7 ? 1 : t == 0xc8 ? 2 : 4;
        NEED(c, w);
        n = (size_t)be(c->p, w) + 1; /* + the ext type byte */
        c->p += w;
        break;
    }
    default: return SY_EPARSE; /* 0xc1 is never used */
    }
    NEED(c, n);
    c->p += n;
    return 0;
}

/* Field decoders shared by both encodings. */
static int rd_hashes(struct sy_kv_decoder *d, struct cur *c, struct sy_kv_event *ev)
{
    size_t n;
    int rc;
    if ((rc = rd_array(c, &n)))
        return rc;
    if (n > SY_KV_MAX_HASHES - d->hlen)
        return SY_ETOOBIG;
    if ((rc = reserve((void **)&d->hashes, &d->hcap, d->hlen + n, sizeof *d->hashes)))
        return rc;
    uint64_t *out = n ? d->hashes + d->hlen : NULL; /* hashes is NULL until the first one */
    for (size_t i = 0; i < n; i++)
        if ((rc = rd_hash(c, &out[i])))
            return rc;
    d->cur->hoff = d->hlen; /* pointer fixed up after the batch (the buffer may move) */
    d->hlen += n;
    ev->nhashes = n;
    return 0;
}

static int rd_tokens(struct sy_kv_decoder *d, struct cur *c, struct sy_kv_event *ev)
{
    size_t n;
    int rc;
    if (is_nil(c)) {
        c->p++;
        return 0;
    }
    if ((rc = rd_array(c, &n)))
        return rc;
    if (n > SY_KV_MAX_TOKENS - d->tlen)
        return SY_ETOOBIG;
    if ((rc = reserve((void **)&d->tokens, &d->tcap, d->tlen + n, sizeof *d->tokens)))
        return rc;
    uint32_t *out = n ? d->tokens + d->tlen : NULL; /* tokens is NULL until the first one */
    for (size_t i = 0; i < n; i++) {
        /* Fast paths: positive fixint, uint8/16/32, the encodings msgspec uses for ids. */
        NEED(c, 1);
        uint8_t t = *c->p;
        if (t <= 0x7f) {
            out[i] = t;
            c->p++;
            continue;
        }
        if (t == 0xce && c->end - c->p >= 5) {
            out[i] = (uint32_t)c->p[1] << 24 | (uint32_t)c->p[2] << 16 | (uint32_t)c->p[3] << 8 |
                     c->p[4];
            c->p += 5;
            continue;
        }
        if (t == 0xcd && c->end - c->p >= 3) {
            out[i] = (uint32_t)c->p[1] << 8 | c->p[2];
            c->p += 3;
            continue;
        }
        uint64_t u;
        bool neg;
        if ((rc = rd_int(c, &u, &neg)))
            return rc;
        if (neg || u > UINT32_MAX)
            return SY_EPARSE;
        out[i] = (uint32_t)u;
    }
    d->cur->toff = d->tlen;
    d->tlen += n;
    ev->ntokens = n;
    return 0;
}

static int rd_parent(struct cur *c, struct sy_kv_event *ev)
{
    if (is_nil(c)) {
        c->p++;
        return 0;
    }
    int rc = rd_hash(c, &ev->parent);
    ev->has_parent = rc == 0 && ev->parent != 0; /* 0 = root (inference-sim's array format) */
    return rc;
}

static int rd_opt_int(struct cur *c, bool *has, int64_t *v)
{
    if (is_nil(c)) {
        c->p++;
        *has = false;
        return 0;
    }
    uint64_t u;
    bool neg;
    int rc = rd_int(c, &u, &neg);
    *has = rc == 0;
    *v = (int64_t)u;
    return rc;
}

static int rd_block_size(struct cur *c, struct sy_kv_event *ev)
{
    bool has;
    int64_t v = 0;
    int rc = rd_opt_int(c, &has, &v);
    if (rc)
        return rc;
    if (has && (v < 0 || v > (int64_t)SY_KV_MAX_TOKENS))
        return SY_EPARSE;
    ev->block_size = has ? (uint32_t)v : 0;
    return 0;
}

enum field {
    F_HASHES,
    F_PARENT,
    F_TOKENS,
    F_BLOCK_SIZE,
    F_LORA_ID,
    F_MEDIUM,
    F_LORA_NAME,
    F_EXTRA_KEYS,
    F_GROUP_IDX,
    F_SPEC_KIND,
    F_SPEC_WINDOW,
    F_UNKNOWN
};

/* Positional layouts (vLLM's declaration order). */
static const enum field stored_order[] = {F_HASHES,    F_PARENT,    F_TOKENS,     F_BLOCK_SIZE,
                                          F_LORA_ID,   F_MEDIUM,    F_LORA_NAME,  F_EXTRA_KEYS,
                                          F_GROUP_IDX, F_SPEC_KIND, F_SPEC_WINDOW};
static const enum field removed_order[] = {F_HASHES, F_MEDIUM, F_GROUP_IDX};

static enum field field_by_name(struct sy_str k)
{
    static const struct {
        const char *name;
        enum field f;
    } names[] = {
        {"block_hashes", F_HASHES},
        {"parent_block_hash", F_PARENT},
        {"token_ids", F_TOKENS},
        {"block_size", F_BLOCK_SIZE},
        {"lora_id", F_LORA_ID},
        {"medium", F_MEDIUM},
        {"lora_name", F_LORA_NAME},
        {"extra_keys", F_EXTRA_KEYS},
        {"group_idx", F_GROUP_IDX},
        {"kv_cache_spec_kind", F_SPEC_KIND},
        {"kv_cache_spec_sliding_window", F_SPEC_WINDOW},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (sy_str_eq_c(k, names[i].name))
            return names[i].f;
    return F_UNKNOWN;
}

static int rd_field(struct sy_kv_decoder *d, struct cur *c, enum field f, struct sy_kv_event *ev)
{
    switch (f) {
    case F_HASHES:
        if (ev->kind == SY_KV_ALL_BLOCKS_CLEARED)
            break;
        return rd_hashes(d, c, ev);
    case F_PARENT:
        if (ev->kind != SY_KV_BLOCK_STORED)
            break;
        return rd_parent(c, ev);
    case F_TOKENS:
        if (ev->kind != SY_KV_BLOCK_STORED)
            break;
        return rd_tokens(d, c, ev);
    case F_BLOCK_SIZE:
        if (ev->kind != SY_KV_BLOCK_STORED)
            break;
        return rd_block_size(c, ev);
    case F_LORA_ID: return rd_opt_int(c, &ev->has_lora_id, &ev->lora_id);
    case F_MEDIUM: return rd_opt_str(c, &ev->medium);
    case F_LORA_NAME: return rd_opt_str(c, &ev->lora_name);
    case F_GROUP_IDX: return rd_opt_int(c, &ev->has_group, &ev->group_idx);
    case F_SPEC_KIND: return rd_opt_str(c, &ev->spec_kind);
    default: break;
    }
    return skip(c, 1);
}

static int kind_of(struct sy_str tag, enum sy_kv_kind *k)
{
    if (sy_str_eq_c(tag, "BlockStored"))
        *k = SY_KV_BLOCK_STORED;
    else if (sy_str_eq_c(tag, "BlockRemoved"))
        *k = SY_KV_BLOCK_REMOVED;
    else if (sy_str_eq_c(tag, "AllBlocksCleared"))
        *k = SY_KV_ALL_BLOCKS_CLEARED;
    else
        return SY_ENOTFOUND;
    return 0;
}

/* One event; *known = false for an unknown tag (skipped). */
static int rd_event(struct sy_kv_decoder *d, struct cur *c, struct sy_kv_event *ev, bool *known)
{
    memset(ev, 0, sizeof *ev);
    ev->medium = ev->lora_name = ev->spec_kind = (struct sy_str){"", 0};
    *known = false;
    NEED(c, 1);
    uint8_t t = *c->p;
    size_t n;
    int rc;
    struct sy_str tag;
    bool required_hashes;
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
        if ((rc = rd_array(c, &n)))
            return rc;
        if (n < 1)
            return SY_EPARSE;
        if ((rc = rd_str(c, &tag)))
            return rc;
        if (kind_of(tag, &ev->kind)) {
            for (size_t i = 1; i < n; i++)
                if ((rc = skip(c, 1)))
                    return rc;
            return 0;
        }
        const enum field *order = ev->kind == SY_KV_BLOCK_STORED ? stored_order : removed_order;
        size_t norder = ev->kind == SY_KV_BLOCK_STORED ? sizeof stored_order / sizeof *stored_order
                        : ev->kind == SY_KV_BLOCK_REMOVED
                            ? sizeof removed_order / sizeof *removed_order
                            : 0;
        /* BlockStored's first four fields have no default: always present. */
        if (ev->kind == SY_KV_BLOCK_STORED && n < 5)
            return SY_EPARSE;
        if (ev->kind == SY_KV_BLOCK_REMOVED && n < 2)
            return SY_EPARSE;
        for (size_t i = 1; i < n; i++) {
            enum field f = i - 1 < norder ? order[i - 1] : F_UNKNOWN;
            if ((rc = rd_field(d, c, f, ev)))
                return rc;
        }
        *known = true;
        return 0;
    }
    if (!((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf))
        return SY_EPARSE;
    /* Map. msgspec writes the tag first: then one pass. Otherwise find "type" (any position),
     * then decode the fields by name in a second walk. */
    struct cur start = *c;
    if ((rc = rd_map(c, &n)))
        return rc;
    struct cur first = *c;
    struct sy_str k0;
    size_t from = 0;
    if (n > 0 && rd_str(&first, &k0) == 0 && sy_str_eq_c(k0, "type")) {
        if ((rc = rd_str(&first, &tag)))
            return rc;
        *c = first;
        if (kind_of(tag, &ev->kind)) {
            for (size_t i = 1; i < 2 * n - 1; i++)
                if ((rc = skip(c, 1)))
                    return rc;
            return 0;
        }
        from = 1;
        goto fields;
    }
    bool have_tag = false;
    for (size_t i = 0; i < n; i++) {
        struct sy_str k;
        if ((rc = rd_str(c, &k)))
            return rc;
        if (!have_tag && sy_str_eq_c(k, "type")) {
            if ((rc = rd_str(c, &tag)))
                return rc;
            have_tag = true;
        } else if ((rc = skip(c, 1))) {
            return rc;
        }
    }
    if (!have_tag)
        return SY_EPARSE;
    if (kind_of(tag, &ev->kind))
        return 0; /* c is past the map */
    *c = start;
    (void)rd_map(c, &n);
fields:;
    bool seen_hashes = false;
    for (size_t i = from; i < n; i++) {
        struct sy_str k;
        if ((rc = rd_str(c, &k)))
            return rc;
        enum field f = sy_str_eq_c(k, "type") ? F_UNKNOWN : field_by_name(k);
        if ((rc = rd_field(d, c, f, ev)))
            return rc;
        seen_hashes |= f == F_HASHES;
    }
    required_hashes = ev->kind != SY_KV_ALL_BLOCKS_CLEARED;
    if (required_hashes && !seen_hashes)
        return SY_EPARSE;
    *known = true;
    return 0;
}

/* Decodes the events array at c into d->evs (known events counted in *known). */
static int rd_events(struct sy_kv_decoder *d, struct cur *c, size_t *nev, size_t *known)
{
    size_t n;
    int rc;
    if ((rc = rd_array(c, &n)))
        return rc;
    if (n > SY_KV_MAX_EVENTS)
        return SY_ETOOBIG;
    if ((rc = reserve((void **)&d->evs, &d->evcap, n, sizeof *d->evs)))
        return rc;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok;
        d->cur = &d->evs[k];
        d->cur->hoff = d->cur->toff = 0;
        if ((rc = rd_event(d, c, &d->cur->ev, &ok)))
            return rc;
        k += ok;
    }
    *nev = n;
    *known = k;
    return 0;
}

/* Decodes the whole batch: header into out, events into d (in place, one walk). */
static int rd_batch(struct sy_kv_decoder *d, struct cur *c, struct sy_kv_batch *out, size_t *known)
{
    size_t n, nev = 0;
    int rc;
    memset(out, 0, sizeof *out);
    NEED(c, 1);
    uint8_t t = *c->p;
    bool have_events = false;
    if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
        if ((rc = rd_array(c, &n)))
            return rc;
        if (n < 2)
            return SY_EPARSE;
        if ((rc = rd_float(c, &out->ts)) || (rc = rd_events(d, c, &nev, known)))
            return rc;
        if (n >= 3 && (rc = rd_opt_int(c, &out->has_rank, &out->dp_rank)))
            return rc;
        for (size_t i = 3; i < n; i++)
            if ((rc = skip(c, 1)))
                return rc;
        have_events = true;
    } else if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
        if ((rc = rd_map(c, &n)))
            return rc;
        for (size_t i = 0; i < n; i++) {
            struct sy_str k;
            if ((rc = rd_str(c, &k)))
                return rc;
            if (sy_str_eq_c(k, "ts")) {
                rc = rd_float(c, &out->ts);
            } else if (sy_str_eq_c(k, "events") && !have_events) {
                rc = rd_events(d, c, &nev, known);
                have_events = true;
            } else if (sy_str_eq_c(k, "data_parallel_rank")) {
                rc = rd_opt_int(c, &out->has_rank, &out->dp_rank);
            } else {
                rc = skip(c, 1);
            }
            if (rc)
                return rc;
        }
    } else {
        return SY_EPARSE;
    }
    if (!have_events)
        return SY_EPARSE;
    if (c->p != c->end)
        return SY_EPARSE; /* trailing bytes after the batch */
    out->nevents = nev;
    return 0;
}

int sy_kv_decode_batch(struct sy_kv_decoder *d, const void *payload, size_t len,
                       struct sy_kv_batch *out, sy_kv_event_fn fn, void *ud)
{
    struct sy_kv_batch hdr;
    struct cur c = {payload, (const uint8_t *)payload + len};
    size_t k = 0;
    int rc;
    if (!payload && len)
        return SY_EINVAL;
    d->hlen = d->tlen = 0;
    if ((rc = rd_batch(d, &c, &hdr, &k)))
        return rc;
    for (size_t i = 0; i < k && fn; i++) {
        struct sy_kv_event *ev = &d->evs[i].ev;
        ev->hashes = ev->nhashes ? d->hashes + d->evs[i].hoff : NULL;
        ev->tokens = ev->ntokens ? d->tokens + d->evs[i].toff : NULL;
        if ((rc = fn(ud, ev)))
            return rc;
    }
    if (out)
        *out = hdr;
    return 0;
}

int sy_kv_parse_topic(const void *topic, size_t len, struct sy_str *pod, struct sy_str *model)
{
    const char *t = topic;
    if (!t || len < 5 || memcmp(t, "kv@", 3) != 0)
        return SY_EPARSE;
    const char *a = t + 3, *end = t + len;
    const char *at = memchr(a, '@', (size_t)(end - a));
    if (!at || at == a || at + 1 >= end)
        return SY_EPARSE;
    *pod = (struct sy_str){a, (size_t)(at - a)};
    *model = (struct sy_str){at + 1, (size_t)(end - at - 1)};
    return 0;
}

int sy_kv_parse_seq(const void *frame, size_t len, uint64_t *seq)
{
    if (!frame || len < 8)
        return SY_EPARSE;
    *seq = be(frame, 8);
    return 0;
}
