/* Unit tests for src/kvevents/decode.c: hand-built msgpack batches in both encodings (positional
 * arrays and tagged maps), 2- and 3-element batches, integer / negative / byte-string hashes,
 * nil and zero parents, unknown event types and fields, the simulator's encoder, topics and
 * sequence frames, and malformed input (truncation at every byte, wrong types, bounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "kvevents/decode.h"
#include "sim/kv_publisher.h"

/* Collected events (copies). */
struct got {
    int n;
    enum sy_kv_kind kind[8];
    uint64_t hashes[8][8];
    size_t nhashes[8];
    bool has_parent[8];
    uint64_t parent[8];
    uint32_t tokens[8][16];
    size_t ntokens[8];
    uint32_t block_size[8];
    char medium[8][8];
    char lora[8][16];
    bool has_group[8];
    int64_t group[8];
};

static int collect(void *ud, const struct sy_kv_event *ev)
{
    struct got *g = ud;
    int i = g->n++;
    g->kind[i] = ev->kind;
    g->nhashes[i] = ev->nhashes;
    for (size_t j = 0; j < ev->nhashes && j < 8; j++)
        g->hashes[i][j] = ev->hashes[j];
    g->has_parent[i] = ev->has_parent;
    g->parent[i] = ev->parent;
    g->ntokens[i] = ev->ntokens;
    for (size_t j = 0; j < ev->ntokens && j < 16; j++)
        g->tokens[i][j] = ev->tokens[j];
    g->block_size[i] = ev->block_size;
    snprintf(g->medium[i], sizeof g->medium[i], "%.*s", (int)ev->medium.len, ev->medium.p);
    snprintf(g->lora[i], sizeof g->lora[i], "%.*s", (int)ev->lora_name.len, ev->lora_name.p);
    g->has_group[i] = ev->has_group;
    g->group[i] = ev->group_idx;
    return 0;
}

static int decode(const uint8_t *p, size_t n, struct sy_kv_batch *b, struct got *g)
{
    struct sy_kv_decoder d;
    sy_kv_decoder_init(&d);
    memset(g, 0, sizeof *g);
    int rc = sy_kv_decode_batch(&d, p, n, b, collect, g);
    sy_kv_decoder_fini(&d);
    return rc;
}

/* [1.5, [["BlockStored", [0xcf..hash, 7], nil, [1,2,300,70000], 2, nil, "GPU", nil],
 *        ["BlockRemoved", [7], "CPU"], ["AllBlocksCleared"]], 0] */
static const uint8_t ARRAY_BATCH[] = {
    0x93, 0xcb, 0x3f, 0xf8, 0,    0,    0,    0,    0,    0,                    /* [ts=1.5 */
    0x93,                                                                       /* events: 3 */
    0x98, 0xab, 'B',  'l',  'o',  'c',  'k',  'S',  't',  'o',  'r',  'e', 'd', /* BlockStored, 8
                                                                                   elems */
    0x92, 0xcf, 0xda, 0xb7, 0x31, 0x45, 0x29, 0x6c, 0xd8, 0xc0, 0x07,           /* hashes */
    0xc0,                                                                       /* parent nil */
    0x94, 0x01, 0x02, 0xcd, 0x01, 0x2c, 0xce, 0x00, 0x01, 0x11, 0x70,           /* tokens */
    0x02,                                                                       /* block_size */
    0xc0,                                                                       /* lora_id */
    0xa3, 'G',  'P',  'U',                                                      /* medium */
    0xc0,                                                                       /* lora_name */
    0x93, 0xac, 'B',  'l',  'o',  'c',  'k',  'R',  'e',  'm',  'o',  'v', 'e', 'd',
    0x91, 0x07, 0xa3, 'C',  'P',  'U',  0x91, 0xb0, 'A',  'l',  'l',  'B', 'l', 'o',
    'c',  'k',  's',  'C',  'l',  'e',  'a',  'r',  'e',  'd',  0x00, /* dp_rank 0] */
};

static void test_array_batch(void **state)
{
    (void)state;
    struct sy_kv_batch b;
    struct got g;
    assert_int_equal(decode(ARRAY_BATCH, sizeof ARRAY_BATCH, &b, &g), 0);
    assert_true(b.ts == 1.5);
    assert_true(b.has_rank);
    assert_int_equal(b.dp_rank, 0);
    assert_int_equal(b.nevents, 3);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.kind[0], SY_KV_BLOCK_STORED);
    assert_int_equal(g.nhashes[0], 2);
    assert_true(g.hashes[0][0] == 0xdab73145296cd8c0ULL);
    assert_true(g.hashes[0][1] == 7);
    assert_false(g.has_parent[0]);
    assert_int_equal(g.ntokens[0], 4);
    assert_int_equal(g.tokens[0][0], 1);
    assert_int_equal(g.tokens[0][2], 300);
    assert_int_equal(g.tokens[0][3], 70000);
    assert_int_equal(g.block_size[0], 2);
    assert_string_equal(g.medium[0], "GPU");
    assert_string_equal(g.lora[0], "");
    assert_int_equal(g.kind[1], SY_KV_BLOCK_REMOVED);
    assert_int_equal(g.nhashes[1], 1);
    assert_true(g.hashes[1][0] == 7);
    assert_string_equal(g.medium[1], "CPU");
    assert_int_equal(g.kind[2], SY_KV_ALL_BLOCKS_CLEARED);
}

/* The same BlockStored as a tagged map, keys out of order, an unknown key, extra_keys and
 * group_idx, inside a 2-element batch [ts, events] (vLLM <= 0.9). Hash as bytes (32 B). */
static void test_map_batch(void **state)
{
    (void)state;
    uint8_t m[256];
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        const uint8_t t_[] = {__VA_ARGS__};                                                        \
        memcpy(m + n, t_, sizeof t_);                                                              \
        n += sizeof t_;                                                                            \
    } while (0)
#define PUTS(s)                                                                                    \
    do {                                                                                           \
        m[n++] = (uint8_t)(0xa0 | (sizeof(s) - 1));                                                \
        memcpy(m + n, s, sizeof(s) - 1);                                                           \
        n += sizeof(s) - 1;                                                                        \
    } while (0)
    PUT(0x92, 0xcb, 0x40, 0x00, 0, 0, 0, 0, 0, 0); /* [2.0, */
    PUT(0x91, 0x8a);                               /* [ {10 keys} */
    PUTS("token_ids");
    PUT(0x92, 0x05, 0x06);
    PUTS("type");
    PUTS("BlockStored");
    PUTS("block_hashes");
    PUT(0x91, 0xc4, 0x20);
    for (int i = 0; i < 24; i++)
        m[n++] = 0xee; /* ignored prefix of the digest */
    PUT(0, 0, 0, 0, 0, 0, 0x01, 0x02);
    PUTS("parent_block_hash");
    PUT(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe); /* int64 -2 -> cast */
    PUTS("block_size");
    PUT(0x02);
    PUTS("lora_id");
    PUT(0x03);
    PUTS("medium");
    PUTS("GPU");
    PUTS("lora_name");
    PUTS("sql-lora");
    PUTS("extra_keys");
    PUT(0x91, 0x92, 0xa1, 'x', 0x91, 0x92, 0x01, 0x02); /* [["x", [[1,2]]]] */
    PUTS("future_field");
    PUT(0x81, 0xa1, 'k', 0xc3);
    assert_true(n < sizeof m);
    struct sy_kv_batch b;
    struct got g;
    assert_int_equal(decode(m, n, &b, &g), 0);
    assert_true(b.ts == 2.0);
    assert_false(b.has_rank);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.kind[0], SY_KV_BLOCK_STORED);
    assert_int_equal(g.nhashes[0], 1);
    assert_true(g.hashes[0][0] == 0x0102);
    assert_true(g.has_parent[0]);
    assert_true(g.parent[0] == 0xfffffffffffffffeULL);
    assert_int_equal(g.ntokens[0], 2);
    assert_int_equal(g.tokens[0][1], 6);
    assert_string_equal(g.lora[0], "sql-lora");
    assert_string_equal(g.medium[0], "GPU");

    /* A map event without "type" is malformed. */
    uint8_t bad[] = {0x92, 0x00, 0x91, 0x81, 0xa6, 'm', 'e', 'd', 'i', 'u', 'm', 0xc0};
    assert_int_equal(decode(bad, sizeof bad, &b, &g), SY_EPARSE);
    /* Map BlockRemoved without block_hashes is malformed. */
    uint8_t bad2[] = {0x92, 0x00, 0x91, 0x81, 0xa4, 't', 'y', 'p', 'e', 0xac, 'B',
                      'l',  'o',  'c',  'k',  'R',  'e', 'm', 'o', 'v', 'e',  'd'};
    assert_int_equal(decode(bad2, sizeof bad2, &b, &g), SY_EPARSE);
}

/* Batch as a map (defensive: one vLLM copy drops array_like), unknown event type skipped, a short
 * hash byte string left-padded, parent 0 = root, group_idx present. */
static void test_map_outer_and_unknown(void **state)
{
    (void)state;
    const uint8_t m[] = {
        0x83, 0xa2, 't',  's',  0x05, /* ts: 5 (int) */
        0xb2, 'd',  'a',  't',  'a',  '_',  'p',  'a',  'r',  'a',  'l',  'l',  'e', 'l',
        '_',  'r',  'a',  'n',  'k',  0x03,                                     /* rank 3 */
        0xa6, 'e',  'v',  'e',  'n',  't',  's',  0x92,                         /* events: */
        0x92, 0xa9, 'N',  'e',  'w',  'E',  'v',  'e',  'n',  't',  'X',  0x01, /* unknown tag */
        0x9a, 0xab, 'B',  'l',  'o',  'c',  'k',  'S',  't',  'o',  'r',  'e',  'd', 0x91,
        0xc4, 0x02, 0xab, 0xcd, 0x00, 0x90, 0x10, 0xc0, 0xc0, 0xc0, 0xc0, 0x01, /* group_idx 1 */
    };
    struct sy_kv_batch b;
    struct got g;
    assert_int_equal(decode(m, sizeof m, &b, &g), 0);
    assert_true(b.ts == 5.0);
    assert_true(b.has_rank);
    assert_int_equal(b.dp_rank, 3);
    assert_int_equal(b.nevents, 2);
    assert_int_equal(g.n, 1);
    assert_true(g.hashes[0][0] == 0xabcd);
    assert_false(g.has_parent[0]); /* 0 parent = root */
    assert_int_equal(g.ntokens[0], 0);
    assert_int_equal(g.block_size[0], 16);
    assert_true(g.has_group[0]);
    assert_int_equal(g.group[0], 1);
    assert_string_equal(g.medium[0], "");
}

/* Every strict prefix of a valid batch is malformed, never a crash, and delivers nothing. */
static void test_truncation(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ARRAY_BATCH; i++) {
        uint8_t *p = malloc(i ? i : 1);
        memcpy(p, ARRAY_BATCH, i);
        struct sy_kv_batch b;
        struct got g;
        assert_int_equal(decode(p, i, &b, &g), SY_EPARSE);
        assert_int_equal(g.n, 0);
        free(p);
    }
    /* A trailing byte after the batch is malformed too. */
    uint8_t p[sizeof ARRAY_BATCH + 1];
    memcpy(p, ARRAY_BATCH, sizeof ARRAY_BATCH);
    p[sizeof ARRAY_BATCH] = 0xc0;
    struct sy_kv_batch b;
    struct got g;
    assert_int_equal(decode(p, sizeof p, &b, &g), SY_EPARSE);
}

static void test_malformed(void **state)
{
    (void)state;
    struct sy_kv_batch b;
    struct got g;
    /* not an array or map */
    const uint8_t a[] = {0xc0};
    assert_int_equal(decode(a, sizeof a, &b, &g), SY_EPARSE);
    /* one-element batch */
    const uint8_t b1[] = {0x91, 0x00};
    assert_int_equal(decode(b1, sizeof b1, &b, &g), SY_EPARSE);
    /* events not an array */
    const uint8_t c[] = {0x92, 0x00, 0xc0};
    assert_int_equal(decode(c, sizeof c, &b, &g), SY_EPARSE);
    /* ts a string */
    const uint8_t d[] = {0x92, 0xa1, 'x', 0x90};
    assert_int_equal(decode(d, sizeof d, &b, &g), SY_EPARSE);
    /* array32 claiming 2^32-1 elements */
    const uint8_t e[] = {0x92, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
    assert_int_equal(decode(e, sizeof e, &b, &g), SY_EPARSE);
    /* BlockStored with 4 elements (needs >= 5) */
    const uint8_t f[] = {0x92, 0x00, 0x91, 0x94, 0xab, 'B', 'l',  'o',  'c', 'k',
                         'S',  't',  'o',  'r',  'e',  'd', 0x90, 0xc0, 0x90};
    assert_int_equal(decode(f, sizeof f, &b, &g), SY_EPARSE);
    /* negative token id */
    const uint8_t h[] = {0x92, 0x00, 0x91, 0x95, 0xab, 'B',  'l',  'o',  'c',  'k', 'S',
                         't',  'o',  'r',  'e',  'd',  0x90, 0xc0, 0x91, 0xff, 0x01};
    assert_int_equal(decode(h, sizeof h, &b, &g), SY_EPARSE);
    /* reserved byte 0xc1 in a skipped field */
    const uint8_t i2[] = {0x92, 0x00, 0x91, 0x92, 0xb0, 'A', 'l', 'l', 'B', 'l', 'o',
                          'c',  'k',  's',  'C',  'l',  'e', 'a', 'r', 'e', 'd', 0xc1};
    assert_int_equal(decode(i2, sizeof i2, &b, &g), SY_EPARSE);
    /* nesting deeper than the bound in a skipped field */
    uint8_t deep[64];
    size_t n = 0;
    const uint8_t head[] = {0x92, 0x00, 0x91, 0x92, 0xb0, 'A', 'l', 'l', 'B', 'l', 'o',
                            'c',  'k',  's',  'C',  'l',  'e', 'a', 'r', 'e', 'd'};
    memcpy(deep, head, sizeof head);
    n = sizeof head;
    for (int k = 0; k < 30; k++)
        deep[n++] = 0x91;
    deep[n++] = 0xc0;
    assert_int_equal(decode(deep, n, &b, &g), SY_EPARSE);
    /* more hashes in one batch than SY_KV_MAX_HASHES */
    size_t big = SY_KV_MAX_HASHES + 1;
    size_t cap = 32 + big;
    uint8_t *p = malloc(cap);
    n = 0;
    const uint8_t h2[] = {0x92, 0x00, 0x91, 0x92, 0xac, 'B', 'l',  'o',  'c',  'k',  'R',
                          'e',  'm',  'o',  'v',  'e',  'd', 0xdd, 0x00, 0x01, 0x00, 0x01};
    memcpy(p, h2, sizeof h2);
    n = sizeof h2;
    p[n - 4] = (uint8_t)(big >> 24); /* array32 length = big */
    p[n - 3] = (uint8_t)(big >> 16);
    p[n - 2] = (uint8_t)(big >> 8);
    p[n - 1] = (uint8_t)big;
    memset(p + n, 0x01, big);
    n += big;
    assert_int_equal(decode(p, n, &b, &g), SY_ETOOBIG);
    free(p);
    /* empty payload */
    assert_int_equal(decode((const uint8_t *)"", 0, &b, &g), SY_EPARSE);
}

/* A callback error stops decoding and is returned. */
static int stop_cb(void *ud, const struct sy_kv_event *ev)
{
    (void)ev;
    (*(int *)ud)++;
    return SY_EBUSY;
}

static void test_callback_error(void **state)
{
    (void)state;
    struct sy_kv_decoder d;
    sy_kv_decoder_init(&d);
    int calls = 0;
    assert_int_equal(sy_kv_decode_batch(&d, ARRAY_BATCH, sizeof ARRAY_BATCH, NULL, stop_cb, &calls),
                     SY_EBUSY);
    assert_int_equal(calls, 1);
    sy_kv_decoder_fini(&d);
}

/* The simulator's encoder (array and map forms) round-trips through the decoder. */
static void test_sim_encoder(void **state)
{
    (void)state;
    for (int map = 0; map < 2; map++) {
        const uint64_t hs[] = {0xffffffffffffff00ULL, 42};
        const uint32_t toks[] = {1, 2, 3, 100000, 5, 6};
        struct sy_sim_kv_event st = {.kind = SY_SIM_KV_STORED,
                                     .hashes = hs,
                                     .nhashes = 2,
                                     .has_parent = true,
                                     .parent = 99,
                                     .tokens = toks,
                                     .ntokens = 6,
                                     .block_size = 3};
        struct sy_sim_kv_event rm = {.kind = SY_SIM_KV_REMOVED, .hashes = hs + 1, .nhashes = 1};
        struct sy_buf ev, batch;
        sy_buf_init(&ev);
        sy_buf_init(&batch);
        sy_sim_kv_encode_event(&ev, &st, map);
        sy_sim_kv_encode_event(&ev, &rm, map);
        sy_sim_kv_encode_batch(&batch, 1234.25, ev.data, ev.len, 2, 1);
        struct sy_kv_batch b;
        struct got g;
        assert_int_equal(decode((const uint8_t *)batch.data, batch.len, &b, &g), 0);
        assert_true(b.ts == 1234.25);
        assert_int_equal(b.dp_rank, 1);
        assert_int_equal(g.n, 2);
        assert_true(g.hashes[0][0] == 0xffffffffffffff00ULL);
        assert_true(g.has_parent[0]);
        assert_true(g.parent[0] == 99);
        assert_int_equal(g.ntokens[0], 6);
        assert_int_equal(g.tokens[0][3], 100000);
        assert_int_equal(g.block_size[0], 3);
        assert_string_equal(g.medium[0], "GPU");
        assert_int_equal(g.kind[1], SY_KV_BLOCK_REMOVED);
        assert_true(g.hashes[1][0] == 42);
        sy_buf_fini(&ev);
        sy_buf_fini(&batch);
    }
}

static void test_topic_seq_fold(void **state)
{
    (void)state;
    struct sy_str pod, model;
    const char *t = "kv@10.0.0.1:8000@Qwen/Qwen3-32B";
    assert_int_equal(sy_kv_parse_topic(t, strlen(t), &pod, &model), 0);
    assert_true(sy_str_eq_c(pod, "10.0.0.1:8000"));
    assert_true(sy_str_eq_c(model, "Qwen/Qwen3-32B"));
    assert_int_equal(sy_kv_parse_topic("", 0, &pod, &model), SY_EPARSE);
    assert_int_equal(sy_kv_parse_topic("kv@@m", 5, &pod, &model), SY_EPARSE);
    assert_int_equal(sy_kv_parse_topic("kv@pod@", 7, &pod, &model), SY_EPARSE);
    assert_int_equal(sy_kv_parse_topic("xx@pod@m", 8, &pod, &model), SY_EPARSE);
    assert_int_equal(sy_kv_parse_topic("kv@podm", 7, &pod, &model), SY_EPARSE);
    uint64_t seq;
    const uint8_t s[] = {0, 0, 0, 0, 0, 0, 0x01, 0x02, 0xff};
    assert_int_equal(sy_kv_parse_seq(s, 8, &seq), 0);
    assert_true(seq == 0x0102);
    assert_int_equal(sy_kv_parse_seq(s, 9, &seq), 0);
    assert_int_equal(sy_kv_parse_seq(s, 7, &seq), SY_EPARSE);
    const uint8_t h32[32] = {[24] = 0x11, [31] = 0x22};
    assert_true(sy_kv_fold_hash(h32, 32) == 0x1100000000000022ULL);
    const uint8_t h3[3] = {1, 2, 3};
    assert_true(sy_kv_fold_hash(h3, 3) == 0x010203);
    assert_true(sy_kv_fold_hash(h3, 0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_batch),
        cmocka_unit_test(test_map_batch),
        cmocka_unit_test(test_map_outer_and_unknown),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_callback_error),
        cmocka_unit_test(test_sim_encoder),
        cmocka_unit_test(test_topic_seq_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
