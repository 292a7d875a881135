/* Unit tests for src/sim/kv_publisher.c: vLLM KV-event encoding (hand-computed bytes, both
 * encodings), and a ZMQ subscriber decoding what a publisher driven by a real engine sends,
 * including the replay ROUTER. Decoding uses msgpack-c, independent of the hand-written encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <zmq.h>

#include "core/buf.h"
#include "sim/engine.h"
#include "sim/kv_publisher.h"

static void test_encode_array_bytes(void **state)
{
    uint64_t h = 1;
    uint32_t toks[2] = {1, 300};
    struct sy_sim_kv_event ev = {.kind = SY_SIM_KV_STORED,
                                 .hashes = &h,
                                 .nhashes = 1,
                                 .tokens = toks,
                                 .ntokens = 2,
                                 .block_size = 2};
    struct sy_buf b;
    sy_buf_init(&b);
    sy_sim_kv_encode_event(&b, &ev, false);
    static const uint8_t want[] = {0x98, 0xab, 'B',  'l',  'o',  'c',  'k',  'S',  't',  'o',
                                   'r',  'e',  'd',  0x91, 0x01, 0xc0, 0x92, 0x01, 0xcd, 0x01,
                                   0x2c, 0x02, 0xc0, 0xa3, 'G',  'P',  'U',  0xc0};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);

    /* a hash above 2^63 is a uint64 (0xcf); a parent is an int */
    sy_buf_reset(&b);
    uint64_t big = 0xdb0e1e2b3c4d5e6fULL;
    ev.hashes = &big;
    ev.has_parent = true;
    ev.parent = 0x1234;
    sy_sim_kv_encode_event(&b, &ev, false);
    static const uint8_t head[] = {0x91, 0xcf, 0xdb, 0x0e, 0x1e, 0x2b, 0x3c,
                                   0x4d, 0x5e, 0x6f, 0xcd, 0x12, 0x34};
    assert_memory_equal(b.data + 13, head, sizeof head);

    sy_buf_reset(&b);
    struct sy_sim_kv_event rm = {.kind = SY_SIM_KV_REMOVED, .hashes = &h, .nhashes = 1};
    sy_sim_kv_encode_event(&b, &rm, false);
    static const uint8_t want_rm[] = {0x93, 0xac, 'B', 'l', 'o',  'c',  'k',  'R', 'e', 'm',
                                      'o',  'v',  'e', 'd', 0x91, 0x01, 0xa3, 'G', 'P', 'U'};
    assert_int_equal(b.len, sizeof want_rm);
    assert_memory_equal(b.data, want_rm, sizeof want_rm);

    sy_buf_reset(&b);
    struct sy_sim_kv_event clr = {.kind = SY_SIM_KV_CLEARED};
    sy_sim_kv_encode_event(&b, &clr, false);
    assert_int_equal(b.len, 18);
    assert_int_equal((uint8_t)b.data[0], 0x91);
    assert_memory_equal(b.data + 2, "AllBlocksCleared", 16);

    /* batch: [ts float64, [events], dp_rank] */
    struct sy_buf out;
    sy_buf_init(&out);
    sy_sim_kv_encode_batch(&out, 1.5, b.data, b.len, 1, 3);
    static const uint8_t bh[] = {0x93, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x91};
    assert_memory_equal(out.data, bh, sizeof bh);
    assert_int_equal((uint8_t)out.data[out.len - 1], 0x03);
    assert_int_equal(out.len, sizeof bh + b.len + 1);
    sy_buf_fini(&out);
    sy_buf_fini(&b);
}

/* ---- decoding helpers (msgpack-c) -------------------------------------------------------- */

static const msgpack_object *map_get(const msgpack_object *m, const char *key)
{
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

struct decoded {
    char type[32];       /* event tag */
    uint64_t hashes[64]; /* block_hashes */
    size_t nhashes;
    bool has_parent;
    uint64_t parent;
    size_t ntokens;
    uint64_t block_size;
    char medium[8];
    bool lora_nil; /* lora_id and lora_name are nil */
};

/* Normalises an event (array or map form) like llm-d's vllm_adapter does. */
static void decode_event(const msgpack_object *o, bool map, struct decoded *d)
{
    memset(d, 0, sizeof *d);
    const msgpack_object *f[8] = {0};
    static const char *const names[] = {"type",      "block_hashes", "parent_block_hash",
                                        "token_ids", "block_size",   "lora_id",
                                        "medium",    "lora_name"};
    if (map) {
        assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
        for (int i = 0; i < 8; i++)
            f[i] = map_get(o, names[i]);
    } else {
        assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
        for (uint32_t i = 0; i < o->via.array.size && i < 8; i++)
            f[i] = &o->via.array.ptr[i];
    }
    assert_non_null(f[0]);
    assert_int_equal(f[0]->type, MSGPACK_OBJECT_STR);
    memcpy(d->type, f[0]->via.str.ptr, f[0]->via.str.size);
    if (strcmp(d->type, "BlockRemoved") == 0 && !map) {
        f[6] = o->via.array.size > 2 ? &o->via.array.ptr[2] : NULL; /* [tag, hashes, medium] */
        f[2] = f[3] = f[4] = f[5] = f[7] = NULL;
    }
    if (f[1]) {
        assert_int_equal(f[1]->type, MSGPACK_OBJECT_ARRAY);
        for (uint32_t i = 0; i < f[1]->via.array.size; i++) {
            assert_int_equal(f[1]->via.array.ptr[i].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
            d->hashes[d->nhashes++] = f[1]->via.array.ptr[i].via.u64;
        }
    }
    if (f[2] && f[2]->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        d->has_parent = true;
        d->parent = f[2]->via.u64;
    }
    if (f[3])
        d->ntokens = f[3]->via.array.size;
    if (f[4])
        d->block_size = f[4]->via.u64;
    if (f[6] && f[6]->type == MSGPACK_OBJECT_STR)
        memcpy(d->medium, f[6]->via.str.ptr, f[6]->via.str.size < 7 ? f[6]->via.str.size : 7);
    d->lora_nil =
        f[5] && f[5]->type == MSGPACK_OBJECT_NIL && f[7] && f[7]->type == MSGPACK_OBJECT_NIL;
}

static void test_encode_map_decodes(void **state)
{
    uint64_t hs[2] = {0xfedcba9876543210ULL, 7};
    uint32_t toks[32];
    for (int i = 0; i < 32; i++)
        toks[i] = (uint32_t)i * 1000;
    struct sy_sim_kv_event ev = {.kind = SY_SIM_KV_STORED,
                                 .hashes = hs,
                                 .nhashes = 2,
                                 .has_parent = true,
                                 .parent = 99,
                                 .tokens = toks,
                                 .ntokens = 32,
                                 .block_size = 16};
    for (int map = 0; map < 2; map++) {
        struct sy_buf b;
        sy_buf_init(&b);
        sy_sim_kv_encode_event(&b, &ev, map);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(&u, b.data, b.len, &off), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, b.len);
        struct decoded d;
        decode_event(&u.data, map, &d);
        assert_string_equal(d.type, "BlockStored");
        assert_int_equal(d.nhashes, 2);
        assert_true(d.hashes[0] == 0xfedcba9876543210ULL);
        assert_true(d.has_parent && d.parent == 99);
        assert_int_equal(d.ntokens, 32);
        assert_int_equal(d.block_size, 16);
        assert_string_equal(d.medium, "GPU");
        assert_true(d.lora_nil);
        if (map) /* all eight fields present, nil ones too */
            assert_int_equal(u.data.via.map.size, 8);
        else
            assert_int_equal(u.data.via.array.size, 8);
        msgpack_unpacked_destroy(&u);
        sy_buf_fini(&b);
    }
}

/* ---- end to end over ZMQ ----------------------------------------------------------------- */

struct pubctx {
    struct sy_sim_kvpub *pub; /* publisher fed by the engine */
    uint64_t stored[4096];    /* hashes reported by the engine, in order */
    size_t nstored;
    size_t nremoved; /* removed hashes reported by the engine */
    size_t batches;  /* non-empty steps */
    bool step_had_events;
};

static void on_kv(void *ud, const struct sy_sim_kv_event *ev)
{
    struct pubctx *c = ud;
    sy_sim_kvpub_add(c->pub, ev);
    c->step_had_events = true;
    if (ev->kind == SY_SIM_KV_STORED)
        for (size_t i = 0; i < ev->nhashes; i++)
            c->stored[c->nstored++] = ev->hashes[i];
    if (ev->kind == SY_SIM_KV_REMOVED)
        c->nremoved += ev->nhashes;
}

static void on_step_end(void *ud, uint64_t now)
{
    struct pubctx *c = ud;
    if (c->step_had_events)
        c->batches++;
    c->step_had_events = false;
    sy_sim_kvpub_flush(c->pub, 1000.0 + (double)now / 1e9);
}

struct received {
    size_t batches;        /* messages */
    uint64_t next_seq;     /* expected seq */
    uint64_t stored[4096]; /* BlockStored hashes, in order */
    size_t nstored;
    size_t nremoved;
    size_t ncleared;
};

static void check_batch(const void *payload, size_t len, bool map, struct received *r)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, payload, len, &off), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *o = &u.data;
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, 3);
    assert_int_equal(o->via.array.ptr[0].type, MSGPACK_OBJECT_FLOAT64);
    assert_true(o->via.array.ptr[0].via.f64 >= 1000.0);
    assert_int_equal(o->via.array.ptr[2].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(o->via.array.ptr[2].via.u64, 5); /* dp_rank */
    const msgpack_object *evs = &o->via.array.ptr[1];
    assert_int_equal(evs->type, MSGPACK_OBJECT_ARRAY);
    assert_true(evs->via.array.size > 0);
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        struct decoded d;
        decode_event(&evs->via.array.ptr[i], map, &d);
        if (strcmp(d.type, "BlockStored") == 0) {
            assert_int_equal(d.ntokens, d.nhashes * d.block_size);
            assert_int_equal(d.block_size, 4);
            for (size_t k = 0; k < d.nhashes; k++)
                r->stored[r->nstored++] = d.hashes[k];
        } else if (strcmp(d.type, "BlockRemoved") == 0) {
            assert_string_equal(d.medium, "GPU");
            r->nremoved += d.nhashes;
        } else {
            assert_string_equal(d.type, "AllBlocksCleared");
            r->ncleared++;
        }
    }
    msgpack_unpacked_destroy(&u);
}

/* Receives one 3-frame message (waiting up to ms); false on timeout. */
static bool recv_msg(void *sock, zmq_msg_t f[3], int *nframes, int ms)
{
    zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
    if (zmq_poll(&it, 1, ms) <= 0)
        return false;
    *nframes = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, sock, 0) >= 0);
        int more = zmq_msg_more(&m);
        if (*nframes < 3) {
            zmq_msg_init(&f[*nframes]);
            zmq_msg_move(&f[*nframes], &m);
        }
        (*nframes)++;
        zmq_msg_close(&m);
        if (!more)
            break;
    }
    return true;
}

static uint64_t be64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

static void run_e2e(bool map, const char *ep, const char *replay_ep)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    void *zctx = zmq_ctx_new();
    struct pubctx pc = {0};
    char err[256];
    struct sy_sim_kvpub_opts o = {.endpoint = ep,
                                  .replay = replay_ep,
                                  .topic = "kv@127.0.0.1:8005@Qwen/Qwen3-32B",
                                  .map_format = map,
                                  .dp_rank = 5};
    pc.pub = sy_sim_kvpub_new(&loop, zctx, &o, err, sizeof err);
    assert_non_null(pc.pub);
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    assert_int_equal(zmq_connect(sub, ep), 0);
    assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "kv@", 3), 0);
    /* let the subscription reach the publisher (PUB drops until it has) */
    zmq_pollitem_t none = {.socket = sub, .events = ZMQ_POLLIN};
    zmq_poll(&none, 1, 200);

    /* an engine small enough to evict: 12 blocks of 4 tokens */
    struct sy_sim_profile p = {.name = "t",
                               .num_gpu_blocks = 12,
                               .block_size = 4,
                               .max_num_seqs = 4,
                               .max_num_batched_tokens = 64,
                               .max_model_len = 48,
                               .step_base_us = 1000};
    struct sy_sim_engine_cbs cbs = {.on_kv = on_kv, .on_step_end = on_step_end, .ud = &pc};
    struct sy_sim_engine *e = sy_sim_engine_new(&p, 1, &cbs);
    uint32_t t[24];
    uint64_t now = 0;
    for (int r = 0; r < 6; r++) {
        for (int i = 0; i < 24; i++)
            t[i] = (uint32_t)(r * 100 + i);
        assert_non_null(sy_sim_engine_submit(e, t, 24, 4, NULL, now));
        sy_sim_engine_advance(e, now);
        uint64_t n;
        while ((n = sy_sim_engine_next_ns(e)) != UINT64_MAX)
            sy_sim_engine_advance(e, now = n);
    }
    assert_int_equal(sy_sim_engine_reset_cache(e), 0);
    sy_sim_kvpub_flush(pc.pub, 2000.0); /* the reset happened outside a step */
    pc.batches++;
    assert_true(pc.nremoved > 0);

    struct received rx = {0};
    zmq_msg_t f[3];
    int nf;
    while (recv_msg(sub, f, &nf, 500)) {
        assert_int_equal(nf, 3);
        assert_int_equal(zmq_msg_size(&f[0]), strlen(o.topic));
        assert_memory_equal(zmq_msg_data(&f[0]), o.topic, strlen(o.topic));
        assert_int_equal(zmq_msg_size(&f[1]), 8);
        assert_int_equal(be64(zmq_msg_data(&f[1])), rx.next_seq); /* from 0, no gaps */
        rx.next_seq++;
        check_batch(zmq_msg_data(&f[2]), zmq_msg_size(&f[2]), map, &rx);
        rx.batches++;
        for (int i = 0; i < 3; i++)
            zmq_msg_close(&f[i]);
        if (rx.batches == pc.batches)
            break;
    }
    assert_int_equal(rx.batches, pc.batches);
    assert_int_equal(sy_sim_kvpub_seq(pc.pub), pc.batches);
    assert_int_equal(rx.nstored, pc.nstored);
    assert_memory_equal(rx.stored, pc.stored, pc.nstored * sizeof(uint64_t));
    assert_int_equal(rx.nremoved, pc.nremoved);
    assert_int_equal(rx.ncleared, 1);

    if (replay_ep) {
        void *dealer = zmq_socket(zctx, ZMQ_DEALER);
        assert_int_equal(zmq_connect(dealer, replay_ep), 0);
        uint8_t start[8] = {0, 0, 0, 0, 0, 0, 0, 2}; /* from seq 2 */
        zmq_send(dealer, "", 0, ZMQ_SNDMORE);
        zmq_send(dealer, start, 8, 0);
        /* also a malformed request, which must be ignored */
        zmq_send(dealer, "junk", 4, 0);
        uint64_t want = 2;
        bool ended = false;
        for (int guard = 0; guard < 100000 && !ended; guard++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            zmq_pollitem_t it = {.socket = dealer, .events = ZMQ_POLLIN};
            if (zmq_poll(&it, 1, 5) <= 0)
                continue;
            /* ["", topic, seq, payload] or end ["", "", FF.., ""] */
            zmq_msg_t m[5];
            int n = 0;
            for (;;) {
                zmq_msg_init(&m[n]);
                assert_true(zmq_msg_recv(&m[n], dealer, 0) >= 0);
                n++;
                if (!zmq_msg_more(&m[n - 1]) || n == 5)
                    break;
            }
            assert_int_equal(n, 4);
            assert_int_equal(zmq_msg_size(&m[0]), 0);
            assert_int_equal(zmq_msg_size(&m[2]), 8);
            uint64_t seq = be64(zmq_msg_data(&m[2]));
            if (seq == UINT64_MAX) {
                assert_int_equal(zmq_msg_size(&m[1]), 0);
                assert_int_equal(zmq_msg_size(&m[3]), 0);
                ended = true;
            } else {
                assert_int_equal(seq, want);
                want++;
                assert_memory_equal(zmq_msg_data(&m[1]), o.topic, strlen(o.topic));
                struct received tmp = {0};
                check_batch(zmq_msg_data(&m[3]), zmq_msg_size(&m[3]), map, &tmp);
            }
            for (int i = 0; i < n; i++)
                zmq_msg_close(&m[i]);
        }
        assert_true(ended);
        assert_int_equal(want, pc.batches); /* every batch from 2 to the last */
        zmq_close(dealer);
    }

    zmq_close(sub);
    sy_sim_engine_free(e);
    sy_sim_kvpub_close(pc.pub);
    uv_run(&loop, UV_RUN_DEFAULT);
    zmq_ctx_term(zctx);
    uv_loop_close(&loop);
}

static void test_e2e_array(void **state)
{
    run_e2e(false, "inproc://h5-kv-array", NULL);
}

static void test_e2e_map_with_replay(void **state)
{
    run_e2e(true, "inproc://h5-kv-map", "inproc://h5-kv-map-replay");
}

static void test_bad_endpoint(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    void *zctx = zmq_ctx_new();
    char err[256] = "";
    struct sy_sim_kvpub_opts o = {.endpoint = "bogus://x", .topic = "kv@x@m"};
    assert_null(sy_sim_kvpub_new(&loop, zctx, &o, err, sizeof err));
    assert_non_null(strstr(err, "bogus://x"));
    zmq_ctx_term(zctx);
    uv_loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_array_bytes), cmocka_unit_test(test_encode_map_decodes),
        cmocka_unit_test(test_e2e_array),          cmocka_unit_test(test_e2e_map_with_replay),
        cmocka_unit_test(test_bad_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
