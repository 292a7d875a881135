/* decode.h - vLLM KV-cache event messages: the three ZMQ frames and the msgpack KVEventBatch.
 *
 * Frames: topic (`kv@<host:port>@<model>`, may be empty), an 8-byte big-endian sequence number,
 * and the msgpack payload `[ts, [events...], dp_rank?]` (a map {ts, events, data_parallel_rank}
 * is accepted too). Events come as positional tagged arrays (vLLM <= v0.23) or tagged maps with a
 * "type" key (vLLM PR #42892); both decode to the same struct sy_kv_event.
 *
 * The decoder allocates nothing per message once warm: hashes, token ids and events are decoded
 * into buffers owned by struct sy_kv_decoder, grown geometrically up to SY_KV_MAX_HASHES /
 * SY_KV_MAX_TOKENS / SY_KV_MAX_EVENTS per batch (bounded allocation); strings are views into the
 * payload.
 */
#ifndef SY_KVEVENTS_DECODE_H
#define SY_KVEVENTS_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/str.h"

#define SY_KV_MAX_HASHES (1u << 17) /* block hashes in one batch (a 2M-token step at bs 16) */
#define SY_KV_MAX_TOKENS (1u << 22) /* token ids in one batch */
#define SY_KV_MAX_EVENTS (1u << 16) /* events in one batch */
#define SY_KV_MAX_DEPTH  16         /* nesting accepted in skipped values (extra_keys) */

enum sy_kv_kind {
    SY_KV_BLOCK_STORED,       /* BlockStored */
    SY_KV_BLOCK_REMOVED,      /* BlockRemoved */
    SY_KV_ALL_BLOCKS_CLEARED, /* AllBlocksCleared */
};

/* One decoded event. Arrays and strings are borrowed from the decoder / the payload and are valid
 * only during the callback. */
struct sy_kv_event {
    enum sy_kv_kind kind;    /* which event */
    const uint64_t *hashes;  /* STORED/REMOVED: engine block hashes (bytes folded to uint64) */
    size_t nhashes;          /* their count */
    bool has_parent;         /* STORED: parent_block_hash was non-nil and non-zero */
    uint64_t parent;         /* STORED: the parent's hash */
    const uint32_t *tokens;  /* STORED: token ids (n_blocks x block_size normally) */
    size_t ntokens;          /* their count */
    uint32_t block_size;     /* STORED: engine tokens per block (0 if absent) */
    bool has_lora_id;        /* STORED: lora_id was an integer */
    int64_t lora_id;         /* STORED: deprecated adapter id */
    struct sy_str medium;    /* "GPU", "CPU", ...; empty when nil/absent */
    struct sy_str lora_name; /* STORED: adapter name; empty when nil/absent */
    bool has_group;          /* group_idx was an integer */
    int64_t group_idx;       /* HMA KV-cache group */
    struct sy_str spec_kind; /* STORED: kv_cache_spec_kind; empty when absent */
};

/* The batch header. */
struct sy_kv_batch {
    double ts;       /* wall-clock seconds */
    bool has_rank;   /* data_parallel_rank present and an integer */
    int64_t dp_rank; /* its value */
    size_t nevents;  /* events in the batch (including ones of unknown type, which are skipped) */
};

/* Called once per known event; a non-zero return stops decoding and is returned. */
typedef int (*sy_kv_event_fn)(void *ud, const struct sy_kv_event *ev);

struct sy_kv__slot {
    struct sy_kv_event ev; /* decoded event (arrays set just before the callback) */
    size_t hoff, toff;     /* its hashes / tokens in the decoder's buffers */
};

struct sy_kv_decoder {
    uint64_t *hashes;        /* owned scratch: every hash of the batch */
    size_t hcap, hlen;       /* capacity and use, in entries */
    uint32_t *tokens;        /* owned scratch: every token id of the batch */
    size_t tcap, tlen;       /* capacity and use, in entries */
    struct sy_kv__slot *evs; /* owned scratch: the batch's known events */
    size_t evcap;            /* its capacity */
    struct sy_kv__slot *cur; /* event being decoded */
};

void sy_kv_decoder_init(struct sy_kv_decoder *d);
void sy_kv_decoder_fini(struct sy_kv_decoder *d);

/* Decodes a KVEventBatch payload. The whole payload is decoded first; only then is fn (may be
 * NULL) called for each event, so a malformed batch applies nothing. Returns 0, SY_EPARSE
 * (malformed msgpack or wrong shape) or SY_ETOOBIG (an event over the bounds above). Borrows
 * payload. */
int sy_kv_decode_batch(struct sy_kv_decoder *d, const void *payload, size_t len,
                       struct sy_kv_batch *out, sy_kv_event_fn fn, void *ud);

/* Splits a topic `kv@<pod>@<model>` into views (pod is "host:port"). Returns 0, or SY_EPARSE when
 * the topic does not have that shape (an empty topic included). */
int sy_kv_parse_topic(const void *topic, size_t len, struct sy_str *pod, struct sy_str *model);

/* Reads the sequence frame: at least 8 bytes, the first 8 big-endian (llm-d's parseEventFrame).
 * Returns 0 or SY_EPARSE. */
int sy_kv_parse_seq(const void *frame, size_t len, uint64_t *seq);

/* Folds a byte-string block hash to uint64: the last 8 bytes big-endian, left-padded with zeros
 * when shorter (vLLM's int form and llm-d's getHashAsUint64). */
uint64_t sy_kv_fold_hash(const uint8_t *p, size_t len);

#endif
