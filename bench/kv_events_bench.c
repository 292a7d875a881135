/* kv_events_bench.c - the precise prefix-cache path's costs, measured side by side in one run:
 *
 *   ingest   KV-event payloads (vLLM msgpack, BlockStored of 64 blocks x 16 tokens, array and map
 *            encodings) decoded and applied to the precise index: blocks per second per core
 *            (thread CPU time), decode alone beside decode + apply; then with eviction at the
 *            LRU bound (steady state of a full index)
 *   lookup   a 32k-token prompt (2048 blocks of 16) scored over 256 endpoints: hashing the
 *            prompt into request keys, and the index lookup, p50/p99
 *   memory   bytes per request key and per engine hash (layout), and RSS growth per stored block
 *
 *   bash bench/kv_events_bench.sh        (BUILD=dir selects the build directory)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "kvevents/decode.h"
#include "prefix/hash.h"
#include "prefix/precise_index.h"
#include "sim/kv_publisher.h"

#define BLOCK      16  /* tokens per block (engine and index) */
#define PER_EVENT  64  /* blocks per BlockStored */
#define NPAYLOADS  512 /* distinct payloads, cycled */
#define NEPS       256 /* endpoints */
#define LOOKUP_TOK 32768

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * 4;
}

struct payload {
    struct sy_buf b; /* one KVEventBatch */
    char ep[32];     /* endpoint it comes from */
};

/* Payload i: a chain of PER_EVENT blocks rooted in a prefix family (64 families), so endpoints
 * share prefixes as real traffic does. */
static void make_payloads(struct payload *p, bool map)
{
    uint32_t toks[PER_EVENT * BLOCK];
    uint64_t h[PER_EVENT];
    for (int i = 0; i < NPAYLOADS; i++) {
        uint32_t fam = (uint32_t)(next_rand() % 64);
        for (int t = 0; t < PER_EVENT * BLOCK; t++)
            toks[t] = t < BLOCK * 8 ? fam * 1000 + (uint32_t)t : (uint32_t)(next_rand() % 151643);
        for (int k = 0; k < PER_EVENT; k++)
            h[k] = next_rand();
        struct sy_sim_kv_event ev = {.kind = SY_SIM_KV_STORED,
                                     .hashes = h,
                                     .nhashes = PER_EVENT,
                                     .tokens = toks,
                                     .ntokens = PER_EVENT * BLOCK,
                                     .block_size = BLOCK};
        struct sy_buf e;
        sy_buf_init(&e);
        sy_buf_init(&p[i].b);
        sy_sim_kv_encode_event(&e, &ev, map);
        sy_sim_kv_encode_batch(&p[i].b, 1.0, e.data, e.len, 1, 0);
        sy_buf_fini(&e);
        snprintf(p[i].ep, sizeof p[i].ep, "10.0.%d.%d:8000", i % NEPS / 250, i % NEPS);
    }
}

struct apply_ctx {
    struct sy_precise_index *idx;
    struct sy_str ep;
};

static int apply_cb(void *ud, const struct sy_kv_event *ev)
{
    struct apply_ctx *a = ud;
    sy_precise_index_apply(a->idx, a->ep, SY_STR_LIT("model"), ev);
    return 0;
}

static int count_cb(void *ud, const struct sy_kv_event *ev)
{
    *(size_t *)ud += ev->nhashes;
    return 0;
}

/* Decodes (and applies, when idx) rounds x NPAYLOADS payloads; returns blocks/s of CPU time. */
static double ingest(struct payload *p, int rounds, struct sy_precise_index *idx)
{
    struct sy_kv_decoder d;
    sy_kv_decoder_init(&d);
    size_t blocks = 0;
    double t0 = cpu_s();
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NPAYLOADS; i++) {
            if (idx) {
                struct apply_ctx a = {idx, sy_str_c(p[i].ep)};
                sy_kv_decode_batch(&d, p[i].b.data, p[i].b.len, NULL, apply_cb, &a);
                blocks += PER_EVENT;
            } else {
                sy_kv_decode_batch(&d, p[i].b.data, p[i].b.len, NULL, count_cb, &blocks);
            }
        }
    double dt = cpu_s() - t0;
    sy_kv_decoder_fini(&d);
    return (double)blocks / dt;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void lookup(void)
{
    struct sy_precise_index *idx = sy_precise_index_new(BLOCK, SY_STR_LIT(""), 0);
    static uint32_t toks[LOOKUP_TOK];
    for (int t = 0; t < LOOKUP_TOK; t++)
        toks[t] = (uint32_t)(next_rand() % 151643);
    static char names[NEPS][32];
    struct sy_str eps[NEPS];
    for (int i = 0; i < NEPS; i++) {
        snprintf(names[i], sizeof names[i], "10.1.%d.%d:8000", i / 250, i % 250);
        eps[i] = sy_str_c(names[i]);
    }
    /* Endpoint i holds the first (i % 8 + 1) / 8 of the prompt. */
    static uint64_t h[LOOKUP_TOK / BLOCK];
    for (int i = 0; i < NEPS; i++) {
        size_t nb = (size_t)(LOOKUP_TOK / BLOCK) * (size_t)(i % 8 + 1) / 8;
        for (size_t k = 0; k < nb; k++)
            h[k] = 0x1000 + k;
        struct sy_kv_event ev = {.kind = SY_KV_BLOCK_STORED,
                                 .hashes = h,
                                 .nhashes = nb,
                                 .tokens = toks,
                                 .ntokens = nb * BLOCK,
                                 .block_size = BLOCK,
                                 .medium = SY_STR_LIT("GPU")};
        sy_precise_index_apply(idx, eps[i], SY_STR_LIT("model"), &ev);
    }
    enum { ITERS = 200 };
    static double th[ITERS], tl[ITERS];
    static uint64_t keys[LOOKUP_TOK / BLOCK];
    uint32_t blocks[NEPS];
    double w[NEPS];
    uint64_t seed = sy_precise_index_seed(idx, SY_STR_LIT("model"));
    for (int it = 0; it < ITERS; it++) {
        double t0 = wall_ns();
        size_t n = sy_prefix_hash_tokens(seed, toks, LOOKUP_TOK, BLOCK, LOOKUP_TOK / BLOCK, keys,
                                         LOOKUP_TOK / BLOCK);
        double t1 = wall_ns();
        sy_precise_index_score(idx, keys, n, eps, NEPS, 0, blocks, w);
        double t2 = wall_ns();
        th[it] = (t1 - t0) / 1e3;
        tl[it] = (t2 - t1) / 1e3;
    }
    /* 8 holders are kept per key (llm-d keeps podCacheSize = 10): block 0 is credited to the
     * last 8 endpoints that stored it, 248..255, holding 1/8 .. 8/8 of the prompt. */
    if (blocks[255] != LOOKUP_TOK / BLOCK || blocks[248] != LOOKUP_TOK / BLOCK / 8)
        printf("  (unexpected match counts %u %u)\n", blocks[255], blocks[248]);
    qsort(th, ITERS, sizeof th[0], cmp_d);
    qsort(tl, ITERS, sizeof tl[0], cmp_d);
    printf("lookup: 32k-token prompt (2048 blocks) over 256 endpoints\n");
    printf("  hash prompt -> request keys   p50 %7.1f us   p99 %7.1f us\n", th[ITERS / 2],
           th[ITERS * 99 / 100]);
    printf("  index lookup (256 endpoints)  p50 %7.1f us   p99 %7.1f us\n", tl[ITERS / 2],
           tl[ITERS * 99 / 100]);
    sy_precise_index_free(idx);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 8;
    if (rounds < 1)
        rounds = 1;
    static struct payload pa[NPAYLOADS], pm[NPAYLOADS];
    make_payloads(pa, false);
    make_payloads(pm, true);
    printf("ingest: %d x %d BlockStored payloads of %d blocks x %d tokens (one core, CPU time)\n",
           rounds, NPAYLOADS, PER_EVENT, BLOCK);
    printf("  decode only, arrays            %6.2f M blocks/s\n", ingest(pa, rounds, NULL) / 1e6);
    printf("  decode only, maps              %6.2f M blocks/s\n", ingest(pm, rounds, NULL) / 1e6);
    struct sy_precise_index *idx = sy_precise_index_new(BLOCK, SY_STR_LIT(""), 0);
    long rss0 = rss_kb();
    double r1 = ingest(pa, 1, idx); /* first pass: every key new */
    long rss1 = rss_kb();
    double r2 = ingest(pa, rounds, idx); /* re-stores: keys known, LRU refresh */
    struct sy_precise_stats st;
    sy_precise_index_stats(idx, &st);
    printf("  decode + apply, new keys       %6.2f M blocks/s\n", r1 / 1e6);
    printf("  decode + apply, known keys     %6.2f M blocks/s\n", r2 / 1e6);
    sy_precise_index_free(idx);
    idx = sy_precise_index_new(BLOCK, SY_STR_LIT(""), 8192); /* small bound: constant eviction */
    double r3 = ingest(pm, rounds, idx);
    printf("  decode + apply, maps, at the LRU bound (8192 keys, evicting) %6.2f M blocks/s\n",
           r3 / 1e6);
    sy_precise_index_free(idx);
    lookup();
    printf("memory: %zu B per request key, %zu B per engine hash (entry + bucket, upper bound);\n"
           "  RSS grew %.1f B per stored block over %zu keys (both maps, slab doubling included)\n",
           st.bytes_per_key, st.bytes_per_ekey,
           (double)(rss1 - rss0) * 1024.0 / (double)(NPAYLOADS * PER_EVENT), st.keys);
    return 0;
}
