/* subscriber.h - the process-wide KV-event subscriber and the precise index it feeds.
 *
 * One background thread owns every ZMQ socket: a SUB per pool endpoint that has `kvEvents`
 * (per-endpoint mode, llm-d's pod discovery), and/or one bound SUB that publishers connect to
 * (kvEventsConfig.zmqEndpoint, llm-d's centralized mode). Decoded batches are applied to the
 * precise index (prefix/precise_index.h), which the scheduler plugins read from any worker.
 *
 * Lifecycle: the precise plugins acquire the index when a scheduler is built (starting the thread
 * the first time) and release it when the scheduler is freed; the gateway calls sy_kvevents_sync
 * after each config (re)load so per-endpoint subscriptions follow the pool.
 */
#ifndef SY_KVEVENTS_SUBSCRIBER_H
#define SY_KVEVENTS_SUBSCRIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sy_pool;
struct sy_precise_index;

#define SY_KVEVENTS_POLL_MS        100  /* subscriber loop tick (applies sync changes) */
#define SY_KVEVENTS_REPLAY_IDLE_MS 2000 /* replay: give up after this long without a reply */

struct sy_kvevents_opts {
    uint32_t block_tokens;    /* index block size (tokenProcessorConfig.blockSize) */
    const char *hash_seed;    /* tokenProcessorConfig.hashSeed ("" if unset) */
    size_t max_keys;          /* request keys kept (0 = default) */
    const char *bind;         /* kvEventsConfig.zmqEndpoint to bind a SUB on, or NULL */
    const char *topic_filter; /* kvEventsConfig.topicFilter ("kv@") */
    int replay_port_offset;   /* per-endpoint replay ROUTER at kvEvents port + this; 0 = none */
};

struct sy_kvevents_stats {
    uint64_t batches;   /* batches applied */
    uint64_t events;    /* events applied */
    uint64_t malformed; /* messages counted as malformed and skipped */
    uint64_t gaps;      /* sequence gaps seen */
    uint64_t restarts;  /* sequence decreases (publisher restarts) seen */
    uint64_t replays;   /* replay requests sent */
    uint64_t replayed;  /* batches applied from replays */
    uint64_t purges;    /* endpoint purges (gap without replay, restart, left the pool) */
    size_t sources;     /* per-endpoint subscriptions open */
};

/* Returns the process-wide index for these options, starting the subscriber thread if needed and
 * (re)binding opts->bind. A second acquire with the same block size, seed and bound shares the
 * index; different ones make a new index current (the old one lives until released). Returns NULL
 * with a message in err when the bind endpoint cannot be bound. Release once per acquire. */
struct sy_precise_index *sy_kvevents_acquire(const struct sy_kvevents_opts *opts, char *err,
                                             size_t errcap);
void sy_kvevents_release(struct sy_precise_index *idx);

/* Makes the per-endpoint subscriptions follow pool (idempotent): connects a SUB to the kvEvents
 * address of each new endpoint, closes those of endpoints gone (or whose address changed) and
 * purges their index entries; in bind mode, events from publishers not in the pool are ignored
 * from now on. Borrows pool (copies what it needs). Safe from any thread; no-op when no precise
 * plugin is configured (nothing acquired). */
void sy_kvevents_sync(const struct sy_pool *pool);

/* True when KV events can reach the precise index: a bound SUB (kvEventsConfig.zmqEndpoint) or at
 * least one endpoint of pool with kvEvents. Without either, a precise prefix-cache plugin scores
 * every endpoint 0 (the gateway warns). Borrows pool (may be NULL). */
bool sy_kvevents_has_source(const struct sy_pool *pool);

void sy_kvevents_stats(struct sy_kvevents_stats *out);

struct sy_buf;
/* Metrics collector (sy_metrics_collect_fn shape; ud unused): renders the counters above as
 * switchyard_kv_events_{batches,events,malformed,gaps,restarts,replays,replayed_batches,purges}_total,
 * switchyard_kv_events_sources (gauge) and switchyard_precise_index_keys /
 * switchyard_precise_index_engine_keys (gauges, current index). */
void sy_kvevents_metrics_collect(void *ud, struct sy_buf *out);

/* Stops the thread, closes every socket and frees all indexes (process exit, tests). */
void sy_kvevents_shutdown(void);

#endif
