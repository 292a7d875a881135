/* engine.h - the simulator's step-level model of one vLLM engine (pure logic, no I/O).
 *
 * One struct sy_sim_engine models one vLLM EngineCore: a waiting queue, continuous batching with
 * max-num-seqs and a per-step token budget (chunked prefill), a paged KV block pool with prefix
 * caching (hash chain per full block, LRU eviction of free cached blocks) and preemption with
 * recompute. Time is simulated nanoseconds supplied by the caller (an injectable clock), so the
 * same engine runs under a libuv timer, a unit test's loop, or a batch benchmark.
 *
 * Driving it:
 *   sy_sim_engine_submit(e, ..., now)   enqueue a request (arrival time = now)
 *   sy_sim_engine_advance(e, now)       complete every step that ends at or before now and start
 *                                       the next one when there is work
 *   sy_sim_engine_next_ns(e)            when the step in flight ends (UINT64_MAX when idle): arm a
 *                                       timer for it and call advance then
 * Callbacks run inside sy_sim_engine_advance (on_kv also inside sy_sim_engine_reset_cache). From
 * a callback the only engine call allowed is sy_sim_engine_abort (of any request, including the
 * one being reported): it is deferred to the end of the step's callbacks, and an aborted request
 * gets no further callbacks.
 *
 * Threading: an engine belongs to one thread.
 */
#ifndef SY_SIM_ENGINE_H
#define SY_SIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SY_SIM_HIST_MAX       32  /* histogram buckets (excluding +Inf) */
#define SY_SIM_MAX_BLOCK_SIZE 256 /* largest supported KV block size (tokens) */

/* How a step's duration is computed from its batch (sy_sim_step_shape_ns; profiles.c documents
 * both and their sources). */
enum sy_sim_step_model {
    SY_SIM_STEP_ADDITIVE, /* base + prefill + per-seq + KV-read terms, summed (the default) */
    SY_SIM_STEP_OVERLAP,  /* one forward pass: linear layers = max(weight read, FLOPs of every
                             token at the achieved rate) + prefill attention + KV read + rest */
    SY_SIM_STEP_N_
};
/* "additive", "overlap". */
const char *sy_sim_step_model_name(enum sy_sim_step_model m);
/* Parses a step model name. Returns 0, or -1 when unknown. */
int sy_sim_step_model_parse(const char *s, enum sy_sim_step_model *out);

/* A calibrated hardware/model profile (profiles.c documents each figure's source). */
struct sy_sim_profile {
    const char *name;                /* e.g. "qwen3-32b-tp2-h100" */
    const char *model;               /* Hugging Face model id it was calibrated for */
    uint32_t num_gpu_blocks;         /* KV blocks (vLLM num_gpu_blocks) at block_size */
    uint32_t block_size;             /* tokens per KV block (vLLM default 16) */
    uint32_t max_num_seqs;           /* running requests per step */
    uint32_t max_num_batched_tokens; /* token budget per step (chunked prefill) */
    uint32_t max_model_len;          /* prompt + output tokens per request */
    double step_base_us;             /* fixed cost of any step (weights streamed once) */
    double prefill_us_per_token;     /* per uncached prompt token computed in the step */
    double decode_us_per_seq;        /* per decoding sequence in the step */
    double decode_us_per_ctx_token;  /* per context token read by decode attention */
    /* The overlap step model's split of the same figures (0 when the profile has none: the
     * overlap model is then unavailable for it, sy_sim_step_model_supported): */
    double weight_read_us;      /* the part of step_base_us that streams the weights */
    double linear_us_per_token; /* linear layers per token (prefill or decode) at the achieved
                                   FLOP rate, once compute-bound */
    double attn_us_per_pair;    /* prefill attention per (query token, earlier token) pair */
    enum sy_sim_step_model step_model; /* which model sy_sim_step_ns uses (default additive) */
    /* P/D KV transfer (NixlConnector pull): see profiles.c for the sources */
    uint32_t tp_size;            /* tensor-parallel ranks; each pulls its share in parallel */
    uint32_t kv_bytes_per_token; /* KV bytes per token, whole model (all ranks) */
    double kv_xfer_gbps;         /* pull bandwidth per rank, GB/s (10^9 bytes) */
    double kv_xfer_base_us;      /* fixed cost of one pull */
    double kv_lease_s;           /* a prefill's held blocks are freed when not pulled by then */
    /* Wide expert parallelism (MoE with data-parallel attention, src/sim/lockstep.h): the
     * fields above are one rank's own attention/dense work; these are the group's coupled terms.
     * All 0 for a dense model. */
    uint32_t ep_size;        /* expert-parallel ranks the figures assume (= DP size) */
    double moe_us_per_token; /* routed-expert GEMMs per token of the whole group; the experts
                                are spread over the ranks, so a step pays this x tokens / ranks */
    double a2a_base_us;      /* expert dispatch + combine, fixed part of one step */
    double a2a_us_per_token; /* dispatch + combine per token of the busiest rank */
};

/* The built-in profiles (profiles.c). NULL-terminated. */
extern const struct sy_sim_profile *const sy_sim_profiles[];
/* Looks a profile up by name; NULL when unknown. */
const struct sy_sim_profile *sy_sim_profile_find(const char *name);
struct sy_sim_engine;
/* Lockstep hooks (src/sim/lockstep.c): tokens scheduled in the step in flight (prefill tokens +
 * decoding sequences; 0 when idle), its end, and moving that end (a rank waits for its group). */
uint64_t sy_sim_engine_step_tokens(const struct sy_sim_engine *e);
uint64_t sy_sim_engine_step_end(const struct sy_sim_engine *e);
void sy_sim_engine_set_step_end(struct sy_sim_engine *e, uint64_t end_ns);
/* One step's batch as the step models see it. */
struct sy_sim_step_shape {
    uint64_t prefill_tokens;     /* prompt (or recomputed) tokens computed in the step */
    uint64_t prefill_attn_pairs; /* over the prefill chunks: chunk x tokens before it + chunk x
                                    (chunk + 1) / 2 (causal attention's query-key pairs) */
    uint64_t decode_seqs;        /* sequences decoding one token */
    uint64_t decode_ctx_tokens;  /* context tokens those sequences' attention reads */
};
/* Simulated duration of one step, in nanoseconds, under p->step_model. */
uint64_t sy_sim_step_shape_ns(const struct sy_sim_profile *p, const struct sy_sim_step_shape *s);
/* Simulated duration of one step, in nanoseconds, for the given batch composition, the prefill
 * tokens taken as one chunk with nothing before it (what the additive model ignores). */
uint64_t sy_sim_step_ns(const struct sy_sim_profile *p, uint64_t prefill_tokens,
                        uint64_t decode_seqs, uint64_t decode_ctx_tokens);
/* Whether profile p has the overlap model's constants. */
bool sy_sim_step_model_supported(const struct sy_sim_profile *p, enum sy_sim_step_model m);
/* Simulated duration of pulling the KV of `tokens` tokens from a prefill replica when no other
 * pull shares the link: base + tokens x kv_bytes_per_token / tp_size / bandwidth (ranks pull in
 * parallel). Concurrent pulls into one engine share the bandwidth equally. */
uint64_t sy_sim_xfer_ns(const struct sy_sim_profile *p, uint64_t tokens);

enum sy_sim_finish {
    SY_SIM_FINISH_STOP,   /* generated its chosen length without max_tokens (vLLM "stop") */
    SY_SIM_FINISH_LENGTH, /* reached max_tokens or max-model-len (vLLM "length") */
    SY_SIM_FINISH_ABORT,  /* aborted by the caller (client went away) */
    SY_SIM_FINISH_N_
};
const char *sy_sim_finish_name(enum sy_sim_finish f); /* "stop", "length", "abort" */

enum sy_sim_req_state {
    SY_SIM_WAITING, /* in the waiting queue (new or preempted) */
    SY_SIM_RUNNING, /* holds KV blocks and is scheduled every step */
    SY_SIM_LOADING  /* holds KV blocks while its prompt's KV is pulled (vLLM
                       WAITING_FOR_REMOTE_KVS); not scheduled until the pull ends */
};

/* Outcome of claiming a prefill's held KV for a decode (sy_sim_engine_pull). */
enum sy_sim_pull {
    SY_SIM_PULL_NONE,     /* not a decode of a remote prefill (submit: a plain request) */
    SY_SIM_PULL_OK,       /* the blocks were held and are now pulled */
    SY_SIM_PULL_UNKNOWN,  /* no such held KV (unknown engine or request, or malformed params) */
    SY_SIM_PULL_REUSED,   /* already pulled by an earlier decode */
    SY_SIM_PULL_EXPIRED,  /* the lease ran out and the blocks were freed */
    SY_SIM_PULL_MISMATCH, /* held for a different prompt */
    SY_SIM_PULL_N_
};
const char *sy_sim_pull_name(enum sy_sim_pull p); /* "ok", "unknown", "reused", ... */

/* One request inside the engine. The engine allocates and owns it; the pointer stays valid until
 * on_finish returns (or sy_sim_engine_abort returns). Callers read the public fields only. */
struct sy_sim_req {
    uint64_t seq; /* submission number, from 0 (determinism) */
    void *ud;     /* caller's pointer, passed back in callbacks */
    enum sy_sim_req_state state;
    uint32_t n_prompt;       /* prompt tokens */
    uint32_t max_tokens;     /* output tokens to generate */
    bool has_max_tokens;     /* max_tokens came from the client (finish "length" vs "stop") */
    uint32_t n_output;       /* output tokens generated so far */
    uint32_t n_computed;     /* tokens whose KV is computed (prompt + output) */
    uint32_t n_cached;       /* prompt tokens not computed here: prefix cache hits at first
                                schedule, plus the tokens pulled from a remote prefill */
    uint32_t n_pulled;       /* prompt tokens whose KV was pulled from a remote prefill */
    uint32_t n_preempted;    /* times this request was preempted */
    int32_t priority;        /* vLLM priority (lower first; only the priority policy reads it) */
    uint32_t *tokens;        /* prompt then output token ids (n_prompt + n_output) */
    uint64_t arrival_ns;     /* simulated time of submit */
    uint64_t scheduled_ns;   /* first time scheduled (queue time end); 0 until then */
    uint64_t first_token_ns; /* first output token; 0 until then */
    uint64_t last_token_ns;  /* latest output token */
    const uint32_t *held_blocks; /* in on_finish of a hold_kv request whose blocks are now held:
                                    the held block ids (engine-owned); else NULL */
    uint32_t held_nblocks;       /* their count */
    /* private */
    bool hold_kv;          /* prefill for a remote decode: hold the blocks after finish */
    uint64_t hold_key;     /* key the held blocks are found by */
    bool remote_kv;        /* decode of a remote prefill: pull the prompt's KV */
    uint64_t ready_ns;     /* LOADING: when the pull completes (valid once xfer_done) */
    uint64_t xfer_start;   /* LOADING: when the pull started */
    double xfer_left;      /* LOADING: bytes per rank still to move */
    bool xfer_done;        /* LOADING: the bytes have arrived (ready_ns adds the fixed cost) */
    uint32_t tokens_cap;   /* capacity of tokens */
    uint32_t sched_tokens; /* tokens scheduled in the step in flight */
    bool first_sched_done; /* prefix-cache stats and queue time already recorded */
    bool abort_pending;    /* aborted from a callback; finished after the step's callbacks */
    uint32_t *blocks;      /* block ids held, in token order */
    uint32_t nblocks;      /* held blocks */
    uint32_t blocks_cap;   /* capacity of blocks */
    uint32_t nhashed;      /* leading blocks registered in the prefix cache by this request */
    uint64_t *hashes;      /* hash chain of full blocks over tokens */
    uint32_t nhashes;      /* hashes computed */
    uint32_t hashes_cap;   /* capacity of hashes */
    struct sy_sim_req *prev, *next; /* waiting or running list links */
};

/* KV cache events, reported as the block pool changes (vLLM's BlockStored/BlockRemoved/
 * AllBlocksCleared). Arrays are borrowed for the duration of the callback. */
enum sy_sim_kv_kind {
    SY_SIM_KV_STORED,  /* blocks became full and cached */
    SY_SIM_KV_REMOVED, /* a cached block was evicted */
    SY_SIM_KV_CLEARED  /* the whole prefix cache was reset */
};
struct sy_sim_kv_event {
    enum sy_sim_kv_kind kind; /* which event */
    const uint64_t *hashes;   /* STORED/REMOVED: block hashes */
    size_t nhashes;           /* their count */
    bool has_parent;          /* STORED: the first block has a parent */
    uint64_t parent;          /* STORED: hash of the block before the first one */
    const uint32_t *tokens;   /* STORED: nhashes * block_size token ids */
    size_t ntokens;           /* their count */
    uint32_t block_size;      /* STORED: tokens per block */
};

struct sy_sim_engine_cbs {
    /* An output token was generated (req->n_output already counts it). */
    void (*on_token)(void *ud, struct sy_sim_req *req, uint64_t now_ns);
    /* The request finished; req is freed when this returns. Not called for aborts. */
    void (*on_finish)(void *ud, struct sy_sim_req *req, enum sy_sim_finish why, uint64_t now_ns);
    /* A KV cache event (may be NULL). */
    void (*on_kv)(void *ud, const struct sy_sim_kv_event *ev);
    /* A step completed; events of the step have all been reported (may be NULL). */
    void (*on_step_end)(void *ud, uint64_t now_ns);
    /* A decode's pull of its prompt KV completed; it joins the batch (may be NULL). The remote
     * side should now sy_sim_engine_release the blocks (not from inside this callback when it is
     * the same engine). */
    void (*on_loaded)(void *ud, struct sy_sim_req *req, uint64_t now_ns);
    void *ud; /* passed to every callback */
};

struct sy_sim_hist {
    const double *bounds;                 /* ascending upper bounds (seconds), static */
    size_t n;                             /* bucket count, <= SY_SIM_HIST_MAX */
    uint64_t counts[SY_SIM_HIST_MAX + 1]; /* per bucket (non-cumulative); [n] is +Inf */
    double sum;                           /* sum of samples */
    uint64_t count;                       /* number of samples */
};
void sy_sim_hist_observe(struct sy_sim_hist *h, double v);

struct sy_sim_stats {
    uint64_t prefix_queries;    /* tokens looked up in the prefix cache (vLLM counts tokens) */
    uint64_t prefix_hits;       /* of which found cached */
    uint64_t prompt_tokens;     /* prompt tokens of requests that produced a first token */
    uint64_t generation_tokens; /* output tokens generated */
    uint64_t preemptions;       /* requests preempted */
    uint64_t success[SY_SIM_FINISH_N_]; /* finished requests by reason */
    uint64_t steps;                     /* steps executed */
    uint64_t busy_ns;                   /* simulated time spent in steps */
    uint64_t prefill_tokens;            /* tokens computed as prefill (incl. recompute) */
    /* Decode accounting of steps with at least one decoding sequence (switchyard_sim_decode_*):
     * what a decoding token waits for, split into the decode-only step (the same shape without
     * its prefill chunks) and the rest (prefill chunks sharing the step). */
    uint64_t decode_steps;         /* steps with >= 1 decoding sequence */
    uint64_t decode_seqs;          /* sum over those steps of their decoding sequences */
    uint64_t decode_ctx_tokens;    /* sum over those steps of the decoding sequences' context */
    uint64_t decode_step_ns;       /* sum of their decode-only durations (no prefill) */
    uint64_t decode_seq_step_ns;   /* sum of decoding sequences x the step's duration */
    uint64_t decode_seq_decode_ns; /* sum of decoding sequences x the decode-only duration */
    struct sy_sim_hist ttft;       /* vllm:time_to_first_token_seconds */
    struct sy_sim_hist itl;        /* vllm:inter_token_latency_seconds */
    struct sy_sim_hist e2e;        /* vllm:e2e_request_latency_seconds */
    struct sy_sim_hist queue;      /* vllm:request_queue_time_seconds */
    /* P/D */
    uint64_t kv_pulls;         /* decodes whose prompt KV was pulled */
    uint64_t kv_pulled_tokens; /* tokens pulled */
    uint64_t kv_held_total;    /* prefills whose blocks were held for a decode */
    uint64_t kv_expired;       /* held KV freed by the lease (vllm:nixl_num_kv_expired_reqs) */
    uint64_t pd_fallbacks[SY_SIM_PULL_N_]; /* decode legs prefilled locally, by reason */
    struct sy_sim_hist xfer;               /* vllm:nixl_xfer_time_seconds */
    struct sy_sim_hist xfer_bytes;         /* vllm:nixl_bytes_transferred */
};

struct sy_sim_engine;

/* Creates an engine for profile p (copied; callers apply flag overrides to a copy first).
 * Returns NULL when p is unusable (zero blocks, block size, seqs or budget). */
struct sy_sim_engine *sy_sim_engine_new(const struct sy_sim_profile *p, uint64_t seed,
                                        const struct sy_sim_engine_cbs *cbs);
/* Deep copy of e: its running, waiting and loading requests (tokens, blocks, hash chains), the
 * KV block pool and prefix cache, held KV, counters, the step in flight and the seed, so the
 * copy and e, given the same further submissions and advances, produce the same tokens and
 * finishes at the same times. The copy's requests keep their ud pointers (the caller's) but
 * report to cbs (NULL: e's callbacks). e is not changed. Free the copy with sy_sim_engine_free.
 * Not from inside e's callbacks (a step's completion may be half done). */
struct sy_sim_engine *sy_sim_engine_clone(const struct sy_sim_engine *e,
                                          const struct sy_sim_engine_cbs *cbs);
/* Frees the engine and every request still in it (no callbacks). */
void sy_sim_engine_free(struct sy_sim_engine *e);

/* Enqueues a request. tokens (n_prompt ids) are copied. max_tokens < 0 means "not given": the
 * output length is then drawn from the seeded generator (1..min(room, 256)) and the request
 * finishes "stop". Output is always capped by max_model_len. Returns the request or NULL when
 * n_prompt is 0 or n_prompt >= max_model_len (callers validate first and answer 400). */
struct sy_sim_req *sy_sim_engine_submit(struct sy_sim_engine *e, const uint32_t *tokens,
                                        uint32_t n_prompt, int64_t max_tokens, void *ud,
                                        uint64_t now_ns);
/* Submission with every option (sy_sim_engine_submit is the plain case). */
struct sy_sim_submit {
    const uint32_t *tokens; /* prompt ids, copied */
    uint32_t n_prompt;      /* their count */
    int64_t max_tokens;     /* as sy_sim_engine_submit */
    void *ud;               /* caller's pointer */
    bool hold_kv;           /* a prefill for a remote decode: when it finishes ("length" or
                               "stop"), its blocks are held under hold_key until
                               sy_sim_engine_pull or kv_lease_s */
    uint64_t hold_key;      /* unique among this engine's held KV */
    /* A decode leg: the result of sy_sim_engine_pull on the prefill's engine. OK: the prompt's
     * KV is pulled (blocks allocated, transfer time paid, no prefill computed); any failure:
     * a local prefill, counted in pd_fallbacks[pull]. NONE: a plain request. */
    enum sy_sim_pull pull;
    int32_t priority; /* vLLM request priority: lower runs earlier under the priority policy */
};
/* Sets the queue policy (sched_policy.h; default fcfs, no chunk cap). Call before submitting. */
struct sy_sim_sched;
void sy_sim_engine_set_sched(struct sy_sim_engine *e, const struct sy_sim_sched *s);
struct sy_sim_req *sy_sim_engine_submit_ex(struct sy_sim_engine *e, const struct sy_sim_submit *s,
                                           uint64_t now_ns);
/* Claims the KV held under key for a decode of the prompt tokens[0..n). On OK the blocks stay
 * held, without a lease, until sy_sim_engine_release (the decode's read completed or it gave
 * up); a second claim is REUSED. EXPIRED when the lease ran out by now. Must not be called from
 * this engine's callbacks. */
enum sy_sim_pull sy_sim_engine_pull(struct sy_sim_engine *e, uint64_t key, const uint32_t *tokens,
                                    uint32_t n, uint64_t now_ns);
/* The same with the prompt given as its length and sy_sim_tokens_hash (a remote decode). */
enum sy_sim_pull sy_sim_engine_pull_hashed(struct sy_sim_engine *e, uint64_t key, uint32_t n,
                                           uint64_t hash, uint64_t now_ns);
/* The prompt fingerprint held KV is matched by: XXH64 of the token ids (as LE32). */
uint64_t sy_sim_tokens_hash(const uint32_t *tokens, uint32_t n);
/* Frees the blocks of a claimed held entry (they stay cached), as vLLM frees them when the
 * decode's NIXL read is done. Returns 0, or SY_ENOTFOUND when no claimed entry has that key.
 * Must not be called from this engine's callbacks. */
int sy_sim_engine_release(struct sy_sim_engine *e, uint64_t key);
/* Requests whose blocks are held for a remote decode. */
uint32_t sy_sim_engine_num_held(const struct sy_sim_engine *e);

/* Removes a request wherever it is (waiting or running), frees its blocks (they stay cached) and
 * counts it as finished "abort". No on_finish. req is freed. */
void sy_sim_engine_abort(struct sy_sim_engine *e, struct sy_sim_req *req, uint64_t now_ns);
/* Completes steps ending at or before now and starts the next step when there is work. */
void sy_sim_engine_advance(struct sy_sim_engine *e, uint64_t now_ns);
/* When advance next has work: the end of the step in flight, else the end of the first KV pull
 * in progress, or a held lease's expiry; UINT64_MAX when there is none. */
uint64_t sy_sim_engine_next_ns(const struct sy_sim_engine *e);
/* Advances engines e[0..n) to now together: the step that ends first runs first, so engines that
 * feed one another see each other's events in time order. */
void sy_sim_engines_advance(struct sy_sim_engine *const *e, size_t n, uint64_t now_ns);
/* A step is in flight. */
bool sy_sim_engine_busy(const struct sy_sim_engine *e);
/* Drops every cached block that no request holds and reports SY_SIM_KV_CLEARED. Returns 0, or
 * SY_EBUSY when requests still hold blocks (vLLM refuses a reset then too). */
int sy_sim_engine_reset_cache(struct sy_sim_engine *e);

/* Introspection (for /metrics and tests). */
const struct sy_sim_profile *sy_sim_engine_profile(const struct sy_sim_engine *e);
const struct sy_sim_stats *sy_sim_engine_stats(const struct sy_sim_engine *e);
uint32_t sy_sim_engine_num_running(const struct sy_sim_engine *e);
uint32_t sy_sim_engine_num_waiting(const struct sy_sim_engine *e);
uint32_t sy_sim_engine_free_blocks(const struct sy_sim_engine *e);   /* incl. free cached ones */
uint32_t sy_sim_engine_cached_blocks(const struct sy_sim_engine *e); /* in the hash table */
double sy_sim_engine_kv_usage(const struct sy_sim_engine *e);        /* 1 - free/total */
/* Checks the block pool's invariants (refcounts match holders, free list matches refcount 0,
 * hash table matches block hashes, counts add up). Returns true when all hold. For tests. */
bool sy_sim_engine_check(const struct sy_sim_engine *e);

/* The built-in deterministic tokenizer: text is cut into 4-byte chunks from its start (the last
 * may be shorter) and each chunk maps to id XXH32(chunk, seed 0) % 151643 (Qwen3's regular
 * vocabulary size). Equal text prefixes give equal token prefixes, and ~4 characters per token
 * matches llm-d's estimate. Writes at most cap ids; returns the total count (ceil(len/4)). */
size_t sy_sim_tokenize(const char *text, size_t len, uint32_t *out, size_t cap);

#endif
