/* kv_publisher.h - vLLM KV-cache events over ZMQ for one simulated replica.
 *
 * Wire format as vLLM's ZmqEventPublisher: a PUB socket sending three frames per batch (topic,
 * 8-byte big-endian sequence number from 0, msgpack KVEventBatch [ts, events, dp_rank]), one
 * batch per engine step that produced events. Events are BlockStored / BlockRemoved /
 * AllBlocksCleared as positional tagged arrays (vLLM <= v0.23) or tagged maps (PR #42892).
 * An optional ROUTER socket answers replay requests from a buffer of recent batches.
 *
 * Threading: a publisher belongs to its loop's thread.
 */
#ifndef SY_SIM_KV_PUBLISHER_H
#define SY_SIM_KV_PUBLISHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sim/engine.h"

struct sy_buf;

#define SY_SIM_KV_REPLAY_BATCHES 10000 /* batches kept for replay (vLLM buffer_steps) */

struct sy_sim_kvpub_opts {
    const char *endpoint; /* "tcp://HOST:PORT" for the PUB socket */
    bool connect;         /* dial the endpoint (central SUB binds) instead of binding it */
    const char *replay;   /* "tcp://HOST:PORT" for the replay ROUTER (bound), or NULL */
    const char *topic;    /* frame 0, e.g. "kv@127.0.0.1:8000@Qwen/Qwen3-32B" */
    bool map_format;      /* tagged maps instead of positional arrays */
    int dp_rank;          /* data_parallel_rank in each batch */
};

struct sy_sim_kvpub;

/* Creates the sockets (zctx is a ZMQ context the caller owns and outlives the publisher).
 * Returns NULL with a message in err. */
struct sy_sim_kvpub *sy_sim_kvpub_new(uv_loop_t *loop, void *zctx,
                                      const struct sy_sim_kvpub_opts *o, char *err, size_t errcap);
/* Adds an event to the batch being built (copied). */
void sy_sim_kvpub_add(struct sy_sim_kvpub *p, const struct sy_sim_kv_event *ev);
/* Publishes the batch being built, if it holds any event, stamped ts (wall seconds). */
void sy_sim_kvpub_flush(struct sy_sim_kvpub *p, double ts);
/* Batches published so far (= the next sequence number). */
uint64_t sy_sim_kvpub_seq(const struct sy_sim_kvpub *p);
/* Closes the sockets and frees the publisher once its poll handle has closed. */
void sy_sim_kvpub_close(struct sy_sim_kvpub *p);

/* Appends one event's msgpack encoding to out (array or map form). */
void sy_sim_kv_encode_event(struct sy_buf *out, const struct sy_sim_kv_event *ev, bool map);
/* Appends a whole KVEventBatch [ts, [events...], dp_rank] whose nevents already-encoded events
 * are the bytes events[0..events_len). */
void sy_sim_kv_encode_batch(struct sy_buf *out, double ts, const void *events, size_t events_len,
                            size_t nevents, int dp_rank);

#endif
