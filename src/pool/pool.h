/* pool.h - the endpoint pool: the model servers the gateway routes to, and their live state.
 *
 * One struct sy_endpoint per configured replica. Configuration fields are immutable; live state is
 * written by the scraper thread and by workers (in-flight counters) and read by every worker's
 * scheduler. Scraped state sits in a seqlock-protected block (struct sy_endpoint_live): readers
 * copy it without taking a lock and retry when a writer was active; writers take the endpoint's
 * mutex, which also guards the model list's strings. Counters are atomics. Endpoints are
 * reference-counted: a config reload that keeps an address keeps its endpoint object (and so its
 * state and in-flight counts); requests hold a reference until they finish.
 *
 *   struct sy_pool (refcounted, immutable after build)
 *     eps[0..n) --> struct sy_endpoint (refcounted, shared across reloads by address)
 */
#ifndef SY_POOL_POOL_H
#define SY_POOL_POOL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "pool/decode.h"
#include "pool/prom.h"

#define SY_MAX_MODELS    16  /* model ids remembered per endpoint from /v1/models */
#define SY_ATTR_MAX      16  /* endpoint attributes (pool/attrs.h) registered process-wide */
#define SY_MODEL_INLINE  128 /* bytes of a model id readable without the lock; longer ids lock */
#define SY_LORA_LIST_CAP 256 /* bytes of each LoRA adapter list (sy_engine_metrics' lists) */

/* The scalar load metrics of one scrape: struct sy_engine_metrics without the LoRA lists. Fields
 * the engine did not report are -1. */
struct sy_endpoint_load {
    double waiting;     /* queued requests */
    double running;     /* running requests */
    double kv_usage;    /* KV-cache usage in [0,1] */
    int64_t block_size; /* tokens per KV block */
    int64_t num_blocks; /* KV blocks */
    int64_t max_lora;   /* max_lora, -1 if unknown */
};

/* The LoRA adapter lists of one scrape (vllm:lora_requests_info), copied only for plugins that
 * read them: 512 bytes the per-decision snapshot otherwise does not carry. */
struct sy_endpoint_loras {
    char running[SY_LORA_LIST_CAP]; /* running_lora_adapters (comma list, NUL-terminated) */
    char waiting[SY_LORA_LIST_CAP]; /* waiting_lora_adapters */
};

/* A consistent copy of an endpoint's live state, taken by sy_endpoint_snapshot: every field but
 * the in-flight counters and conn_fail_ns comes from one scrape / failure update. */
struct sy_endpoint_state {
    bool ready;                /* last scrape succeeded and no connection error since */
    bool scraped;              /* at least one successful scrape */
    uint64_t update_ns;        /* monotonic time of the last successful scrape (0 = never) */
    struct sy_endpoint_load m; /* last scraped metrics */
    int64_t inflight_requests; /* requests forwarded and not yet finished */
    int64_t inflight_tokens;   /* uncached prompt (+ estimated output) tokens of those requests,
                                  as inflight-load-producer counts them */
    int64_t decode_left;       /* output tokens those requests are still expected to generate
                                  (pool/decode.c; 0 for requests without a budget) */
    double decode_done;        /* request-equivalents of their output already generated:
                                  inflight_requests - decode_done weighs each by its share left */
    uint64_t fail_ns;          /* monotonic time of the last failed scrape (0 = never) */
    uint64_t conn_fail_ns;     /* monotonic time of the last upstream connect failure (0 = none) */
};

/* Seqlock-protected live state (see pool.c, "Threading"). Every field is an atomic accessed with
 * relaxed loads and stores between the sequence counter's acquire/release operations, so readers
 * racing a writer never have a data race, only a copy they throw away. Doubles are stored as their
 * bit patterns. Hot fields first: a decision reads seq..models_len and nothing else unless the
 * model list or LoRA lists are needed. */
struct sy_endpoint_live {
    _Atomic uint64_t seq;       /* even: stable; odd: a writer is between begin and end */
    _Atomic uint32_t flags;     /* SY_LIVE_READY | SY_LIVE_SCRAPED | SY_LIVE_MODELS_SLOW */
    _Atomic uint32_t nmodels;   /* entries in models_len/models_w; 0 = list unknown */
    _Atomic uint64_t update_ns; /* last successful scrape (see sy_endpoint_state) */
    _Atomic uint64_t fail_ns;   /* last failed scrape */
    _Atomic uint64_t waiting;   /* struct sy_endpoint_load's fields; doubles as bits */
    _Atomic uint64_t running;   /* double bits */
    _Atomic uint64_t kv_usage;  /* double bits */
    _Atomic int64_t block_size; /* -1 unknown */
    _Atomic int64_t num_blocks; /* -1 unknown */
    _Atomic int64_t max_lora;   /* -1 unknown */
    _Atomic uint32_t models_len[SY_MAX_MODELS];                    /* id lengths */
    _Atomic uint64_t models_w[SY_MAX_MODELS][SY_MODEL_INLINE / 8]; /* ids, zero-padded words */
    _Atomic uint64_t loras_w[2][SY_LORA_LIST_CAP / 8]; /* running, waiting lists (NUL-padded) */
};

#define SY_LIVE_READY       1u /* flags: see sy_endpoint_state.ready (before conn failures) */
#define SY_LIVE_SCRAPED     2u /* flags: at least one successful scrape */
#define SY_LIVE_MODELS_SLOW 4u /* flags: an id is longer than SY_MODEL_INLINE; serves() locks */

struct sy_endpoint {
    _Atomic int refs;             /* reference count */
    char *address;                /* "host:port" as configured; owned */
    char host[256];               /* host part */
    uint16_t port;                /* port part */
    struct sockaddr_storage addr; /* resolved address */
    socklen_t addrlen;            /* length of addr */
    struct sy_label *labels;      /* owned copy of the configured labels */
    size_t nlabels;
    char *kv_events;              /* optional KV events endpoint; owned or NULL */
    uint16_t supervisor_port;     /* vLLM DP supervisor port on host gating readiness, or 0 */
    int16_t rank;                 /* index in its multi-port entry's targetPorts, -1 for none */
    _Atomic bool supervisor_down; /* the supervisor's last /readyz was not 200 (scraper) */

    pthread_mutex_t mu;               /* serializes writers of live; guards models/nmodels */
    char *models[SY_MAX_MODELS];      /* model ids served, from /v1/models; owned */
    size_t nmodels;                   /* 0 = unknown (never fetched) */
    char *models_json[SY_MAX_MODELS]; /* each entry's public fields as the server reported them
                                         (compact JSON object, for models-responder), or NULL;
                                         owned, guarded by mu */
    uint32_t models_adapter;          /* bit i: models[i] is a LoRA adapter (has a parent);
                                         guarded by mu */

    _Atomic int64_t inflight_requests; /* +1 on forward, -1 on finish (every path) */
    _Atomic int64_t inflight_tokens;   /* token estimate, same discipline */
    _Atomic int64_t decode_left;       /* remaining decode tokens (pool/decode.c) */
    _Atomic int64_t decode_done;       /* decoded share, fixed point SY_DECODE_ONE (decode.c) */
    _Atomic int64_t decode_mean;       /* mean output tokens of completed requests, 1/16 tokens */
    _Atomic int64_t decode_samples;    /* completed requests that fed decode_mean (decode.c) */
    _Atomic uint64_t conn_fail_ns;     /* last upstream connect failure (monotonic ns), 0 = none */
    _Atomic uint64_t served_ns;        /* last response head below 500 the proxy got from it
                                          (monotonic ns), 0 = none */

    _Atomic uint64_t attr_bits[SY_ATTR_MAX]; /* attribute values (double bit patterns) */
    _Atomic uint32_t attr_present;           /* bit i: attr_bits[i] holds a scraped value */

    uint8_t scrape_busy; /* scraper thread only: bit 0 a /metrics poll, bit 1 a /v1/models poll
                          * in flight (a gateway runs one scraper) */

    struct sy_endpoint_live live; /* scraped state and model ids, seqlock-protected */
};

struct sy_tls_ctx; /* http/tls.h */

struct sy_pool {
    _Atomic int refs;         /* reference count */
    struct sy_endpoint **eps; /* owned references */
    size_t n;                 /* endpoint count */
    enum sy_engine engine;    /* which metric names to read */
    struct sy_tls_ctx *tls;   /* pool.tls: HTTPS to the endpoints, or NULL (owned reference) */
    char *tls_server_name;    /* pool.tls.serverName, or NULL for each endpoint's host; owned */
};

/* The name an endpoint's certificate must carry: pool.tls.serverName, else the host of its
 * address. Writes into buf (NUL-terminated) and returns it. */
const char *sy_pool_tls_name(const struct sy_pool *p, const struct sy_endpoint *e, char *buf,
                             size_t cap);

/* Builds a pool from the config, reusing endpoint objects from old (may be NULL) whose address
 * matches, so live state survives a reload. Resolves addresses; returns NULL with a message
 * "FILE:LINE: pool.endpoints: reason" on a bad address. */
struct sy_pool *sy_pool_new(const struct sy_config *cfg, const struct sy_pool *old, char *err,
                            size_t errcap);
/* The same with another endpoint list than cfg's (discovery: src/discovery); cfg gives the engine
 * and the file name for messages. */
struct sy_pool *sy_pool_new_eps(const struct sy_config *cfg, const struct sy_endpoint_config *eps,
                                size_t n, const struct sy_pool *old, char *err, size_t errcap);
struct sy_pool *sy_pool_ref(struct sy_pool *p);
void sy_pool_unref(struct sy_pool *p);
struct sy_endpoint *sy_endpoint_ref(struct sy_endpoint *e);
void sy_endpoint_unref(struct sy_endpoint *e);

/* Copies e's live state into out without locking (a seqlock read; see pool.c). */
void sy_endpoint_snapshot(struct sy_endpoint *e, struct sy_endpoint_state *out);
/* The same, plus the LoRA adapter lists of the same scrape into loras (may be NULL). */
void sy_endpoint_snapshot_loras(struct sy_endpoint *e, struct sy_endpoint_state *out,
                                struct sy_endpoint_loras *loras);
/* The scheduler's per-candidate read: when e serves model (see sy_endpoint_serves; len 0 skips
 * the check) copies its state, and the LoRA lists when loras is non-NULL, all from one consistent
 * read, and returns true; returns false (out unspecified) when model is not served. */
bool sy_endpoint_read(struct sy_endpoint *e, const char *model, size_t len,
                      struct sy_endpoint_state *out, struct sy_endpoint_loras *loras);
/* Scraper: record a successful scrape / a failure (marks the endpoint not ready). */
void sy_endpoint_set_metrics(struct sy_endpoint *e, const struct sy_engine_metrics *m,
                             uint64_t now);
void sy_endpoint_set_failed(struct sy_endpoint *e, uint64_t now);
/* Scraper: a /metrics poll timed out at now (the server took the connection, then did not answer
 * in time: a slow or starved server, not a refused one). The endpoint stays ready on its last
 * metrics while they are at most staleness_ns old or it answered a proxied request within the
 * last staleness_ns; else it is marked failed as by sy_endpoint_set_failed. A timeout never makes
 * a not-ready endpoint ready. Returns whether the endpoint is still ready (before connection
 * failures, which sy_endpoint_read applies). */
bool sy_endpoint_scrape_timed_out(struct sy_endpoint *e, uint64_t now, uint64_t staleness_ns);
/* Proxy: the endpoint answered a request with a response head below 500 at now (it is serving). */
void sy_endpoint_served(struct sy_endpoint *e, uint64_t now);
/* Replaces the endpoint's model list (ids borrowed, copied). */
void sy_endpoint_set_models(struct sy_endpoint *e, const char *const *ids, size_t n);
/* Same, with each entry's public fields as a compact JSON object (json may be NULL, or hold NULL
 * entries) and a bit per entry that is a LoRA adapter. Copies everything. */
void sy_endpoint_set_models_meta(struct sy_endpoint *e, const char *const *ids,
                                 const char *const *json, uint32_t adapters, size_t n);
/* True when the endpoint serves model, or its model list is unknown. */
bool sy_endpoint_serves(struct sy_endpoint *e, const char *model, size_t len);
/* Looks up a label value; NULL when absent. */
const char *sy_endpoint_label(const struct sy_endpoint *e, const char *key);
/* Proxy: record an upstream connect/I/O failure at now; the endpoint reads as not ready until the
 * next successful scrape after now. */
void sy_endpoint_conn_failed(struct sy_endpoint *e, uint64_t now);
/* The endpoint with this configured address, borrowed from p (no reference taken), or NULL. */
struct sy_endpoint *sy_pool_find(const struct sy_pool *p, const char *address);
/* Whether any endpoint of p is ready now (the gateway and the EPP answer 503 when none is). */
bool sy_pool_any_ready(const struct sy_pool *p);

/* A request's charge on the endpoint it is forwarded to: its in-flight count, its in-flight
 * tokens and its decode work left (pool/decode.h), taken and released together so that no caller
 * can release one half, release a different amount than it added, or release in the wrong order.
 * Zeroed = not charged. One owner (the request's worker); the counters it moves are shared. */
struct sy_charge {
    struct sy_endpoint
        *ep;              /* charged endpoint (borrowed: the request holds a reference), or NULL */
    int64_t tokens;       /* in-flight tokens it holds now */
    struct sy_decode dec; /* its decode work left on ep */
};

/* Charges c (which must not be charged) to e: in-flight requests += 1, in-flight tokens += tokens
 * (< 0 counts as 0), then the decode budget of max_tokens (< 0: not given) over `choices`
 * sequences (sy_decode_begin). */
void sy_pool_charge(struct sy_charge *c, struct sy_endpoint *e, int64_t tokens, int64_t max_tokens,
                    int64_t choices);
/* Whether an endpoint with `cur` in flight (requests or tokens) can take `d` more under the bound
 * `cap` (> 0): the sum stays within cap, or it holds none, or the request alone is larger than
 * the whole bound and the endpoint is below it (llm-d's rule for every request: overshoot by at
 * most one request per endpoint; waiting for an idle endpoint would starve it under steady load).
 * For requests (d = 1) this is cur < cap, llm-d's filter rule; for tokens it counts the request's
 * own tokens, so the bound is never exceeded except by one request that is larger than it. */
static inline bool sy_inflight_fits(int64_t cur, int64_t d, int64_t cap)
{
    return cur <= 0 || (cur < cap && (d <= cap - cur || d > cap));
}

/* As sy_pool_charge, but only while e can take the request under the in-flight bounds the
 * scheduler's filters chose it under (concurrency-detector: sy_sched_result's cap_requests /
 * cap_tokens; <= 0 = no bound; sy_inflight_fits: a request slot below cap_requests, the request's
 * tokens within cap_tokens): reserved atomically (compare-and-swap of the in-flight count, then of
 * the in-flight tokens), so two workers that both saw room for one more on an endpoint cannot both
 * take it. Returns false, charging nothing, when e has no room now; true when c is charged. */
bool sy_pool_charge_within(struct sy_charge *c, struct sy_endpoint *e, int64_t tokens,
                           int64_t max_tokens, int64_t choices, int64_t cap_requests,
                           int64_t cap_tokens);
/* Releases up to `tokens` of c's in-flight tokens while the request stays in flight (llm-d's
 * inflight-load-producer frees the prompt tokens at the first response chunk). No-op when c is not
 * charged or tokens <= 0. */
void sy_pool_charge_release_tokens(struct sy_charge *c, int64_t tokens);
/* Ends c (a no-op when not charged, so a second call is harmless): releases the decode work first,
 * then the in-flight count and the tokens it still holds. The count's subtraction is a release and
 * sy_endpoint_read loads the count with acquire before the decode counters, so a reader that sees
 * the count gone sees the decode work gone too (never the finished request's share without its
 * count); one that still sees the count errs towards busier.
 * completion_tokens >= 0 feeds the endpoint's mean output length (sy_decode_end), < 0 does not. */
void sy_pool_discharge(struct sy_charge *c, int64_t completion_tokens);

/* In-flight accounting: call add on forward and sub with the same numbers on every exit. Requests
 * use sy_pool_charge / sy_pool_discharge; these are the raw counters (the P/D prefill leg). */
void sy_endpoint_inflight_add(struct sy_endpoint *e, int64_t tokens);
void sy_endpoint_inflight_sub(struct sy_endpoint *e, int64_t tokens);
/* sy_endpoint_inflight_add only while e has room under the bounds (<= 0 = none; the reservation of
 * sy_pool_charge_within, which is this plus the decode budget). Returns false, adding nothing,
 * when e has no room now (the P/D prefill leg's reservation). */
bool sy_endpoint_inflight_add_within(struct sy_endpoint *e, int64_t tokens, int64_t cap_requests,
                                     int64_t cap_tokens);
/* Releases tokens of a request still in flight (its request count stays): llm-d's
 * inflight-load-producer frees the prompt tokens at the first response chunk. The final sub then
 * passes the remainder. */
void sy_endpoint_inflight_tokens_sub(struct sy_endpoint *e, int64_t tokens);

#endif
