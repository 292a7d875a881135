/* Unit tests for src/pool/pool.c: building pools from a config, reload reuse, live state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/decode.h"
#include "pool/pool.h"

/* A hand-built config: up to 8 endpoints with up to 2 labels each. */
struct test_cfg {
    struct sy_config cfg;
    struct sy_endpoint_config eps[8];
    struct sy_label labels[8][2];
};

static void cfg_init(struct test_cfg *t)
{
    memset(t, 0, sizeof *t);
    t->cfg.file = "gw.yaml";
    t->cfg.engine = SY_ENGINE_VLLM;
    t->cfg.endpoints = t->eps;
}

/* Adds an endpoint; host may be NULL to make the pool parse the address itself. */
static struct sy_endpoint_config *cfg_add(struct test_cfg *t, const char *address, const char *host,
                                          uint16_t port, int line)
{
    struct sy_endpoint_config *ec = &t->eps[t->cfg.nendpoints];
    ec->address = (char *)address;
    if (host)
        snprintf(ec->host, sizeof ec->host, "%s", host);
    ec->port = port;
    ec->line = line;
    ec->labels = t->labels[t->cfg.nendpoints];
    t->cfg.nendpoints++;
    return ec;
}

/* A pool of one endpoint, 127.0.0.1:9001. */
static struct sy_pool *pool_of_one(void)
{
    struct test_cfg t;
    cfg_init(&t);
    cfg_add(&t, "127.0.0.1:9001", NULL, 0, 1);
    char err[256];
    struct sy_pool *p = sy_pool_new(&t.cfg, NULL, err, sizeof err);
    assert_non_null(p);
    return p;
}

static void add_label(struct sy_endpoint_config *ec, const char *k, const char *v)
{
    ec->labels[ec->nlabels].key = (char *)k;
    ec->labels[ec->nlabels].value = (char *)v;
    ec->nlabels++;
}

static void test_build(void **state)
{
    struct test_cfg t;
    cfg_init(&t);
    struct sy_endpoint_config *a = cfg_add(&t, "127.0.0.1:8001", "127.0.0.1", 8001, 5);
    add_label(a, "llm-d.ai/role", "decode");
    add_label(a, "zone", "a");
    a->kv_events = "tcp://127.0.0.1:5557";
    cfg_add(&t, "localhost:8002", NULL, 0, 7);
    cfg_add(&t, "[::1]:8003", "::1", 8003, 9);
    t.cfg.engine = SY_ENGINE_SGLANG;
    char err[256] = "";
    struct sy_pool *p = sy_pool_new(&t.cfg, NULL, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(err, "");
    assert_int_equal(p->n, 3);
    assert_int_equal(p->engine, SY_ENGINE_SGLANG);

    struct sy_endpoint *e = p->eps[0];
    assert_string_equal(e->address, "127.0.0.1:8001");
    assert_int_equal(e->port, 8001);
    assert_int_equal(e->addr.ss_family, AF_INET);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&e->addr;
    assert_int_equal(ntohs(sin->sin_port), 8001);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(e->addrlen, sizeof(struct sockaddr_in));
    assert_string_equal(sy_endpoint_label(e, "llm-d.ai/role"), "decode");
    assert_string_equal(sy_endpoint_label(e, "zone"), "a");
    assert_null(sy_endpoint_label(e, "llm-d.ai"));
    assert_string_equal(e->kv_events, "tcp://127.0.0.1:5557");
    assert_ptr_not_equal(e->labels[0].key, a->labels[0].key); /* copied, not borrowed */

    e = p->eps[1]; /* parsed from the address, resolved by name */
    assert_string_equal(e->host, "localhost");
    assert_int_equal(e->port, 8002);
    assert_true(e->addr.ss_family == AF_INET || e->addr.ss_family == AF_INET6);
    assert_null(e->kv_events);
    assert_int_equal(e->nlabels, 0);

    e = p->eps[2];
    assert_int_equal(e->addr.ss_family, AF_INET6);
    assert_int_equal(ntohs(((const struct sockaddr_in6 *)&e->addr)->sin6_port), 8003);

    assert_ptr_equal(sy_pool_find(p, "localhost:8002"), p->eps[1]);
    assert_null(sy_pool_find(p, "localhost:8009"));
    assert_null(sy_pool_find(NULL, "localhost:8002"));

    /* fresh state: never scraped, metrics at -1, nothing in flight */
    struct sy_endpoint_state s;
    sy_endpoint_snapshot(p->eps[0], &s);
    assert_false(s.ready);
    assert_false(s.scraped);
    assert_int_equal(s.update_ns, 0);
    assert_true(s.m.waiting == -1 && s.m.running == -1 && s.m.kv_usage == -1);
    assert_int_equal(s.m.block_size, -1);
    assert_int_equal(s.inflight_requests, 0);

    /* references: the pool can go while a request still holds an endpoint */
    struct sy_endpoint *held = sy_endpoint_ref(p->eps[0]);
    assert_ptr_equal(sy_pool_ref(p), p);
    sy_pool_unref(p);
    sy_pool_unref(p);
    assert_string_equal(sy_endpoint_label(held, "zone"), "a");
    sy_endpoint_unref(held);

    /* an empty pool is valid */
    cfg_init(&t);
    p = sy_pool_new(&t.cfg, NULL, err, sizeof err);
    assert_non_null(p);
    assert_int_equal(p->n, 0);
    sy_pool_unref(p);
}

static void expect_error(struct test_cfg *t, const char *want)
{
    char err[256] = "";
    struct sy_pool *p = sy_pool_new(&t->cfg, NULL, err, sizeof err);
    if (p)
        sy_pool_unref(p);
    assert_null(p);
    if (strcmp(err, want) != 0)
        fail_msg("got \"%s\", want \"%s\"", err, want);
}

static void test_errors(void **state)
{
    struct test_cfg t;
    cfg_init(&t);
    cfg_add(&t, "127.0.0.1:8001", "127.0.0.1", 8001, 3);
    cfg_add(&t, "nohostport", NULL, 0, 4);
    expect_error(&t, "gw.yaml:4: pool.endpoints: address \"nohostport\" is not host:port");

    cfg_init(&t);
    cfg_add(&t, "bad host!:80", NULL, 0, 6);
    expect_error(&t, "gw.yaml:6: pool.endpoints: address \"bad host!:80\": invalid host name");

    cfg_init(&t);
    cfg_add(&t, "127.0.0.1:0", NULL, 0, 2);
    expect_error(&t, "gw.yaml:2: pool.endpoints: address \"127.0.0.1:0\": port 0 is not allowed");

    cfg_init(&t);
    cfg_add(&t, "127.0.0.1:8001", NULL, 0, 2);
    cfg_add(&t, "127.0.0.1:8001", NULL, 0, 3);
    expect_error(&t, "gw.yaml:3: pool.endpoints: duplicate address \"127.0.0.1:8001\"");

    cfg_init(&t);
    cfg_add(&t, "[fe80::zz]:80", "fe80::zz", 80, 8);
    char err[256] = "";
    assert_null(sy_pool_new(&t.cfg, NULL, err, sizeof err));
    assert_non_null(strstr(err, "gw.yaml:8: pool.endpoints: address \"[fe80::zz]:80\": "));

    cfg_init(&t);
    t.cfg.file = NULL;
    cfg_add(&t, "no-such-host.invalid:80", NULL, 0, 9);
    assert_null(sy_pool_new(&t.cfg, NULL, err, sizeof err));
    assert_non_null(strstr(err, "config:9: pool.endpoints: address \"no-such-host.invalid:80\": "));
}

static void test_reload_reuse(void **state)
{
    struct test_cfg t;
    cfg_init(&t);
    add_label(cfg_add(&t, "127.0.0.1:8001", NULL, 0, 1), "role", "decode");
    add_label(cfg_add(&t, "127.0.0.1:8002", NULL, 0, 2), "role", "decode");
    cfg_add(&t, "127.0.0.1:8003", NULL, 0, 3);
    char err[256];
    struct sy_pool *p1 = sy_pool_new(&t.cfg, NULL, err, sizeof err);
    assert_non_null(p1);
    struct sy_endpoint *e1 = p1->eps[0], *e2 = p1->eps[1];
    sy_endpoint_inflight_add(e1, 100);
    sy_endpoint_inflight_add(e2, 50);
    struct sy_engine_metrics m = {.waiting = 3, .running = 1, .kv_usage = 0.5, .block_size = 16};
    sy_endpoint_set_metrics(e2, &m, 1000);
    const char *ids[] = {"llama"};
    sy_endpoint_set_models(e2, ids, 1);
    struct sy_decode d; /* a completed request's output length (the decode budget's mean) */
    sy_decode_begin(&d, e2, 100, 1);
    sy_decode_end(&d, 40);
    assert_int_equal(sy_decode_budget(e2, -1, 1), 40);
    sy_decode_begin(&d, e2, 100, 1); /* and one still in flight on the old object */

    /* new config: 8001 unchanged, 8002 relabelled, 8003 dropped, 8004 new */
    struct test_cfg t2;
    cfg_init(&t2);
    add_label(cfg_add(&t2, "127.0.0.1:8004", NULL, 0, 1), "role", "prefill");
    add_label(cfg_add(&t2, "127.0.0.1:8001", NULL, 0, 2), "role", "decode");
    add_label(cfg_add(&t2, "127.0.0.1:8002", NULL, 0, 3), "role", "prefill");
    struct sy_pool *p2 = sy_pool_new(&t2.cfg, p1, err, sizeof err);
    assert_non_null(p2);
    assert_int_equal(p2->n, 3);
    assert_ptr_equal(p2->eps[1], e1); /* same object: state survives */
    struct sy_endpoint_state s;
    sy_endpoint_snapshot(p2->eps[1], &s);
    assert_int_equal(s.inflight_requests, 1);
    assert_int_equal(s.inflight_tokens, 100);

    struct sy_endpoint *n2 = p2->eps[2];
    assert_ptr_not_equal(n2, e2); /* labels changed: new object ... */
    assert_string_equal(sy_endpoint_label(n2, "role"), "prefill");
    assert_string_equal(sy_endpoint_label(e2, "role"), "decode"); /* old one untouched */
    sy_endpoint_snapshot(n2, &s);                                 /* ... with scrape state */
    assert_true(s.ready && s.scraped);
    assert_int_equal(s.update_ns, 1000);
    assert_true(s.m.waiting == 3 && s.m.kv_usage == 0.5);
    assert_int_equal(s.m.block_size, 16);
    assert_int_equal(s.inflight_requests, 0);          /* in-flight stays with the old object */
    assert_int_equal(s.decode_left, 0);                /* so does the decode work left ... */
    assert_int_equal(sy_decode_budget(n2, -1, 1), 40); /* ... but the mean output length moves */
    sy_decode_end(&d, -1);
    sy_endpoint_snapshot(e2, &s);
    assert_int_equal(s.decode_left, 0);
    assert_true(sy_endpoint_serves(n2, "llama", 5));
    assert_false(sy_endpoint_serves(n2, "other", 5));

    /* a failing reload leaves the old pool intact */
    struct test_cfg t3;
    cfg_init(&t3);
    cfg_add(&t3, "127.0.0.1:8001", NULL, 0, 1);
    cfg_add(&t3, "x y:1", NULL, 0, 2);
    assert_null(sy_pool_new(&t3.cfg, p2, err, sizeof err));
    assert_ptr_equal(p2->eps[1], e1);

    sy_pool_unref(p1);
    sy_endpoint_inflight_sub(e1, 100);
    sy_endpoint_snapshot(p2->eps[1], &s);
    assert_int_equal(s.inflight_requests, 0);
    assert_int_equal(s.inflight_tokens, 0);
    sy_pool_unref(p2);
}

static void test_state(void **state)
{
    struct sy_pool *p = pool_of_one();
    struct sy_endpoint *e = p->eps[0];
    struct sy_engine_metrics m = {.waiting = 2,
                                  .running = 5,
                                  .kv_usage = 0.25,
                                  .block_size = 16,
                                  .num_blocks = 1000,
                                  .running_loras = "a,b",
                                  .waiting_loras = "c",
                                  .max_lora = 4};
    struct sy_endpoint_state s;
    struct sy_endpoint_loras l;
    sy_endpoint_snapshot(e, &s); /* a fresh endpoint: not scraped, metrics unknown */
    assert_false(s.ready || s.scraped);
    assert_true(s.m.waiting == -1 && s.m.running == -1 && s.m.kv_usage == -1);
    assert_int_equal(s.m.block_size, -1);
    assert_int_equal(s.m.max_lora, -1);
    sy_endpoint_snapshot_loras(e, &s, &l);
    assert_string_equal(l.running, "");
    assert_string_equal(l.waiting, "");

    sy_endpoint_set_metrics(e, &m, 500);
    sy_endpoint_snapshot(e, &s);
    assert_true(s.ready && s.scraped);
    assert_int_equal(s.update_ns, 500);
    assert_true(s.m.waiting == 2 && s.m.running == 5 && s.m.kv_usage == 0.25);
    assert_int_equal(s.m.block_size, 16);
    assert_int_equal(s.m.num_blocks, 1000);
    assert_int_equal(s.m.max_lora, 4);
    assert_int_equal(s.fail_ns, 0);
    memset(&s, 0, sizeof s);
    sy_endpoint_snapshot_loras(e, &s, &l);
    assert_int_equal(s.update_ns, 500);
    assert_string_equal(l.running, "a,b");
    assert_string_equal(l.waiting, "c");
    /* a list that fills its buffer comes back whole and terminated */
    memset(m.running_loras, 'x', sizeof m.running_loras - 1);
    m.running_loras[sizeof m.running_loras - 1] = '\0';
    sy_endpoint_set_metrics(e, &m, 500);
    sy_endpoint_snapshot_loras(e, &s, &l);
    assert_int_equal(strlen(l.running), SY_LORA_LIST_CAP - 1);
    assert_int_equal(l.running[SY_LORA_LIST_CAP - 2], 'x');
    snprintf(m.running_loras, sizeof m.running_loras, "a,b");

    sy_endpoint_set_failed(e, 600);
    sy_endpoint_snapshot(e, &s);
    assert_false(s.ready);
    assert_true(s.scraped);
    assert_int_equal(s.update_ns, 500); /* last good data keeps its age */
    assert_int_equal(s.fail_ns, 600);
    assert_true(s.m.running == 5);

    sy_endpoint_set_metrics(e, &m, 700);
    sy_endpoint_snapshot(e, &s);
    assert_true(s.ready);

    /* a proxy connect failure makes it not ready until a newer scrape succeeds */
    sy_endpoint_conn_failed(e, 800);
    sy_endpoint_snapshot(e, &s);
    assert_false(s.ready);
    assert_int_equal(s.conn_fail_ns, 800);
    sy_endpoint_set_metrics(e, &m, 900);
    sy_endpoint_snapshot(e, &s);
    assert_true(s.ready);
    sy_pool_unref(p);
}

/* A timed-out scrape (a slow server) keeps the endpoint ready on its last metrics while they are
 * at most the staleness threshold old, or while it answered a proxied request within it. */
static void test_scrape_timeout(void **state)
{
    const uint64_t S = 1000000000ull; /* 1 s */
    struct sy_pool *p = pool_of_one();
    struct sy_endpoint *e = p->eps[0];
    struct sy_engine_metrics m = {.waiting = 3, .running = 7, .kv_usage = 0.5, .max_lora = -1};
    struct sy_endpoint_state s;

    /* never scraped: a timeout does not make it ready */
    assert_false(sy_endpoint_scrape_timed_out(e, 1 * S, 2 * S));
    sy_endpoint_snapshot(e, &s);
    assert_false(s.ready);

    sy_endpoint_set_metrics(e, &m, 10 * S);
    /* metrics 1.5 s old, threshold 2 s: kept, routed on the last metrics */
    assert_true(sy_endpoint_scrape_timed_out(e, 10 * S + 3 * S / 2, 2 * S));
    sy_endpoint_snapshot(e, &s);
    assert_true(s.ready);
    assert_int_equal(s.update_ns, 10 * S);
    assert_int_equal(s.fail_ns, 10 * S + 3 * S / 2);
    assert_true(s.m.waiting == 3 && s.m.running == 7);
    /* exactly at the threshold: still kept */
    assert_true(sy_endpoint_scrape_timed_out(e, 12 * S, 2 * S));
    /* older than the threshold and no request answered: not ready */
    assert_false(sy_endpoint_scrape_timed_out(e, 12 * S + 1, 2 * S));
    sy_endpoint_snapshot(e, &s);
    assert_false(s.ready);
    /* and it stays out, even once it answers requests, until a scrape succeeds */
    sy_endpoint_served(e, 13 * S);
    assert_false(sy_endpoint_scrape_timed_out(e, 13 * S, 2 * S));
    sy_endpoint_set_metrics(e, &m, 14 * S);
    sy_endpoint_snapshot(e, &s);
    assert_true(s.ready);

    /* metrics 5 s old, but it answered a request 1 s ago: kept */
    sy_endpoint_served(e, 18 * S);
    assert_true(sy_endpoint_scrape_timed_out(e, 19 * S, 2 * S));
    sy_endpoint_snapshot(e, &s);
    assert_true(s.ready);
    assert_int_equal(s.update_ns, 14 * S);
    /* the answer is 3 s old now as well: out */
    assert_false(sy_endpoint_scrape_timed_out(e, 21 * S, 2 * S));
    sy_endpoint_snapshot(e, &s);
    assert_false(s.ready);

    /* a hard failure (refused connection, 5xx) still drops it at once, however fresh */
    sy_endpoint_set_metrics(e, &m, 30 * S);
    sy_endpoint_served(e, 30 * S);
    sy_endpoint_set_failed(e, 30 * S + 1);
    sy_endpoint_snapshot(e, &s);
    assert_false(s.ready);
    /* a proxied connect failure after the last scrape wins over a kept timeout */
    sy_endpoint_set_metrics(e, &m, 40 * S);
    sy_endpoint_conn_failed(e, 40 * S + 1);
    assert_true(sy_endpoint_scrape_timed_out(e, 41 * S, 2 * S));
    sy_endpoint_snapshot(e, &s);
    assert_false(s.ready);
    /* served times only move forward by at least 1 ms (fewer stores under load) */
    sy_endpoint_served(e, 50 * S);
    sy_endpoint_served(e, 50 * S + 10);
    assert_int_equal(atomic_load(&e->served_ns), 50 * S);
    sy_endpoint_served(e, 49 * S);
    assert_int_equal(atomic_load(&e->served_ns), 50 * S);
    sy_pool_unref(p);
}

static void test_models(void **state)
{
    struct sy_pool *p = pool_of_one();
    struct sy_endpoint *e = p->eps[0];
    assert_true(sy_endpoint_serves(e, "anything", 8)); /* unknown list: serves all */
    const char *ids[] = {"llama-3-8b", "qwen"};
    sy_endpoint_set_models(e, ids, 2);
    assert_true(sy_endpoint_serves(e, "qwen", 4));
    assert_true(sy_endpoint_serves(e, "llama-3-8bXXX", 10)); /* length-bounded view */
    assert_false(sy_endpoint_serves(e, "llama", 5));         /* prefix is not a match */
    assert_false(sy_endpoint_serves(e, "qwen2", 5));
    assert_false(sy_endpoint_serves(e, "", 0));
    const char *one[] = {"mistral"};
    sy_endpoint_set_models(e, one, 1); /* replaces */
    assert_false(sy_endpoint_serves(e, "qwen", 4));
    assert_true(sy_endpoint_serves(e, "mistral", 7));
    const char *many[SY_MAX_MODELS + 1];
    for (int i = 0; i <= SY_MAX_MODELS; i++)
        many[i] = "m";
    sy_endpoint_set_models(e, many, SY_MAX_MODELS + 1); /* too many: fail open */
    assert_true(sy_endpoint_serves(e, "anything", 8));
    sy_endpoint_set_models(e, many, SY_MAX_MODELS);
    assert_true(sy_endpoint_serves(e, "m", 1));
    assert_false(sy_endpoint_serves(e, "anything", 8));
    sy_endpoint_set_models(e, NULL, 0); /* back to unknown */
    assert_true(sy_endpoint_serves(e, "anything", 8));

    /* ids at and around the word size and the lock-free copy's limit (SY_MODEL_INLINE), and one
     * beyond it (compared under the mutex) */
    char at[SY_MODEL_INLINE + 1], over[SY_MODEL_INLINE + 2], q[SY_MODEL_INLINE + 2];
    memset(at, 'a', SY_MODEL_INLINE);
    at[SY_MODEL_INLINE] = '\0';
    memset(over, 'o', SY_MODEL_INLINE + 1);
    over[SY_MODEL_INLINE + 1] = '\0';
    const char *edge[] = {"12345678", "123456789", at};
    sy_endpoint_set_models(e, edge, 3);
    assert_true(sy_endpoint_serves(e, "12345678", 8));
    assert_true(sy_endpoint_serves(e, "123456789", 9));
    assert_false(sy_endpoint_serves(e, "12345679", 8));
    assert_false(sy_endpoint_serves(e, "123456780", 9));
    assert_false(sy_endpoint_serves(e, "1234567", 7));
    assert_true(sy_endpoint_serves(e, at, SY_MODEL_INLINE));
    memcpy(q, at, sizeof at);
    q[SY_MODEL_INLINE - 1] = 'b'; /* differs in the last byte */
    assert_false(sy_endpoint_serves(e, q, SY_MODEL_INLINE));
    assert_false(sy_endpoint_serves(e, over, SY_MODEL_INLINE + 1));
    const char *longer[] = {"qwen", over};
    sy_endpoint_set_models(e, longer, 2);
    assert_true(sy_endpoint_serves(e, "qwen", 4));
    assert_true(sy_endpoint_serves(e, over, SY_MODEL_INLINE + 1));
    memcpy(q, over, sizeof over);
    q[SY_MODEL_INLINE] = 'p';
    assert_false(sy_endpoint_serves(e, q, SY_MODEL_INLINE + 1));
    assert_false(sy_endpoint_serves(e, at, SY_MODEL_INLINE));
    assert_false(sy_endpoint_serves(e, "12345678", 8));
    /* the scheduler's combined read: served -> state copied; not served -> false */
    struct sy_endpoint_state s;
    assert_true(sy_endpoint_read(e, over, SY_MODEL_INLINE + 1, &s, NULL));
    assert_false(sy_endpoint_read(e, "llama", 5, &s, NULL));
    assert_true(sy_endpoint_read(e, "qwen", 4, &s, NULL));
    assert_true(sy_endpoint_read(e, NULL, 0, &s, NULL)); /* no model: no check */
    sy_endpoint_set_models(e, edge, 1);                  /* short again: lock-free only */
    assert_false(sy_endpoint_serves(e, over, SY_MODEL_INLINE + 1));
    assert_true(sy_endpoint_serves(e, "12345678", 8));
    sy_pool_unref(p);
}

/* Seqlock consistency: a writer thread publishes updates in which every field (metrics, update
 * time, both LoRA lists) carries the same number v; reader threads check that each snapshot they
 * take is made of one update. A reader that skipped the sequence check would see mixes of two
 * updates (the lists alone are 64 words). Bounded: SEQ_WRITES updates or 5 s. */
#define SEQ_READERS 3
#define SEQ_WRITES  2000000

struct seq_ctx {
    struct sy_endpoint *e;
    _Atomic bool stop;   /* the writer finished */
    _Atomic long reads;  /* snapshots checked, all readers */
    _Atomic long torn;   /* inconsistent snapshots seen */
    _Atomic long values; /* distinct values seen, summed over readers */
};

#define SEQ_LIST_LEN (SY_LORA_LIST_CAP - 9) /* list length: the NUL shares the last word */

/* A list of SEQ_LIST_LEN copies of one letter chosen by v: consecutive updates differ in every
 * byte, so a list mixing words of two updates is caught. Cheap, so the writer spends its time
 * publishing. */
static void seq_list(char *out, uint64_t v)
{
    memset(out, 'a' + (int)(v % 26), SEQ_LIST_LEN);
    out[SEQ_LIST_LEN] = '\0';
}

static bool seq_list_is(const char *list, uint64_t v)
{
    for (size_t i = 0; i < SEQ_LIST_LEN; i++)
        if (list[i] != 'a' + (int)(v % 26))
            return false;
    return list[SEQ_LIST_LEN] == '\0';
}

static void *seq_writer(void *arg)
{
    struct seq_ctx *c = arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m);
    for (uint64_t v = 1; v <= SEQ_WRITES; v++) {
        m.waiting = m.running = m.kv_usage = (double)v;
        m.block_size = m.num_blocks = m.max_lora = (int64_t)v;
        seq_list(m.running_loras, v);
        seq_list(m.waiting_loras, v);
        sy_endpoint_set_metrics(c->e, &m, v);
        if ((v & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (t1.tv_sec - t0.tv_sec > 5)
                break;
        }
    }
    atomic_store(&c->stop, true);
    return NULL;
}

static void *seq_reader(void *arg)
{
    struct seq_ctx *c = arg;
    long reads = 0, torn = 0, values = 0;
    uint64_t last = 0;
    struct sy_endpoint_state s;
    struct sy_endpoint_loras l;
    while (!atomic_load(&c->stop)) {
        bool with_lists = reads & 1;
        if (with_lists)
            sy_endpoint_snapshot_loras(c->e, &s, &l);
        else
            sy_endpoint_snapshot(c->e, &s);
        uint64_t v = s.update_ns;
        bool ok = s.m.waiting == (double)v && s.m.running == (double)v &&
                  s.m.kv_usage == (double)v && s.m.block_size == (int64_t)v &&
                  s.m.num_blocks == (int64_t)v && s.m.max_lora == (int64_t)v;
        if (with_lists)
            ok = ok && seq_list_is(l.running, v) && seq_list_is(l.waiting, v);
        torn += !ok;
        values += v != last;
        last = v;
        reads++;
    }
    atomic_fetch_add(&c->reads, reads);
    atomic_fetch_add(&c->torn, torn);
    atomic_fetch_add(&c->values, values);
    return NULL;
}

static void test_snapshot_consistent_under_writer(void **state)
{
    struct sy_pool *p = pool_of_one();
    struct sy_engine_metrics m;
    memset(&m, 0, sizeof m); /* v = 0 everywhere */
    seq_list(m.running_loras, 0);
    seq_list(m.waiting_loras, 0);
    sy_endpoint_set_metrics(p->eps[0], &m, 0);
    struct seq_ctx c = {.e = p->eps[0]};
    pthread_t w, r[SEQ_READERS];
    for (int i = 0; i < SEQ_READERS; i++)
        pthread_create(&r[i], NULL, seq_reader, &c);
    pthread_create(&w, NULL, seq_writer, &c);
    pthread_join(w, NULL);
    for (int i = 0; i < SEQ_READERS; i++)
        pthread_join(r[i], NULL);
    print_message("seqlock: %ld snapshots, %ld value changes seen, %ld torn\n",
                  atomic_load(&c.reads), atomic_load(&c.values), atomic_load(&c.torn));
    assert_int_equal(atomic_load(&c.torn), 0);
    assert_true(atomic_load(&c.reads) > 1000);
    assert_true(atomic_load(&c.values) > 10); /* the readers did run during the updates */
    sy_pool_unref(p);
}

/* A writer stopped between begin and end (seq odd, e.g. preempted): a reader spins a bounded
 * number of times, then waits on the mutex the writer holds, and returns the finished update. */
struct stuck_ctx {
    struct sy_endpoint *e;
    struct sy_endpoint_state s;
    _Atomic bool done;
};

static void *stuck_reader(void *arg)
{
    struct stuck_ctx *c = arg;
    sy_endpoint_snapshot(c->e, &c->s);
    atomic_store(&c->done, true);
    return NULL;
}

static void test_reader_waits_for_stuck_writer(void **state)
{
    struct sy_pool *p = pool_of_one();
    struct sy_endpoint *e = p->eps[0];
    struct sy_engine_metrics m = {.waiting = 1, .running = 1, .kv_usage = 0.1};
    sy_endpoint_set_metrics(e, &m, 100);
    /* play a writer: hold the mutex, make seq odd, store half an update */
    pthread_mutex_lock(&e->mu);
    uint64_t seq = atomic_load(&e->live.seq);
    atomic_store(&e->live.seq, seq + 1);
    atomic_store(&e->live.waiting, 0); /* double 0.0 */
    struct stuck_ctx c = {.e = e};
    pthread_t th;
    pthread_create(&th, NULL, stuck_reader, &c);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_false(atomic_load(&c.done)); /* no half-written snapshot came back */
    atomic_store(&e->live.update_ns, 200);
    atomic_store(&e->live.seq, seq + 2);
    pthread_mutex_unlock(&e->mu);
    pthread_join(th, NULL);
    assert_true(atomic_load(&c.done));
    assert_int_equal(c.s.update_ns, 200);
    assert_true(c.s.m.waiting == 0 && c.s.m.running == 1);
    sy_pool_unref(p);
}

#define THREADS 4
#define ITERS   100000

static void *inflight_worker(void *arg)
{
    struct sy_endpoint *e = arg;
    for (int i = 0; i < ITERS; i++) {
        sy_endpoint_inflight_add(e, 7);
        sy_endpoint_inflight_sub(e, 7);
    }
    for (int i = 0; i < 10; i++)
        sy_endpoint_inflight_add(e, 3);
    return NULL;
}

static void test_inflight(void **state)
{
    struct sy_pool *p = pool_of_one();
    struct sy_endpoint *e = p->eps[0];
    struct sy_endpoint_state s;
    sy_endpoint_inflight_add(e, 120);
    sy_endpoint_inflight_add(e, 30);
    sy_endpoint_inflight_add(e, -5); /* a negative estimate counts as 0 tokens */
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.inflight_requests, 3);
    assert_int_equal(s.inflight_tokens, 150);
    sy_endpoint_inflight_sub(e, 120);
    sy_endpoint_inflight_sub(e, 30);
    sy_endpoint_inflight_sub(e, 0);
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.inflight_requests, 0);
    assert_int_equal(s.inflight_tokens, 0);
    /* an unmatched sub clamps at zero instead of going negative */
    sy_endpoint_inflight_sub(e, 40);
    sy_endpoint_inflight_sub(e, 40);
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.inflight_requests, 0);
    assert_int_equal(s.inflight_tokens, 0);
    assert_int_equal(atomic_load(&e->inflight_requests), 0);
    sy_endpoint_inflight_add(e, 10); /* and counting resumes from zero */
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.inflight_requests, 1);
    sy_endpoint_inflight_sub(e, 10);

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, inflight_worker, e);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.inflight_requests, THREADS * 10);
    assert_int_equal(s.inflight_tokens, THREADS * 30);
    sy_pool_unref(p);
}

/* sy_pool_charge / sy_pool_discharge: the in-flight count, tokens and decode work move together,
 * an early token release is bounded by what the charge holds, and a second discharge is a no-op */
static void test_charge(void **state)
{
    (void)state;
    struct sy_pool *p = pool_of_one();
    struct sy_endpoint *e = p->eps[0];
    struct sy_endpoint_state s;
    struct sy_charge c = {0}, d = {0};
    sy_pool_discharge(&c, 5); /* not charged: nothing */
    sy_pool_charge(&c, e, 100, 50, 2);
    sy_pool_charge(&d, e, -3, -1, 1); /* no tokens, no budget (no mean yet) */
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.inflight_requests, 2);
    assert_int_equal(s.inflight_tokens, 100);
    assert_int_equal(s.decode_left, 100);   /* 50 per choice x 2 */
    sy_pool_charge_release_tokens(&c, 60);  /* the prompt part, at the first byte */
    sy_pool_charge_release_tokens(&c, 500); /* never more than it holds */
    sy_pool_charge_release_tokens(&d, 7);
    assert_int_equal(c.tokens, 0);
    sy_decode_progress(&c.dec, 50);
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.inflight_requests, 2);
    assert_int_equal(s.inflight_tokens, 0);
    assert_int_equal(s.decode_left, 50);
    assert_float_equal(s.decode_done, 0.5, 1e-6);
    sy_pool_discharge(&c, 80); /* 40 per choice feeds the mean */
    assert_null(c.ep);
    sy_pool_discharge(&c, 80);
    sy_pool_discharge(&d, -1);
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.inflight_requests, 0);
    assert_int_equal(s.inflight_tokens, 0);
    assert_int_equal(s.decode_left, 0);
    assert_float_equal(s.decode_done, 0.0, 1e-9);
    assert_int_equal(sy_decode_budget(e, -1, 1), 40);
    sy_pool_charge(&c, e, 10, -1, 1); /* a charged request now gets the mean as its budget */
    sy_endpoint_snapshot(e, &s);
    assert_int_equal(s.decode_left, 40);
    sy_pool_discharge(&c, -1);
    sy_pool_unref(p);
}

/* sy_pool_charge_within: the slot is taken only below the bounds; a token bound that refuses
 * gives the request slot back; no bound is the plain charge; threads never push the count past
 * the bound */
static _Atomic bool over_bound; /* a thread saw the count past the bound */

static void *within_worker(void *arg)
{
    struct sy_endpoint *e = arg;
    for (int i = 0; i < ITERS; i++) {
        struct sy_charge c = {0};
        if (!sy_pool_charge_within(&c, e, 1, -1, 1, 3, 0))
            continue;
        if (atomic_load(&e->inflight_requests) > 3)
            atomic_store(&over_bound, true);
        sy_pool_discharge(&c, -1);
    }
    return NULL;
}

static void test_charge_within(void **state)
{
    (void)state;
    struct sy_pool *p = pool_of_one();
    struct sy_endpoint *e = p->eps[0];
    struct sy_charge a = {0}, b = {0}, c = {0}, d = {0};
    assert_true(sy_pool_charge_within(&a, e, 100, 10, 1, 2, 0));
    assert_true(sy_pool_charge_within(&b, e, 100, 10, 1, 2, 0));
    assert_false(sy_pool_charge_within(&c, e, 100, 10, 1, 2, 0)); /* 2 in flight: full */
    assert_null(c.ep);
    assert_int_equal(atomic_load(&e->inflight_requests), 2);
    assert_int_equal(atomic_load(&e->inflight_tokens), 200);
    assert_int_equal(atomic_load(&e->decode_left), 20);
    /* tokens bound: 200 in flight, bound 150: refused, and the request slot goes back */
    assert_false(sy_pool_charge_within(&c, e, 10, 10, 1, 5, 150));
    assert_int_equal(atomic_load(&e->inflight_requests), 2);
    assert_int_equal(atomic_load(&e->inflight_tokens), 200);
    /* the request's own tokens count: 200 + 10 > 209 is refused, 200 + 10 <= 210 taken */
    assert_false(sy_pool_charge_within(&c, e, 10, 10, 1, 5, 209));
    assert_int_equal(atomic_load(&e->inflight_requests), 2);
    assert_true(sy_pool_charge_within(&c, e, 10, 10, 1, 5, 210));
    assert_int_equal(atomic_load(&e->inflight_tokens), 210);
    /* at the bound exactly: even a request of no tokens is refused (llm-d: in-flight < limit) */
    struct sy_charge z = {0};
    assert_false(sy_pool_charge_within(&z, e, 0, 10, 1, 5, 210));
    assert_true(sy_pool_charge_within(&d, e, -4, 10, 1, 0, 0)); /* no bound: always */
    assert_int_equal(atomic_load(&e->inflight_requests), 4);
    sy_pool_discharge(&a, -1);
    sy_pool_discharge(&b, -1);
    sy_pool_discharge(&c, -1);
    sy_pool_discharge(&d, -1);
    assert_int_equal(atomic_load(&e->inflight_requests), 0);
    assert_int_equal(atomic_load(&e->inflight_tokens), 0);
    assert_int_equal(atomic_load(&e->decode_left), 0);
    /* a request larger than the whole token bound: taken on an endpoint below the bound, also
     * a busy one (never starved under steady load), and then nothing more fits beside it */
    assert_true(sy_pool_charge_within(&b, e, 499, -1, 1, 5, 500));
    assert_false(sy_pool_charge_within(&a, e, 2, -1, 1, 5, 500)); /* 501 > 500: not oversized */
    assert_true(sy_pool_charge_within(&a, e, 1000, -1, 1, 5, 500));
    assert_int_equal(atomic_load(&e->inflight_tokens), 1499);
    assert_false(sy_pool_charge_within(&c, e, 1000, -1, 1, 5, 500));
    assert_false(sy_pool_charge_within(&c, e, 1, -1, 1, 5, 500));
    sy_pool_discharge(&a, -1);
    sy_pool_discharge(&b, -1);
    assert_int_equal(atomic_load(&e->inflight_tokens), 0);

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, within_worker, e);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_false(atomic_load(&over_bound));
    assert_int_equal(atomic_load(&e->inflight_requests), 0);
    assert_int_equal(atomic_load(&e->inflight_tokens), 0);
    sy_pool_unref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_reload_reuse),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_scrape_timeout),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_inflight),
        cmocka_unit_test(test_charge),
        cmocka_unit_test(test_charge_within),
        cmocka_unit_test(test_snapshot_consistent_under_writer),
        cmocka_unit_test(test_reader_waits_for_stuck_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
