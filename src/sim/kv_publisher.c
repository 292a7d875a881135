/* kv_publisher.c - vLLM KV-cache events over ZMQ PUB (+ optional replay ROUTER).
 *
 * Shape of one message (vllm/distributed/kv_events.py, ZmqEventPublisher):
 *
 *   frame 0  topic        "kv@<host:port>@<model>"
 *   frame 1  seq          uint64 big-endian, 0, 1, 2, ... per publisher
 *   frame 2  payload      msgpack [ts:float64, [event, ...], dp_rank:int]
 *
 *   array form  ["BlockStored", [hash..], parent|nil, [tok..], block_size, nil, "GPU", nil]
 *               ["BlockRemoved", [hash..], "GPU"]          ["AllBlocksCleared"]
 *   map form    {"type":"BlockStored","block_hashes":..,"parent_block_hash":..,"token_ids":..,
 *                "block_size":..,"lora_id":nil,"medium":"GPU","lora_name":nil}  (and so on)
 *
 * msgspec omits only trailing defaulted fields in the array form, so a BlockStored array has the
 * eight fields up to lora_name; in the map form fields without defaults are always present, even
 * as nil. Hashes are sent as ints (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1 default), in the
 * smallest msgpack int encoding.
 *
 * Events of one engine step accumulate in `events` (already encoded) and are sent as one batch
 * at the step's end, as vLLM publishes once per step. zmq_send on a PUB socket never blocks (it
 * drops at the high-water mark), so publishing runs on the loop thread.
 *
 * Replay: the last SY_SIM_KV_REPLAY_BATCHES payloads are kept in a ring. The ROUTER's ZMQ_FD is
 * watched with a uv_poll (edge-triggered: drained until ZMQ_EVENTS has no POLLIN); a request
 * [id, "", start_seq(8)] is answered with [id, "", topic, seq, payload] for every kept batch with
 * seq >= start_seq and the end marker [id, "", "", 0xFF..FF, ""] (vLLM >= v0.26 framing).
 *
 * The encoder is hand-written (a few msgpack headers) rather than msgpack-c's packer so that
 * the bytes are easy to audit against the reference and the hot path appends to one buffer.
 */
#include "sim/kv_publisher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

/* ---- msgpack ----------------------------------------------------------------------------- */

static void mp_byte(struct sy_buf *b, uint8_t v)
{
    sy_buf_append(b, &v, 1);
}

static void mp_be(struct sy_buf *b, uint64_t v, int nbytes)
{
    uint8_t t[8];
    for (int i = 0; i < nbytes; i++)
        t[i] = (uint8_t)(v >> (8 * (nbytes - 1 - i)));
    sy_buf_append(b, t, (size_t)nbytes);
}

static void mp_uint(struct sy_buf *b, uint64_t v)
{
    if (v < 128) {
        mp_byte(b, (uint8_t)v);
    } else if (v <= 0xff) {
        mp_byte(b, 0xcc), mp_be(b, v, 1);
    } else if (v <= 0xffff) {
        mp_byte(b, 0xcd), mp_be(b, v, 2);
    } else if (v <= 0xffffffffULL) {
        mp_byte(b, 0xce), mp_be(b, v, 4);
    } else {
        mp_byte(b, 0xcf), mp_be(b, v, 8);
    }
}

static void mp_array(struct sy_buf *b, size_t n)
{
    if (n < 16)
        mp_byte(b, (uint8_t)(0x90 | n));
    else if (n <= 0xffff)
        mp_byte(b, 0xdc), mp_be(b, n, 2);
    else
        mp_byte(b, 0xdd), mp_be(b, n, 4);
}

static void mp_map(struct sy_buf *b, size_t n)
{
    if (n < 16)
        mp_byte(b, (uint8_t)(0x80 | n));
    else
        mp_byte(b, 0xde), mp_be(b, n, 2);
}

static void mp_str(struct sy_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n < 32)
        mp_byte(b, (uint8_t)(0xa0 | n));
    else if (n <= 0xff)
        mp_byte(b, 0xd9), mp_be(b, n, 1);
    else if (n <= 0xffff)
        mp_byte(b, 0xda), mp_be(b, n, 2);
    else
        mp_byte(b, 0xdb), mp_be(b, n, 4);
    sy_buf_append(b, s, n);
}

static void mp_nil(struct sy_buf *b)
{
    mp_byte(b, 0xc0);
}

static void mp_double(struct sy_buf *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    mp_byte(b, 0xcb);
    mp_be(b, u, 8);
}

static void mp_hashes(struct sy_buf *b, const uint64_t *h, size_t n)
{
    mp_array(b, n);
    for (size_t i = 0; i < n; i++)
        mp_uint(b, h[i]);
}

void sy_sim_kv_encode_event(struct sy_buf *b, const struct sy_sim_kv_event *ev, bool map)
{
    switch (ev->kind) {
    case SY_SIM_KV_STORED:
        if (map) {
            mp_map(b, 8);
            mp_str(b, "type");
            mp_str(b, "BlockStored");
            mp_str(b, "block_hashes");
        } else {
            mp_array(b, 8);
            mp_str(b, "BlockStored");
        }
        mp_hashes(b, ev->hashes, ev->nhashes);
        if (map)
            mp_str(b, "parent_block_hash");
        if (ev->has_parent)
            mp_uint(b, ev->parent);
        else
            mp_nil(b);
        if (map)
            mp_str(b, "token_ids");
        mp_array(b, ev->ntokens);
        for (size_t i = 0; i < ev->ntokens; i++)
            mp_uint(b, ev->tokens[i]);
        if (map)
            mp_str(b, "block_size");
        mp_uint(b, ev->block_size);
        if (map)
            mp_str(b, "lora_id");
        mp_nil(b);
        if (map)
            mp_str(b, "medium");
        mp_str(b, "GPU");
        if (map)
            mp_str(b, "lora_name");
        mp_nil(b);
        break;
    case SY_SIM_KV_REMOVED:
        if (map) {
            mp_map(b, 3);
            mp_str(b, "type");
            mp_str(b, "BlockRemoved");
            mp_str(b, "block_hashes");
        } else {
            mp_array(b, 3);
            mp_str(b, "BlockRemoved");
        }
        mp_hashes(b, ev->hashes, ev->nhashes);
        if (map)
            mp_str(b, "medium");
        mp_str(b, "GPU");
        break;
    case SY_SIM_KV_CLEARED:
        if (map) {
            mp_map(b, 1);
            mp_str(b, "type");
        } else {
            mp_array(b, 1);
        }
        mp_str(b, "AllBlocksCleared");
        break;
    }
}

void sy_sim_kv_encode_batch(struct sy_buf *out, double ts, const void *events, size_t events_len,
                            size_t nevents, int dp_rank)
{
    mp_array(out, 3);
    mp_double(out, ts);
    mp_array(out, nevents);
    sy_buf_append(out, events, events_len);
    mp_uint(out, dp_rank < 0 ? 0 : (uint64_t)dp_rank);
}

/* ---- publisher --------------------------------------------------------------------------- */

struct kept {
    uint64_t seq;  /* its sequence number */
    char *payload; /* owned msgpack bytes */
    size_t len;    /* their length */
};

struct sy_sim_kvpub {
    void *pub;            /* ZMQ PUB socket */
    void *router;         /* ZMQ ROUTER for replay, or NULL */
    uv_poll_t poll;       /* watches the ROUTER's ZMQ_FD */
    bool polling;         /* poll handle initialised */
    char *topic;          /* frame 0 */
    bool map_format;      /* event encoding */
    int dp_rank;          /* batch field */
    uint64_t seq;         /* next sequence number */
    struct sy_buf events; /* encoded events of the batch being built */
    size_t nevents;       /* their count */
    struct kept *ring;    /* replay buffer (NULL without replay) */
    size_t ring_head;     /* index of the oldest kept batch */
    size_t ring_n;        /* kept batches */
};

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void replay_serve(struct sy_sim_kvpub *p)
{
    for (;;) {
        zmq_msg_t parts[4];
        int n = 0;
        bool ok = true;
        for (;;) {
            if (n == 4) { /* too many frames: drain and drop */
                zmq_msg_t junk;
                zmq_msg_init(&junk);
                int more = 0;
                do {
                    if (zmq_msg_recv(&junk, p->router, ZMQ_DONTWAIT) < 0)
                        break;
                    more = zmq_msg_more(&junk);
                } while (more);
                zmq_msg_close(&junk);
                ok = false;
                break;
            }
            zmq_msg_init(&parts[n]);
            if (zmq_msg_recv(&parts[n], p->router, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&parts[n]);
                if (n == 0)
                    return; /* nothing (more) to read */
                ok = false;
                break;
            }
            n++;
            if (!zmq_msg_more(&parts[n - 1]))
                break;
        }
        /* [identity, "", start_seq(8)] */
        if (ok && (n != 3 || zmq_msg_size(&parts[1]) != 0 || zmq_msg_size(&parts[2]) != 8))
            ok = false;
        if (ok) {
            const uint8_t *s = zmq_msg_data(&parts[2]);
            uint64_t start = 0;
            for (int i = 0; i < 8; i++)
                start = start << 8 | s[i];
            const void *id = zmq_msg_data(&parts[0]);
            size_t idlen = zmq_msg_size(&parts[0]);
            for (size_t k = 0; k < p->ring_n; k++) {
                struct kept *kb = &p->ring[(p->ring_head + k) % SY_SIM_KV_REPLAY_BATCHES];
                if (kb->seq < start)
                    continue;
                uint8_t seqb[8];
                be64(seqb, kb->seq);
                zmq_send(p->router, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(p->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(p->router, p->topic, strlen(p->topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(p->router, seqb, 8, ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(p->router, kb->payload, kb->len, ZMQ_DONTWAIT);
            }
            uint8_t end[8];
            be64(end, UINT64_MAX);
            zmq_send(p->router, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send(p->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send(p->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send(p->router, end, 8, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send(p->router, "", 0, ZMQ_DONTWAIT);
        } else {
            sy_warn("kv-events replay: ignoring a malformed request (%d frames)", n);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
}

static void on_router_poll(uv_poll_t *h, int status, int events)
{
    struct sy_sim_kvpub *p = h->data;
    /* ZMQ_FD is edge-triggered: keep serving while ZMQ_EVENTS reports input */
    for (int guard = 0; guard < 1000; guard++) {
        int ev = 0;
        size_t len = sizeof ev;
        if (zmq_getsockopt(p->router, ZMQ_EVENTS, &ev, &len) != 0 || !(ev & ZMQ_POLLIN))
            return;
        replay_serve(p);
    }
}

struct sy_sim_kvpub *sy_sim_kvpub_new(uv_loop_t *loop, void *zctx,
                                      const struct sy_sim_kvpub_opts *o, char *err, size_t errcap)
{
    struct sy_sim_kvpub *p = SY_NEW(struct sy_sim_kvpub);
    p->topic = sy_xstrdup(o->topic ? o->topic : "");
    p->map_format = o->map_format;
    p->dp_rank = o->dp_rank;
    sy_buf_init(&p->events);
    p->pub = zmq_socket(zctx, ZMQ_PUB);
    if (!p->pub) {
        snprintf(err, errcap, "kv-events: zmq_socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    int hwm = 100000, linger = 0;
    zmq_setsockopt(p->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(p->pub, ZMQ_LINGER, &linger, sizeof linger);
    int rc = o->connect ? zmq_connect(p->pub, o->endpoint) : zmq_bind(p->pub, o->endpoint);
    if (rc != 0) {
        snprintf(err, errcap, "kv-events: cannot %s %s: %s", o->connect ? "connect" : "bind",
                 o->endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (o->replay) {
        p->router = zmq_socket(zctx, ZMQ_ROUTER);
        if (!p->router) {
            snprintf(err, errcap, "kv-events replay: zmq_socket: %s", zmq_strerror(zmq_errno()));
            goto fail;
        }
        zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_bind(p->router, o->replay) != 0) {
            snprintf(err, errcap, "kv-events replay: cannot bind %s: %s", o->replay,
                     zmq_strerror(zmq_errno()));
            goto fail;
        }
        p->ring = sy_xcalloc(SY_SIM_KV_REPLAY_BATCHES, sizeof *p->ring);
        int fd = -1;
        size_t len = sizeof fd;
        if (zmq_getsockopt(p->router, ZMQ_FD, &fd, &len) != 0 ||
            uv_poll_init(loop, &p->poll, fd) != 0) {
            snprintf(err, errcap, "kv-events replay: cannot watch the socket");
            goto fail;
        }
        p->polling = true;
        p->poll.data = p;
        uv_poll_start(&p->poll, UV_READABLE, on_router_poll);
    }
    return p;
fail:
    if (p->pub)
        zmq_close(p->pub);
    if (p->router)
        zmq_close(p->router);
    free(p->ring);
    free(p->topic);
    free(p);
    return NULL;
}

void sy_sim_kvpub_add(struct sy_sim_kvpub *p, const struct sy_sim_kv_event *ev)
{
    sy_sim_kv_encode_event(&p->events, ev, p->map_format);
    p->nevents++;
}

void sy_sim_kvpub_flush(struct sy_sim_kvpub *p, double ts)
{
    if (p->nevents == 0)
        return;
    struct sy_buf payload;
    sy_buf_init(&payload);
    sy_sim_kv_encode_batch(&payload, ts, p->events.data, p->events.len, p->nevents, p->dp_rank);
    sy_buf_reset(&p->events);
    p->nevents = 0;
    uint8_t seqb[8];
    be64(seqb, p->seq);
    zmq_send(p->pub, p->topic, strlen(p->topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(p->pub, seqb, 8, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(p->pub, payload.data, payload.len, ZMQ_DONTWAIT);
    if (p->ring) {
        struct kept *kb;
        if (p->ring_n == SY_SIM_KV_REPLAY_BATCHES) {
            kb = &p->ring[p->ring_head];
            free(kb->payload);
            p->ring_head = (p->ring_head + 1) % SY_SIM_KV_REPLAY_BATCHES;
        } else {
            kb = &p->ring[(p->ring_head + p->ring_n) % SY_SIM_KV_REPLAY_BATCHES];
            p->ring_n++;
        }
        kb->seq = p->seq;
        kb->payload = sy_buf_steal(&payload, &kb->len);
    }
    sy_buf_fini(&payload);
    p->seq++;
}

uint64_t sy_sim_kvpub_seq(const struct sy_sim_kvpub *p)
{
    return p->seq;
}

static void free_pub(struct sy_sim_kvpub *p)
{
    if (p->ring) {
        for (size_t k = 0; k < p->ring_n; k++)
            free(p->ring[(p->ring_head + k) % SY_SIM_KV_REPLAY_BATCHES].payload);
        free(p->ring);
    }
    sy_buf_fini(&p->events);
    free(p->topic);
    free(p);
}

static void on_poll_closed(uv_handle_t *h)
{
    free_pub(h->data);
}

void sy_sim_kvpub_close(struct sy_sim_kvpub *p)
{
    if (!p)
        return;
    zmq_close(p->pub);
    if (p->polling) {
        uv_poll_stop(&p->poll);
        zmq_close(p->router); /* safe: the poll was stopped first, as libuv requires */
        uv_close((uv_handle_t *)&p->poll, on_poll_closed);
        return;
    }
    if (p->router)
        zmq_close(p->router);
    free_pub(p);
}
