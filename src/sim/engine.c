/* engine.c - step-level model of one vLLM engine: scheduler, paged KV pool, prefix cache.
 *
 * Model (follows vLLM V1's Scheduler.schedule() and BlockPool, simplified to one KV group):
 *
 *   waiting (FCFS, preempted requests go to the front;      running (admission order)
 *            --scheduling-policy priority: (priority, arrival) order, sched_policy.c)
 *   [r7]-[r8]-[r9]                                          [r1]-[r3]-[r4]-[r5]
 *
 *   step start:  budget = max_num_batched_tokens
 *     1. every running request gets min(its uncomputed tokens, budget) tokens (1 for a decode,
 *        a chunk for a prefill, at most --long-prefill-token-threshold); if its blocks cannot be
 *        allocated the newest running request (priority policy: the largest (priority, arrival))
 *        is preempted (blocks freed, back to waiting, recomputed later) until they can, or until
 *        the request preempts itself;
 *     2. if nothing was preempted, waiting requests are admitted in order while running <
 *        max_num_seqs and budget remains: each first takes its longest cached prefix (full
 *        blocks whose hash chain is in the cache, at most n_tokens-1 tokens so one is always
 *        computed), then a chunk of the rest; admission stops at the first that does not fit;
 *     3. duration = profile(prefill tokens, decode sequences, decode context tokens).
 *   step end: computed counts advance, newly full blocks are hashed and cached (BlockStored),
 *     requests whose every known token is computed sample one token (first token / ITL), and
 *     requests at max_tokens or max-model-len finish and free their blocks.
 *
 * Block pool: blocks[] with a refcount each. Blocks with refcount 0 sit in one doubly linked
 * free list in eviction order (LRU: freed blocks are appended, a request's blocks in reverse so
 * its tail goes first, as vLLM does); a free block may still be cached (its hash in the table) and
 * is reused by a later request that hits it, or evicted (BlockRemoved) when popped for allocation.
 * The hash table maps a block hash to the block id (open addressing, linear probing, backward-
 * shift deletion); capacity is a power of two >= 2 x blocks, so it never fills.
 *
 * Block hash: XXH64(seed 0) over LE64(parent hash, 0 for the first block) followed by the
 * block's token ids as LE32; 0 is remapped to 1 so that 0 can mean "no parent" (llm-d's
 * convention). Hashes are opaque engine keys to llm-d's indexer, which recomputes its own keys
 * from the token ids in BlockStored, so they need not equal vLLM's sha256 values.
 *
 * P/D (NixlConnector's pull model, simplified to one KV group):
 *   prefill side: a hold_kv request (do_remote_decode) runs as usual; when it finishes its blocks
 *     are not freed but moved to a held entry (key, prompt hash, expiry = now + kv_lease_s),
 *     listed in expiry order. sy_sim_engine_pull claims them for one decode (a second claim is
 *     REUSED); sy_sim_engine_release frees them when that decode's read is done (on_loaded on
 *     its engine) and leaves a tombstone so a later claim is still told apart from an unknown
 *     key; advance frees unclaimed entries whose lease ran out (tombstone "expired",
 *     vllm:nixl_num_kv_expired_reqs).
 *   decode side: a request whose pull succeeded is admitted like any other (local prefix hits
 *     first), but instead of a prefill chunk it allocates blocks for its whole prompt and waits
 *     in the loading list (vLLM WAITING_FOR_REMOTE_KVS, outside the batch and the token budget)
 *     while its uncached prompt tokens' KV arrives (sy_sim_xfer_ns alone; pulls in flight share
 *     the link equally); then it joins the running batch with all but
 *     its last prompt token computed, so its first step computes one token, as vLLM does.
 *   Every running stream pays for a prefill chunk in the same step (step time is additive), so
 *   an aggregated replica's ITL jumps by ~0.5 s per 8k-token chunk on the Qwen3-32B TP2
 *   profile; a decode replica fed only by pulls never has a chunk in its steps.
 *
 * Invariants (sy_sim_engine_check): sum over requests of holdings == refcount per block; the free
 * list holds exactly the refcount-0 blocks; every cached block is findable by its hash; waiting
 * requests hold no blocks; held entries are counted as holders of their blocks.
 *
 * Rejected alternatives: a per-request latency formula (llm-d-inference-sim) cannot show
 * queueing, batching interference or cache pressure; a quadratic prefill-attention term was left
 * out because the one measured prefill figure (8192-token chunk) cannot separate it from the
 * linear part - see profiles.c.
 */
#include "sim/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/err.h"
#include "sim/sched_policy.h"

#define NIL             UINT32_MAX /* no block */
#define SY_SIM_VOCAB    151643     /* Qwen3 regular vocabulary (token ids 0..151642) */
#define DEFAULT_MAX_OUT 256        /* cap on drawn output lengths when max_tokens is absent */

/* vLLM's histogram buckets (vllm/v1/metrics/loggers.py). */
static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02,  0.04,  0.06,  0.08, 0.1,
                                     0.25,  0.5,   0.75, 1.0,   2.5,   5.0,   7.5,  10.0,
                                     20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
static const double itl_bounds[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                    0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
/* vLLM's NixlPromMetrics: nixl_xfer_time_seconds uses its buckets[1:] */
static const double xfer_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1,
                                     0.2,   0.3,  0.5,   0.75, 1.0,   5.0};
/* bytes per pull: powers of 4 from 1 MiB to 64 GiB (Switchyard's choice) */
static const double xfer_byte_bounds[] = {1048576.0,    4194304.0,     16777216.0,
                                          67108864.0,   268435456.0,   1073741824.0,
                                          4294967296.0, 17179869184.0, 68719476736.0};
static const double req_bounds[] = {0.3,  0.5,   0.8,   1.0,   1.5,   2.0,    2.5,
                                    5.0,  10.0,  15.0,  20.0,  30.0,  40.0,   50.0,
                                    60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

struct sy_sim_block {
    uint64_t hash; /* valid when cached */
    uint32_t ref;  /* requests holding it */
    uint32_t prev; /* free list links (NIL at the ends) */
    uint32_t next;
    bool cached;  /* present in the hash table */
    bool in_free; /* linked in the free list */
};

struct sy_sim_list {
    struct sy_sim_req *head, *tail; /* ends */
    uint32_t n;                     /* length */
};

/* KV blocks a finished prefill holds for a remote decode. */
struct sy_sim_held {
    uint64_t key;                    /* caller's key (request number, SGLang room) */
    uint64_t expiry;                 /* lease end */
    uint64_t tok_hash;               /* XXH64 of the prompt token ids */
    uint32_t n_tokens;               /* prompt tokens */
    uint32_t *blocks;                /* held block ids, owned */
    uint32_t nblocks;                /* their count */
    bool claimed;                    /* a decode is pulling them: no lease, freed by release */
    struct sy_sim_held *prev, *next; /* expiry order */
};

#define TOMB_CAP 4096 /* keys remembered after their KV was pulled or expired */

struct sy_sim_tomb {
    uint64_t key;         /* the held key */
    enum sy_sim_pull why; /* REUSED (pulled) or EXPIRED */
};

struct sy_sim_engine {
    struct sy_sim_profile p;                   /* profile with overrides, copied */
    struct sy_sim_engine_cbs cbs;              /* callbacks */
    uint64_t seed;                             /* determinism seed */
    uint64_t next_seq;                         /* next submission number */
    struct sy_sim_block *blocks;               /* p.num_gpu_blocks blocks */
    uint32_t free_head, free_tail;             /* free list ends (head is evicted first) */
    uint32_t nfree;                            /* free list length */
    uint32_t *ht;                              /* hash table slots: block id + 1, 0 = empty */
    size_t ht_mask;                            /* slots - 1 */
    uint32_t ncached;                          /* blocks in the hash table */
    struct sy_sim_list waiting;                /* queue */
    struct sy_sim_list running;                /* batch */
    bool in_step;                              /* a step is in flight */
    bool in_callbacks;                         /* completing a step: aborts are deferred */
    uint64_t step_end;                         /* its end */
    uint64_t step_tokens;                      /* prefill tokens + decode seqs of that step */
    struct sy_sim_stats st;                    /* counters and histograms */
    uint32_t *hit_scratch;                     /* block ids of a prefix hit */
    struct sy_sim_list loading;                /* pulling their prompt's KV, in admission order */
    uint64_t xfer_clock;                       /* pulls' progress is accounted up to here */
    struct sy_sim_held *held_head, *held_tail; /* held KV, expiry order */
    uint32_t nheld;                            /* held entries */
    struct sy_sim_tomb tombs[TOMB_CAP];        /* ring of pulled/expired keys */
    uint32_t ntombs;                           /* valid tombs (<= TOMB_CAP) */
    uint32_t tomb_next;                        /* next ring slot */
    struct sy_sim_sched sched;                 /* queue policy (sched_policy.c), default fcfs */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint32_t blocks_for(const struct sy_sim_engine *e, uint64_t tokens)
{
    return (uint32_t)((tokens + e->p.block_size - 1) / e->p.block_size);
}

static void list_remove(struct sy_sim_list *l, struct sy_sim_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    l->n--;
}

static void list_push_back(struct sy_sim_list *l, struct sy_sim_req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void list_push_front(struct sy_sim_list *l, struct sy_sim_req *r)
{
    r->prev = NULL;
    r->next = l->head;
    if (l->head)
        l->head->prev = r;
    else
        l->tail = r;
    l->head = r;
    l->n++;
}

/* Puts r into waiting by the queue policy: fcfs appends (a preempted request goes to the front);
 * priority keeps (priority, arrival) order for both (sched_policy.c). */
static void waiting_insert(struct sy_sim_engine *e, struct sy_sim_req *r, bool preempted)
{
    if (e->sched.policy == SY_SIM_POLICY_FCFS) {
        if (preempted)
            list_push_front(&e->waiting, r);
        else
            list_push_back(&e->waiting, r);
        return;
    }
    struct sy_sim_req *at = e->waiting.tail;
    while (at && sy_sim_sched_before(e->sched.policy, r, at))
        at = at->prev;
    if (!at) {
        list_push_front(&e->waiting, r);
        return;
    }
    r->prev = at;
    r->next = at->next;
    if (at->next)
        at->next->prev = r;
    else
        e->waiting.tail = r;
    at->next = r;
    e->waiting.n++;
}

void sy_sim_hist_observe(struct sy_sim_hist *h, double v)
{
    size_t i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

static void hist_init(struct sy_sim_hist *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n = n;
}

const char *sy_sim_finish_name(enum sy_sim_finish f)
{
    switch (f) {
    case SY_SIM_FINISH_STOP: return "stop";
    case SY_SIM_FINISH_LENGTH: return "length";
    case SY_SIM_FINISH_ABORT: return "abort";
    default: return "unknown";
    }
}

const char *sy_sim_step_model_name(enum sy_sim_step_model m)
{
    switch (m) {
    case SY_SIM_STEP_ADDITIVE: return "additive";
    case SY_SIM_STEP_OVERLAP: return "overlap";
    default: return "unknown";
    }
}

int sy_sim_step_model_parse(const char *s, enum sy_sim_step_model *out)
{
    for (int m = 0; s && m < SY_SIM_STEP_N_; m++) {
        if (strcmp(s, sy_sim_step_model_name((enum sy_sim_step_model)m)) == 0) {
            *out = (enum sy_sim_step_model)m;
            return 0;
        }
    }
    return -1;
}

bool sy_sim_step_model_supported(const struct sy_sim_profile *p, enum sy_sim_step_model m)
{
    if (m == SY_SIM_STEP_ADDITIVE)
        return true;
    return m == SY_SIM_STEP_OVERLAP && p->weight_read_us > 0 && p->linear_us_per_token > 0 &&
           p->weight_read_us <= p->step_base_us;
}

/* The step models (profiles.c documents the figures and their sources):
 *
 *   additive  base + prefill_us_per_token x prefill + decode_us_per_seq x seqs
 *                  + decode_us_per_ctx_token x context
 *   overlap   (base - weight_read) + max(weight_read, linear_us_per_token x (prefill + seqs))
 *                  + attn_us_per_pair x prefill pairs + decode_us_per_seq x seqs
 *                  + decode_us_per_ctx_token x context
 *
 * overlap is one forward pass over the mixed batch: the linear layers read the weights once for
 * every token of the step and take the longer of that read and their FLOPs (roofline; a GEMM
 * over more tokens than weight_read / linear_us_per_token is compute-bound and hides the read),
 * prefill attention costs its query-key pairs at the same achieved FLOP rate, decode attention
 * streams every decoding sequence's KV (bandwidth-bound, not hidden), and the rest of the base
 * (per-layer kernel launches and norms, the step's fixed cost) is paid once. Pure decode steps
 * below the crossover equal the additive model's; a pure 8192-token fresh prefill chunk equals it
 * by construction of the constants. */
uint64_t sy_sim_step_shape_ns(const struct sy_sim_profile *p, const struct sy_sim_step_shape *s)
{
    double us;
    if (p->step_model == SY_SIM_STEP_OVERLAP && sy_sim_step_model_supported(p, p->step_model)) {
        double linear = p->linear_us_per_token * (double)(s->prefill_tokens + s->decode_seqs);
        if (linear < p->weight_read_us)
            linear = p->weight_read_us;
        us = (p->step_base_us - p->weight_read_us) + linear +
             p->attn_us_per_pair * (double)s->prefill_attn_pairs +
             p->decode_us_per_seq * (double)s->decode_seqs +
             p->decode_us_per_ctx_token * (double)s->decode_ctx_tokens;
    } else {
        us = p->step_base_us + p->prefill_us_per_token * (double)s->prefill_tokens +
             p->decode_us_per_seq * (double)s->decode_seqs +
             p->decode_us_per_ctx_token * (double)s->decode_ctx_tokens;
    }
    double ns = us * 1000.0;
    if (!(ns >= 1.0))
        return 1;
    return (uint64_t)llround(ns);
}

/* Causal attention's query-key pairs of a chunk of n tokens after c computed ones. */
static uint64_t chunk_pairs(uint64_t c, uint64_t n)
{
    return n * c + n * (n + 1) / 2;
}

uint64_t sy_sim_step_ns(const struct sy_sim_profile *p, uint64_t prefill_tokens,
                        uint64_t decode_seqs, uint64_t decode_ctx_tokens)
{
    struct sy_sim_step_shape s = {.prefill_tokens = prefill_tokens,
                                  .prefill_attn_pairs = chunk_pairs(0, prefill_tokens),
                                  .decode_seqs = decode_seqs,
                                  .decode_ctx_tokens = decode_ctx_tokens};
    return sy_sim_step_shape_ns(p, &s);
}

uint64_t sy_sim_xfer_ns(const struct sy_sim_profile *p, uint64_t tokens)
{
    double ranks = p->tp_size ? (double)p->tp_size : 1.0;
    double bytes = (double)tokens * (double)p->kv_bytes_per_token / ranks;
    double us = p->kv_xfer_base_us;
    if (p->kv_xfer_gbps > 0)
        us += bytes / (p->kv_xfer_gbps * 1e3); /* GB/s = 1e3 bytes per us */
    double ns = us * 1000.0;
    if (!(ns >= 1.0))
        return 1;
    return (uint64_t)llround(ns);
}

const char *sy_sim_pull_name(enum sy_sim_pull p)
{
    switch (p) {
    case SY_SIM_PULL_NONE: return "none";
    case SY_SIM_PULL_OK: return "ok";
    case SY_SIM_PULL_UNKNOWN: return "unknown";
    case SY_SIM_PULL_REUSED: return "reused";
    case SY_SIM_PULL_EXPIRED: return "expired";
    case SY_SIM_PULL_MISMATCH: return "mismatch";
    default: return "invalid";
    }
}

size_t sy_sim_tokenize(const char *text, size_t len, uint32_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4, n++) {
        size_t k = len - i < 4 ? len - i : 4;
        if (n < cap)
            out[n] = XXH32(text + i, k, 0) % SY_SIM_VOCAB;
    }
    return n;
}

/* ---- free list ---------------------------------------------------------------------------- */

static void free_remove(struct sy_sim_engine *e, uint32_t id)
{
    struct sy_sim_block *b = &e->blocks[id];
    if (b->prev != NIL)
        e->blocks[b->prev].next = b->next;
    else
        e->free_head = b->next;
    if (b->next != NIL)
        e->blocks[b->next].prev = b->prev;
    else
        e->free_tail = b->prev;
    b->prev = b->next = NIL;
    b->in_free = false;
    e->nfree--;
}

static void free_push_back(struct sy_sim_engine *e, uint32_t id)
{
    struct sy_sim_block *b = &e->blocks[id];
    b->next = NIL;
    b->prev = e->free_tail;
    if (e->free_tail != NIL)
        e->blocks[e->free_tail].next = id;
    else
        e->free_head = id;
    e->free_tail = id;
    b->in_free = true;
    e->nfree++;
}

/* ---- hash table ------------------------------------------------------------------------- */

static uint32_t ht_find(const struct sy_sim_engine *e, uint64_t h)
{
    for (size_t i = h & e->ht_mask;; i = (i + 1) & e->ht_mask) {
        uint32_t s = e->ht[i];
        if (s == 0)
            return NIL;
        if (e->blocks[s - 1].hash == h)
            return s - 1;
    }
}

static void ht_insert(struct sy_sim_engine *e, uint32_t id)
{
    size_t i = e->blocks[id].hash & e->ht_mask;
    while (e->ht[i] != 0)
        i = (i + 1) & e->ht_mask;
    e->ht[i] = id + 1;
    e->blocks[id].cached = true;
    e->ncached++;
}

static void ht_remove(struct sy_sim_engine *e, uint32_t id)
{
    size_t i = e->blocks[id].hash & e->ht_mask;
    while (e->ht[i] != id + 1)
        i = (i + 1) & e->ht_mask;
    /* backward-shift deletion keeps probe chains intact without tombstones */
    size_t j = i;
    for (;;) {
        j = (j + 1) & e->ht_mask;
        if (e->ht[j] == 0)
            break;
        size_t home = e->blocks[e->ht[j] - 1].hash & e->ht_mask;
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            e->ht[i] = e->ht[j];
            i = j;
        }
    }
    e->ht[i] = 0;
    e->blocks[id].cached = false;
    e->ncached--;
}

/* ---- events ------------------------------------------------------------------------------ */

static void emit_removed(struct sy_sim_engine *e, uint64_t h)
{
    if (!e->cbs.on_kv)
        return;
    struct sy_sim_kv_event ev = {.kind = SY_SIM_KV_REMOVED, .hashes = &h, .nhashes = 1};
    e->cbs.on_kv(e->cbs.ud, &ev);
}

/* ---- blocks of a request ------------------------------------------------------------------ */

static void req_hold(struct sy_sim_req *r, uint32_t id)
{
    if (r->nblocks == r->blocks_cap) {
        r->blocks_cap = r->blocks_cap ? r->blocks_cap * 2 : 8;
        r->blocks = sy_xrealloc(r->blocks, r->blocks_cap * sizeof *r->blocks);
    }
    r->blocks[r->nblocks++] = id;
}

/* Takes a block from the head of the free list, evicting its cached hash. Caller checked nfree. */
static uint32_t alloc_block(struct sy_sim_engine *e)
{
    uint32_t id = e->free_head;
    free_remove(e, id);
    struct sy_sim_block *b = &e->blocks[id];
    if (b->cached) {
        uint64_t h = b->hash;
        ht_remove(e, id);
        emit_removed(e, h);
    }
    b->ref = 1;
    return id;
}

static void touch_block(struct sy_sim_engine *e, uint32_t id)
{
    struct sy_sim_block *b = &e->blocks[id];
    if (b->ref == 0)
        free_remove(e, id);
    b->ref++;
}

/* Releases every block of r, tail first, so the tail is evicted before the shared prefix. */
static void release_blocks(struct sy_sim_engine *e, struct sy_sim_req *r)
{
    for (uint32_t i = r->nblocks; i-- > 0;) {
        uint32_t id = r->blocks[i];
        if (--e->blocks[id].ref == 0)
            free_push_back(e, id);
    }
    r->nblocks = 0;
    r->nhashed = 0;
}

/* Extends r's hash chain to cover its first n full blocks. */
static void ensure_hashes(struct sy_sim_engine *e, struct sy_sim_req *r, uint32_t n)
{
    if (n <= r->nhashes)
        return;
    if (n > r->hashes_cap) {
        uint32_t cap = r->hashes_cap ? r->hashes_cap : 8;
        while (cap < n)
            cap *= 2;
        r->hashes = sy_xrealloc(r->hashes, cap * sizeof *r->hashes);
        r->hashes_cap = cap;
    }
    uint32_t bs = e->p.block_size;
    uint8_t buf[8 + 4 * SY_SIM_MAX_BLOCK_SIZE];
    for (uint32_t i = r->nhashes; i < n; i++) {
        uint64_t parent = i ? r->hashes[i - 1] : 0;
        for (int k = 0; k < 8; k++)
            buf[k] = (uint8_t)(parent >> (8 * k));
        for (uint32_t t = 0; t < bs; t++) {
            uint32_t tok = r->tokens[(size_t)i * bs + t];
            uint8_t *o = buf + 8 + 4 * t;
            o[0] = (uint8_t)tok, o[1] = (uint8_t)(tok >> 8), o[2] = (uint8_t)(tok >> 16);
            o[3] = (uint8_t)(tok >> 24);
        }
        uint64_t h = XXH64(buf, 8 + 4 * (size_t)bs, 0);
        r->hashes[i] = h ? h : 1;
    }
    r->nhashes = n;
}

/* Registers r's newly full computed blocks in the prefix cache and reports them (BlockStored). A
 * block whose hash another block already holds (two requests computed the same prefix at once)
 * stays uncached, as a duplicate. */
static void cache_full_blocks(struct sy_sim_engine *e, struct sy_sim_req *r)
{
    uint32_t nfull = r->n_computed / e->p.block_size;
    if (nfull > r->nblocks)
        nfull = r->nblocks;
    if (nfull <= r->nhashed)
        return;
    ensure_hashes(e, r, nfull);
    uint32_t first = r->nhashed, stored_from = NIL, nstored = 0;
    for (uint32_t i = first; i < nfull; i++) {
        uint32_t id = r->blocks[i];
        struct sy_sim_block *b = &e->blocks[id];
        if (b->cached)
            continue; /* a prefix hit: already cached */
        if (ht_find(e, r->hashes[i]) != NIL)
            continue; /* duplicate */
        b->hash = r->hashes[i];
        ht_insert(e, id);
        if (stored_from == NIL)
            stored_from = i;
        /* report contiguous runs, one event per run */
        if (stored_from + nstored == i) {
            nstored++;
        } else {
            if (e->cbs.on_kv) {
                struct sy_sim_kv_event ev = {
                    .kind = SY_SIM_KV_STORED,
                    .hashes = &r->hashes[stored_from],
                    .nhashes = nstored,
                    .has_parent = stored_from > 0,
                    .parent = stored_from > 0 ? r->hashes[stored_from - 1] : 0,
                    .tokens = &r->tokens[(size_t)stored_from * e->p.block_size],
                    .ntokens = (size_t)nstored * e->p.block_size,
                    .block_size = e->p.block_size};
                e->cbs.on_kv(e->cbs.ud, &ev);
            }
            stored_from = i;
            nstored = 1;
        }
    }
    if (nstored && e->cbs.on_kv) {
        struct sy_sim_kv_event ev = {.kind = SY_SIM_KV_STORED,
                                     .hashes = &r->hashes[stored_from],
                                     .nhashes = nstored,
                                     .has_parent = stored_from > 0,
                                     .parent = stored_from > 0 ? r->hashes[stored_from - 1] : 0,
                                     .tokens = &r->tokens[(size_t)stored_from * e->p.block_size],
                                     .ntokens = (size_t)nstored * e->p.block_size,
                                     .block_size = e->p.block_size};
        e->cbs.on_kv(e->cbs.ud, &ev);
    }
    r->nhashed = nfull;
}

/* ---- held KV (prefill side of P/D) ---------------------------------------------------------- */

static uint64_t tokens_hash(const uint32_t *t, uint32_t n)
{
    return XXH64(t, (size_t)n * sizeof *t, 0);
}

static void tomb_add(struct sy_sim_engine *e, uint64_t key, enum sy_sim_pull why)
{
    e->tombs[e->tomb_next] = (struct sy_sim_tomb){.key = key, .why = why};
    e->tomb_next = (e->tomb_next + 1) % TOMB_CAP;
    if (e->ntombs < TOMB_CAP)
        e->ntombs++;
}

/* Unlinks h, frees its blocks (they stay cached, tail first) and h itself. */
static void held_drop(struct sy_sim_engine *e, struct sy_sim_held *h, enum sy_sim_pull why)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        e->held_head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        e->held_tail = h->prev;
    e->nheld--;
    for (uint32_t i = h->nblocks; i-- > 0;) {
        uint32_t id = h->blocks[i];
        if (--e->blocks[id].ref == 0)
            free_push_back(e, id);
    }
    tomb_add(e, h->key, why);
    free(h->blocks);
    free(h);
}

/* Moves r's blocks into a new held entry (r keeps a borrowed view for on_finish). */
/* Links h at the end of e's held list (the latest expiry). */
static void held_append(struct sy_sim_engine *e, struct sy_sim_held *h)
{
    h->next = NULL;
    h->prev = e->held_tail;
    if (e->held_tail)
        e->held_tail->next = h;
    else
        e->held_head = h;
    e->held_tail = h;
}

static void hold_blocks(struct sy_sim_engine *e, struct sy_sim_req *r, uint64_t now)
{
    struct sy_sim_held *h = SY_NEW(struct sy_sim_held);
    h->key = r->hold_key;
    double lease_ns = e->p.kv_lease_s * 1e9;
    h->expiry = lease_ns >= 1.8e19 ? UINT64_MAX : now + (uint64_t)lease_ns;
    h->tok_hash = tokens_hash(r->tokens, r->n_prompt);
    h->n_tokens = r->n_prompt;
    h->blocks = r->blocks;
    h->nblocks = r->nblocks;
    r->blocks = NULL;
    r->nblocks = r->blocks_cap = 0;
    r->nhashed = 0;
    r->held_blocks = h->blocks;
    r->held_nblocks = h->nblocks;
    held_append(e, h);
    e->nheld++;
    e->st.kv_held_total++;
}

/* Frees unclaimed entries whose lease ended by now (claimed ones wait for their release). */
static void expire_held(struct sy_sim_engine *e, uint64_t now)
{
    struct sy_sim_held *h = e->held_head;
    while (h && h->expiry <= now) {
        struct sy_sim_held *next = h->next;
        if (!h->claimed) {
            e->st.kv_expired++;
            held_drop(e, h, SY_SIM_PULL_EXPIRED);
        }
        h = next;
    }
}

/* The first lease that can still expire, or UINT64_MAX. */
static uint64_t next_expiry(const struct sy_sim_engine *e)
{
    for (const struct sy_sim_held *h = e->held_head; h; h = h->next)
        if (!h->claimed)
            return h->expiry;
    return UINT64_MAX;
}

uint64_t sy_sim_tokens_hash(const uint32_t *tokens, uint32_t n)
{
    return tokens_hash(tokens, n);
}

enum sy_sim_pull sy_sim_engine_pull(struct sy_sim_engine *e, uint64_t key, const uint32_t *tokens,
                                    uint32_t n, uint64_t now_ns)
{
    return sy_sim_engine_pull_hashed(e, key, n, tokens_hash(tokens, n), now_ns);
}

enum sy_sim_pull sy_sim_engine_pull_hashed(struct sy_sim_engine *e, uint64_t key, uint32_t n,
                                           uint64_t hash, uint64_t now_ns)
{
    expire_held(e, now_ns);
    for (struct sy_sim_held *h = e->held_head; h; h = h->next) {
        if (h->key != key)
            continue;
        if (h->claimed)
            return SY_SIM_PULL_REUSED;
        if (h->n_tokens != n || h->tok_hash != hash)
            return SY_SIM_PULL_MISMATCH;
        h->claimed = true;
        return SY_SIM_PULL_OK;
    }
    for (uint32_t i = 0; i < e->ntombs; i++) {
        uint32_t slot = (e->tomb_next + TOMB_CAP - 1 - i) % TOMB_CAP; /* newest first */
        if (e->tombs[slot].key == key)
            return e->tombs[slot].why;
    }
    return SY_SIM_PULL_UNKNOWN;
}

int sy_sim_engine_release(struct sy_sim_engine *e, uint64_t key)
{
    for (struct sy_sim_held *h = e->held_head; h; h = h->next) {
        if (h->key == key && h->claimed) {
            held_drop(e, h, SY_SIM_PULL_REUSED);
            return 0;
        }
    }
    return SY_ENOTFOUND;
}

uint32_t sy_sim_engine_num_held(const struct sy_sim_engine *e)
{
    return e->nheld;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

struct sy_sim_engine *sy_sim_engine_new(const struct sy_sim_profile *p, uint64_t seed,
                                        const struct sy_sim_engine_cbs *cbs)
{
    if (!p || p->num_gpu_blocks == 0 || p->block_size == 0 ||
        p->block_size > SY_SIM_MAX_BLOCK_SIZE || p->max_num_seqs == 0 ||
        p->max_num_batched_tokens == 0 || p->max_model_len < 2 || p->num_gpu_blocks >= NIL / 4)
        return NULL;
    struct sy_sim_engine *e = SY_NEW(struct sy_sim_engine);
    e->p = *p;
    /* vLLM refuses to start when one max-model-len request cannot fit in the KV cache; the
     * simulator clamps instead, so a lone request can always make progress. */
    uint64_t cap_tokens = (uint64_t)p->num_gpu_blocks * p->block_size;
    if (e->p.max_model_len > cap_tokens)
        e->p.max_model_len = (uint32_t)cap_tokens;
    if (cbs)
        e->cbs = *cbs;
    e->seed = seed;
    uint32_t n = p->num_gpu_blocks;
    e->blocks = sy_xcalloc(n, sizeof *e->blocks);
    e->free_head = e->free_tail = NIL;
    for (uint32_t i = 0; i < n; i++) {
        e->blocks[i].prev = e->blocks[i].next = NIL;
        free_push_back(e, i);
    }
    size_t slots = 16;
    while (slots < (size_t)n * 2)
        slots *= 2;
    e->ht = sy_xcalloc(slots, sizeof *e->ht);
    e->ht_mask = slots - 1;
    e->hit_scratch = sy_xmalloc((size_t)n * sizeof *e->hit_scratch);
    hist_init(&e->st.ttft, ttft_bounds, sizeof ttft_bounds / sizeof ttft_bounds[0]);
    hist_init(&e->st.itl, itl_bounds, sizeof itl_bounds / sizeof itl_bounds[0]);
    hist_init(&e->st.e2e, req_bounds, sizeof req_bounds / sizeof req_bounds[0]);
    hist_init(&e->st.queue, req_bounds, sizeof req_bounds / sizeof req_bounds[0]);
    hist_init(&e->st.xfer, xfer_bounds, sizeof xfer_bounds / sizeof xfer_bounds[0]);
    hist_init(&e->st.xfer_bytes, xfer_byte_bounds,
              sizeof xfer_byte_bounds / sizeof xfer_byte_bounds[0]);
    return e;
}

static void req_free(struct sy_sim_req *r)
{
    free(r->tokens);
    free(r->blocks);
    free(r->hashes);
    free(r);
}

void sy_sim_engine_free(struct sy_sim_engine *e)
{
    if (!e)
        return;
    struct sy_sim_list *lists[3] = {&e->waiting, &e->running, &e->loading};
    for (int k = 0; k < 3; k++) {
        struct sy_sim_req *r = lists[k]->head;
        while (r) {
            struct sy_sim_req *next = r->next;
            req_free(r);
            r = next;
        }
    }
    while (e->held_head) {
        struct sy_sim_held *h = e->held_head;
        e->held_head = h->next;
        free(h->blocks);
        free(h);
    }
    free(e->blocks);
    free(e->ht);
    free(e->hit_scratch);
    free(e);
}

/* Deep copy of one request; its list links are set by the caller. */
static struct sy_sim_req *req_clone(const struct sy_sim_req *r)
{
    struct sy_sim_req *c = sy_xmalloc(sizeof *c);
    *c = *r;
    c->tokens = sy_xmalloc((size_t)r->tokens_cap * sizeof *c->tokens);
    memcpy(c->tokens, r->tokens, (size_t)(r->n_prompt + r->n_output) * sizeof *c->tokens);
    c->blocks = r->blocks_cap ? sy_xmalloc((size_t)r->blocks_cap * sizeof *c->blocks) : NULL;
    if (r->nblocks)
        memcpy(c->blocks, r->blocks, (size_t)r->nblocks * sizeof *c->blocks);
    c->hashes = r->hashes_cap ? sy_xmalloc((size_t)r->hashes_cap * sizeof *c->hashes) : NULL;
    if (r->nhashes)
        memcpy(c->hashes, r->hashes, (size_t)r->nhashes * sizeof *c->hashes);
    c->held_blocks = NULL; /* only meaningful inside on_finish */
    c->held_nblocks = 0;
    c->prev = c->next = NULL;
    return c;
}

struct sy_sim_engine *sy_sim_engine_clone(const struct sy_sim_engine *e,
                                          const struct sy_sim_engine_cbs *cbs)
{
    struct sy_sim_engine *c = sy_xmalloc(sizeof *c);
    *c = *e; /* profile, counters, histograms, step in flight, tombs, queue policy, seed */
    if (cbs)
        c->cbs = *cbs;
    uint32_t n = e->p.num_gpu_blocks;
    c->blocks = sy_xmalloc((size_t)n * sizeof *c->blocks);
    memcpy(c->blocks, e->blocks, (size_t)n * sizeof *c->blocks);
    c->ht = sy_xmalloc((e->ht_mask + 1) * sizeof *c->ht);
    memcpy(c->ht, e->ht, (e->ht_mask + 1) * sizeof *c->ht);
    c->hit_scratch = sy_xmalloc((size_t)n * sizeof *c->hit_scratch); /* scratch: not copied */
    const struct sy_sim_list *from[3] = {&e->waiting, &e->running, &e->loading};
    struct sy_sim_list *to[3] = {&c->waiting, &c->running, &c->loading};
    for (int k = 0; k < 3; k++) {
        *to[k] = (struct sy_sim_list){0};
        for (const struct sy_sim_req *r = from[k]->head; r; r = r->next)
            list_push_back(to[k], req_clone(r));
    }
    c->held_head = c->held_tail = NULL;
    for (const struct sy_sim_held *h = e->held_head; h; h = h->next) {
        struct sy_sim_held *d = sy_xmalloc(sizeof *d);
        *d = *h;
        d->blocks = sy_xmalloc((h->nblocks ? h->nblocks : 1) * sizeof *d->blocks);
        memcpy(d->blocks, h->blocks, (size_t)h->nblocks * sizeof *d->blocks);
        held_append(c, d); /* in e's order; nheld was copied */
    }
    return c;
}

void sy_sim_engine_set_sched(struct sy_sim_engine *e, const struct sy_sim_sched *s)
{
    e->sched = *s;
}

struct sy_sim_req *sy_sim_engine_submit(struct sy_sim_engine *e, const uint32_t *tokens,
                                        uint32_t n_prompt, int64_t max_tokens, void *ud,
                                        uint64_t now_ns)
{
    struct sy_sim_submit s = {
        .tokens = tokens, .n_prompt = n_prompt, .max_tokens = max_tokens, .ud = ud};
    return sy_sim_engine_submit_ex(e, &s, now_ns);
}

struct sy_sim_req *sy_sim_engine_submit_ex(struct sy_sim_engine *e, const struct sy_sim_submit *s,
                                           uint64_t now_ns)
{
    const uint32_t *tokens = s->tokens;
    uint32_t n_prompt = s->n_prompt;
    int64_t max_tokens = s->max_tokens;
    void *ud = s->ud;
    if (n_prompt == 0 || n_prompt >= e->p.max_model_len || max_tokens == 0 ||
        s->pull >= SY_SIM_PULL_N_)
        return NULL;
    if (s->pull == SY_SIM_PULL_OK)
        e->st.kv_pulls++;
    else if (s->pull != SY_SIM_PULL_NONE)
        e->st.pd_fallbacks[s->pull]++;
    struct sy_sim_req *r = SY_NEW(struct sy_sim_req);
    r->seq = e->next_seq++;
    r->ud = ud;
    r->state = SY_SIM_WAITING;
    r->n_prompt = n_prompt;
    uint32_t room = e->p.max_model_len - n_prompt;
    if (max_tokens < 0) {
        uint32_t hi = room < DEFAULT_MAX_OUT ? room : DEFAULT_MAX_OUT;
        r->max_tokens = 1 + (uint32_t)(splitmix64(e->seed ^ (r->seq * 0x2545f4914f6cdd1dULL)) % hi);
        r->has_max_tokens = false;
    } else {
        r->max_tokens = max_tokens > room ? room : (uint32_t)max_tokens;
        r->has_max_tokens = true;
    }
    r->tokens_cap = n_prompt + 16;
    r->tokens = sy_xmalloc((size_t)r->tokens_cap * sizeof *r->tokens);
    memcpy(r->tokens, tokens, (size_t)n_prompt * sizeof *tokens);
    r->arrival_ns = now_ns;
    r->hold_kv = s->hold_kv;
    r->hold_key = s->hold_key;
    r->remote_kv = s->pull == SY_SIM_PULL_OK;
    r->priority = s->priority;
    waiting_insert(e, r, false);
    return r;
}

/* ---- scheduling -------------------------------------------------------------------------- */

static void preempt(struct sy_sim_engine *e, struct sy_sim_req *r)
{
    list_remove(&e->running, r);
    release_blocks(e, r);
    r->n_computed = 0;
    r->sched_tokens = 0;
    r->remote_kv = false; /* the pulled KV is gone with the blocks: recomputed locally */
    r->n_preempted++;
    r->state = SY_SIM_WAITING;
    waiting_insert(e, r, true);
    e->st.preemptions++;
}

/* Longest cached prefix of r (full blocks, < total tokens); fills e->hit_scratch. */
static uint32_t find_cached_prefix(struct sy_sim_engine *e, struct sy_sim_req *r, uint32_t total)
{
    uint32_t nmax = (total - 1) / e->p.block_size;
    ensure_hashes(e, r, nmax);
    uint32_t k = 0;
    while (k < nmax) {
        uint32_t id = ht_find(e, r->hashes[k]);
        if (id == NIL)
            break;
        e->hit_scratch[k++] = id;
    }
    return k;
}

/* ---- KV pulls: processor sharing of the link --------------------------------------------- *
 * Every pull in flight on this engine moves its bytes at bandwidth / k, k being the number of
 * pulls whose bytes are still moving (each TP rank's NIC is shared by all of them), then waits the
 * fixed cost. Shares only change when a pull starts, ends or is aborted, so progress is accounted
 * lazily, event by event, up to the time of each change (xfer_update). */

static double xfer_bw(const struct sy_sim_engine *e) /* bytes per ns per rank */
{
    return e->p.kv_xfer_gbps > 0 ? e->p.kv_xfer_gbps : 0;
}

static uint64_t xfer_base_ns(const struct sy_sim_engine *e)
{
    double ns = e->p.kv_xfer_base_us * 1000.0;
    return ns >= 1.0 ? (uint64_t)llround(ns) : 0;
}

static void xfer_finish(struct sy_sim_engine *e, struct sy_sim_req *r, uint64_t t)
{
    r->xfer_left = 0;
    r->xfer_done = true;
    r->ready_ns = t + xfer_base_ns(e);
    sy_sim_hist_observe(&e->st.xfer, (double)(r->ready_ns - r->xfer_start) / 1e9);
}

/* Moving pulls: their count and the fewest bytes left among them. */
static uint32_t xfer_flowing(const struct sy_sim_engine *e, double *minleft)
{
    uint32_t k = 0;
    *minleft = 0;
    for (const struct sy_sim_req *r = e->loading.head; r; r = r->next) {
        if (r->xfer_done)
            continue;
        if (k == 0 || r->xfer_left < *minleft)
            *minleft = r->xfer_left;
        k++;
    }
    return k;
}

/* Accounts every pull's progress up to now (completing those whose bytes arrived). */
static void xfer_update(struct sy_sim_engine *e, uint64_t now)
{
    uint64_t t = e->xfer_clock;
    if (now <= t)
        return;
    double bw = xfer_bw(e);
    for (;;) {
        double minleft;
        uint32_t k = xfer_flowing(e, &minleft);
        if (k == 0 || bw <= 0)
            break;
        double dt = minleft * (double)k / bw;
        if ((double)(now - t) >= dt) {
            uint64_t t_done = t + (uint64_t)ceil(dt);
            if (t_done > now)
                t_done = now;
            for (struct sy_sim_req *r = e->loading.head; r; r = r->next) {
                if (r->xfer_done)
                    continue;
                r->xfer_left -= minleft;
                if (r->xfer_left <= 1e-6 * (minleft + 1))
                    xfer_finish(e, r, t_done);
            }
            t = t_done;
        } else {
            double moved = (double)(now - t) * bw / (double)k;
            for (struct sy_sim_req *r = e->loading.head; r; r = r->next)
                if (!r->xfer_done)
                    r->xfer_left -= moved;
            break;
        }
    }
    e->xfer_clock = now;
}

/* When the first pull in flight is ready (shares constant until then), or UINT64_MAX. */
static uint64_t xfer_next(const struct sy_sim_engine *e)
{
    uint64_t t = UINT64_MAX;
    for (const struct sy_sim_req *r = e->loading.head; r; r = r->next)
        if (r->xfer_done && r->ready_ns < t)
            t = r->ready_ns;
    double minleft;
    uint32_t k = xfer_flowing(e, &minleft);
    if (k > 0 && xfer_bw(e) > 0) {
        uint64_t done = e->xfer_clock + (uint64_t)ceil(minleft * (double)k / xfer_bw(e));
        if (done + xfer_base_ns(e) < t)
            t = done + xfer_base_ns(e);
    }
    return t;
}

/* Admits a decode of a remote prefill: local prefix hit k blocks (in hit_scratch), blocks for the
 * whole prompt, then the pull of the rest. Returns false when the blocks do not fit. */
static bool admit_remote(struct sy_sim_engine *e, struct sy_sim_req *r, uint32_t k, uint64_t now)
{
    uint32_t hit = k * e->p.block_size;
    uint32_t evictable = 0;
    for (uint32_t i = 0; i < k; i++)
        evictable += e->blocks[e->hit_scratch[i]].ref == 0;
    uint32_t need = blocks_for(e, r->n_prompt) - k;
    if ((uint64_t)need + evictable > e->nfree)
        return false;
    e->st.prefix_queries += r->n_prompt;
    e->st.prefix_hits += hit;
    r->first_sched_done = true;
    r->scheduled_ns = now;
    sy_sim_hist_observe(&e->st.queue, (double)(now - r->arrival_ns) / 1e9);
    for (uint32_t i = 0; i < k; i++)
        req_hold(r, e->hit_scratch[i]), touch_block(e, e->hit_scratch[i]);
    r->nhashed = k;
    for (uint32_t i = 0; i < need; i++)
        req_hold(r, alloc_block(e));
    r->n_computed = hit;
    r->n_pulled = r->n_prompt - hit; /* >= 1: a hit never covers the whole prompt */
    r->n_cached = r->n_prompt;
    xfer_update(e, now); /* the shares change from now on */
    double ranks = e->p.tp_size ? (double)e->p.tp_size : 1.0;
    r->xfer_start = now;
    r->xfer_left = (double)r->n_pulled * (double)e->p.kv_bytes_per_token / ranks;
    r->xfer_done = false;
    if (!(r->xfer_left > 0) || xfer_bw(e) <= 0)
        xfer_finish(e, r, now);
    e->st.kv_pulled_tokens += r->n_pulled;
    sy_sim_hist_observe(&e->st.xfer_bytes, (double)r->n_pulled * e->p.kv_bytes_per_token);
    list_remove(&e->waiting, r);
    r->state = SY_SIM_LOADING;
    list_push_back(&e->loading, r);
    return true;
}

/* Moves requests whose pull has completed by now into the running batch, with every prompt
 * token but the last computed (vLLM recomputes the last one to sample the first token). */
static void finish_loads(struct sy_sim_engine *e, uint64_t now)
{
    xfer_update(e, now);
    struct sy_sim_req *next;
    for (struct sy_sim_req *r = e->loading.head; r && e->running.n < e->p.max_num_seqs; r = next) {
        next = r->next;
        if (!r->xfer_done || r->ready_ns > now)
            continue;
        list_remove(&e->loading, r);
        r->n_computed = r->n_prompt - 1;
        r->state = SY_SIM_RUNNING;
        list_push_back(&e->running, r);
        if (e->cbs.on_loaded)
            e->cbs.on_loaded(e->cbs.ud, r, now);
    }
}

/* Schedules one step at now. Returns true when a step started. */
static bool start_step(struct sy_sim_engine *e, uint64_t now)
{
    uint32_t budget = e->p.max_num_batched_tokens;
    bool preempted = false;
    uint64_t prefill = 0, dseqs = 0, dctx = 0, pairs = 0;

    finish_loads(e, now);

    /* 1. running requests, in admission order */
    struct sy_sim_req *r = e->running.head;
    while (r && budget > 0) {
        uint32_t total = r->n_prompt + r->n_output;
        uint32_t num_new = sy_sim_sched_chunk(&e->sched, total - r->n_computed);
        if (num_new > budget)
            num_new = budget;
        bool self_preempted = false;
        for (;;) {
            uint32_t need = blocks_for(e, (uint64_t)r->n_computed + num_new);
            need = need > r->nblocks ? need - r->nblocks : 0;
            if (need <= e->nfree) {
                for (uint32_t i = 0; i < need; i++)
                    req_hold(r, alloc_block(e));
                break;
            }
            struct sy_sim_req *victim =
                sy_sim_sched_victim(&e->sched, e->running.head, e->running.tail);
            /* priority policy: the victim may sit before r, already given its tokens in this
             * step; vLLM gives them back to the budget (fcfs takes the tail, never before r) */
            for (struct sy_sim_req *q = e->running.head; q && q != r; q = q->next) {
                if (q != victim)
                    continue;
                budget += q->sched_tokens;
                if (q->sched_tokens == 1 && q->n_computed >= q->n_prompt) {
                    dseqs--;
                    dctx -= q->n_computed;
                } else {
                    prefill -= q->sched_tokens;
                    pairs -= chunk_pairs(q->n_computed, q->sched_tokens);
                }
                break;
            }
            preempt(e, victim);
            preempted = true;
            if (victim == r) {
                self_preempted = true;
                break;
            }
        }
        if (self_preempted)
            break;
        r->sched_tokens = num_new;
        budget -= num_new;
        if (num_new == 1 && r->n_computed >= r->n_prompt) {
            dseqs++;
            dctx += r->n_computed;
        } else {
            prefill += num_new;
            pairs += chunk_pairs(r->n_computed, num_new);
        }
        r = r->next;
    }

    /* 2. waiting requests, unless this step preempted */
    while (!preempted && e->waiting.head && e->running.n < e->p.max_num_seqs && budget > 0) {
        r = e->waiting.head;
        uint32_t total = r->n_prompt + r->n_output;
        uint32_t k = find_cached_prefix(e, r, total);
        if (r->remote_kv) {
            if (!admit_remote(e, r, k, now))
                break;
            continue;
        }
        uint32_t hit = k * e->p.block_size;
        uint32_t num_new = sy_sim_sched_chunk(&e->sched, total - hit);
        if (num_new > budget)
            num_new = budget;
        uint32_t evictable = 0;
        for (uint32_t i = 0; i < k; i++)
            evictable += e->blocks[e->hit_scratch[i]].ref == 0;
        uint32_t need = blocks_for(e, (uint64_t)hit + num_new) - k;
        if ((uint64_t)need + evictable > e->nfree)
            break;
        e->st.prefix_queries += total;
        e->st.prefix_hits += hit;
        if (!r->first_sched_done) {
            r->first_sched_done = true;
            r->n_cached = hit < r->n_prompt ? hit : r->n_prompt;
            r->scheduled_ns = now;
            sy_sim_hist_observe(&e->st.queue, (double)(now - r->arrival_ns) / 1e9);
        }
        for (uint32_t i = 0; i < k; i++)
            req_hold(r, e->hit_scratch[i]), touch_block(e, e->hit_scratch[i]);
        r->nhashed = k;
        for (uint32_t i = 0; i < need; i++)
            req_hold(r, alloc_block(e));
        r->n_computed = hit;
        list_remove(&e->waiting, r);
        list_push_back(&e->running, r);
        r->state = SY_SIM_RUNNING;
        r->sched_tokens = num_new;
        budget -= num_new;
        if (num_new == 1 && r->n_computed >= r->n_prompt) {
            dseqs++;
            dctx += r->n_computed;
        } else {
            prefill += num_new;
            pairs += chunk_pairs(r->n_computed, num_new);
        }
    }

    if (prefill == 0 && dseqs == 0)
        return false;
    struct sy_sim_step_shape shape = {.prefill_tokens = prefill,
                                      .prefill_attn_pairs = pairs,
                                      .decode_seqs = dseqs,
                                      .decode_ctx_tokens = dctx};
    uint64_t dur = sy_sim_step_shape_ns(&e->p, &shape);
    e->in_step = true;
    e->step_end = now + dur;
    e->step_tokens = prefill + dseqs;
    e->st.steps++;
    e->st.busy_ns += dur;
    e->st.prefill_tokens += prefill;
    if (dseqs > 0) {
        struct sy_sim_step_shape dec = {.decode_seqs = dseqs, .decode_ctx_tokens = dctx};
        uint64_t dd = prefill ? sy_sim_step_shape_ns(&e->p, &dec) : dur;
        e->st.decode_steps++;
        e->st.decode_seqs += dseqs;
        e->st.decode_ctx_tokens += dctx;
        e->st.decode_step_ns += dd;
        e->st.decode_seq_step_ns += (uint64_t)dseqs * dur;
        e->st.decode_seq_decode_ns += (uint64_t)dseqs * dd;
    }
    return true;
}

static void finish(struct sy_sim_engine *e, struct sy_sim_req *r, enum sy_sim_finish why,
                   uint64_t now, bool notify)
{
    if (r->state == SY_SIM_RUNNING)
        list_remove(&e->running, r);
    else if (r->state == SY_SIM_LOADING) {
        xfer_update(e, now); /* the others' shares grow from now on */
        list_remove(&e->loading, r);
    } else
        list_remove(&e->waiting, r);
    if (r->hold_kv && why != SY_SIM_FINISH_ABORT && r->nblocks > 0)
        hold_blocks(e, r, now); /* vLLM holds only requests finished by length or stop */
    else
        release_blocks(e, r);
    e->st.success[why]++;
    sy_sim_hist_observe(&e->st.e2e, (double)(now - r->arrival_ns) / 1e9);
    if (notify && e->cbs.on_finish)
        e->cbs.on_finish(e->cbs.ud, r, why, now);
    req_free(r);
}

static void append_output(struct sy_sim_engine *e, struct sy_sim_req *r)
{
    uint32_t pos = r->n_prompt + r->n_output;
    if (pos == r->tokens_cap) {
        r->tokens_cap *= 2;
        r->tokens = sy_xrealloc(r->tokens, (size_t)r->tokens_cap * sizeof *r->tokens);
    }
    r->tokens[pos] = (uint32_t)(splitmix64(e->seed ^ (r->seq << 24) ^ pos) % SY_SIM_VOCAB);
    r->n_output++;
}

static void complete_step(struct sy_sim_engine *e, uint64_t now)
{
    e->in_callbacks = true;
    struct sy_sim_req *r = e->running.head;
    while (r) {
        struct sy_sim_req *next = r->next;
        if (r->sched_tokens == 0 || r->abort_pending) {
            r = next;
            continue;
        }
        r->n_computed += r->sched_tokens;
        r->sched_tokens = 0;
        cache_full_blocks(e, r);
        if (r->n_computed == r->n_prompt + r->n_output) {
            append_output(e, r);
            e->st.generation_tokens++;
            if (r->n_output == 1) {
                r->first_token_ns = now;
                e->st.prompt_tokens += r->n_prompt;
                sy_sim_hist_observe(&e->st.ttft, (double)(now - r->arrival_ns) / 1e9);
            } else {
                sy_sim_hist_observe(&e->st.itl, (double)(now - r->last_token_ns) / 1e9);
            }
            r->last_token_ns = now;
            if (e->cbs.on_token)
                e->cbs.on_token(e->cbs.ud, r, now);
            if (r->abort_pending) { /* aborted from its own on_token: no on_finish */
                r = next;
                continue;
            }
            if (r->n_output >= r->max_tokens || r->n_prompt + r->n_output >= e->p.max_model_len) {
                enum sy_sim_finish why = r->has_max_tokens || r->n_output < r->max_tokens
                                             ? SY_SIM_FINISH_LENGTH
                                             : SY_SIM_FINISH_STOP;
                /* the next pointer may be an abort-deferred request; finish never frees others */
                finish(e, r, why, now, true);
            }
        }
        r = next;
    }
    e->in_callbacks = false;
    /* aborts requested from callbacks were deferred */
    r = e->running.head;
    while (r) {
        struct sy_sim_req *next = r->next;
        if (r->abort_pending)
            finish(e, r, SY_SIM_FINISH_ABORT, now, false);
        r = next;
    }
    if (e->cbs.on_step_end)
        e->cbs.on_step_end(e->cbs.ud, now);
}

void sy_sim_engine_abort(struct sy_sim_engine *e, struct sy_sim_req *r, uint64_t now_ns)
{
    if (e->in_callbacks && r->state == SY_SIM_RUNNING) {
        r->abort_pending = true; /* finished after the step's callbacks */
        return;
    }
    uint64_t now = now_ns > r->arrival_ns ? now_ns : r->arrival_ns;
    finish(e, r, SY_SIM_FINISH_ABORT, now, false);
}

void sy_sim_engine_advance(struct sy_sim_engine *e, uint64_t now_ns)
{
    expire_held(e, now_ns);
    for (;;) {
        if (e->in_step) {
            if (e->step_end > now_ns)
                return;
            uint64_t t = e->step_end;
            e->in_step = false;
            complete_step(e, t);
            start_step(e, t);
        } else {
            if (!start_step(e, now_ns))
                return;
        }
    }
}

uint64_t sy_sim_engine_next_ns(const struct sy_sim_engine *e)
{
    if (e->in_step)
        return e->step_end;
    uint64_t t = UINT64_MAX;
    if (e->loading.head)
        t = xfer_next(e);
    uint64_t x = next_expiry(e);
    return x < t ? x : t;
}

void sy_sim_engines_advance(struct sy_sim_engine *const *e, size_t n, uint64_t now_ns)
{
    for (;;) {
        size_t best = n;
        uint64_t t = UINT64_MAX;
        for (size_t i = 0; i < n; i++) {
            uint64_t next = sy_sim_engine_next_ns(e[i]);
            if (next < t) {
                t = next;
                best = i;
            }
        }
        if (best == n || t > now_ns)
            break;
        sy_sim_engine_advance(e[best], t);
    }
}

uint64_t sy_sim_engine_step_tokens(const struct sy_sim_engine *e)
{
    return e->in_step ? e->step_tokens : 0;
}

uint64_t sy_sim_engine_step_end(const struct sy_sim_engine *e)
{
    return e->in_step ? e->step_end : UINT64_MAX;
}

void sy_sim_engine_set_step_end(struct sy_sim_engine *e, uint64_t end_ns)
{
    if (e->in_step && end_ns >= e->step_end) {
        e->st.busy_ns += end_ns - e->step_end; /* the rank is held in the step meanwhile */
        e->step_end = end_ns;
    }
}

bool sy_sim_engine_busy(const struct sy_sim_engine *e)
{
    return e->in_step;
}

int sy_sim_engine_reset_cache(struct sy_sim_engine *e)
{
    if (e->nfree != e->p.num_gpu_blocks)
        return SY_EBUSY;
    for (uint32_t id = 0; id < e->p.num_gpu_blocks; id++) {
        if (e->blocks[id].cached)
            ht_remove(e, id);
    }
    if (e->cbs.on_kv) {
        struct sy_sim_kv_event ev = {.kind = SY_SIM_KV_CLEARED};
        e->cbs.on_kv(e->cbs.ud, &ev);
    }
    return 0;
}

/* ---- introspection ------------------------------------------------------------------------ */

const struct sy_sim_profile *sy_sim_engine_profile(const struct sy_sim_engine *e)
{
    return &e->p;
}

const struct sy_sim_stats *sy_sim_engine_stats(const struct sy_sim_engine *e)
{
    return &e->st;
}

uint32_t sy_sim_engine_num_running(const struct sy_sim_engine *e)
{
    return e->running.n;
}

uint32_t sy_sim_engine_num_waiting(const struct sy_sim_engine *e)
{
    return e->waiting.n + e->loading.n; /* vLLM keeps WAITING_FOR_REMOTE_KVS in waiting */
}

uint32_t sy_sim_engine_free_blocks(const struct sy_sim_engine *e)
{
    return e->nfree;
}

uint32_t sy_sim_engine_cached_blocks(const struct sy_sim_engine *e)
{
    return e->ncached;
}

double sy_sim_engine_kv_usage(const struct sy_sim_engine *e)
{
    return 1.0 - (double)e->nfree / (double)e->p.num_gpu_blocks;
}

bool sy_sim_engine_check(const struct sy_sim_engine *e)
{
    uint32_t n = e->p.num_gpu_blocks;
    uint32_t *holders = sy_xcalloc(n, sizeof *holders);
    bool ok = true;
    for (struct sy_sim_req *r = e->running.head; r; r = r->next) {
        for (uint32_t i = 0; i < r->nblocks; i++)
            holders[r->blocks[i]]++;
        if (r->nblocks < blocks_for(e, r->n_computed))
            ok = false;
    }
    for (struct sy_sim_req *r = e->loading.head; r; r = r->next) {
        for (uint32_t i = 0; i < r->nblocks; i++)
            holders[r->blocks[i]]++;
        if (r->nblocks < blocks_for(e, r->n_prompt) || r->state != SY_SIM_LOADING ||
            (!r->xfer_done && !(r->xfer_left > 0)))
            ok = false;
    }
    uint32_t nheld = 0;
    for (const struct sy_sim_held *h = e->held_head; h; h = h->next, nheld++) {
        for (uint32_t i = 0; i < h->nblocks; i++)
            holders[h->blocks[i]]++;
        if (h->next && h->next->expiry < h->expiry)
            ok = false;
    }
    if (nheld != e->nheld)
        ok = false;
    for (struct sy_sim_req *r = e->waiting.head; r; r = r->next)
        if (r->nblocks != 0)
            ok = false;
    uint32_t nfree = 0, ncached = 0;
    for (uint32_t id = e->free_head, prev = NIL; id != NIL; prev = id, id = e->blocks[id].next) {
        if (e->blocks[id].prev != prev || !e->blocks[id].in_free || nfree > n)
            ok = false;
        if (nfree++ > n)
            break;
    }
    for (uint32_t id = 0; id < n; id++) {
        const struct sy_sim_block *b = &e->blocks[id];
        if (b->ref != holders[id] || b->in_free != (b->ref == 0))
            ok = false;
        if (b->cached) {
            ncached++;
            if (ht_find(e, b->hash) != id)
                ok = false;
        }
    }
    if (nfree != e->nfree || ncached != e->ncached)
        ok = false;
    free(holders);
    return ok;
}
